//! A sealed log: a JSON-lines file where every entry carries its number (`seq`), the
//! previous entry's seal (`prev`), the id of the key that sealed it (`kid`) and its own seal
//! (`hash` = HMAC-SHA256 under the audit key over the entry's canonical JSON without
//! `hash`), with a head file beside it recording the last entry. Only holders of the key can
//! extend or re-chain it; editing, removing, reordering or truncating entries breaks it.
//! The audit log and the erasure ledger are sealed logs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::transform::{KeyError, PseudonymKey, Pseudonymizer};

/// Environment variable holding a separate audit key.
pub const AUDIT_KEY_ENV: &str = "PIGUARD_AUDIT_KEY";
/// Environment variable naming a file that holds a separate audit key.
pub const AUDIT_KEY_FILE_ENV: &str = "PIGUARD_AUDIT_KEY_FILE";

/// Why no audit key could be had. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error(
        "the audit log and the erasure ledger are sealed with a key: set PIGUARD_KEY or PIGUARD_KEY_FILE (the audit key is derived from it), or {AUDIT_KEY_ENV} or {AUDIT_KEY_FILE_ENV}"
    )]
    Missing,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The key that seals the audit log and the erasure ledger. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct AuditKey {
    id: String,
    sealer: Pseudonymizer,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(id {})", self.id)
    }
}

impl AuditKey {
    fn of(secret: &PseudonymKey) -> Self {
        AuditKey { id: secret.id(), sealer: Pseudonymizer::new(secret, "piguard-sealed-log") }
    }

    /// The audit key derived from the pseudonym key (an HMAC of a fixed label under it), so
    /// one secret serves both and the audit key reveals nothing of the other.
    pub fn derived(key: &PseudonymKey) -> Self {
        let derived = Pseudonymizer::new(key, "piguard-audit-key").pseudonym("v1");
        Self::of(&PseudonymKey::from_bytes(derived.into_bytes(), "the derived audit key").expect("64 hex digits are a long enough key"))
    }

    /// `PIGUARD_AUDIT_KEY` or `PIGUARD_AUDIT_KEY_FILE` when set (set it for every command
    /// or for none: entries sealed with two keys do not verify), else derived from `pseudonym`.
    pub fn from_env(pseudonym: Option<&PseudonymKey>) -> Result<Self, AuditKeyError> {
        match PseudonymKey::from_vars(AUDIT_KEY_ENV, AUDIT_KEY_FILE_ENV) {
            Ok(key) => Ok(Self::of(&key)),
            Err(KeyError::Missing) => pseudonym.map(Self::derived).ok_or(AuditKeyError::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// The key's public id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The largest entry written: what an operator types is bounded well below it, and a log
/// that holds only small entries can always be read and appended to.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// How much of the end of the file is read at a time to find the last entry.
const TAIL_CHUNK: u64 = 64 * 1024;

/// Why a sealed log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: an entry of {bytes} bytes is larger than the {MAX_ENTRY_BYTES} allowed; nothing was written")]
    TooLarge { path: PathBuf, bytes: usize },
    #[error("{path}: the last entry is not a sealed entry; run `piguard audit verify`")]
    Corrupt { path: PathBuf },
    #[error("{path}: the file ends in a torn entry that {head} records, which is tampering, not a crash; run `piguard audit verify`")]
    TornButRecorded { path: PathBuf, head: String },
}

/// The first problem verification found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}, line {line}: {problem}")]
pub struct Tampered {
    pub path: PathBuf,
    /// 1-based line of the first bad entry (one past the end when entries are missing there).
    pub line: usize,
    pub problem: String,
}

/// Why verification failed: the log was tampered with, or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Tampered(Tampered),
    #[error(transparent)]
    Io(ChainError),
}

/// A verified log.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Its entries, oldest first (logs of entries this small are read whole).
    pub entries: Vec<Map<String, Value>>,
    /// The last entry's seal (the genesis value for an empty log).
    pub head: String,
    /// Bytes after the last complete entry that a crash while appending left; the next
    /// append (or `piguard audit repair`) sets them aside.
    pub torn_tail: Option<u64>,
}

/// A torn final entry set aside by [`SealedLog::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub bytes: u64,
    /// Where the torn bytes were moved, for inspection.
    pub saved_to: PathBuf,
}

