//! Erasure of a subject (an account closed): the ledger `LAKE/_piguard/erasure.jsonl`, and
//! removing the subject's rows from the raw and de-identified zones.
//!
//! The ledger never holds the subject's id: a request records, per dataset, the pseudonym
//! the id has there, which finds the rows in both zones (in the raw zone by pseudonymizing
//! the subject column). Rows under a legal floor stay in the raw zone and the request stays
//! `pending` until `purge` finds the floor passed; `run` leaves pending subjects out of the
//! de-identified zone meanwhile. A file is rewritten only when it holds the subject:
//! Parquet statistics and bloom filters rule most files out without reading them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, ScalarUDF, lit};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{RetentionError, RetentionPolicy, io_err};
use crate::audit::AuditLog;
use crate::category::Category;
use crate::lake::{self, DataFile, DatasetSource, FileFormat, LakeLock, TMP_PREFIX};
use crate::pipeline::run::{Planned, ROW_GROUP_ROWS, deid_parquet_options, plan_pipeline};
use crate::pipeline::{DatasetPlan, PipelineSpec, Step};
use crate::transform::udf::HashUdf;
use crate::transform::{PseudonymKey, Pseudonymizer};

/// Names of files an erasure is rewriting.
pub(crate) const ERASE_PREFIX: &str = ".tmp-erase-";
/// Names partitions being purged are renamed to.
pub(crate) const PURGE_PREFIX: &str = ".tmp-purge-";

/// A zone of the lake that holds rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Raw,
    Deid,
}

impl Zone {
    /// The zone's directory name.
    pub fn dir(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Deid => "deid",
        }
    }

    /// The dataset `name` in this zone of the lake at `lake_root`, when it is there and
    /// readable.
    pub(crate) fn dataset(self, lake_root: &Path, name: &str) -> Option<DatasetSource> {
        let root = lake_root.join(self.dir()).join(name);
        root.is_dir().then(|| lake::discover(&root).datasets.into_iter().next()?.ok()).flatten()
    }
}

/// The column that names the person in a dataset, and how a subject is found in it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectColumn {
    pub column: String,
    /// The pseudonym domain a subject's id is looked up in.
    pub domain: String,
    pub category: Category,
    /// Whether the de-identified zone holds the pseudonym (else the id, kept with a reason).
    pub hashed: bool,
}

impl SubjectColumn {
    /// The subject column of a planned dataset, if it names one. Erasure must find the
    /// subject in the de-identified zone, so the column has to be hashed or kept.
    pub fn of(plan: &DatasetPlan) -> Result<Option<SubjectColumn>, String> {
        let Some(name) = &plan.subject else { return Ok(None) };
        let Some(c) = plan.columns.iter().find(|c| &c.name == name) else {
            return Err(format!("subject column `{name}` is not in the dataset"));
        };
        let default_domain = if c.category == Category::None { c.name.clone() } else { c.category.id().to_string() };
        match &c.step {
            Step::Hash { domain, category } => {
                Ok(Some(SubjectColumn { column: name.clone(), domain: domain.clone(), category: *category, hashed: true }))
            }
            Step::Keep => Ok(Some(SubjectColumn { column: name.clone(), domain: default_domain, category: c.category, hashed: false })),
            other => Err(format!(
                "subject column `{name}` has action `{}`, so an erasure could not find the person's rows in the de-identified zone: hash it or keep it",
                other.action().id()
            )),
        }
    }

    /// The pseudonym a subject's id has in this dataset.
    pub fn reference(&self, key: &PseudonymKey, id: &str) -> String {
        Pseudonymizer::new(key, &self.domain).pseudonymize(self.category, id)
    }

