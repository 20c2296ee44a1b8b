//! A sealed log: a list of JSON entries where every entry carries its number (`seq`), the
//! previous entry's seal (`prev`), the id of the key that sealed it (`kid`) and its own seal
//! (`hash` = HMAC-SHA256 under the audit key over the entry's canonical JSON without
//! `hash`), with a head beside it recording the last entry. Only holders of the key can
//! extend or re-chain it; editing, removing, reordering or truncating entries breaks it.
//! The audit log and the erasure ledger are sealed logs.
//!
//! On a local disk the log is a JSON-lines file appended under an exclusive lock on it. An
//! object store has neither appends nor locks, so there the log is a folder of one object
//! per entry named by its number (`00000000000000000042.json`), each created only if absent
//! (`If-None-Match: *`): two writers of the same number cannot both succeed, and the loser
//! reads the new last entry and tries the next number. An object appears whole or not at
//! all, so such a log never ends in a torn entry.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde_json::{Map, Value};

use crate::lake::files::{io_error, remote};
use crate::lake::store::{Object, block_on};
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

/// Why verification failed: the log was tampered with, could not be read, or is sealed
/// with another key than the one set.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Tampered(Tampered),
    #[error(transparent)]
    Io(ChainError),
    #[error(
        "{path}, line 1: sealed with key id `{kid}`, not the audit key now set (id {key_id}): set the key this lake's records were sealed with (a lake whose pseudonym key is rotated needs PIGUARD_AUDIT_KEY set from its first command); nothing else can verify or extend them"
    )]
    OtherKey { path: PathBuf, kid: String, key_id: String },
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

/// The head file: the last entry's number and seal, sealed in turn (an HMAC under the audit
/// key), so that nobody without the key can move it back to hide entries cut from the end.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SealedHead {
    seq: u64,
    hash: String,
    /// Absent from a head written without the key: read as empty, which never verifies.
    #[serde(default)]
    mac: String,
}

impl SealedHead {
    fn new(key: &AuditKey, seal: &Seal) -> Self {
        SealedHead { seq: seal.seq, hash: seal.hash.clone(), mac: Self::mac(key, seal) }
    }

    fn mac(key: &AuditKey, seal: &Seal) -> String {
        key.sealer.pseudonym(&format!("head {} {}", seal.seq, seal.hash))
    }

    fn seal(&self) -> Seal {
        Seal { seq: self.seq, hash: self.hash.clone() }
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializes")
    }
}

/// A sealed log and its head: a local file, or a folder of an object store (see the
/// module's note).
#[derive(Debug, Clone)]
pub struct SealedLog {
    path: PathBuf,
    head_path: PathBuf,
}

/// Where a sealed log's entries are.
enum Storage {
    File,
    Objects { entries: Object, head: Object },
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
    /// The sealed log at `path` (a file, or a folder of an object store), its head at
    /// `head_path`.
    pub fn new(path: PathBuf, head_path: PathBuf) -> Self {
        SealedLog { path, head_path }
    }

