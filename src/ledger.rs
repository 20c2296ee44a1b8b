//! The erasure ledger `LAKE/_piguard/erasure.jsonl`: every erasure request and the states it
//! passed through (requested → pending → done), append-only. It never holds a subject's id:
//! a request records, per dataset, the pseudonym the id has there.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::lake::Lake;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureState {
    /// Recorded, not yet carried out (or interrupted): the next erase or purge redoes it.
    Requested,
    /// Carried out except for rows a legal floor holds.
    Pending,
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

/// One line of the ledger: a request in one state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub request_id: String,
    pub state: ErasureState,
    #[serde(with = "iso_date")]
    pub requested_on: NaiveDate,
    pub recorded_at: String,
    pub key_id: String,
    /// Dataset → the subject's pseudonym there (never the id itself).
    pub subject_refs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Hold>,
    /// Rows removed by the step this line records.
    #[serde(default)]
    pub rows_removed: u64,
}

/// Why the ledger cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("erasure ledger {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("erasure ledger {path}: line {line} is not a ledger record; nothing was done")]
    Corrupt { path: PathBuf, line: usize },
    #[error("erasure request {request_id} was recorded with key id {recorded}, but the key now set has id {current}: the subject cannot be found with another key; set the key it was recorded with")]
    OtherKey { request_id: String, recorded: String, current: String },
}

/// The erasure ledger of a lake: append-only, one JSON record per line.
#[derive(Debug, Clone)]
pub struct ErasureLedger {
    path: PathBuf,
}

impl ErasureLedger {
    /// The ledger of `lake`.
    pub fn of(lake: &Lake) -> Self {
        ErasureLedger { path: lake.ledger_path() }
    }

    /// Where the ledger is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record, durably, under an exclusive lock.
    pub fn append(&self, record: &ErasureRecord) -> Result<(), LedgerError> {
        let io = |cause| LedgerError::Io { path: self.path.clone(), cause };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        file.lock().map_err(io)?;
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Every record, oldest first.
    pub fn records(&self) -> Result<Vec<ErasureRecord>, LedgerError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(cause) => return Err(LedgerError::Io { path: self.path.clone(), cause }),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|_| LedgerError::Corrupt { path: self.path.clone(), line: i + 1 }))
            .collect()
    }

    /// The latest record of every request that is not done, in the order they were made.
    pub fn open_requests(&self) -> Result<Vec<ErasureRecord>, LedgerError> {
        let mut latest: Vec<ErasureRecord> = Vec::new();
        for r in self.records()? {
            match latest.iter_mut().find(|l| l.request_id == r.request_id) {
                Some(l) => *l = r,
                None => latest.push(r),
            }
        }
        latest.retain(|r| r.state != ErasureState::Done);
        Ok(latest)
    }
}

/// The pseudonyms of pending subjects per dataset, for `run` to leave out. Every request
/// must have been recorded with the key now in use.
pub fn pending_subjects(open: &[ErasureRecord], key_id: &str) -> Result<BTreeMap<String, Vec<String>>, LedgerError> {
    let mut by_dataset: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in open {
        if r.key_id != key_id {
            return Err(LedgerError::OtherKey { request_id: r.request_id.clone(), recorded: r.key_id.clone(), current: key_id.to_string() });
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
            rows_removed: 0,
        }
    }

    #[test]
    fn the_ledger_keeps_each_requests_latest_state() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ErasureLedger::of(&Lake::at(dir.path()));
        assert!(ledger.open_requests().unwrap().is_empty(), "no ledger yet");
        ledger.append(&record("a", ErasureState::Requested, "k1")).unwrap();
        ledger.append(&record("b", ErasureState::Requested, "k1")).unwrap();
        ledger.append(&record("a", ErasureState::Pending, "k1")).unwrap();
        ledger.append(&record("b", ErasureState::Done, "k1")).unwrap();
        let open = ledger.open_requests().unwrap();
        assert_eq!(open.iter().map(|r| (r.request_id.as_str(), r.state)).collect::<Vec<_>>(), [("a", ErasureState::Pending)]);
        assert_eq!(pending_subjects(&open, "k1").unwrap()["users"], ["ref-a"]);
        assert!(matches!(pending_subjects(&open, "k2"), Err(LedgerError::OtherKey { .. })));

        std::fs::write(ledger.path(), format!("{}\n{{not json\n", std::fs::read_to_string(ledger.path()).unwrap().lines().next().unwrap())).unwrap();
        assert!(matches!(ledger.open_requests(), Err(LedgerError::Corrupt { line: 2, .. })));
    }
}
