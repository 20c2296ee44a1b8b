//! Whether a lake's records agree: the audit log and the erasure ledger verify under the
//! audit key; every run manifest's audit anchor (the `began` entry it recorded) is in the
//! log; and the ledger still holds the last state the log says it recorded. A log deleted
//! or cut back on a lake that has runs, or a ledger emptied, fails here. `run`, `purge` and
//! `erase` refuse to act on a lake that fails; `audit verify` reports it.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::audit::{AuditEvent, AuditLog};
use crate::lake::Lake;
use crate::ledger::{ErasureLedger, ErasureRecord, LedgerError};
use crate::plan::manifest::{Manifest, ManifestError};
use crate::sealed::{AuditKey, Seal, Tampered, VerifyError};

/// Why a lake's records do not agree, or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("tampering: {0}")]
    Tampered(Tampered),
    #[error(transparent)]
    Read(VerifyError),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl From<VerifyError> for IntegrityError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Tampered(t) => IntegrityError::Tampered(t),
            e => IntegrityError::Read(e),
        }
    }
}

impl From<LedgerError> for IntegrityError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Tampered(v) => v.into(),
            e => IntegrityError::Ledger(e),
        }
    }
}

/// A lake whose records agree.
#[derive(Debug)]
pub struct Integrity {
    pub audit_entries: usize,
    /// The audit log's last seal.
    pub head: String,
    /// The ledger's records, oldest first.
    pub ledger: Vec<ErasureRecord>,
    pub manifests_checked: usize,
    /// Commands that began and never recorded an outcome (killed or crashed): what each was
    /// about to do.
    pub unfinished: Vec<String>,
    /// Logs that end in a torn entry a crash left (set aside by the next append or `audit repair`).
    pub torn: Vec<PathBuf>,
}

/// Checks that the lake's audit log, ledger and manifests agree under `key`.
pub fn check(lake: &Lake, key: &AuditKey) -> Result<Integrity, IntegrityError> {
    let log = AuditLog::open(lake, key);
    let verified = log.verify()?;
    let ledger = ErasureLedger::open(lake, key);
    let state = ledger.read()?;
    let tampered = |path: PathBuf, line: usize, problem: String| IntegrityError::Tampered(Tampered { path, line, problem });
    let entries = &verified.entries;

    let runs = lake.run_ids();
    if entries.is_empty() && !runs.is_empty() {
        let problem = format!("the lake has {} run manifest(s) but the audit log is missing or empty: it was deleted", runs.len());
        return Err(tampered(log.path().to_path_buf(), 1, problem));
    }
    let mut manifests_checked = 0;
    for run_id in &runs {
        let path = lake.manifest_path(run_id);
        let Some(anchor) = Manifest::load(&path)?.audit else { continue };
        if !holds(entries, &anchor) {
            let problem = format!(
                "run {run_id}'s manifest records audit entry {} (seal {}), which the log no longer holds: entries were removed or the log rewritten",
                anchor.seq,
                short(&anchor.hash)
            );
            return Err(tampered(log.path().to_path_buf(), anchor.seq as usize, problem));
        }
        manifests_checked += 1;
    }
    let recorded =
        entries.iter().filter_map(|e| e.get("ledger")).filter_map(|l| serde_json::from_value::<Seal>(l.clone()).ok()).max_by_key(|s| s.seq);
    if let Some(seal) = recorded.filter(|s| !state.seals.contains(s)) {
        let problem = format!(
            "the audit log records ledger entry {} (seal {}), which the ledger no longer holds: requests were removed from it",
            seal.seq,
            short(&seal.hash)
        );
        return Err(tampered(ledger.path().to_path_buf(), seal.seq as usize, problem));
    }

    let unfinished = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.get("action").and_then(Value::as_str) == Some("began"))
        .filter(|(i, e)| {
            let id = e.get("id").and_then(Value::as_str);
            !entries[i + 1..].iter().any(|later| AuditEvent::closes(later) == id)
        })
        .map(|(i, e)| describe_began(i + 1, e))
        .collect();
    let torn = [(log.path(), verified.torn_tail), (ledger.path(), state.torn_tail)]
        .into_iter()
        .filter(|(_, t)| t.is_some())
        .map(|(p, _)| p.to_path_buf())
        .collect();
    Ok(Integrity { audit_entries: entries.len(), head: verified.head.clone(), ledger: state.records, manifests_checked, unfinished, torn })
}

/// Whether the log's entry `anchor.seq` has the seal `anchor.hash`.
fn holds(entries: &[Map<String, Value>], anchor: &Seal) -> bool {
    let at = anchor.seq.checked_sub(1).and_then(|i| entries.get(i as usize));
    at.and_then(|e| e.get("hash")).and_then(Value::as_str) == Some(anchor.hash.as_str())
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

fn describe_began(line: usize, e: &Map<String, Value>) -> String {
    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let targets: Vec<String> = e
        .get("targets")
        .and_then(Value::as_object)
        .map(|t| t.iter().map(|(d, n)| format!("{d} ({n} partition(s))")).collect())
        .unwrap_or_default();
    let targets = if targets.is_empty() { "nothing named".to_string() } else { targets.join(", ") };
    format!(
        "{} {} (audit entry {line}) began and recorded no outcome: it may have published or deleted part of {targets}",
        field("operation"),
        field("id")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Operation;
    use crate::transform::PseudonymKey;
    use std::collections::BTreeMap;

    #[test]
    fn a_command_that_began_and_recorded_no_outcome_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::at(dir.path());
        let key = AuditKey::derived(&PseudonymKey::from_bytes(vec![9; 32], "test").unwrap());
        let log = AuditLog::open(&lake, &key);
        let began = |id: &str| AuditEvent::Began {
            operation: Operation::Purge,
            id: id.into(),
            targets: BTreeMap::from([("raw/logs".to_string(), 3)]),
        };
        log.append(&began("purge-1")).unwrap();
        let closed = AuditEvent::Purge {
            purge_id: "purge-1".into(),
            today: "2026-11-23".into(),
            partitions_deleted_raw: 3,
            rows_deleted_raw: 0,
            partitions_deleted_deid: 0,
            rows_deleted_deid: 0,
            bytes_deleted: 0,
            erasures_done: 0,
            erasures_pending: 0,
            table_versions: BTreeMap::new(),
        };
        log.append(&closed).unwrap();
        log.append(&began("purge-2")).unwrap();
        let checked = check(&lake, &key).unwrap();
        assert_eq!(checked.unfinished.len(), 1, "{:?}", checked.unfinished);
        assert!(
            checked.unfinished[0].contains("purge purge-2 (audit entry 3)") && checked.unfinished[0].contains("raw/logs (3 partition(s))")
        );
        let other = AuditKey::derived(&PseudonymKey::from_bytes(vec![8; 32], "test").unwrap());
        assert!(matches!(check(&lake, &other), Err(IntegrityError::Tampered(_))), "another key cannot vouch for the log");
    }
}
