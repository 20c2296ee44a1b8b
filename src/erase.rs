//! `piguard erase`: removing a subject's rows (an account closed) from the raw and
//! de-identified zones, recorded in the erasure ledger ([`crate::ledger`]).
//!
//! Each dataset is searched with the plan of the run that wrote it (its subject column and
//! pseudonym domain, from the run manifest), so a change of classifier rules since cannot
//! make an erasure miss the person. The ledger never holds the subject's id: a request
//! records, per dataset, the pseudonym the id has there, which finds the rows in both zones
//! (in the raw zone by pseudonymizing the subject column). Rows under a legal floor stay in
//! the raw zone and the request stays `pending` until `purge` finds the floor passed; `run`
//! leaves pending subjects out of the de-identified zone meanwhile. A file is rewritten only when it holds the subject:
//! Parquet statistics and bloom filters rule most files out without reading them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::logical_expr::{Expr, ScalarUDF};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use parquet::file::statistics::Statistics;

use crate::audit::{AuditError, AuditEvent, AuditLog, Operation, TableVersions, check_reason};
use crate::integrity::{self, IntegrityError};
use crate::lake::delta::{AsOf, LakeTable, TableCommit, TableError, TableOperation, vacuum_latest, vacuum_scope};
use crate::lake::{self, DataFile, FileFormat, Lake, LakeError, LakeLock, LockError, TMP_PREFIX, Zone, files};
use crate::ledger::{ErasureLedger, ErasureRecord, ErasureState, Hold, LedgerError, LeftFile};
use crate::plan::retention::DatingError;
use crate::plan::{
    PlanError, ROW_GROUP_ROWS, RetentionPolicy, SubjectColumn, SubjectKinds, WrittenDataset, deid_parquet_options, subject_kinds,
    written_policies,
};
use crate::sealed::AuditKey;
use crate::transform::PseudonymKey;
use crate::transform::udf::HashUdf;

/// Why a retention step (`purge` or `erase`) failed. Messages name files and datasets, never
/// values.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Dating(#[from] DatingError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    Key(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("{0}; nothing was done")]
    Integrity(#[from] IntegrityError),
    #[error("an empty --subject ({0} characters of white space) names nobody; nothing was done")]
    EmptySubject(usize),
    #[error(
        "{0} is a symbolic link: purge and erase do not follow links in the lake (deleting or rewriting a link would leave its target, and the rows in it, in place); replace it with what it points to. Nothing was done"
    )]
    Symlink(PathBuf),
}

/// Refuses a lake whose raw or de-identified zone holds a symbolic link (local lakes; an
/// object store has none). Called before anything is deleted or rewritten.
pub(crate) fn refuse_symlinks(lake: &Lake) -> Result<(), RetentionError> {
    if !lake.is_local() {
        return Ok(());
    }
    for zone in [Zone::Raw, Zone::Deid] {
        let dir = lake.zone(zone);
        if let Some(link) = lake::files::first_symlink(&dir).map_err(io_err(&dir))? {
            return Err(RetentionError::Symlink(link));
        }
    }
    Ok(())
}

impl RetentionError {
    /// 1 when the lake's records show tampering (a refusal), 2 for everything else.
    pub fn exit_code(&self) -> u8 {
        if matches!(self, RetentionError::Integrity(IntegrityError::Tampered(_))) { 1 } else { 2 }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RetentionError + '_ {
    move |cause| RetentionError::Io { path: path.to_path_buf(), cause }
}

/// Names of files an erasure is rewriting.
pub(crate) const ERASE_PREFIX: &str = ".tmp-erase-";
/// Names partitions being purged are renamed to.
pub(crate) const PURGE_PREFIX: &str = ".tmp-purge-";

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
    /// Files and datasets that could not be searched or rewritten, with why.
    pub left: Vec<LeftFile>,
    /// The de-identified tables changed, with the version committed (older versions are
    /// vacuumed: their files are deleted).
    pub table_versions: TableVersions,
}

impl ErasureOutcome {
    /// `done`; `incomplete` while anything could not be searched; `pending` while a floor
    /// holds rows.
    pub fn state(&self) -> ErasureState {
        if !self.left.is_empty() {
            ErasureState::Incomplete
        } else if !self.held.is_empty() {
            ErasureState::Pending
        } else {
            ErasureState::Done
        }
    }