    /// True on the rows of any subject in `refs` (never null), in `zone`.
    pub fn matches(&self, zone: Zone, refs: &[String], hash: &ScalarUDF) -> Expr {
        let column = Expr::Column(Column::new_unqualified(&self.column));
        let value = if zone == Zone::Deid && self.hashed {
            column
        } else {
            hash.call(vec![column, lit(self.domain.clone()), lit(self.category.id())])
        };
        value.in_list(refs.iter().map(|r| lit(r.clone())).collect(), false).is_true()
    }
}

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
    #[serde(with = "super::iso_date")]
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
    #[serde(with = "super::iso_date")]
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
    /// The ledger of the lake at `root`.
    pub fn of_lake(root: &Path) -> Self {
        ErasureLedger { path: root.join("_piguard").join("erasure.jsonl") }
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

/// What carrying out one request did.
#[derive(Debug, Clone, Default)]
pub struct ErasureOutcome {
    pub request_id: String,
    pub rows_removed_raw: u64,
    pub rows_removed_deid: u64,
    pub files_rewritten: u64,
    /// Files read to look for the subject (the rest were ruled out by their metadata).
    pub files_read: u64,
    pub files_ruled_out: u64,
    /// Rows kept in the raw zone by a floor.
    pub held: Vec<Hold>,
}

impl ErasureOutcome {
    /// `done`, or `pending` while a floor holds rows.
    pub fn state(&self) -> ErasureState {
        if self.held.is_empty() { ErasureState::Done } else { ErasureState::Pending }
    }
}

/// Which partitions a request still has to visit.
enum Scope<'a> {
    /// All of them (a new or interrupted request); `id` rules files out by raw statistics.
    All { id: Option<&'a str> },
    /// Only the raw partitions of these holds whose floor has passed.
    DueHolds(&'a [Hold]),
}

/// Removes temporaries a killed erase or purge left: piguard's own in the raw zone (other
/// tools may be landing files there), any in the de-identified zone. Callers hold the lock.
pub(crate) fn clean_temporaries(lake_root: &Path) -> Result<(), RetentionError> {
    for (zone, prefixes) in [(Zone::Raw, &[ERASE_PREFIX, PURGE_PREFIX][..]), (Zone::Deid, &[TMP_PREFIX][..])] {
        let dir = lake_root.join(zone.dir());
        for prefix in prefixes {
            lake::remove_temporaries(&dir, prefix).map_err(io_err(&dir))?;
        }
    }
    Ok(())
}

/// Carries out requests on a lake. Callers hold the [`LakeLock`].
pub(crate) struct Eraser<'a> {
    lake: &'a Path,
    planned: &'a [Planned],
    today: NaiveDate,
    ctx: SessionContext,
    hash: ScalarUDF,
}

impl<'a> Eraser<'a> {
    pub(crate) fn new(lake: &'a Path, planned: &'a [Planned], today: NaiveDate, key: &PseudonymKey) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut config = SessionConfig::new().with_target_partitions(threads);
        // Rewritten files keep the types they had (Utf8 stays Utf8, not Utf8View), so they
        // still read as one dataset with the files beside them.
        config.options_mut().execution.parquet.schema_force_view_types = false;
        Eraser {
            lake,
            planned,
            today,
            ctx: SessionContext::new_with_config(config),
            hash: ScalarUDF::new_from_impl(HashUdf::new(key.clone())),
        }
    }

    /// Finishes an open request as far as the floors allow on `today`.
    pub(crate) async fn finish(&self, request: &ErasureRecord) -> Result<ErasureOutcome, RetentionError> {
        match request.state {
            ErasureState::Requested => self.apply(request, Scope::All { id: None }).await,
            _ => {
                let (due, waiting): (Vec<Hold>, Vec<Hold>) = request.held.iter().cloned().partition(|h| h.until <= self.today);
                let mut outcome = self.apply(request, Scope::DueHolds(&due)).await?;
                outcome.held.extend(waiting);
                Ok(outcome)
            }
        }
    }

    async fn apply(&self, request: &ErasureRecord, scope: Scope<'_>) -> Result<ErasureOutcome, RetentionError> {
        let mut outcome = ErasureOutcome { request_id: request.request_id.clone(), ..Default::default() };
        let id = match scope {
            Scope::All { id } => id,
            Scope::DueHolds(_) => None,
        };
        for p in self.planned {
            let (Some(subject), Some(reference)) = (&p.subject, request.subject_refs.get(&p.plan.name)) else {
                continue;
            };
            for zone in [Zone::Raw, Zone::Deid] {
                if matches!(scope, Scope::DueHolds(_)) && zone == Zone::Deid {
                    continue;
                }
                let Some(source) = zone.dataset(self.lake, &p.plan.name) else {
                    continue;
                };
                let matches = subject.matches(zone, std::slice::from_ref(reference), &self.hash);
                for (partition, files) in source.partitions() {
                    if let Scope::DueHolds(due) = &scope
                        && !due.iter().any(|h| h.dataset == p.plan.name && h.partition == partition)
                    {
                        continue;
                    }
                    let held_until = match zone {
                        Zone::Raw => self.held_until(&p.retention, &partition, &files).await?,
                        Zone::Deid => None,
                    };
                    for file in &files {
                        if !may_contain(file, subject, zone, reference, id)? {
                            outcome.files_ruled_out += 1;
                            continue;
                        }
                        outcome.files_read += 1;
                        let found = self.count(file, matches.clone()).await?;
                        if found == 0 {
                            continue;
                        }
                        if let Some(until) = held_until {
                            match outcome.held.iter_mut().find(|h| h.dataset == p.plan.name && h.partition == partition) {
                                Some(h) => h.rows += found,
                                None => outcome.held.push(Hold {
                                    dataset: p.plan.name.clone(),
                                    partition: partition.clone(),
                                    until,
                                    rows: found,
                                    floor: p.retention.floor_basis(),
                                }),
                            }
                            continue;
                        }
                        let options = match zone {
                            Zone::Deid => deid_parquet_options(&p.plan),
                            Zone::Raw => raw_parquet_options(subject),
                        };
                        self.rewrite(file, matches.clone().is_not_true(), options).await?;
                        outcome.files_rewritten += 1;
                        match zone {
                            Zone::Raw => outcome.rows_removed_raw += found,
                            Zone::Deid => outcome.rows_removed_deid += found,
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// Until when the dataset's floor holds a raw partition, if it does today.
    async fn held_until(&self, policy: &RetentionPolicy, partition: &str, files: &[DataFile]) -> Result<Option<NaiveDate>, RetentionError> {
        if policy.floor_days == 0 {
            return Ok(None);
        }
        let date = match policy.partition_date(partition, files).await? {
            Some(date) => date,
            // No row is younger than the file holding it.
            None => newest_modification(files)?,
        };
        Ok(policy.held_until(date, self.today))
    }

    async fn count(&self, file: &DataFile, matches: Expr) -> Result<u64, RetentionError> {
        let failed = |e: datafusion::error::DataFusionError| RetentionError::File { path: file.path.clone(), message: e.to_string() };
        let df = self.ctx.read_parquet(file.path.display().to_string(), ParquetReadOptions::default()).await.map_err(failed)?;
        Ok(df.filter(matches).map_err(failed)?.count().await.map_err(failed)? as u64)
    }

    /// Rewrites `file` with only the rows where `keep` holds: a hidden temporary beside it,
    /// synced, then renamed over it, so readers see the old file or the new one.
    async fn rewrite(&self, file: &DataFile, keep: Expr, options: TableParquetOptions) -> Result<(), RetentionError> {
        let failed = |e: datafusion::error::DataFusionError| RetentionError::File { path: file.path.clone(), message: e.to_string() };
        let dir = file.path.parent().expect("data files are in a dataset directory");
        let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("part");
        // No `.parquet` suffix: a raw-zone query's `*.parquet` never lists it.
        let tmp = dir.join(format!("{ERASE_PREFIX}{}-{name}.partial", std::process::id()));
        let df = self.ctx.read_parquet(file.path.display().to_string(), ParquetReadOptions::default()).await.map_err(failed)?;
        df.filter(keep)
            .map_err(failed)?
            .write_parquet(&tmp.display().to_string(), DataFrameWriteOptions::new().with_single_file_output(true), Some(options))
            .await
            .map_err(failed)?;
        lake::publish(&tmp, &file.path).map_err(io_err(&file.path))
    }
}

/// The day the most recently written of `files` was modified.
fn newest_modification(files: &[DataFile]) -> Result<NaiveDate, RetentionError> {
    let mut newest = None;
    for f in files {
        let modified = std::fs::metadata(&f.path).and_then(|m| m.modified()).map_err(io_err(&f.path))?;
        newest = newest.max(Some(chrono::DateTime::<chrono::Local>::from(modified).date_naive()));
    }
    Ok(newest.unwrap_or_default())
}

/// Raw files keep their layout; a bloom filter on the subject column speeds the next erasure.
fn raw_parquet_options(subject: &SubjectColumn) -> TableParquetOptions {
    let mut options = TableParquetOptions::default();
    options.global.max_row_group_size = ROW_GROUP_ROWS;
    options.column_specific_options.entry(subject.column.clone()).or_default().bloom_filter_enabled = Some(true);
    options
}

/// A value to rule row groups out by: what the subject column stores for the subject.
enum Probe {
    Bytes(Vec<u8>),
    Int(i64),
}

/// Whether `file` may hold the subject: false only when every row group's statistics or
/// bloom filter on the subject column rule it out. Exact values are known for pseudonyms in
/// the de-identified zone, and for integer ids in the raw zone; otherwise the file is read.
fn may_contain(file: &DataFile, subject: &SubjectColumn, zone: Zone, reference: &str, id: Option<&str>) -> Result<bool, RetentionError> {
    if file.format != FileFormat::Parquet {
        return Err(RetentionError::File {
            path: file.path.clone(),
            message: "erasure rewrites Parquet files only; convert this dataset to Parquet".into(),
        });
    }
    let probe = match (zone, subject.hashed) {
        (Zone::Deid, true) => Probe::Bytes(reference.as_bytes().to_vec()),
        _ => match id.and_then(|i| i.trim().parse::<i64>().ok()) {
            Some(n) => Probe::Int(n),
            None => return Ok(true),
        },
    };
    let failed = |e: parquet::errors::ParquetError| RetentionError::File { path: file.path.clone(), message: e.to_string() };
    let handle = File::open(&file.path).map_err(io_err(&file.path))?;
    let options = ReadOptionsBuilder::new()
        .with_reader_properties(ReaderProperties::builder().set_read_bloom_filter(true).build())
        .build();
    let reader = SerializedFileReader::new_with_options(handle, options).map_err(failed)?;
    let meta = reader.metadata();
    let Some(index) = meta.file_metadata().schema_descr().columns().iter().position(|c| c.path().string() == subject.column) else {
        return Ok(true);
    };
    for i in 0..meta.num_row_groups() {
        let stats = meta.row_group(i).column(index).statistics();
        let in_range = match (&probe, stats) {
            (Probe::Bytes(v), Some(Statistics::ByteArray(s))) => match (s.min_opt(), s.max_opt()) {
                (Some(min), Some(max)) => min.data() <= v.as_slice() && v.as_slice() <= max.data(),
                _ => true,
            },
            (Probe::Int(v), Some(Statistics::Int64(s))) => match (s.min_opt(), s.max_opt()) {
                (Some(min), Some(max)) => min <= v && v <= max,
                _ => true,
            },
            (Probe::Int(_), Some(_)) => return Ok(true),
            _ => true,
        };
        if !in_range {
            continue;
        }
        let row_group = reader.get_row_group(i).map_err(failed)?;
        let in_bloom = match (row_group.get_column_bloom_filter(index), &probe) {
            (Some(bloom), Probe::Bytes(v)) => bloom.check(v.as_slice()),
            (Some(bloom), Probe::Int(v)) => bloom.check(v),
            (None, _) => true,
        };
        if in_bloom {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Options for `piguard erase`.
#[derive(Debug, Clone)]
pub struct EraseOptions {
    pub lake: PathBuf,
    pub pipeline: PathBuf,
    /// The ids of the subjects whose accounts were closed.
    pub subjects: Vec<String>,
    pub reason: Option<String>,
    pub today: NaiveDate,
    pub sample_rows: usize,
}

/// Erases subjects from the lake: records each request, removes the subject's rows from
/// every dataset with a subject column in both zones (raw rows under a floor excepted), and
/// records the outcome in the ledger and the audit log.
pub async fn erase(options: &EraseOptions, key: &PseudonymKey, classifier: &crate::classify::Classifier) -> Result<Vec<ErasureOutcome>, RetentionError> {
    let spec = PipelineSpec::load(&options.pipeline).map_err(crate::pipeline::RunError::from)?;
    let key_id = key.id();
    let (planned, _) = plan_pipeline(&options.lake, &spec, &key_id, classifier, options.sample_rows)?;
    let _lock = LakeLock::acquire(&options.lake).map_err(crate::pipeline::RunError::from)?;
    let ledger = ErasureLedger::of_lake(&options.lake);
    let eraser = Eraser::new(&options.lake, &planned, options.today, key);
    clean_temporaries(&options.lake)?;
    let mut outcomes = Vec::new();
    for id in &options.subjects {
        let subject_refs: BTreeMap<String, String> = planned
            .iter()
            .filter_map(|p| p.subject.as_ref().map(|s| (p.plan.name.clone(), s.reference(key, id))))
            .collect();
        let request = ErasureRecord {
            request_id: new_request_id(),
            state: ErasureState::Requested,
            requested_on: options.today,
            recorded_at: now(),
            key_id: key_id.clone(),
            subject_refs,
            reason: options.reason.clone(),
            held: Vec::new(),
            rows_removed: 0,
        };
        // Recorded before any row is touched: a kill mid-way leaves a request the next
        // erase or purge carries out again.
        ledger.append(&request)?;
        let outcome = eraser.apply(&request, Scope::All { id: Some(id) }).await?;
        record(&options.lake, &ledger, &request, &outcome, "erase")?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Appends a request's new state to the ledger and the audit log.
pub(crate) fn record(lake_root: &Path, ledger: &ErasureLedger, request: &ErasureRecord, outcome: &ErasureOutcome, action: &str) -> Result<(), RetentionError> {
    let rows = outcome.rows_removed_raw + outcome.rows_removed_deid;
    let next = ErasureRecord { state: outcome.state(), recorded_at: now(), held: outcome.held.clone(), rows_removed: rows, ..request.clone() };
    ledger.append(&next)?;
    let mut event = Map::new();
    event.insert("action".into(), Value::from(action));
    event.insert("request_id".into(), Value::from(request.request_id.clone()));
    event.insert("state".into(), serde_json::to_value(next.state).expect("serializes"));
    if let Some(reason) = &request.reason {
        event.insert("reason".into(), Value::from(reason.clone()));
    }
    event.insert("rows_removed_raw".into(), Value::from(outcome.rows_removed_raw));
    event.insert("rows_removed_deid".into(), Value::from(outcome.rows_removed_deid));
    event.insert("files_rewritten".into(), Value::from(outcome.files_rewritten));
    event.insert("rows_held".into(), Value::from(outcome.held.iter().map(|h| h.rows).sum::<u64>()));
    event.insert("partitions_held".into(), Value::from(outcome.held.len()));
    AuditLog::of_lake(lake_root).append(event)?;
    Ok(())
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn new_request_id() -> String {
    let now = chrono::Utc::now();
    format!("er-{}-{:04x}", now.format("%Y%m%dT%H%M%S%.3fZ"), (now.timestamp_subsec_nanos() ^ std::process::id()) & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, state: ErasureState, key_id: &str) -> ErasureRecord {
        ErasureRecord {
            request_id: id.into(),
            state,
            requested_on: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            recorded_at: now(),
            key_id: key_id.into(),
            subject_refs: BTreeMap::from([("users".to_string(), format!("ref-{id}"))]),
            reason: None,
            held: Vec::new(),
            rows_removed: 0,
        }
    }

    #[test]
    fn a_subject_must_stay_findable_in_the_deid_zone() {
        use crate::category::Sensitivity;
        use crate::pipeline::ColumnPlan;
        use crate::pipeline::plan::Origin;
        let plan = |step: Step| DatasetPlan {
            name: "users".into(),
            subject: Some("uid".into()),
            columns: vec![ColumnPlan {
                name: "uid".into(),
                data_type: "Int64".into(),
                category: Category::AccountId,
                sensitivity: Sensitivity::General,
                step,
                origin: Origin::Explicit,
                reason: None,
            }],
            partition_columns: Vec::new(),
        };
        let hashed = SubjectColumn::of(&plan(Step::Hash { domain: "acct".into(), category: Category::AccountId })).unwrap().unwrap();
        assert_eq!((hashed.domain.as_str(), hashed.hashed), ("acct", true));
        let kept = SubjectColumn::of(&plan(Step::Keep)).unwrap().unwrap();
        assert_eq!((kept.domain.as_str(), kept.hashed), ("account_id", false));
        let err = SubjectColumn::of(&plan(Step::Drop)).unwrap_err();
        assert!(err.contains("`uid`") && err.contains("drop"), "{err}");

        let key = PseudonymKey::from_bytes(vec![7; 32], "test").unwrap();
        assert_eq!(hashed.reference(&key, " 42 "), Pseudonymizer::new(&key, "acct").pseudonym("42"), "ids are canonicalized");
    }

    #[test]
    fn the_ledger_keeps_each_requests_latest_state() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ErasureLedger::of_lake(dir.path());
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
