//! The audit log `LAKE/_piguard/audit.jsonl`: one sealed entry per run, raw-zone query,
//! purge, erasure and repair (see [`crate::sealed`]: keyed with the audit key, so only its
//! holders can extend the chain, and numbered with a head beside it, so any edit, removal,
//! reordering or truncation is detected). A command that publishes or deletes writes a
//! `began` entry first and its outcome after, so a command that dies part-way still left a
//! record of what it was about to do.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::lake::{Lake, Zone};
use crate::ledger::ErasureState;
use crate::sealed::{AuditKey, ChainError, Seal, SealedLog, TornTail, Verified, VerifyError};

/// The longest reason (`--reason`) accepted: a ticket number and a sentence, not a document.
pub const MAX_REASON_CHARS: usize = 1000;

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {0}")]
    Chain(#[from] ChainError),
    #[error("the reason is {0} characters; at most {MAX_REASON_CHARS} are kept in the audit log (name a ticket instead)")]
    ReasonTooLong(usize),
}

/// The Delta tables a command changed (`deid/users`, `raw/events`), with the versions its
/// commits made, oldest first: `audit verify` finds every de-identified table version here.
pub type TableVersions = BTreeMap<String, Vec<u64>>;

/// The command a `began` entry announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Run,
    Purge,
    Erase,
}

/// What one audit entry records. Every field is a count, an id, a name of a file, dataset
/// or column, or what the operator typed (SQL, a reason): never a value read from the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A command is about to publish or delete: `id` is the run, purge or request it
    /// closes with, `targets` the partitions per dataset it is about to write or delete.
    Began { operation: Operation, id: String, targets: BTreeMap<String, usize> },
    /// A torn final entry a crash left in `log` was set aside (to `saved_to`) so the log can
    /// be appended to again.
    Repair { log: String, torn_bytes: u64, saved_to: String },
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
        /// The SHA-256 of the manifest it wrote: every command that reads the manifest checks
        /// it against this, so an edited manifest (a retention, a subject column) is refused.
        manifest_sha256: String,
        /// The de-identified tables it committed (`deid/users`), with the version its
        /// commit made.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        table_versions: TableVersions,
        /// The figures of each published dataset's risk evaluation (GB/T 42460 level, k,
        /// R_a, R_b, R_c, records suppressed), by dataset.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        risk: BTreeMap<String, serde_json::Value>,
        /// The dataset a run stopped at, having published what came before it.
        #[serde(skip_serializing_if = "Option::is_none")]
        failed: Option<String>,
    },
    /// A query of the raw zone, logged before any row is shown.
    Query { zone: Zone, sql: String, reason: String },
    /// `piguard purge` deleted partitions past their time.
    Purge {
        purge_id: String,
        today: String,
        partitions_deleted_raw: usize,
        rows_deleted_raw: u64,
        partitions_deleted_deid: usize,
        rows_deleted_deid: u64,
        bytes_deleted: u64,
        erasures_done: usize,
        erasures_pending: usize,
        /// The Delta tables it changed, with the versions its commits made.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        table_versions: TableVersions,
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
        /// Files and datasets that could not be searched or rewritten (listed in the ledger).
        files_left: usize,
        /// The Delta tables it changed, with the versions its commits made.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        table_versions: TableVersions,
        /// The ledger entry that records this state: `audit verify` checks the ledger still
        /// holds it, so emptying the ledger is detected.
        ledger: Seal,
    },
}

impl AuditEvent {
    /// The id of the `began` entry this event closes, if it closes one.
    pub fn closes(entry: &serde_json::Map<String, Value>) -> Option<&str> {
        let field = match entry.get("action")?.as_str()? {
            "run" => "run_id",
            "purge" => "purge_id",
            "erase" => "request_id",
            _ => return None,
        };
        entry.get(field)?.as_str()
    }
}

/// The audit log of a lake, with the key that seals it.
#[derive(Debug, Clone)]
pub struct AuditLog {
    log: SealedLog,
    key: AuditKey,
}

/// The OS user running piguard: `$USER`/`$LOGNAME`, else the process's uid looked up in
/// /etc/passwd (cron and systemd often set neither variable), else `uid:N`.
pub fn os_user() -> String {
    if let Ok(user) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        return user;
    }
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|rest| rest.split_whitespace().next().map(str::to_string))
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

