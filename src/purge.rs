//! `piguard purge`: deletes whole partitions past their dataset's `max_days`, in the raw
//! zone and then the de-identified zone, and finishes erasures whose floor has passed.
//!
//! A local raw partition is deleted by renaming its directory to a hidden temporary name
//! (atomic: readers see all of it or none of it) and then removing that; on an object store,
//! which has no rename, its objects are deleted (a kill part-way leaves the rest, still past
//! its time, to the next purge, and the writer lock keeps `run` out meanwhile); a de-identified dataset's
//! expired partitions are removed from its Delta table in one commit, and the table vacuumed
//! so no older version holds them either. Raw goes first, so a kill in between never leaves
//! a raw partition that a `run` would turn back into analytics data; the next purge removes
//! the temporaries and deletes what is still past its time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::audit::{AuditEvent, AuditLog, Operation, TableVersions};
use crate::erase::{Eraser, ErasureOutcome, PURGE_PREFIX, RetentionError, clean_temporaries, io_err, record};
use crate::integrity;
use crate::lake::delta::{AsOf, LakeTable, TableCommit, TableOperation, vacuum_latest, vacuum_scope};
use crate::lake::{self, DataFile, FileFormat, Lake, Zone, files};
use crate::ledger::{ErasureLedger, ErasureRecord, ErasureState, Hold, LeftFile, open_requests, pending_subjects};
use crate::plan::retention::age_days;
use crate::plan::{WrittenDataset, written_policies};
use crate::sealed::AuditKey;
use crate::transform::PseudonymKey;

/// Options for `piguard purge`.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub lake: Lake,
    /// A pipeline whose `[retention.*]` policies replace those its datasets were written
    /// with (its datasets must have been written); `None`: the written ones.
    pub pipeline: Option<std::path::PathBuf>,
    /// The day ages are counted to.
    pub today: NaiveDate,
    /// Print the plan, delete nothing.
    pub dry_run: bool,
}

/// A partition past its time.
#[derive(Debug, Clone)]
pub struct ExpiredPartition {
    pub zone: Zone,
    pub dataset: String,
    /// Relative to the dataset, e.g. `dt=2025-08-01`.
    pub partition: String,
    pub date: NaiveDate,
    pub age_days: i64,
    pub max_days: u32,
    /// From Parquet footers; none for other formats.
    pub rows: Option<u64>,
    pub bytes: u64,
}

/// What a purge did (or, dry, would do).
#[derive(Debug, Clone)]
pub struct PurgeReport {
    pub today: NaiveDate,
    pub dry_run: bool,
    pub partitions: Vec<ExpiredPartition>,
    /// Partitions of datasets with `max_days` that could not be dated: kept.
    /// Partitions kept because they could not be dated (`zone/dataset/partition`, and why).
    pub undated: Vec<(String, String)>,
    /// Erasures carried further (none on a dry run).
    pub erasures: Vec<ErasureOutcome>,
    /// Open erasure requests and the holds that keep them open after this purge.
    pub still_held: Vec<(String, Hold)>,
    /// Open erasure requests and what they could not search in this purge.
    pub still_left: Vec<(String, LeftFile)>,
    /// Open requests a dry run would carry further.
    pub erasures_due: Vec<String>,
}

impl PurgeReport {
    /// Whether a floor, or a file erasure could not search, keeps something that was asked
    /// to be deleted (exit 1).
    pub fn blocked(&self) -> bool {
        !self.still_held.is_empty() || !self.still_left.is_empty()
    }
}