    fn leave(&mut self, path: &Path, reason: impl Into<String>) {
        self.left.push(LeftFile { path: path.display().to_string(), reason: reason.into() });
    }
}

/// Which partitions a request still has to visit.
enum Scope<'a> {
    /// All of them (a new or interrupted request); `id` rules files out by raw statistics.
    All { id: Option<&'a str> },
    /// Only the raw partitions of these holds whose floor has passed.
    DueHolds(&'a [Hold]),
}

/// One subject column of one dataset in one zone, and the pseudonym searched for in it.
#[derive(Clone, Copy)]
struct Search<'s> {
    planned: &'s crate::plan::PlannedDataset,
    source: &'s lake::DatasetSource,
    subject: &'s SubjectColumn,
    reference: &'s str,
    zone: Zone,
}

/// Removes temporaries a killed erase or purge left: piguard's own in the raw zone (other
/// tools may be landing files there), any in the de-identified zone. Callers hold the lock.
pub(crate) fn clean_temporaries(lake: &Lake) -> Result<(), RetentionError> {
    for (zone, prefixes) in [(Zone::Raw, &[ERASE_PREFIX, PURGE_PREFIX][..]), (Zone::Deid, &[TMP_PREFIX][..])] {
        let dir = lake.zone(zone);
        for prefix in prefixes {
            lake::remove_temporaries(&dir, prefix).map_err(io_err(&dir))?;
        }
    }
    Ok(())
}

/// The files under a raw dataset's directory that its readers skip and that may hold rows:
/// hidden files, files under `_` directories (`_staging/`), and files of no data format
/// (`.bak`, no extension). A Delta log, empty markers (`_SUCCESS`) and checksums (`.crc`)
/// hold none.
fn files_readers_ignore(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut ignored = Vec::new();
    for (path, meta) in lake::files::walk(dir)? {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let names: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if names.first().is_some_and(|n| n == "_delta_log") || meta.len == 0 || names.last().is_some_and(|n| n.ends_with(".crc")) {
            continue;
        }
        let hidden = names.iter().any(|n| lake::is_hidden(n));
        if hidden || lake::FileFormat::of(&path).is_none() {
            ignored.push(path);
        }
    }
    Ok(ignored)
}

/// Carries out requests on a lake, holding its lock.
pub(crate) struct Eraser<'a> {
    lake: &'a Lake,
    lock: &'a LakeLock,
    written: &'a [WrittenDataset],
    subjects: SubjectKinds,
    today: NaiveDate,
    ctx: SessionContext,
    hash: ScalarUDF,
}

impl<'a> Eraser<'a> {
    pub(crate) fn new(lake: &'a Lake, lock: &'a LakeLock, written: &'a [WrittenDataset], today: NaiveDate, key: &PseudonymKey) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut config = SessionConfig::new().with_target_partitions(threads);
        // Rewritten files keep the types they had (Utf8 stays Utf8, not Utf8View), so they
        // still read as one dataset with the files beside them.
        config.options_mut().execution.parquet.schema_force_view_types = false;
        Eraser {
            lake,
            lock,
            written,
            subjects: subject_kinds(written.iter().map(|w| &w.planned)),
            today,
            ctx: lake::context(config),
            hash: ScalarUDF::new_from_impl(HashUdf::new(key.clone())),
        }
    }