/// Refuses a reason too long to keep.
pub fn check_reason(reason: Option<&str>) -> Result<(), AuditError> {
    match reason.map(|r| r.chars().count()) {
        Some(n) if n > MAX_REASON_CHARS => Err(AuditError::ReasonTooLong(n)),
        _ => Ok(()),
    }
}

impl AuditLog {
    /// The audit log of `lake`, sealed with `key`.
    pub fn open(lake: &Lake, key: &AuditKey) -> Self {
        let path = lake.audit_path();
        AuditLog { log: SealedLog::new(path.clone(), path.with_file_name("audit.head")), key: key.clone() }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// The key it is sealed with.
    pub fn key(&self) -> &AuditKey {
        &self.key
    }

    /// Checks every entry's seal and the chain (see [`SealedLog::verify`]).
    pub fn verify(&self) -> Result<Verified, VerifyError> {
        self.log.verify(&self.key)
    }

    /// Sets aside a torn final entry a crash left, recording that it did.
    pub fn repair(&self) -> Result<Option<TornTail>, AuditError> {
        let torn = self.log.recover()?;
        if let Some(t) = &torn {
            self.record_repair(self.path(), t)?;
        }
        Ok(torn)
    }

    /// Records that a torn final entry of the sealed log at `log` was set aside.
    pub fn record_repair(&self, log: &Path, torn: &TornTail) -> Result<Seal, AuditError> {
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.append(&AuditEvent::Repair { log: name(log), torn_bytes: torn.bytes, saved_to: name(&torn.saved_to) })
    }

    /// Appends `event` with `ts` and `who` (a torn final entry is set aside and recorded
    /// first). Returns the entry's number and seal.
    pub fn append(&self, event: &AuditEvent) -> Result<Seal, AuditError> {
        if !matches!(event, AuditEvent::Repair { .. }) {
            self.repair()?;
        }
        let Value::Object(mut entry) = serde_json::to_value(event).expect("events serialize") else {
            unreachable!("an internally tagged enum serializes to an object")
        };
        entry.insert("ts".into(), Value::String(chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)));
        entry.insert("who".into(), Value::String(os_user()));
        Ok(self.log.append(&self.key, entry)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::{GENESIS, seal};
    use crate::transform::PseudonymKey;
    use serde_json::Map;

    fn key() -> AuditKey {
        AuditKey::derived(&PseudonymKey::from_bytes(vec![3; 32], "test").unwrap())
    }

    fn event(sql: &str) -> AuditEvent {
        AuditEvent::Query { zone: Zone::Raw, sql: sql.into(), reason: "test".into() }
    }

    #[test]
    fn entries_chain_and_hash_their_canonical_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&Lake::at(dir.path()), &key());
        let h1 = log.append(&event("run")).unwrap();
        let h2 = log.append(&event("purge")).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let entries: Vec<Map<String, Value>> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["prev"], GENESIS);
        assert_eq!(entries[1]["prev"], h1.hash.as_str());
        assert_eq!(entries[1]["hash"], h2.hash.as_str());
        for e in &entries {
            assert_eq!(e["hash"].as_str().unwrap(), seal(&key(), e));
        }
        assert_eq!((entries[0]["seq"].as_u64(), entries[1]["seq"].as_u64()), (Some(1), Some(2)));
    }

    #[test]
    fn concurrent_appends_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&Lake::at(dir.path()), &key());
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
        assert_eq!(log.verify().unwrap().entries.len(), 40);
    }

    /// A log of six entries, and its lines.
    fn six() -> (tempfile::TempDir, AuditLog, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&Lake::at(dir.path()), &key());
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
        let verified = log.verify().unwrap();
        assert_eq!((verified.entries.len(), verified.head), (6, seal(&key(), &serde_json::from_str(&lines[5]).unwrap())));
        for i in 0..lines.len() {
            let mut edited = lines.clone();
            edited[i] = edited[i].replacen("\"sql\":\"", "\"sql\":\"x", 1);
            assert_eq!(tampered_at(&log, &edited), i + 1, "edit of line {}", i + 1);

            // Re-hashing the edited entry does not help: the next entry's prev (or the head) breaks.
            let mut rehashed: Map<String, Value> = serde_json::from_str(&edited[i]).unwrap();
            let h = seal(&key(), &rehashed);
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
        assert_eq!(log.verify().unwrap().entries.len(), 7);
        log.append(&event("run")).unwrap();
        assert_eq!(log.verify().unwrap().entries.len(), 8, "the next append brings the head up to date");
    }
}
