//! The append-only, hash-chained audit log `LAKE/_piguard/audit.jsonl`. Each entry carries
//! `prev` (the previous entry's hash) and `hash` = SHA-256 over the entry's canonical JSON
//! (keys sorted, without `hash`), so editing, removing or reordering an entry breaks the
//! chain. Entries are numbered (`seq`), and `audit.head` beside the log records the last
//! entry's number and hash, so removing entries from the end is detected too. Appends hold
//! an exclusive lock on the file, so concurrent writers do not corrupt it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::lake::{Lake, Zone};
use crate::ledger::ErasureState;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Entries are far smaller than this; the tail read to find the last one is bounded by it.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("audit log {path}: the last entry is not valid JSON with a hash; run `piguard audit verify`")]
    Corrupt { path: PathBuf },
}

/// The first problem `piguard audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log {path}, line {line}: {problem}")]
pub struct Tampered {
    pub path: PathBuf,
    /// 1-based line of the first bad entry (one past the end when entries are missing there).
    pub line: usize,
    pub problem: String,
}

/// Why `verify` failed: the log was tampered with, or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Tampered(Tampered),
    #[error(transparent)]
    Io(AuditError),
}

/// What a verified log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    /// The last entry's hash (the genesis value for an empty log).
    pub head: String,
}

/// What one audit entry records. Every field is a count, an id, a name of a file, dataset
/// or column, or what the operator typed (SQL, a reason): never a value read from the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AuditEvent {
    /// `piguard run` published its outputs.
    Run {
        run_id: String,
        pipeline: String,
        pipeline_sha256: String,
        key_id: String,
        datasets: usize,
        partitions_written: usize,
        partitions_unchanged: usize,
        /// `name (rows published, rows suppressed)` per export.
        exports: Vec<String>,
        rows_written: u64,
        /// The dataset a run stopped at, having published what came before it.
        #[serde(skip_serializing_if = "Option::is_none")]
        failed: Option<String>,
    },
    /// A query of the raw zone, logged before any row is shown.
    Query { zone: Zone, sql: String, reason: String },
    /// `piguard purge` deleted partitions past their time.
    Purge {
        today: String,
        partitions_deleted_raw: usize,
        rows_deleted_raw: u64,
        partitions_deleted_deid: usize,
        rows_deleted_deid: u64,
        bytes_deleted: u64,
        erasures_done: usize,
        erasures_pending: usize,
    },
    /// An erasure request was carried out as far as the floors allow.
    Erase {
        /// The command that carried it out: `erase`, or `purge` finishing a pending request.
        by: String,
        request_id: String,
        state: ErasureState,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        rows_removed_raw: u64,
        rows_removed_deid: u64,
        files_rewritten: u64,
        rows_held: u64,
        partitions_held: usize,
    },
}

/// The last entry's number and hash, written after every append.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The audit log of a lake.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// The OS user running piguard: `$USER`/`$LOGNAME`, else the process's uid looked up in
/// /etc/passwd (cron and systemd often set neither variable), else `uid:N`.
pub fn os_user() -> String {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return user;
    }
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next().map(str::to_string))
    });
    let Some(uid) = uid else { return "unknown".into() };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid:{uid}"))
}