/// Deletes what is past its time and finishes erasures whose floor has passed. `key` is
/// needed only when erasures are open. Policies come from the plans the data was written
/// with: nothing is sampled or classified.
pub async fn purge(options: &PurgeOptions, key: Option<&PseudonymKey>, audit_key: &AuditKey) -> Result<PurgeReport, RetentionError> {
    let lake = &options.lake;
    let ledger = ErasureLedger::open(lake, audit_key);
    let audit = AuditLog::open(lake, audit_key);
    let lock = if options.dry_run { None } else { Some(lake.lock()?) };
    // The retention in force is read only from manifests the audit log seals.
    let checked = integrity::check(lake, audit_key)?;
    crate::erase::refuse_symlinks(lake)?;
    let (written, named) = written_policies(lake, &checked.manifests, options.pipeline.as_deref())?;
    // A pipeline names the datasets whose partitions this purge is for; erasures are finished
    // wherever their rows are.
    let purged: Vec<&WrittenDataset> = match &named {
        Some(names) => written.iter().filter(|w| names.iter().any(|n| n == w.planned.name())).collect(),
        None => written.iter().collect(),
    };
    let open = open_requests(&checked.ledger);
    if let Some(key) = key {
        pending_subjects(&open, &key.id())?;
    }
    // Erasures are carried further only by a purge that deletes, which holds the lock.
    let eraser = match (key, &lock) {
        (Some(key), Some(lock)) => Some(Eraser::new(lake, lock, &written, options.today, key)),
        (None, Some(_)) if !open.is_empty() => {
            return Err(RetentionError::Key(format!(
                "{} erasure request(s) are open and finishing them needs the pseudonymization key: set PIGUARD_KEY or PIGUARD_KEY_FILE",
                open.len()
            )));
        }
        _ => None,
    };
    if !options.dry_run {
        clean_temporaries(lake)?;
    }

    let mut report = PurgeReport {
        today: options.today,
        dry_run: options.dry_run,
        partitions: Vec::new(),
        undated: Vec::new(),
        erasures: Vec::new(),
        still_held: Vec::new(),
        still_left: Vec::new(),
        erasures_due: Vec::new(),
    };
    let mut doomed: Vec<(PathBuf, String)> = Vec::new();
    // Delta tables, raw ones first: (zone, dataset, table, expired partitions).
    let mut doomed_tables: Vec<(Zone, String, LakeTable, BTreeSet<String>)> = Vec::new();
    // A de-identified partition is dated as the raw partition it was written from, while that
    // is there: its own times may be generalized (to the month), which would date it early.
    let mut raw_dates: BTreeMap<(String, String), NaiveDate> = BTreeMap::new();
    // Raw first: see the module's note.
    for zone in [Zone::Raw, Zone::Deid] {
        for p in purged.iter().map(|w| &w.planned).filter(|p| p.retention.max_days.is_some()) {
            let mut expired = BTreeSet::new();
            let table = LakeTable::open_at(lake.dataset_dir(zone, p.name()), AsOf::Latest).await?;
            // In tables piguard alone writes, what is on disk, not only what the latest
            // version holds: an expired partition that an earlier purge committed away but
            // died before deleting is deleted now.
            let source = match (&table, zone) {
                (Some(_), Zone::Deid) => lake.stored_files(zone, p.name())?,
                _ => lake.dataset(zone, p.name())?,
            };
            let Some(source) = source else {
                continue;
            };
            for (partition, files) in source.partitions() {
                let key = (p.name().to_string(), partition.clone());
                let dated = match raw_dates.get(&key) {
                    Some(date) if zone == Zone::Deid => Ok(Some(*date)),
                    _ => p.retention.partition_date(&partition, &files).await,
                };
                let date = match dated {
                    Ok(Some(date)) => {
                        if zone == Zone::Raw {
                            raw_dates.insert(key, date);
                        }
                        date
                    }
                    undated => {
                        let why = match undated {
                            Err(e) => e.message,
                            _ => "its partition value is not a plausible date (YYYY-MM-DD, YYYYMMDD or YYYY-MM, from 1990)".to_string(),
                        };
                        report.undated.push((format!("{}/{}/{partition}", zone.dir(), p.name()), why));
                        continue;
                    }
                };
                // `max_days` is never below a floor (checked when planned); a floor that
                // still holds the partition keeps it regardless.
                if !p.retention.expired(date, options.today) || p.retention.held_until(date, options.today).is_some() {
                    continue;
                }
                report.partitions.push(ExpiredPartition {
                    zone,
                    dataset: p.name().to_string(),
                    partition: partition.clone(),
                    date,
                    age_days: age_days(date, options.today),
                    max_days: p.retention.max_days.unwrap_or_default(),
                    rows: rows_of(&files),
                    bytes: files.iter().filter_map(|f| files::meta(&f.path).ok()).map(|m| m.len).sum(),
                });
                expired.insert(partition);
            }
            match table {
                Some(t) if !expired.is_empty() => doomed_tables.push((zone, p.name().to_string(), t, expired)),
                Some(_) => {}
                None => doomed.extend(expired.into_iter().map(|partition| (source.path.clone(), partition))),
            }
        }
    }
    let purge_id = format!("purge-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    let mut table_versions = TableVersions::new();
    if !options.dry_run {
        // Announced before anything is deleted, so a purge that dies part-way is in the log.
        let mut targets: BTreeMap<String, usize> = BTreeMap::new();
        for e in &report.partitions {
            *targets.entry(format!("{}/{}", e.zone.dir(), e.dataset)).or_default() += 1;
        }
        audit.append(&AuditEvent::Began { operation: Operation::Purge, id: purge_id.clone(), targets })?;
        for (dataset_dir, partition) in &doomed {
            delete_partition(dataset_dir, partition)?;
        }
        for (zone, name, table, partitions) in doomed_tables {
            let mut commit = TableCommit::default();
            for f in table.files()?.iter().filter(|f| partitions.contains(&f.partition)) {
                commit.remove(f);
            }
            if !commit.is_empty() {
                lock.as_ref().map(lake::LakeLock::ensure_held).transpose()?;
                let version = commit.commit(table.root(), Some(&table), &TableOperation::Purge { purge_id: purge_id.clone() }).await?;
                table_versions.entry(format!("{}/{name}", zone.dir())).or_default().push(version);
            }
            // Expired rows are gone from every version, not only the latest.
            vacuum_latest(table.root().to_path_buf(), vacuum_scope(zone)).await?;
        }
    }

    // Without a key (allowed only when nothing is open) or on a dry run, only report.
    let acting = eraser.as_ref();
    for request in &open {
        let due = matches!(request.state, ErasureState::Requested | ErasureState::Incomplete)
            || request.held.iter().any(|h| h.until <= options.today);
        let Some(eraser) = acting else {
            if due {
                report.erasures_due.push(request.request_id.clone());
            }
            report
                .still_held
                .extend(request.held.iter().filter(|h| h.until > options.today).map(|h| (request.request_id.clone(), h.clone())));
            continue;
        };
        let outcome = if due { eraser.finish(request).await? } else { unchanged(request) };
        if due {
            record(&audit, &ledger, request, &outcome, "purge")?;
        }
        report.still_held.extend(outcome.held.iter().map(|h| (request.request_id.clone(), h.clone())));
        report.still_left.extend(outcome.left.iter().map(|l| (request.request_id.clone(), l.clone())));
        report.erasures.push(outcome);
    }

    if !options.dry_run {
        let deleted = |zone: Zone| report.partitions.iter().filter(move |e| e.zone == zone);
        let event = AuditEvent::Purge {
            purge_id,
            today: options.today.to_string(),
            partitions_deleted_raw: deleted(Zone::Raw).count(),
            rows_deleted_raw: deleted(Zone::Raw).filter_map(|e| e.rows).sum(),
            partitions_deleted_deid: deleted(Zone::Deid).count(),
            rows_deleted_deid: deleted(Zone::Deid).filter_map(|e| e.rows).sum(),
            bytes_deleted: report.partitions.iter().map(|e| e.bytes).sum(),
            erasures_done: report.erasures.iter().filter(|e| e.state() == ErasureState::Done).count(),
            erasures_pending: report.erasures.iter().filter(|e| e.state() != ErasureState::Done).count(),
            table_versions,
        };
        audit.append(&event)?;
    }
    Ok(report)
}

/// A request none of whose holds is due: nothing to do yet.
fn unchanged(request: &ErasureRecord) -> ErasureOutcome {
    ErasureOutcome { request_id: request.request_id.clone(), held: request.held.clone(), ..Default::default() }
}

fn rows_of(files: &[DataFile]) -> Option<u64> {
    files
        .iter()
        .map(|f| {
            if f.format != FileFormat::Parquet {
                return None;
            }
            let file = files::open(&f.path).ok()?;
            let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).ok()?;
            u64::try_from(parquet::file::reader::FileReader::metadata(&reader).file_metadata().num_rows()).ok()
        })
        .sum()
}

/// Deletes a partition directory: locally as one step, renamed to a hidden temporary and
/// then removed; on an object store object by object.
fn delete_partition(dataset_dir: &Path, partition: &str) -> Result<(), RetentionError> {
    let target = dataset_dir.join(partition);
    if !lake::store::is_local(&target) {
        return files::delete_tree(&target).map_err(io_err(&target));
    }
    let parent = target.parent().expect("a partition is inside its dataset");
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("partition");
    let doomed = parent.join(format!("{PURGE_PREFIX}{name}"));
    std::fs::rename(&target, &doomed).map_err(io_err(&target))?;
    files::sync_dir(parent).map_err(io_err(parent))?;
    std::fs::remove_dir_all(&doomed).map_err(io_err(&doomed))
}