/// The number and seal of an entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seal {
    pub seq: u64,
    pub hash: String,
}

/// A sealed log file and its head.
#[derive(Debug, Clone)]
pub struct SealedLog {
    path: PathBuf,
    head_path: PathBuf,
}

/// The seal of an entry: HMAC over its fields other than `hash`, keys sorted.
pub fn seal(key: &AuditKey, entry: &Map<String, Value>) -> String {
    let mut fields = entry.clone();
    fields.remove("hash");
    // serde_json's Map is ordered by key, so this serialization is canonical.
    let canonical = serde_json::to_string(&Value::Object(fields)).expect("JSON values serialize");
    key.sealer.pseudonym(&canonical)
}

/// What is at the end of a log file: the last complete line and where it ends, and whether
/// bytes follow it without a newline (a torn append).
struct Tail {
    last: Option<Vec<u8>>,
    /// The length of the file up to and including the last newline.
    complete_len: u64,
    torn: bool,
}

/// Reads backwards from the end in chunks until the last complete line is whole, however
/// long it is (an oversized entry must not make the log unreadable).
fn read_tail(file: &mut File) -> std::io::Result<Tail> {
    let len = file.metadata()?.len();
    let mut buf: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        let from = start.saturating_sub(TAIL_CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        start = from;
        let newlines: Vec<usize> = buf.iter().enumerate().rev().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).take(2).collect();
        let Some(&last_nl) = newlines.first() else {
            if start == 0 {
                return Ok(Tail { last: None, complete_len: 0, torn: !buf.is_empty() });
            }
            continue;
        };
        let line_start = match newlines.get(1) {
            Some(&i) => i + 1,
            None if start == 0 => 0,
            None => continue,
        };
        return Ok(Tail {
            last: Some(buf[line_start..last_nl].to_vec()),
            complete_len: start + last_nl as u64 + 1,
            torn: last_nl + 1 < buf.len(),
        });
    }
}

impl SealedLog {
    /// The sealed log at `path`, its head at `head_path`.
    pub fn new(path: PathBuf, head_path: PathBuf) -> Self {
        SealedLog { path, head_path }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> ChainError + '_ {
        |cause| ChainError::Io { path: self.path.clone(), cause }
    }