    /// Finishes an open request as far as the floors allow on `today`.
    pub(crate) async fn finish(&self, request: &ErasureRecord) -> Result<ErasureOutcome, RetentionError> {
        match request.state {
            ErasureState::Requested | ErasureState::Incomplete => self.apply(request, Scope::All { id: None }).await,
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
        if matches!(scope, Scope::All { .. }) {
            for name in self.lake.dataset_names(Zone::Raw) {
                if !self.written.iter().any(|w| w.planned.name() == name) {
                    let reason = "no run has planned this dataset, so its subject column is not known: add it to a pipeline (with `subject`) and run it";
                    outcome.leave(&self.lake.dataset_dir(Zone::Raw, &name), reason);
                    continue;
                }
                let dir = self.lake.dataset_dir(Zone::Raw, &name);
                for file in files_readers_ignore(&dir).map_err(io_err(&dir))? {
                    let reason = "a file readers skip (hidden, under `_`, or of no data format), so it was not searched: if it holds rows, move them into the dataset or delete it";
                    outcome.leave(&file, reason);
                }
            }
        }
        for w in self.written {
            let p = &w.planned;
            for (ref_key, subject) in p.subject_columns(&self.subjects) {
                let Some(reference) = request.subject_refs.get(&ref_key) else { continue };
                // Due holds are in the raw zone; the rest of the zones were erased already.
                let zones: &[Zone] = match scope {
                    Scope::All { .. } => &[Zone::Raw, Zone::Deid],
                    Scope::DueHolds(_) => &[Zone::Raw],
                };
                for &zone in zones {
                    let search = Subject { planned: p, subject: &subject, reference };
                    self.erase_in(&mut outcome, request, &search, zone, &scope, id).await?;
                }
            }
        }
        if matches!(scope, Scope::All { .. }) {
            // Exports keep what each subject added to the cells they published.
            let refs: Vec<&str> = request.subject_refs.values().map(String::as_str).collect();
            crate::export::forget_subjects(self.lake, &refs, &request.request_id)
                .map_err(|message| RetentionError::File { path: self.lake.meta_dir().join("exports"), message })?;
        }
        Ok(outcome)
    }

    /// Removes (or, under a floor, holds) the subject's rows in dataset `p` of `zone`. A Delta
    /// table's files holding them are rewritten to new files that one commit puts in place of
    /// the old, and the table is then vacuumed, since older versions hold the subject too;
    /// other files are rewritten in place. What cannot be read is left, with why.
    async fn erase_in(
        &self,
        outcome: &mut ErasureOutcome,
        request: &ErasureRecord,
        found: &Subject<'_>,
        zone: Zone,
        scope: &Scope<'_>,
        id: Option<&str>,
    ) -> Result<(), RetentionError> {
        let p = found.planned;
        let dir = self.lake.dataset_dir(zone, p.name());
        let table = match LakeTable::open_at(dir.clone(), AsOf::Latest).await {
            Ok(table) => table,
            Err(e) => {
                outcome.leave(&dir, e.to_string());
                return Ok(());
            }
        };
        let source = match &table {
            Some(t) => t.source(p.name()).map_err(|e| e.to_string()),
            // The de-identified zone holds only tables; nothing there before a run.
            None if zone == Zone::Deid => return Ok(()),
            None => self.lake.dataset(zone, p.name()).map_err(|e| e.to_string()),
        };
        let source = match source {
            Ok(source) => source,
            Err(reason) => {
                outcome.leave(&dir, reason);
                return Ok(());
            }
        };
        if let Some(source) = source {
            let search = Search { planned: p, source: &source, subject: found.subject, reference: found.reference, zone };
            let mut rewrites = Vec::new();
            self.apply_to(outcome, &search, scope, id, table.is_some().then_some(&mut rewrites)).await?;
            if let Some(table) = &table
                && !rewrites.is_empty()
            {
                self.commit_rewrites(outcome, request, zone, p.name(), table, &rewrites).await?;
            }
        }
        if table.is_some() {
            // Always: older versions may hold the subject though the latest does not (a run
            // after the raw zone's erasure, or an erasure that died between commit and vacuum).
            vacuum_latest(dir, vacuum_scope(zone)).await?;
        }
        Ok(())
    }

    /// Commits the rewritten files of `table` in place of the originals, as one version.
    async fn commit_rewrites(
        &self,
        outcome: &mut ErasureOutcome,
        request: &ErasureRecord,
        zone: Zone,
        name: &str,
        table: &LakeTable,
        rewrites: &[Rewrite],
    ) -> Result<(), RetentionError> {
        let files = table.files()?;
        let mut commit = TableCommit::default();
        for r in rewrites {
            let old = files.iter().find(|f| f.path == r.old).expect("a rewritten file is one of the table's");
            commit.add(table.root(), &r.new, r.rows, None, old.fingerprint.as_deref(), &request.request_id)?;
            commit.remove(old);
        }
        self.lock.ensure_held()?;
        let version = commit.commit(table.root(), Some(table), &TableOperation::Erase { request_id: request.request_id.clone() }).await?;
        outcome.table_versions.entry(format!("{}/{name}", zone.dir())).or_default().push(version);
        Ok(())
    }

    /// Removes (or, under a floor, holds) the subject's rows in one zone of one dataset; with
    /// `rewrites` (a Delta table's), the rewritten files are new files, listed there for the
    /// caller to commit.
    async fn apply_to(
        &self,
        outcome: &mut ErasureOutcome,
        search: &Search<'_>,
        scope: &Scope<'_>,
        id: Option<&str>,
        mut rewrites: Option<&mut Vec<Rewrite>>,
    ) -> Result<(), RetentionError> {
        let Search { planned: p, source, subject, reference, zone } = *search;
        let matches = subject.matches(zone, &[reference.to_string()], &self.hash);
        for (partition, files) in source.partitions() {
            if let Scope::DueHolds(due) = scope
                && !due.iter().any(|h| h.dataset == p.name() && h.partition == partition)
            {
                continue;
            }
            let held_until = match zone {
                Zone::Raw => self.held_until(&p.retention, &partition, &files).await?,
                _ => None,
            };
            for file in &files {
                if file.format != FileFormat::Parquet {
                    outcome.leave(&file.path, "erasure rewrites Parquet files only; convert this dataset to Parquet");
                    continue;
                }
                if let Err(e) = lake::read::parquet_columns(&file.path) {
                    outcome.leave(&file.path, e.to_string());
                    continue;
                }
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
                    match outcome.held.iter_mut().find(|h| h.dataset == p.name() && h.partition == partition) {
                        Some(h) => h.rows += found,
                        None => outcome.held.push(Hold {
                            dataset: p.name().to_string(),
                            partition: partition.clone(),
                            until,
                            rows: found,
                            floor: p.retention.floor_basis(),
                        }),
                    }
                    continue;
                }
                let keep = matches.clone().is_not_true();
                let options = match zone {
                    Zone::Raw => raw_parquet_options(subject),
                    _ => deid_parquet_options(&p.plan),
                };
                match rewrites.as_mut() {
                    None => self.rewrite(file, keep, options).await?,
                    Some(list) => {
                        let new = table_rewrite_path(&file.path, &outcome.request_id);
                        let rows = self.write_kept(file, keep, &new, options).await?;
                        list.push(Rewrite { old: file.path.clone(), new, rows });
                    }
                }
                outcome.files_rewritten += 1;
                match zone {
                    Zone::Raw => outcome.rows_removed_raw += found,
                    _ => outcome.rows_removed_deid += found,
                }
            }
        }
        Ok(())
    }