/// SHA-256 over the canonical bytes of an entry (its fields other than `hash`, keys sorted).
pub fn entry_hash(entry: &Map<String, Value>) -> String {
    let mut fields = entry.clone();
    fields.remove("hash");
    // serde_json's Map is ordered by key, so this serialization is canonical.
    let bytes = serde_json::to_vec(&Value::Object(fields)).expect("JSON values serialize");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditLog {
    /// The audit log of `lake`.
    pub fn of(lake: &Lake) -> Self {
        AuditLog { path: lake.audit_path() }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn head_path(&self) -> PathBuf {
        self.path.with_file_name("audit.head")
    }

    /// Checks every entry: valid JSON, numbered in order, `prev` the previous entry's hash,
    /// `hash` its own canonical hash, and the last one the entry `audit.head` names.
    pub fn verify(&self) -> Result<Verified, VerifyError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(cause) => return Err(VerifyError::Io(AuditError::Io { path: self.path.clone(), cause })),
        };
        let bad = |line: usize, problem: String| VerifyError::Tampered(Tampered { path: self.path.clone(), line, problem });
        let mut prev = GENESIS.to_string();
        let mut seq = 0u64;
        let mut lines = 0;
        for (i, line) in text.lines().enumerate() {
            lines = i + 1;
            let entry: Map<String, Value> =
                serde_json::from_str(line).map_err(|_| bad(i + 1, "not a JSON object (edited or truncated)".into()))?;
            let hash = entry.get("hash").and_then(Value::as_str).unwrap_or_default();
            if entry.get("prev").and_then(Value::as_str) != Some(prev.as_str()) {
                return Err(bad(i + 1, "its `prev` is not the previous entry's hash: an entry before it was removed, inserted or moved".into()));
            }
            if entry.get("seq").and_then(Value::as_u64) != Some(seq + 1) {
                return Err(bad(i + 1, format!("expected entry number {}: entries were removed, inserted or moved", seq + 1)));
            }
            if hash != entry_hash(&entry) {
                return Err(bad(i + 1, "its content does not match its hash: the entry was edited".into()));
            }
            prev = hash.to_string();
            seq += 1;
        }
        let head: Option<Head> = match std::fs::read(self.head_path()) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|_| bad(lines + 1, "audit.head is not readable".into()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(cause) => return Err(VerifyError::Io(AuditError::Io { path: self.head_path(), cause })),
        };
        match head {
            // A kill between appending and updating the head leaves the head one entry behind.
            Some(h) if h.seq > seq => {
                return Err(bad(lines + 1, format!("the log ends at entry {seq} but audit.head records entry {}: entries were removed from the end", h.seq)));
            }
            Some(h) if h.seq == seq && h.hash != prev => {
                return Err(bad(lines, "the last entry is not the one audit.head records: it was replaced".into()));
            }
            None if seq > 0 => return Err(bad(lines + 1, "audit.head is missing".into())),
            _ => {}
        }
        Ok(Verified { entries: seq, head: prev })
    }

    /// Appends `event` with `ts`, `who`, `seq`, `prev` and `hash` added. Returns the entry's
    /// hash.
    pub fn append(&self, event: &AuditEvent) -> Result<String, AuditError> {
        let io = |cause| AuditError::Io { path: self.path.clone(), cause };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&self.path).map_err(io)?;
        file.lock().map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let start = len.saturating_sub(MAX_ENTRY_BYTES);
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut tail = String::new();
        file.read_to_string(&mut tail).map_err(io)?;
        let (prev, seq) = match tail.lines().rev().find(|l| !l.trim().is_empty()) {
            None => (GENESIS.to_string(), 0),
            Some(line) => serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| Some((v.get("hash")?.as_str()?.to_string(), v.get("seq")?.as_u64()?)))
                .ok_or_else(|| AuditError::Corrupt { path: self.path.clone() })?,
        };
        let Value::Object(mut entry) = serde_json::to_value(event).expect("events serialize") else {
            unreachable!("an internally tagged enum serializes to an object")
        };
        entry.insert("ts".into(), Value::String(chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)));
        entry.insert("who".into(), Value::String(os_user()));
        entry.insert("seq".into(), Value::from(seq + 1));
        entry.insert("prev".into(), Value::String(prev));
        let hash = entry_hash(&entry);
        entry.insert("hash".into(), Value::String(hash.clone()));
        let mut line = serde_json::to_vec(&Value::Object(entry)).expect("JSON values serialize");
        line.push(b'\n');
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        let head = Head { seq: seq + 1, hash: hash.clone() };
        crate::lake::write_atomic(&self.head_path(), &serde_json::to_vec(&head).expect("serializes"))
            .map_err(|cause| AuditError::Io { path: self.head_path(), cause })?;
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sql: &str) -> AuditEvent {
        AuditEvent::Query { zone: Zone::Raw, sql: sql.into(), reason: "test".into() }
    }

    #[test]
    fn entries_chain_and_hash_their_canonical_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::of(&Lake::at(dir.path()));
        let h1 = log.append(&event("run")).unwrap();
        let h2 = log.append(&event("purge")).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let entries: Vec<Map<String, Value>> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["prev"], GENESIS);
        assert_eq!(entries[1]["prev"], h1.as_str());
        assert_eq!(entries[1]["hash"], h2.as_str());
        for e in &entries {
            assert_eq!(e["hash"].as_str().unwrap(), entry_hash(e));
        }
        assert_eq!((entries[0]["seq"].as_u64(), entries[1]["seq"].as_u64()), (Some(1), Some(2)));
    }

    #[test]
    fn concurrent_appends_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::of(&Lake::at(dir.path()));
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..10 {
                        log.append(&event(&format!("t{t}-{i}"))).unwrap();
                    }
                });
            }
        });
        assert_eq!(log.verify().unwrap().entries, 40);
    }

    /// A log of six entries, and its lines.
    fn six() -> (tempfile::TempDir, AuditLog, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::of(&Lake::at(dir.path()));
        for action in ["run", "query", "export", "purge", "erase", "run"] {
            log.append(&event(action)).unwrap();
        }
        let lines = std::fs::read_to_string(log.path()).unwrap().lines().map(str::to_string).collect();
        (dir, log, lines)
    }

    fn tampered_at(log: &AuditLog, lines: &[String]) -> usize {
        std::fs::write(log.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        match log.verify() {
            Err(VerifyError::Tampered(t)) => t.line,
            other => panic!("tampering went unnoticed: {other:?}"),
        }
    }

    #[test]
    fn every_single_edit_removal_swap_or_insertion_is_detected() {
        let (_dir, log, lines) = six();
        assert_eq!(log.verify().unwrap(), Verified { entries: 6, head: entry_hash(&serde_json::from_str(&lines[5]).unwrap()) });
        for i in 0..lines.len() {
            let mut edited = lines.clone();
            edited[i] = edited[i].replacen("\"sql\":\"", "\"sql\":\"x", 1);
            assert_eq!(tampered_at(&log, &edited), i + 1, "edit of line {}", i + 1);

            // Re-hashing the edited entry does not help: the next entry's prev (or the head) breaks.
            let mut rehashed: Map<String, Value> = serde_json::from_str(&edited[i]).unwrap();
            let h = entry_hash(&rehashed);
            rehashed.insert("hash".into(), Value::from(h));
            edited[i] = serde_json::to_string(&rehashed).unwrap();
            assert_eq!(tampered_at(&log, &edited), (i + 2).min(lines.len()), "re-hashed edit of line {}", i + 1);

            let mut removed = lines.clone();
            removed.remove(i);
            assert_eq!(tampered_at(&log, &removed), i + 1, "removal of line {}", i + 1);

            let mut inserted = lines.clone();
            inserted.insert(i, lines[i].clone());
            assert_eq!(tampered_at(&log, &inserted), i + 2, "copy inserted before line {}", i + 1);

            if i + 1 < lines.len() {
                let mut swapped = lines.clone();
                swapped.swap(i, i + 1);
                assert_eq!(tampered_at(&log, &swapped), i + 1, "swap of lines {} and {}", i + 1, i + 2);
            }
        }
    }

    #[test]
    fn a_head_one_entry_behind_is_a_kill_not_tampering() {
        let (_dir, log, _) = six();
        let head = log.path().with_file_name("audit.head");
        let before = std::fs::read(&head).unwrap();
        log.append(&event("query")).unwrap();
        std::fs::write(&head, before).unwrap();
        assert_eq!(log.verify().unwrap().entries, 7);
        log.append(&event("run")).unwrap();
        assert_eq!(log.verify().unwrap().entries, 8, "the next append brings the head up to date");
    }
}
