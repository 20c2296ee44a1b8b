//! Whether a lake's records agree: the audit log and the erasure ledger verify under the
//! audit key; every run manifest is the one its run sealed (its SHA-256 is in the run's audit
//! entry) and its audit anchor (the `began` entry it recorded) is in the log; every version
//! of a de-identified table that changed data was committed by a run, purge or erasure the
//! log names; and the ledger still holds the last state the log says it recorded. A log
//! deleted or cut back on a lake that has runs or de-identified data, an edited manifest, a
//! table version written behind piguard's back, or a ledger emptied, fails here. `run`,
//! `purge` and `erase` refuse to act on a lake that fails, and read manifests only through
//! it; `audit verify` reports it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::audit::{AuditEvent, AuditLog};
use crate::lake::{Lake, Zone, delta, files};
use crate::ledger::{ErasureLedger, ErasureRecord, LedgerError};
use crate::plan::manifest::{Manifest, ManifestError, SealedManifests};
use crate::plan::sha256_hex;
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
    /// The manifests whose digests the log seals, read once here: the only plans commands use.
    pub manifests: SealedManifests,
    /// De-identified table versions checked against the log.
    pub table_versions_checked: usize,
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
    let published: Vec<String> = [Zone::Deid, Zone::Export]
        .into_iter()
        .flat_map(|z| lake.dataset_names(z).into_iter().map(move |n| format!("{}/{n}", z.dir())))
        .collect();
    if entries.is_empty() && (!runs.is_empty() || !published.is_empty()) {
        let what = match runs.len() {
            0 => format!("de-identified or exported data ({})", published.join(", ")),
            n => format!("{n} run manifest(s)"),
        };
        let problem = format!("the lake has {what} but the audit log is missing or empty: it was deleted");
        return Err(tampered(log.path().to_path_buf(), 1, problem));
    }
    let unfinished_ids = unfinished_ids(entries);
    let mut manifests = SealedManifests::default();
    for run_id in &runs {
        let path = lake.manifest_path(run_id);
        let bytes = files::read(&path).map_err(|cause| ManifestError::Io { path: path.clone(), cause })?;
        let sha256 = sha256_hex(&bytes);
        let sealed: Vec<&str> = entries
            .iter()
            .filter(|e| e.get("action").and_then(Value::as_str) == Some("run"))
            .filter(|e| e.get("run_id").and_then(Value::as_str) == Some(run_id.as_str()))
            .filter_map(|e| e.get("manifest_sha256").and_then(Value::as_str))
            .collect();
        let is_sealed = sealed.contains(&sha256.as_str());
        // What nothing seals may not parse: it is then tampering, not a manifest to read.
        let manifest = match Manifest::parse(&path, &bytes) {
            Ok(m) => Some(m),
            Err(_) if !is_sealed => None,
            Err(e) => return Err(e.into()),
        };
        let anchor = manifest.as_ref().and_then(|m| m.audit.clone());
        if let Some(anchor) = anchor.as_ref().filter(|a| !holds(entries, a)) {
            let problem = format!(
                "run {run_id}'s manifest records audit entry {} (seal {}), which the log no longer holds: entries were removed or the log rewritten",
                anchor.seq,
                short(&anchor.hash)
            );
            return Err(tampered(log.path().to_path_buf(), anchor.seq as usize, problem));
        }
        if let Some(manifest) = manifest.filter(|_| is_sealed) {
            manifests.insert(run_id.clone(), manifest);
            continue;
        }
        // A run killed between writing its manifest and recording it: its `began` entry is
        // unfinished, and its manifest, which nothing vouches for, is never read.
        if sealed.is_empty() && unfinished_ids.contains(run_id.as_str()) && anchor.is_some() {
            continue;
        }
        let problem = match sealed.first() {
            Some(recorded) => format!(
                "run {run_id}'s manifest ({}) is not the one the run sealed (SHA-256 {}, now {}): it was edited",
                path.display(),
                short(recorded),
                short(&sha256)
            ),
            None => format!(
                "run {run_id}'s manifest ({}) is not recorded by any run in the audit log: it was put there by hand",
                path.display()
            ),
        };
        return Err(tampered(path, 1, problem));
    }
    let table_versions_checked = check_table_versions(lake, entries, &unfinished_ids, log.path())?;
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

    let unfinished = unfinished_began(entries).map(|(i, e)| describe_began(i + 1, e)).collect();
    let torn = [(log.path(), verified.torn_tail), (ledger.path(), state.torn_tail)]
        .into_iter()
        .filter(|(_, t)| t.is_some())
        .map(|(p, _)| p.to_path_buf())
        .collect();
    Ok(Integrity {
        audit_entries: entries.len(),
        head: verified.head.clone(),
        ledger: state.records,
        manifests,
        table_versions_checked,
        unfinished,
        torn,
    })
}