    /// Until when the dataset's floor holds a raw partition, if it does today.
    async fn held_until(&self, policy: &RetentionPolicy, partition: &str, files: &[DataFile]) -> Result<Option<NaiveDate>, RetentionError> {
        if policy.floor_days == 0 {
            return Ok(None);
        }
        let date = match policy.partition_date(partition, files).await {
            Ok(Some(date)) => date,
            // No row is younger than the file holding it.
            Ok(None) | Err(_) => newest_modification(files)?,
        };
        Ok(policy.held_until(date, self.today))
    }

    async fn count(&self, file: &DataFile, matches: Expr) -> Result<u64, RetentionError> {
        let failed =
            |e: datafusion::error::DataFusionError| RetentionError::File { path: file.path.clone(), message: lake::read::scrubbed(&e) };
        let df = self.ctx.read_parquet(file.path.display().to_string(), ParquetReadOptions::default()).await.map_err(failed)?;
        Ok(df.filter(matches).map_err(failed)?.count().await.map_err(failed)? as u64)
    }

    /// Rewrites raw `file` with only the rows where `keep` holds, so readers see the old file
    /// or the new one: locally a hidden temporary beside it, synced, then renamed over it; on
    /// an object store the new object is uploaded over the old, which it replaces only when
    /// complete.
    async fn rewrite(&self, file: &DataFile, keep: Expr, options: TableParquetOptions) -> Result<(), RetentionError> {
        if !lake::store::is_local(&file.path) {
            self.write_kept(file, keep, &file.path, options).await?;
            return Ok(());
        }
        let dir = file.path.parent().expect("data files are in a dataset directory");
        let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("part");
        // No `.parquet` suffix: a raw-zone query's `*.parquet` never lists it.
        let tmp = dir.join(format!("{ERASE_PREFIX}{}-{name}.partial", std::process::id()));
        self.write_kept(file, keep, &tmp, options).await?;
        files::publish(&tmp, &file.path).map_err(io_err(&file.path))
    }