    /// Opens the log for appending, holding an exclusive lock on it.
    fn open_locked(&self) -> Result<File, ChainError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(self.io())?;
        }
        let file = OpenOptions::new().create(true).read(true).append(true).open(&self.path).map_err(self.io())?;
        file.lock().map_err(self.io())?;
        Ok(file)
    }

    fn head(&self) -> Result<Option<Seal>, ChainError> {
        match std::fs::read(&self.head_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| ChainError::Corrupt { path: self.head_path.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(cause) => Err(ChainError::Io { path: self.head_path.clone(), cause }),
        }
    }

    /// Sets aside bytes a crash left after the last complete entry (moved to a `.torn-…` file
    /// beside the log) so the log can be appended to again. Refuses when the head records the
    /// torn entry: then it was written whole and damaged since.
    pub fn recover(&self) -> Result<Option<TornTail>, ChainError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let mut file = self.open_locked()?;
        Ok(self.recover_locked(&mut file)?.0)
    }

    /// [`Self::recover`] under the lock already held on `file`; also returns the last
    /// complete line, which setting a torn tail aside leaves as it was.
    fn recover_locked(&self, file: &mut File) -> Result<(Option<TornTail>, Option<Vec<u8>>), ChainError> {
        let tail = read_tail(file).map_err(self.io())?;
        if !tail.torn {
            return Ok((None, tail.last));
        }
        let complete_seq = match &tail.last {
            None => 0,
            Some(line) => entry_seal(line).ok_or_else(|| ChainError::Corrupt { path: self.path.clone() })?.seq,
        };
        if let Some(head) = self.head()?.filter(|h| h.seq > complete_seq) {
            return Err(ChainError::TornButRecorded { path: self.path.clone(), head: format!("its head (entry {})", head.seq) });
        }
        let len = file.metadata().map_err(self.io())?.len();
        let mut torn = vec![0u8; (len - tail.complete_len) as usize];
        file.seek(SeekFrom::Start(tail.complete_len)).map_err(self.io())?;
        file.read_exact(&mut torn).map_err(self.io())?;
        let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("log");
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let saved_to = self.path.with_file_name(format!("{name}.torn-{}-{stamp}", complete_seq + 1));
        crate::lake::write_atomic(&saved_to, &torn).map_err(|cause| ChainError::Io { path: saved_to.clone(), cause })?;
        file.set_len(tail.complete_len).map_err(self.io())?;
        file.sync_data().map_err(self.io())?;
        Ok((Some(TornTail { bytes: torn.len() as u64, saved_to }), tail.last))
    }

    /// Appends `body` with `seq`, `prev`, `kid` and `hash` added, under the file's lock.
    /// Returns the entry's seal and the torn tail set aside first, if there was one.
    pub fn append(&self, key: &AuditKey, body: Map<String, Value>) -> Result<(Seal, Option<TornTail>), ChainError> {
        let mut file = self.open_locked()?;
        let (torn, last_line) = self.recover_locked(&mut file)?;
        let last = match &last_line {
            None => Seal { seq: 0, hash: GENESIS.to_string() },
            Some(line) => entry_seal(line).ok_or_else(|| ChainError::Corrupt { path: self.path.clone() })?,
        };
        let mut entry = body;
        entry.insert("seq".into(), Value::from(last.seq + 1));
        entry.insert("prev".into(), Value::String(last.hash));
        entry.insert("kid".into(), Value::String(key.id().to_string()));
        let hash = seal(key, &entry);
        entry.insert("hash".into(), Value::String(hash.clone()));
        let mut line = serde_json::to_vec(&Value::Object(entry)).expect("JSON values serialize");
        if line.len() > MAX_ENTRY_BYTES {
            return Err(ChainError::TooLarge { path: self.path.clone(), bytes: line.len() });
        }
        line.push(b'\n');
        // One write of the whole line: a crash tears at most this entry, which `recover` sets aside.
        file.write_all(&line).map_err(self.io())?;
        file.sync_data().map_err(self.io())?;
        let head = Seal { seq: last.seq + 1, hash };
        crate::lake::write_atomic(&self.head_path, &serde_json::to_vec(&head).expect("serializes"))
            .map_err(|cause| ChainError::Io { path: self.head_path.clone(), cause })?;
        Ok((head, torn))
    }

    /// Checks every entry: valid JSON, numbered in order, `prev` the previous entry's seal,
    /// `hash` its own seal under `key`, and the last one the entry the head records.
    pub fn verify(&self, key: &AuditKey) -> Result<Verified, VerifyError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(cause) => return Err(VerifyError::Io(ChainError::Io { path: self.path.clone(), cause })),
        };
        let bad = |line: usize, problem: String| VerifyError::Tampered(Tampered { path: self.path.clone(), line, problem });
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let torn_tail = (complete < bytes.len()).then(|| (bytes.len() - complete) as u64);
        let text = std::str::from_utf8(&bytes[..complete]).map_err(|_| bad(1, "not UTF-8 text (edited)".into()))?;
        let mut prev = GENESIS.to_string();
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let entry: Map<String, Value> =
                serde_json::from_str(line).map_err(|_| bad(i + 1, "not a JSON object (edited or truncated)".into()))?;
            let hash = entry.get("hash").and_then(Value::as_str).unwrap_or_default();
            if entry.get("prev").and_then(Value::as_str) != Some(prev.as_str()) {
                return Err(bad(i + 1, "its `prev` is not the previous entry's seal: an entry before it was removed, inserted or moved".into()));
            }
            if entry.get("seq").and_then(Value::as_u64) != Some(i as u64 + 1) {
                return Err(bad(i + 1, format!("expected entry number {}: entries were removed, inserted or moved", i + 1)));
            }
            let kid = entry.get("kid").and_then(Value::as_str).unwrap_or_default();
            if kid != key.id() {
                return Err(bad(i + 1, format!("sealed with key id `{kid}`, not the audit key now set (id {}): forged, or the wrong key is set (a lake whose pseudonym key is rotated needs PIGUARD_AUDIT_KEY set from its first command)", key.id())));
            }
            if hash != seal(key, &entry) {
                return Err(bad(i + 1, "its content does not match its seal: the entry was edited or forged".into()));
            }
            prev = hash.to_string();
            entries.push(entry);
        }
        let seq = entries.len() as u64;
        let lines = entries.len();
        let head = self.head().map_err(|_| bad(lines + 1, "its head file is not readable".into()))?;
        match head {
            // A kill between appending and updating the head leaves the head one entry behind.
            Some(h) if h.seq > seq => {
                return Err(bad(lines + 1, format!("the log ends at entry {seq} but its head records entry {}: entries were removed from the end", h.seq)));
            }
            Some(h) if h.seq == seq && h.hash != prev => {
                return Err(bad(lines, "the last entry is not the one the head records: it was replaced".into()));
            }
            None if seq > 0 => return Err(bad(lines + 1, "its head file is missing".into())),
            _ => {}
        }
        Ok(Verified { entries, head: prev, torn_tail })
    }
}