    fn storage(&self) -> Result<Storage, ChainError> {
        let io = |path: &Path, e: std::io::Error| ChainError::Io { path: path.to_path_buf(), cause: e };
        match (remote(&self.path).map_err(|e| io(&self.path, e))?, remote(&self.head_path).map_err(|e| io(&self.head_path, e))?) {
            (Some(entries), Some(head)) => Ok(Storage::Objects { entries, head }),
            _ => Ok(Storage::File),
        }
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

    /// Sets aside bytes a crash left after the last complete entry (moved to a `.torn-…` file
    /// beside the log) so the log can be appended to again. Refuses when the head records the
    /// torn entry: then it was written whole and damaged since. A log of objects has none.
    pub fn recover(&self) -> Result<Option<TornTail>, ChainError> {
        if matches!(self.storage()?, Storage::Objects { .. }) || !self.path.exists() {
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
        crate::lake::files::write_atomic(&saved_to, &torn).map_err(|cause| ChainError::Io { path: saved_to.clone(), cause })?;
        file.set_len(tail.complete_len).map_err(self.io())?;
        file.sync_data().map_err(self.io())?;
        Ok((Some(TornTail { bytes: torn.len() as u64, saved_to }), tail.last))
    }

    /// The entry that follows `last`: `body` with `seq`, `prev`, `kid` and `hash` added,
    /// serialized, and its seal.
    fn next_entry(&self, key: &AuditKey, body: Map<String, Value>, last: Seal) -> Result<(Vec<u8>, Seal), ChainError> {
        let mut entry = body;
        entry.insert("seq".into(), Value::from(last.seq + 1));
        entry.insert("prev".into(), Value::String(last.hash));
        entry.insert("kid".into(), Value::String(key.id().to_string()));
        let hash = seal(key, &entry);
        entry.insert("hash".into(), Value::String(hash.clone()));
        let bytes = serde_json::to_vec(&Value::Object(entry)).expect("JSON values serialize");
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(ChainError::TooLarge { path: self.path.clone(), bytes: bytes.len() });
        }
        Ok((bytes, Seal { seq: last.seq + 1, hash }))
    }

    /// Appends `body` with `seq`, `prev`, `kid` and `hash` added: to a file under its lock,
    /// or as the next object. Returns the entry's seal and the torn tail set aside first, if
    /// there was one.
    pub fn append(&self, key: &AuditKey, body: Map<String, Value>) -> Result<(Seal, Option<TornTail>), ChainError> {
        if let Storage::Objects { entries, head } = self.storage()? {
            let log = self.clone();
            let key = key.clone();
            return block_on(async move { log.append_object(&entries, &head, &key, body).await }).map(|seal| (seal, None));
        }
        let mut file = self.open_locked()?;
        let (torn, last_line) = self.recover_locked(&mut file)?;
        let last = match &last_line {
            None => Seal { seq: 0, hash: GENESIS.to_string() },
            Some(line) => entry_seal(line).ok_or_else(|| ChainError::Corrupt { path: self.path.clone() })?,
        };
        let (mut line, head) = self.next_entry(key, body, last)?;
        line.push(b'\n');
        // One write of the whole line: a crash tears at most this entry, which `recover` sets aside.
        file.write_all(&line).map_err(self.io())?;
        file.sync_data().map_err(self.io())?;
        crate::lake::files::write_atomic(&self.head_path, &SealedHead::new(key, &head).bytes())
            .map_err(|cause| ChainError::Io { path: self.head_path.clone(), cause })?;
        Ok((head, torn))
    }

    /// Creates the object of the entry after the last one, reading the last one again
    /// whenever another writer took that number first, then moves the head up to it.
    async fn append_object(&self, entries: &Object, head: &Object, key: &AuditKey, body: Map<String, Value>) -> Result<Seal, ChainError> {
        let failed = |e: object_store::Error| ChainError::Io { path: self.path.clone(), cause: io_error(e) };
        loop {
            let last = self.last_object(entries, head).await?;
            let (bytes, seal) = self.next_entry(key, body.clone(), last)?;
            let create = PutOptions { mode: PutMode::Create, ..Default::default() };
            match entries.store.put_opts(&entry_location(entries, seal.seq), PutPayload::from(bytes), create).await {
                Ok(_) => {
                    self.advance_head(head, key, &seal).await?;
                    return Ok(seal);
                }
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(failed(e)),
            }
        }
    }

    /// The seal of the last entry object: found from the head onwards (the head may be one
    /// behind, after a kill), or by listing the folder when there is no head.
    async fn last_object(&self, entries: &Object, head: &Object) -> Result<Seal, ChainError> {
        let failed = |e: object_store::Error| ChainError::Io { path: self.path.clone(), cause: io_error(e) };
        let hinted = match head.store.get(&head.location).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(failed)?;
                serde_json::from_slice::<Seal>(&bytes).map_err(|_| ChainError::Corrupt { path: self.head_path.clone() })?.seq
            }
            Err(object_store::Error::NotFound { .. }) => listed_entries(entries).await.map_err(failed)?.last().map_or(0, |(seq, _)| *seq),
            Err(e) => return Err(failed(e)),
        };
        let mut seq = hinted;
        while entries.store.head(&entry_location(entries, seq + 1)).await.is_ok() {
            seq += 1;
        }
        if seq == 0 {
            return Ok(Seal { seq: 0, hash: GENESIS.to_string() });
        }
        let bytes = match entries.store.get(&entry_location(entries, seq)).await {
            Ok(got) => got.bytes().await.map_err(failed)?,
            // The head names an entry that is gone: `audit verify` says what happened.
            Err(object_store::Error::NotFound { .. }) => return Err(ChainError::Corrupt { path: self.path.clone() }),
            Err(e) => return Err(failed(e)),
        };
        entry_seal(&bytes).filter(|s| s.seq == seq).ok_or_else(|| ChainError::Corrupt { path: self.path.clone() })
    }

    /// Moves the head object up to `seal`, never back: a slower writer of an earlier entry
    /// leaves a later head as it is.
    async fn advance_head(&self, head: &Object, key: &AuditKey, seal: &Seal) -> Result<(), ChainError> {
        let failed = |e: object_store::Error| ChainError::Io { path: self.head_path.clone(), cause: io_error(e) };
        let payload = || PutPayload::from(SealedHead::new(key, seal).bytes());
        loop {
            let mode = match head.store.get(&head.location).await {
                Ok(got) => {
                    let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                    let current = serde_json::from_slice::<Seal>(&got.bytes().await.map_err(failed)?).ok();
                    if current.is_some_and(|c| c.seq >= seal.seq) {
                        return Ok(());
                    }
                    PutMode::Update(version)
                }
                Err(object_store::Error::NotFound { .. }) => PutMode::Create,
                Err(e) => return Err(failed(e)),
            };
            match head.store.put_opts(&head.location, payload(), PutOptions { mode, ..Default::default() }).await {
                Ok(_) => return Ok(()),
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(failed(e)),
            }
        }
    }

    /// The head's record of the last entry, if there is a head (its seal is checked by
    /// [`Self::verify`]).
    fn head(&self) -> Result<Option<SealedHead>, ChainError> {
        match crate::lake::files::read(&self.head_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| ChainError::Corrupt { path: self.head_path.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(cause) => Err(ChainError::Io { path: self.head_path.clone(), cause }),
        }
    }

    /// Every entry as stored, oldest first, and the bytes of a torn final entry: the lines of
    /// the file, or the entry objects in the order of their numbers.
    fn stored_entries(&self) -> Result<(Vec<Vec<u8>>, Option<u64>), VerifyError> {
        let io = |cause| VerifyError::Io(ChainError::Io { path: self.path.clone(), cause });
        if let Storage::Objects { entries, .. } = self.storage().map_err(VerifyError::Io)? {
            let path = self.path.clone();
            return block_on(async move {
                let io = |cause| VerifyError::Io(ChainError::Io { path: path.clone(), cause });
                let listed = listed_entries(&entries).await.map_err(|e| io(io_error(e)))?;
                if let Some(i) = listed.iter().position(|(seq, _)| *seq == 0) {
                    let problem = format!("`{}` is not an entry of the log: it was put there by hand", listed[i].1);
                    return Err(VerifyError::Tampered(Tampered { path: path.clone(), line: i + 1, problem }));
                }
                let reads = listed.into_iter().map(|(seq, _)| {
                    let entries = entries.clone();
                    async move { entries.store.get(&entry_location(&entries, seq)).await?.bytes().await }
                });
                let bytes: Vec<bytes::Bytes> =
                    futures::stream::iter(reads).buffered(16).try_collect().await.map_err(|e| io(io_error(e)))?;
                Ok((bytes.into_iter().map(|b| b.to_vec()).collect(), None))
            });
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(cause) => return Err(io(cause)),
        };
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let torn_tail = (complete < bytes.len()).then(|| (bytes.len() - complete) as u64);
        let lines = match complete {
            0 => Vec::new(),
            _ => bytes[..complete - 1].split(|b| *b == b'\n').map(<[u8]>::to_vec).collect(),
        };
        Ok((lines, torn_tail))
    }

    /// Checks every entry: valid JSON, numbered in order, `prev` the previous entry's seal,
    /// `hash` its own seal under `key`, and the last one the entry the head records.
    pub fn verify(&self, key: &AuditKey) -> Result<Verified, VerifyError> {
        let (stored, torn_tail) = self.stored_entries()?;
        let bad = |line: usize, problem: String| VerifyError::Tampered(Tampered { path: self.path.clone(), line, problem });
        let mut prev = GENESIS.to_string();
        let mut entries = Vec::new();
        for (i, line) in stored.iter().enumerate() {
            let entry: Map<String, Value> =
                serde_json::from_slice(line).map_err(|_| bad(i + 1, "not a JSON object (edited or truncated)".into()))?;
            let hash = entry.get("hash").and_then(Value::as_str).unwrap_or_default();
            if entry.get("prev").and_then(Value::as_str) != Some(prev.as_str()) {
                return Err(bad(
                    i + 1,
                    "its `prev` is not the previous entry's seal: an entry before it was removed, inserted or moved".into(),
                ));
            }
            if entry.get("seq").and_then(Value::as_u64) != Some(i as u64 + 1) {
                return Err(bad(i + 1, format!("expected entry number {}: entries were removed, inserted or moved", i + 1)));
            }
            let kid = entry.get("kid").and_then(Value::as_str).unwrap_or_default();
            if i == 0 && kid != key.id() {
                return Err(VerifyError::OtherKey { path: self.path.clone(), kid: kid.to_string(), key_id: key.id().to_string() });
            }
            if kid != key.id() {
                return Err(bad(
                    i + 1,
                    format!(
                        "sealed with key id `{kid}`, not the audit key now set (id {}): forged, or the wrong key is set (a lake whose pseudonym key is rotated needs PIGUARD_AUDIT_KEY set from its first command)",
                        key.id()
                    ),
                ));
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
        if let Some(h) = head.as_ref().filter(|h| h.mac != SealedHead::mac(key, &h.seal())) {
            return Err(bad(
                lines + 1,
                format!(
                    "its head (entry {}) is not sealed by the audit key: it was rewritten, to hide entries removed from the end",
                    h.seq
                ),
            ));
        }
        if let Some(h) = head.as_ref().filter(|h| h.seq > 0 && h.seq < seq) {
            // A head behind the log (a kill after appending) still names an entry of it.
            if entries[h.seq as usize - 1].get("hash").and_then(Value::as_str) != Some(h.hash.as_str()) {
                return Err(bad(h.seq as usize, "the entry its head records was replaced".into()));
            }
        }
        match head {
            // A kill between appending and updating the head leaves the head one entry behind.
            Some(h) if h.seq > seq => {
                return Err(bad(
                    lines + 1,
                    format!("the log ends at entry {seq} but its head records entry {}: entries were removed from the end", h.seq),
                ));
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

/// The object of entry `seq` in the folder `entries`.
fn entry_location(entries: &Object, seq: u64) -> object_store::path::Path {
    entries.location.clone().join(format!("{seq:020}.json"))
}

/// The objects in the folder `entries` by number, ascending: `(seq, name)`, with 0 for an
/// object that is not named as an entry.
async fn listed_entries(entries: &Object) -> Result<Vec<(u64, String)>, object_store::Error> {
    let listed: Vec<object_store::ObjectMeta> = entries.store.list(Some(&entries.location)).try_collect().await?;
    let mut found: Vec<(u64, String)> = listed
        .iter()
        .filter_map(|m| m.location.filename().map(str::to_string))
        .map(|name| {
            let seq = name.strip_suffix(".json").filter(|n| n.len() == 20).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            (seq, name)
        })
        .collect();
    found.sort();
    Ok(found)
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
    fn a_head_moved_back_over_entries_cut_from_the_end_is_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        for t in ["run", "raw query", "erase"] {
            log.append(&key(1), body(t)).unwrap();
        }
        let text = std::fs::read_to_string(log.path()).unwrap();
        let kept: Vec<&str> = text.lines().take(1).collect();
        std::fs::write(log.path(), format!("{}\n", kept[0])).unwrap();
        let first = entry_seal(kept[0].as_bytes()).unwrap();
        let head = dir.path().join("log.head");
        // The head rewritten as the attack did: the right number and seal, with no key.
        std::fs::write(&head, serde_json::to_vec(&first).unwrap()).unwrap();
        let err = log.verify(&key(1)).unwrap_err().to_string();
        assert!(err.contains("not sealed by the audit key"), "{err}");
        // Sealed with another key: the same.
        std::fs::write(&head, SealedHead::new(&key(2), &first).bytes()).unwrap();
        assert!(log.verify(&key(1)).is_err());
        // Only the key holder can seal a head.
        std::fs::write(&head, SealedHead::new(&key(1), &first).bytes()).unwrap();
        assert_eq!(log.verify(&key(1)).unwrap().entries.len(), 1);
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

    #[test]
    fn a_log_of_objects_takes_one_writer_per_number_and_shows_any_change() {
        let dir = crate::lake::files::tests::memory_bucket("sealed-objects").join("_piguard");
        let log = SealedLog::new(dir.join("audit"), dir.join("audit.head"));
        assert!(log.verify(&key(1)).unwrap().entries.is_empty(), "no log yet");
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..5 {
                        log.append(&key(1), body(&format!("{t}-{i}"))).unwrap();
                    }
                });
            }
        });
        let verified = log.verify(&key(1)).unwrap();
        assert_eq!((verified.entries.len(), verified.torn_tail), (20, None));
        assert_eq!(log.recover().unwrap(), None);
        let entry = |seq: u64| dir.join(format!("audit/{seq:020}.json"));
        assert!(crate::lake::files::is_file(&entry(20)) && !crate::lake::files::is_file(&entry(21)));

        // A head one behind (a kill after the entry was created) is caught up by the next append.
        let head = crate::lake::files::read(&dir.join("audit.head")).unwrap();
        log.append(&key(1), body("u")).unwrap();
        crate::lake::files::write_atomic(&dir.join("audit.head"), &head).unwrap();
        assert_eq!(log.append(&key(1), body("v")).unwrap().0.seq, 22);
        assert_eq!(log.verify(&key(1)).unwrap().entries.len(), 22);

        let tampered = |log: &SealedLog| match log.verify(&key(1)) {
            Err(VerifyError::Tampered(t)) => t.line,
            other => panic!("tampering went unnoticed: {other:?}"),
        };
        let seventh = crate::lake::files::read(&entry(7)).unwrap();
        crate::lake::files::delete(&entry(7)).unwrap();
        assert_eq!(tampered(&log), 7, "a removed entry");
        let mut edited: Map<String, Value> = serde_json::from_slice(&seventh).unwrap();
        edited.insert("text".into(), Value::from("edited"));
        crate::lake::files::write_atomic(&entry(7), &serde_json::to_vec(&edited).unwrap()).unwrap();
        assert_eq!(tampered(&log), 7, "an edited entry");
        crate::lake::files::write_atomic(&entry(7), &seventh).unwrap();
        crate::lake::files::write_atomic(&dir.join("audit/notes.txt"), b"x").unwrap();
        assert!(tampered(&log) > 0, "an object that is no entry");
        crate::lake::files::delete(&dir.join("audit/notes.txt")).unwrap();
        crate::lake::files::delete(&entry(22)).unwrap();
        assert_eq!(tampered(&log), 22, "entries removed from the end");
    }
}