    /// Writes the rows of `file` where `keep` holds to `target`, and says how many.
    async fn write_kept(&self, file: &DataFile, keep: Expr, target: &Path, options: TableParquetOptions) -> Result<u64, RetentionError> {
        let failed =
            |e: datafusion::error::DataFusionError| RetentionError::File { path: file.path.clone(), message: lake::read::scrubbed(&e) };
        let df = self.ctx.read_parquet(file.path.display().to_string(), ParquetReadOptions::default()).await.map_err(failed)?;
        let written = df
            .filter(keep)
            .map_err(failed)?
            .write_parquet(&target.display().to_string(), DataFrameWriteOptions::new().with_single_file_output(true), Some(options))
            .await
            .map_err(failed)?;
        Ok(written.first().and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>().map(|a| a.value(0))).unwrap_or(0))
    }
}

/// The rows a caller searches for: a subject's reference in a dataset's subject column.
struct Subject<'s> {
    planned: &'s crate::plan::PlannedDataset,
    subject: &'s SubjectColumn,
    reference: &'s str,
}

/// A table's file rewritten without a subject's rows, not yet committed.
struct Rewrite {
    old: PathBuf,
    new: PathBuf,
    /// The rows kept.
    rows: u64,
}

/// Where a table's file rewritten for erasure `request_id` goes: beside it, named for the
/// request (a new file; the old one stays until the commit's vacuum).
fn table_rewrite_path(old: &Path, request_id: &str) -> PathBuf {
    let stem = old.file_stem().and_then(|n| n.to_str()).unwrap_or("part");
    old.with_file_name(format!("{stem}-{request_id}.parquet"))
}