/// The `began` entries no later entry closes (commands killed or crashed), with their index.
fn unfinished_began(entries: &[Map<String, Value>]) -> impl Iterator<Item = (usize, &Map<String, Value>)> {
    entries.iter().enumerate().filter(|(_, e)| e.get("action").and_then(Value::as_str) == Some("began")).filter(|(i, e)| {
        let id = e.get("id").and_then(Value::as_str);
        !entries[i + 1..].iter().any(|later| AuditEvent::closes(later) == id)
    })
}

fn unfinished_ids(entries: &[Map<String, Value>]) -> BTreeSet<&str> {
    unfinished_began(entries).filter_map(|(_, e)| e.get("id").and_then(Value::as_str)).collect()
}

/// Checks every version of every de-identified table that changed data (added or removed
/// files, or changed the schema) against the log: a run, purge or erasure entry names it in
/// its `table_versions`, or the version was committed by a command killed before it could
/// record its outcome (its commit names the id of an unfinished `began` entry). Versions
/// that only record a vacuum change no data. Returns how many versions were checked.
fn check_table_versions(
    lake: &Lake,
    entries: &[Map<String, Value>],
    unfinished: &BTreeSet<&str>,
    log: &Path,
) -> Result<usize, IntegrityError> {
    let mut named: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for versions in entries.iter().filter_map(|e| e.get("table_versions").and_then(Value::as_object)) {
        for (table, v) in versions {
            named.entry(table.clone()).or_default().extend(v.as_array().into_iter().flatten().filter_map(Value::as_u64));
        }
    }
    let mut checked = 0;
    for name in lake.dataset_names(Zone::Deid) {
        let root = lake.dataset_dir(Zone::Deid, &name);
        let table = format!("{}/{name}", Zone::Deid.dir());
        for commit in delta::log_commits(&root)
            .map_err(|e| IntegrityError::Read(VerifyError::Io(crate::sealed::ChainError::Io { path: root.clone(), cause: e })))?
        {
            if !commit.changes_data {
                continue;
            }
            checked += 1;
            let by_killed_command = commit.piguard_id.as_deref().is_some_and(|id| unfinished.contains(id));
            if named.get(&table).is_some_and(|v| v.contains(&commit.version)) || by_killed_command {
                continue;
            }
            let problem = format!(
                "version {} of {table} ({}) changed its data but no run, purge or erasure in the audit log committed it: it was written behind piguard's back, or the log's entries were removed",
                commit.version,
                commit.path.display()
            );
            return Err(IntegrityError::Tampered(Tampered { path: log.to_path_buf(), line: entries.len() + 1, problem }));
        }
    }
    Ok(checked)
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
            table_versions: Default::default(),
        };
        log.append(&closed).unwrap();
        log.append(&began("purge-2")).unwrap();
        let checked = check(&lake, &key).unwrap();
        assert_eq!(checked.unfinished.len(), 1, "{:?}", checked.unfinished);
        assert!(
            checked.unfinished[0].contains("purge purge-2 (audit entry 3)") && checked.unfinished[0].contains("raw/logs (3 partition(s))")
        );
        let other = AuditKey::derived(&PseudonymKey::from_bytes(vec![8; 32], "test").unwrap());
        assert!(
            matches!(check(&lake, &other), Err(IntegrityError::Read(VerifyError::OtherKey { .. }))),
            "another key cannot vouch for the log"
        );
    }
}
