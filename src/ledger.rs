//! The erasure ledger `LAKE/_piguard/erasure.jsonl`: every erasure request and the states it
//! passed through (requested → pending or incomplete → done), a sealed log (see
//! [`crate::sealed`]), so that removing a request (which would let `run` publish a pending
//! subject's rows again) breaks it. It never holds a subject's id: a request records, per
//! dataset and subject column, the pseudonym the id has there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::lake::Lake;
use crate::sealed::{AuditKey, ChainError, Seal, SealedLog, TornTail, VerifyError};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureState {
    /// Recorded, not yet carried out (or interrupted): the next erase or purge redoes it.
    Requested,
    /// Carried out except for rows a legal floor holds.
    Pending,
    /// Carried out except in files it could not read or rewrite (listed in the outcome):
    /// the next erase or purge tries again.
    Incomplete,
    Done,
}

/// Rows a legal floor keeps in the raw zone for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub dataset: String,
    pub partition: String,
    /// The first day the floor no longer holds them.
    #[serde(with = "iso_date")]
    pub until: NaiveDate,
    pub rows: u64,
    /// The law or setting that holds them.
    pub floor: String,
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows in raw/{}/{} are held until {} by {}", self.rows, self.dataset, self.partition, self.until, self.floor)
    }
}

/// A file or dataset an erasure could not search or rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftFile {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for LeftFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} was left: {}", self.path, self.reason)
    }
}

/// One line of the ledger: a request in one state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub request_id: String,
    pub state: ErasureState,
    #[serde(with = "iso_date")]
    pub requested_on: NaiveDate,
    pub recorded_at: String,
    pub key_id: String,
    /// `dataset` (its subject column) or `dataset.column` (another column in a subject's
    /// pseudonym domain, such as the other party of a message) → the subject's pseudonym
    /// there (never the id itself).
    pub subject_refs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Hold>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<LeftFile>,
    /// Rows removed by the step this line records.
    #[serde(default)]
    pub rows_removed: u64,
}

/// Why the ledger cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("erasure ledger {0}")]
    Chain(#[from] ChainError),
    #[error("erasure ledger {0}; nothing was done")]
    Tampered(#[from] VerifyError),
    #[error("erasure ledger {path}: entry {seq} is not a ledger record; nothing was done")]
    Corrupt { path: PathBuf, seq: usize },
    #[error(
        "erasure request {request_id} was recorded with key id {recorded}, but the key now set has id {current}: the subject cannot be found with another key; set the key it was recorded with"
    )]
    OtherKey { request_id: String, recorded: String, current: String },
}

/// A verified ledger.
#[derive(Debug, Default)]
pub struct LedgerState {
    /// Every record, oldest first.
    pub records: Vec<ErasureRecord>,
    /// The seal of each record.
    pub seals: Vec<Seal>,
    /// Bytes of a torn final record a crash left.
    pub torn_tail: Option<u64>,
}

/// The erasure ledger of a lake, with the key that seals it.
#[derive(Debug, Clone)]
pub struct ErasureLedger {
    log: SealedLog,
    key: AuditKey,
}

impl ErasureLedger {
    /// The ledger of `lake`, sealed with `key`.
    pub fn open(lake: &Lake, key: &AuditKey) -> Self {
        let path = lake.ledger_path();
        ErasureLedger { log: SealedLog::new(path.clone(), path.with_file_name("erasure.head")), key: key.clone() }
    }

    /// Where the ledger is.
    pub fn path(&self) -> &Path {
        self.log.path()
    }

    /// Appends a record, durably. Returns its seal, and a torn final record a crash left,
    /// set aside first (the caller records that in the audit log).
    pub fn append(&self, record: &ErasureRecord) -> Result<(Seal, Option<TornTail>), LedgerError> {
        let serde_json::Value::Object(body) = serde_json::to_value(record).expect("records serialize") else {
            unreachable!("a struct serializes to an object")
        };
        Ok(self.log.append(&self.key, body)?)
    }

    /// Sets aside a torn final record a crash left (see [`SealedLog::recover`]).
    pub fn recover(&self) -> Result<Option<TornTail>, LedgerError> {
        Ok(self.log.recover()?)
    }