/// The day the most recently written of `files` was modified.
fn newest_modification(files: &[DataFile]) -> Result<NaiveDate, RetentionError> {
    let mut newest = None;
    for f in files {
        let modified = files::meta(&f.path).map_err(io_err(&f.path))?.modified;
        newest = newest.max(Some(chrono::DateTime::<chrono::Utc>::from(modified).date_naive()));
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
    let probe = match (zone, subject.hashed) {
        (Zone::Deid, true) => Probe::Bytes(reference.as_bytes().to_vec()),
        _ => match id.and_then(|i| i.trim().parse::<i64>().ok()) {
            Some(n) => Probe::Int(n),
            None => return Ok(true),
        },
    };
    let failed = |e: parquet::errors::ParquetError| RetentionError::File { path: file.path.clone(), message: e.to_string() };
    let handle = files::open(&file.path).map_err(io_err(&file.path))?;
    let options = ReadOptionsBuilder::new().with_reader_properties(ReaderProperties::builder().set_read_bloom_filter(true).build()).build();
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
    pub lake: Lake,
    /// A pipeline whose `[retention.*]` floors replace those its datasets were written with.
    pub pipeline: Option<PathBuf>,
    /// The ids of the subjects whose accounts were closed.
    pub subjects: Vec<String>,
    pub reason: Option<String>,
    pub today: NaiveDate,
}

/// Refuses datasets whose pseudonyms were made with another key than `key_id`: the
/// subject could not be found in them.
fn check_key(written: &[WrittenDataset], key_id: &str) -> Result<(), RetentionError> {
    match written.iter().find(|w| w.key_id != key_id) {
        None => Ok(()),
        Some(w) => Err(RetentionError::Key(format!(
            "dataset {} was written by run {} with key id {}, but the key now set has id {key_id}: its pseudonyms cannot be found with another key; set the key it was written with",
            w.planned.name(),
            w.run_id,
            w.key_id
        ))),
    }
}

/// Erases subjects from the lake: records each request, removes the subject's rows from
/// every written dataset with a subject column in both zones (raw rows under a floor
/// excepted), and records the outcome in the ledger and the audit log.
pub async fn erase(options: &EraseOptions, key: &PseudonymKey, audit_key: &AuditKey) -> Result<Vec<ErasureOutcome>, RetentionError> {
    let lake = &options.lake;
    if let Some(empty) = options.subjects.iter().find(|s| s.trim().is_empty()) {
        return Err(RetentionError::EmptySubject(empty.len()));
    }
    check_reason(options.reason.as_deref())?;
    let key_id = key.id();
    let lock = lake.lock()?;
    let checked = integrity::check(lake, audit_key)?;
    refuse_symlinks(lake)?;
    let (written, _) = written_policies(lake, &checked.manifests, options.pipeline.as_deref())?;
    check_key(&written, &key_id)?;
    let ledger = ErasureLedger::open(lake, audit_key);
    let audit = AuditLog::open(lake, audit_key);
    let eraser = Eraser::new(lake, &lock, &written, options.today, key);
    clean_temporaries(lake)?;
    // The raw partitions each request may rewrite, for its `began` entry.
    let targets: BTreeMap<String, usize> = written
        .iter()
        .map(|w| {
            (w.planned.name().to_string(), lake.dataset(Zone::Raw, w.planned.name()).ok().flatten().map_or(0, |s| s.partitions().len()))
        })
        .collect();
    let mut outcomes = Vec::new();
    for id in &options.subjects {
        let subject_refs: BTreeMap<String, String> = written
            .iter()
            .flat_map(|w| w.planned.subject_columns(&eraser.subjects))
            .map(|(ref_key, s)| (ref_key, s.reference(key, id)))
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
            left: Vec::new(),
            rows_removed: 0,
        };
        // Recorded before any row is touched: a kill mid-way leaves a request the next
        // erase or purge carries out again, and a `began` entry in the audit log.
        append_to_ledger(&audit, &ledger, &request)?;
        audit.append(&AuditEvent::Began { operation: Operation::Erase, id: request.request_id.clone(), targets: targets.clone() })?;
        let outcome = eraser.apply(&request, Scope::All { id: Some(id) }).await?;
        record(&audit, &ledger, &request, &outcome, "erase")?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Appends to the ledger, recording in the audit log a torn final record set aside first.
fn append_to_ledger(audit: &AuditLog, ledger: &ErasureLedger, record: &ErasureRecord) -> Result<crate::sealed::Seal, RetentionError> {
    let (seal, torn) = ledger.append(record)?;
    if let Some(t) = torn {
        audit.record_repair(ledger.path(), &t)?;
    }
    Ok(seal)
}

/// Appends a request's new state to the ledger and the audit log.
pub(crate) fn record(
    audit: &AuditLog,
    ledger: &ErasureLedger,
    request: &ErasureRecord,
    outcome: &ErasureOutcome,
    by: &str,
) -> Result<(), RetentionError> {
    let rows = outcome.rows_removed_raw + outcome.rows_removed_deid;
    let next = ErasureRecord {
        state: outcome.state(),
        recorded_at: now(),
        held: outcome.held.clone(),
        left: outcome.left.clone(),
        rows_removed: rows,
        ..request.clone()
    };
    let ledger_seal = append_to_ledger(audit, ledger, &next)?;
    audit.append(&AuditEvent::Erase {
        by: by.to_string(),
        request_id: request.request_id.clone(),
        state: next.state,
        reason: request.reason.clone(),
        rows_removed_raw: outcome.rows_removed_raw,
        rows_removed_deid: outcome.rows_removed_deid,
        files_rewritten: outcome.files_rewritten,
        rows_held: outcome.held.iter().map(|h| h.rows).sum(),
        partitions_held: outcome.held.len(),
        files_left: outcome.left.len(),
        table_versions: outcome.table_versions.clone(),
        ledger: ledger_seal,
    })?;
    Ok(())
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn new_request_id() -> String {
    let now = chrono::Utc::now();
    format!("er-{}-{:04x}", now.format("%Y%m%dT%H%M%S%.3fZ"), (now.timestamp_subsec_nanos() ^ std::process::id()) & 0xffff)
}