/// The `seq` and `hash` of a serialized entry.
fn entry_seal(line: &[u8]) -> Option<Seal> {
    let v: Value = serde_json::from_slice(line).ok()?;
    Some(Seal { seq: v.get("seq")?.as_u64()?, hash: v.get("hash")?.as_str()?.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> AuditKey {
        AuditKey::derived(&PseudonymKey::from_bytes(vec![byte; 32], "test").unwrap())
    }

    fn body(text: &str) -> Map<String, Value> {
        Map::from_iter([("text".to_string(), Value::from(text))])
    }

    fn log(dir: &Path) -> SealedLog {
        SealedLog::new(dir.join("log.jsonl"), dir.join("log.head"))
    }

    #[test]
    fn only_the_key_holder_can_extend_or_rechain() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        for t in ["a", "b", "c"] {
            log.append(&key(1), body(t)).unwrap();
        }
        assert_eq!(log.verify(&key(1)).unwrap().entries.len(), 3);
        // Someone without the key drops entry 2 and re-chains with another key: refused.
        let lines: Vec<String> = std::fs::read_to_string(log.path()).unwrap().lines().map(str::to_string).collect();
        std::fs::write(log.path(), "").unwrap();
        std::fs::remove_file(dir.path().join("log.head")).unwrap();
        for l in [&lines[0], &lines[2]] {
            let mut e: Map<String, Value> = serde_json::from_str(l).unwrap();
            for f in ["seq", "prev", "kid", "hash"] {
                e.remove(f);
            }
            log.append(&key(2), e).unwrap();
        }
        let err = log.verify(&key(1)).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("key id"), "{err}");
    }

    #[test]
    fn a_torn_final_entry_is_set_aside_and_a_long_entry_never_blocks_appends() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        log.append(&key(1), body(&"x".repeat(MAX_ENTRY_BYTES - 200))).unwrap();
        assert!(matches!(log.append(&key(1), body(&"y".repeat(MAX_ENTRY_BYTES))), Err(ChainError::TooLarge { .. })));
        // A crash mid-append leaves half a line.
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(br#"{"text":"half"#).unwrap();
        assert_eq!(log.verify(&key(1)).unwrap().torn_tail, Some(13));
        let (seal, torn) = log.append(&key(1), body("after")).unwrap();
        assert_eq!(seal.seq, 2);
        let torn = torn.unwrap();
        assert_eq!(std::fs::read(&torn.saved_to).unwrap(), br#"{"text":"half"#);
        let verified = log.verify(&key(1)).unwrap();
        assert_eq!((verified.entries.len(), verified.torn_tail), (2, None));

        // A whole entry the head records, cut short afterwards, is not a crash.
        let text = std::fs::read_to_string(log.path()).unwrap();
        std::fs::write(log.path(), &text[..text.len() - 5]).unwrap();
        assert!(matches!(log.recover(), Err(ChainError::TornButRecorded { .. })));
        assert!(matches!(log.verify(&key(1)), Err(VerifyError::Tampered(_))));
    }
}