    /// Every record, oldest first, with its seal, after verifying the seals.
    pub fn read(&self) -> Result<LedgerState, LedgerError> {
        let verified = self.log.verify(&self.key)?;
        let mut state = LedgerState { torn_tail: verified.torn_tail, ..Default::default() };
        for (i, entry) in verified.entries.into_iter().enumerate() {
            let hash = entry.get("hash").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
            let record = serde_json::from_value(serde_json::Value::Object(entry))
                .map_err(|_| LedgerError::Corrupt { path: self.path().to_path_buf(), seq: i + 1 })?;
            state.records.push(record);
            state.seals.push(Seal { seq: i as u64 + 1, hash });
        }
        Ok(state)
    }
}

/// Of `records` (oldest first), the latest of every request that is not done, in the order
/// they were made.
pub fn open_requests(records: &[ErasureRecord]) -> Vec<ErasureRecord> {
    let mut latest: Vec<ErasureRecord> = Vec::new();
    for r in records {
        match latest.iter_mut().find(|l| l.request_id == r.request_id) {
            Some(l) => *l = r.clone(),
            None => latest.push(r.clone()),
        }
    }
    latest.retain(|r| r.state != ErasureState::Done);
    latest
}

/// The pseudonyms of pending subjects per dataset, for `run` to leave out. Every request
/// must have been recorded with the key now in use.
pub fn pending_subjects(open: &[ErasureRecord], key_id: &str) -> Result<BTreeMap<String, Vec<String>>, LedgerError> {
    let mut by_dataset: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in open {
        if r.key_id != key_id {
            return Err(LedgerError::OtherKey {
                request_id: r.request_id.clone(),
                recorded: r.key_id.clone(),
                current: key_id.to_string(),
            });
        }
        for (dataset, reference) in &r.subject_refs {
            by_dataset.entry(dataset.clone()).or_default().push(reference.clone());
        }
    }
    Ok(by_dataset)
}

/// Dates as `YYYY-MM-DD` in JSON (chrono's serde feature would rebuild DataFusion).
mod iso_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, state: ErasureState, key_id: &str) -> ErasureRecord {
        ErasureRecord {
            request_id: id.into(),
            state,
            requested_on: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            recorded_at: String::new(),
            key_id: key_id.into(),
            subject_refs: BTreeMap::from([("users".to_string(), format!("ref-{id}"))]),
            reason: None,
            held: Vec::new(),
            left: Vec::new(),
            rows_removed: 0,
        }
    }

    #[test]
    fn the_ledger_keeps_each_requests_latest_state() {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::derived(&crate::transform::PseudonymKey::from_bytes(vec![5; 32], "test").unwrap());
        let ledger = ErasureLedger::open(&Lake::at(dir.path()), &key);
        assert!(ledger.read().unwrap().records.is_empty(), "no ledger yet");
        ledger.append(&record("a", ErasureState::Requested, "k1")).unwrap();
        ledger.append(&record("b", ErasureState::Requested, "k1")).unwrap();
        ledger.append(&record("a", ErasureState::Pending, "k1")).unwrap();
        ledger.append(&record("b", ErasureState::Done, "k1")).unwrap();
        let open = open_requests(&ledger.read().unwrap().records);
        assert_eq!(open.iter().map(|r| (r.request_id.as_str(), r.state)).collect::<Vec<_>>(), [("a", ErasureState::Pending)]);
        assert_eq!(pending_subjects(&open, "k1").unwrap()["users"], ["ref-a"]);
        assert!(matches!(pending_subjects(&open, "k2"), Err(LedgerError::OtherKey { .. })));

        // Emptying it, or dropping a request, is detected by its seals and head.
        let text = std::fs::read_to_string(ledger.path()).unwrap();
        let without_a: String = text.lines().filter(|l| !l.contains("\"ref-a\"")).map(|l| format!("{l}\n")).collect();
        std::fs::write(ledger.path(), without_a).unwrap();
        assert!(matches!(ledger.read(), Err(LedgerError::Tampered(_))));
        std::fs::write(ledger.path(), "").unwrap();
        assert!(matches!(ledger.read(), Err(LedgerError::Tampered(_))));
    }
}
