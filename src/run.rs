//! `piguard run`: de-identify the raw zone into the analytics zone.
//!
//! Commit points, in order, per dataset: each partition to rewrite is streamed by DataFusion
//! into a new file of the dataset's Delta table (no version references it yet); the leak gate
//! checks it; then one commit replaces the rewritten partitions' files with the new ones
//! (readers see the old version or the new one), their tags recording the inputs'
//! fingerprint, so an unchanged partition is skipped next time. A kill at any moment leaves
//! every version complete; files it wrote but never committed are invisible, and the next
//! run deletes them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, ScalarUDF};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, lit};

use crate::audit::{AuditError, AuditEvent, AuditLog, Operation};
use crate::category::Category;
use crate::classify::Classifier;
use crate::cluster::{ClusterError, Engine};
use crate::export::{self, ExportError};
use crate::gate::{self, GateSpec};
use crate::integrity::{self, IntegrityError};
use crate::lake::delta::{AsOf, LakeTable, TableCommit, TableError, TableFile, TableOperation, remove_uncommitted};
use crate::lake::{self, DataFile, FileFormat, Lake, LakeLock, LockError, TMP_PREFIX, Zone, files};
use crate::leak::{self, Finding, RawSubjectColumn, SubjectIds};
use crate::ledger::{LedgerError, open_requests, pending_subjects};
use crate::plan::manifest::{DatasetRecord, InputRecord, Manifest, PartitionRecord, PartitionStatus, RunFailure};
use crate::plan::{
    ColumnPlan, DatasetPlan, DatasetRun, PipelinePlan, PipelineSpec, PlanError, Step, SubjectColumn, SubjectKinds, sha256_hex,
    subject_kinds,
};
use crate::risk::CountedClasses;
use crate::risk::subjects::{SubjectKeyRuns, distinct_subjects, every_subject_distinct};
use crate::risk::{self, ColumnPrior, Evaluation, Method, Prior, Published, TextLength};
use crate::sealed::AuditKey;
use crate::transform::udf::{GeneralizeUdf, HashUdf, MaskUdf, RedactUdf};
use crate::transform::{PseudonymKey, RedactStyle};

/// Why a run stopped. None of these carries a value from the data.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("dataset {dataset}: {message}")]
    Dataset { dataset: String, message: String },
    #[error("dataset {dataset}, partition {partition}: the output still holds raw PI, so it was not published\n{}", .findings.iter().map(|f| format!("  {}", f.describe())).collect::<Vec<_>>().join("\n"))]
    Leak { dataset: String, partition: String, findings: Vec<Finding> },
    #[error("{report}")]
    Risk { dataset: String, report: String },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{0}; nothing was run")]
    Integrity(#[from] IntegrityError),
    #[error(
        "{cause}\nthe run stopped part-way: published {}; not published: {}; {} records it",
        if .published.is_empty() { "nothing".to_string() } else { .published.join(", ") },
        .not_published.join(", "),
        .manifest.display()
    )]
    Incomplete { cause: Box<RunError>, published: Vec<String>, not_published: Vec<String>, manifest: PathBuf },
}

impl RunError {
    /// 1 for a refusal by policy (the leak gate, the risk gate), 2 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Leak { .. } | RunError::Risk { .. } | RunError::Integrity(IntegrityError::Tampered(_)) => 1,
            RunError::Incomplete { cause, .. } => cause.exit_code(),
            _ => 2,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |cause| RunError::Io { path: path.to_path_buf(), cause }
}

/// Options for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The lake.
    pub lake: Lake,
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// Rewrite partitions even when their inputs are unchanged.
    pub force: bool,
    /// Rows sampled per dataset to classify its columns.
    pub sample_rows: usize,
    /// Where the partitions are read, transformed and written.
    pub engine: Engine,
}

/// Progress, for the terminal or the log.
#[derive(Debug, Clone)]
pub enum RunEvent<'a> {
    /// Planning done: datasets and partitions in total.
    Planned { datasets: usize, partitions: usize },
    /// A partition was handled.
    Partition { dataset: &'a str, partition: &'a str, status: PartitionStatus, rows: u64 },
}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    pub manifest: Manifest,
    /// Where the manifest was written (none for a dry run).
    pub manifest_path: Option<PathBuf>,
}

/// Memory the risk gate's aggregates hold in a local run before they spill to disk: the count
/// of distinct subjects would otherwise hold every subject's key (1.2 GiB at 20 M rows).
const RISK_MEMORY: usize = 128 << 20;

/// Raw bytes past which partitions are no longer written together: small partitions (a day of
/// a log) share one plan, so that hundreds of them cost one job, not hundreds.
const BATCH_BYTES: u64 = 64 << 20;

/// Most partitions written together.
const BATCH_PARTITIONS: usize = 256;

/// The lake's scratch directory (under `_piguard/`), a folder a run; deleted by the next run.
const SCRATCH: &str = "scratch";

/// Tasks a partition's large files (10 MiB and more) are split into on a cluster, whatever the
/// client's cores: each task reads a range of row groups on whichever executor has a slot.
#[cfg(feature = "cluster")]
const CLUSTER_TASKS_PER_FILE_SCAN: usize = 16;

/// A run id that sorts by time: runs hold the lake's lock one at a time, so milliseconds
/// order them (the latest run is the greatest id), and the salt keeps ids apart otherwise.
fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id()) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

fn inputs_of(files: &[DataFile]) -> Result<Vec<(InputRecord, u128)>, RunError> {
    files
        .iter()
        .map(|f| {
            let meta = files::meta(&f.path).map_err(io_err(&f.path))?;
            let mtime = meta.modified.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            Ok((InputRecord { path: f.path.display().to_string(), bytes: meta.len }, mtime))
        })
        .collect()
}

/// The expression computing a column's output, or `None` when it is dropped.
fn column_expr(c: &ColumnPlan, udfs: &Udfs) -> Option<Expr> {
    let input = Expr::Column(Column::new_unqualified(&c.name));
    let out = match &c.step {
        Step::Drop => return None,
        Step::Keep => input,
        Step::Hash { domain, category } => udfs.hash.call(vec![input, lit(domain.clone()), lit(category.id())]),
        Step::Mask { category, spec } => {
            let mut args = vec![input, lit(category.id())];
            if let Some(s) = spec {
                args.push(lit(s.keep_first as i64));
                args.push(lit(s.keep_last as i64));
            }
            udfs.mask.call(args)
        }
        // The generalization travels as a typed value, parsed never.
        Step::Generalize { generalization } => ScalarUDF::new_from_impl(GeneralizeUdf::planned(*generalization)).call(vec![input]),
        Step::Redact { style } => udfs.redact.call(vec![input, lit(if *style == RedactStyle::Tag { "tag" } else { "mask" })]),
    };
    Some(out.alias(&c.name))
}

struct Udfs {
    hash: ScalarUDF,
    mask: ScalarUDF,
    redact: ScalarUDF,
}

/// Runs a pipeline. Nothing is written when the pipeline fails closed.
pub async fn run(
    options: &RunOptions,
    key: &PseudonymKey,
    audit_key: &AuditKey,
    classifier: &Classifier,
    progress: &mut dyn FnMut(RunEvent<'_>),
) -> Result<RunReport, RunError> {
    let started_at = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let spec = PipelineSpec::load(&options.pipeline).map_err(PlanError::from)?;
    let pipeline_bytes = std::fs::read(&options.pipeline).map_err(io_err(&options.pipeline))?;
    // Recorded absolute: a relative path means another file from another directory.
    let pipeline_path = std::fs::canonicalize(&options.pipeline).map_err(io_err(&options.pipeline))?;
    let key_id = key.id();

    let lake = &options.lake;
    if options.engine != Engine::Local && lake.is_local() && lake.root().is_relative() {
        return Err(RunError::Cluster(ClusterError::RelativeLake(lake.root().to_path_buf())));
    }
    let plan = PipelinePlan::build(lake, &spec, classifier, &key_id, options.sample_rows).await?;

    let run_id = new_run_id();
    let lock = if options.dry_run { None } else { Some(lake.lock()?) };
    // Read under the lock: an erase that finished a moment ago is honoured. A ledger that
    // lost requests would let a pending subject's rows back in, so the records must agree.
    // A dry run writes nothing, so it needs neither.
    let pending = match options.dry_run {
        true => BTreeMap::new(),
        false => pending_subjects(&open_requests(&integrity::check(lake, audit_key)?.ledger), &key_id)?,
    };

    let partitions: BTreeMap<String, usize> =
        plan.datasets.iter().map(|d| (d.planned.name().to_string(), d.source.partitions().len())).collect();
    progress(RunEvent::Planned { datasets: plan.datasets.len(), partitions: partitions.values().sum() });
    let audit = AuditLog::open(lake, audit_key);
    // Announced before anything is published, so a run that dies part-way is in the log.
    let began = match options.dry_run {
        true => None,
        false => Some(audit.append(&AuditEvent::Began { operation: Operation::Run, id: run_id.clone(), targets: partitions })?),
    };

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ctx = lake::context(SessionConfig::new().with_target_partitions(threads));
    let engine = engine_context(&options.engine, &ctx, classifier).await?;
    let udfs = Udfs {
        hash: ScalarUDF::new_from_impl(HashUdf::new(key.clone())),
        mask: ScalarUDF::new_from_impl(MaskUdf::default()),
        redact: ScalarUDF::new_from_impl(RedactUdf::default()),
    };

    // Scratch files a killed run left: its subject keys, and an earlier version's leak gate.
    if !options.dry_run {
        for dir in [SCRATCH, "leak-gate"] {
            let scratch = lake.meta_dir().join(dir);
            files::delete_tree(&scratch).map_err(io_err(&scratch))?;
        }
    }
    let subjects = subject_kinds(plan.datasets.iter().map(|d| &d.planned));
    // Tasks of this process keep their subject keys in a scratch directory: the lake's, or on
    // a lake in an object store one on this machine (deleted when the run ends, and by the
    // system's cleaning of its temporary files after a kill). Executors keep none.
    let local_tasks = options.engine == Engine::Local && !options.dry_run;
    let temp = std::env::temp_dir();
    let machine_scratch = (local_tasks && !lake.is_local())
        .then(|| tempfile::Builder::new().prefix("piguard-scratch-").tempdir())
        .transpose()
        .map_err(io_err(&temp))?;
    let scratch = match &machine_scratch {
        Some(dir) => Some(dir.path().join(&run_id)),
        None => local_tasks.then(|| lake.meta_dir().join(SCRATCH).join(&run_id)),
    };
    // On a cluster the executors' memory bounds the gate's aggregates.
    let evaluator = match options.engine {
        Engine::Local => lake::bounded_context(ctx.copied_config(), RISK_MEMORY),
        Engine::Ballista { .. } => engine.clone(),
    };
    let writer = PartitionWriter {
        engine,
        evaluator,
        udfs,
        run_id: &run_id,
        classifier,
        options,
        lock: lock.as_ref(),
        pending: &pending,
        subjects: &subjects,
        subject_columns: plan.datasets.iter().filter_map(|p| RawSubjectColumn::of(&p.planned, || Some(p.source.files.clone()))).collect(),
        subject_ids: tokio::sync::OnceCell::new(),
        scratch,
    };
    let mut records = Vec::new();
    let mut failed = None;
    for p in &plan.datasets {
        let name = p.planned.name();
        let out_root = lake.dataset_dir(Zone::Deid, name);
        let mut record = DatasetRecord {
            planned: p.planned.clone(),
            input: p.source.path.display().to_string(),
            output: out_root.display().to_string(),
            partitions: Vec::new(),
            rows_written: 0,
            write_plans: 0,
            table_version: None,
            risk: None,
        };
        match writer.dataset(p, &mut record, progress).await {
            Ok(()) => records.push(record),
            Err((partition, e)) => {
                records.push(record);
                failed = Some((name.to_string(), partition, e));
                break;
            }
        }
    }
    if let Some(scratch) = &writer.scratch {
        let _ = files::delete_tree(scratch);
    }
    let mut manifest = Manifest {
        run_id: run_id.clone(),
        piguard_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: String::new(),
        pipeline: pipeline_path.display().to_string(),
        pipeline_sha256: sha256_hex(&pipeline_bytes),
        key_id,
        classifier: plan.classifier.clone(),
        dry_run: options.dry_run,
        forced: options.force,
        datasets: records,
        exports: Vec::new(),
        failure: None,
        audit: began,
    };
    if let Some((dataset, partition, cause)) = failed {
        if options.dry_run {
            return Err(cause);
        }
        // What was published stays published and is recorded: the manifest and the audit
        // log say which datasets are complete, and purge and erase find their plans.
        manifest.failure = Some(RunFailure { dataset, partition, error: cause.to_string() });
        let manifest_path = commit(lake, lock.as_ref(), &audit, &mut manifest)?;
        let (published, not_published) = progress_of(&plan, &manifest);
        return Err(RunError::Incomplete { cause: Box::new(cause), published, not_published, manifest: manifest_path });
    }
    if options.dry_run {
        return Ok(RunReport { manifest, manifest_path: None });
    }
    // An export staged by a killed run is never published: remove it.
    let exports = lake.zone(Zone::Export);
    lake::remove_temporaries(&exports, TMP_PREFIX).map_err(io_err(&exports))?;
    // Made once for every export; a failure to make it is the first export's.
    let deid = match plan.exports.is_empty() {
        true => Ok(None),
        false => export_session(&options.engine, &writer.engine, lake).await,
    };
    // Every export is computed before any is published: which rows one withholds depends on
    // what the others of its source withhold.
    let mut computed = Vec::new();
    let mut failed = None;
    for e in &plan.exports {
        let deid = deid.clone().map_err(|message| ExportError::Failed { export: e.spec.name.clone(), message });
        match async { export::compute(lake, e, deid?.as_ref()).await }.await {
            Ok(c) => computed.push(c),
            Err(cause) => {
                failed = Some((e.spec.name.clone(), cause));
                break;
            }
        }
    }
    if failed.is_none() {
        export::suppress_complements(&mut computed);
        for (c, e) in computed.into_iter().zip(&plan.exports) {
            match export::publish(lake, c, &run_id) {
                Ok(record) => manifest.exports.push(record),
                Err(cause) => {
                    failed = Some((e.spec.name.clone(), cause));
                    break;
                }
            }
        }
    }
    if let Some((name, cause)) = failed {
        // The datasets are published: the manifest and the audit log still record them.
        let cause = RunError::from(cause);
        manifest.failure = Some(RunFailure { dataset: format!("export {name}"), partition: String::new(), error: cause.to_string() });
        let manifest_path = commit(lake, lock.as_ref(), &audit, &mut manifest)?;
        let published = plan.datasets.iter().map(|d| d.planned.name().to_string()).collect();
        return Err(RunError::Incomplete {
            cause: Box::new(cause),
            published,
            not_published: vec![format!("export {name}")],
            manifest: manifest_path,
        });
    }
    let manifest_path = commit(lake, lock.as_ref(), &audit, &mut manifest)?;
    drop(lock);
    Ok(RunReport { manifest, manifest_path: Some(manifest_path) })
}

/// The session partitions are written with: `local`'s, planning gated writes with
/// `classifier`, or one whose plans run on a cluster (whose scheduler plans them).
async fn engine_context(engine: &Engine, local: &SessionContext, classifier: &Classifier) -> Result<SessionContext, RunError> {
    match engine {
        Engine::Local => Ok(gate::session(local, Arc::new(classifier.clone()))),
        #[cfg(feature = "cluster")]
        Engine::Ballista { host, port } => {
            let mut config = local.copied_config().with_target_partitions(CLUSTER_TASKS_PER_FILE_SCAN);
            // Tasks are the scan's: a round-robin exchange would be a shuffle between stages.
            config.options_mut().optimizer.enable_round_robin_repartition = false;
            Ok(crate::cluster::client(host, *port, config).await?)
        }
        #[cfg(not(feature = "cluster"))]
        Engine::Ballista { .. } => Err(ClusterError::NotBuilt(engine.to_string()).into()),
    }
}

/// On a cluster, the session exports aggregate on: the versions just committed, as tables the
/// cluster reads. `None` to aggregate in this process.
#[cfg_attr(not(feature = "cluster"), allow(unused_variables))]
async fn export_session(engine: &Engine, on: &SessionContext, lake: &Lake) -> Result<Option<SessionContext>, String> {
    match engine {
        Engine::Local => Ok(None),
        #[cfg(feature = "cluster")]
        Engine::Ballista { .. } => crate::cluster::snapshot::deid_session(on, lake).await.map(Some).map_err(|e| lake::read::scrubbed(&e)),
        #[cfg(not(feature = "cluster"))]
        Engine::Ballista { .. } => Err(ClusterError::NotBuilt(engine.to_string()).to_string()),
    }
}

/// Writes a run's manifest and its audit entry, while the run still holds the lake's lock.
fn commit(lake: &Lake, lock: Option<&LakeLock>, audit: &AuditLog, manifest: &mut Manifest) -> Result<PathBuf, RunError> {
    lock.map(LakeLock::ensure_held).transpose()?;
    manifest.finished_at = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let manifest_path = lake.manifest_path(&manifest.run_id);
    let bytes = serde_json::to_vec_pretty(&manifest).expect("serializes");
    files::write_atomic(&manifest_path, &bytes).map_err(io_err(&manifest_path))?;
    let count = |s: PartitionStatus| manifest.datasets.iter().flat_map(|d| &d.partitions).filter(|p| p.status == s).count();
    let event = AuditEvent::Run {
        run_id: manifest.run_id.clone(),
        pipeline: manifest.pipeline.clone(),
        pipeline_sha256: manifest.pipeline_sha256.clone(),
        key_id: manifest.key_id.clone(),
        datasets: manifest.datasets.len(),
        partitions_written: count(PartitionStatus::Written),
        partitions_unchanged: count(PartitionStatus::Unchanged),
        exports: manifest
            .exports
            .iter()
            .map(|e| format!("{} ({} rows, {} suppressed)", e.export, e.rows_published, e.rows_suppressed))
            .collect(),
        rows_written: manifest.datasets.iter().map(|d| d.rows_written).sum(),
        manifest_sha256: sha256_hex(&bytes),
        table_versions: manifest
            .datasets
            .iter()
            .filter_map(|d| Some((format!("{}/{}", Zone::Deid.dir(), d.planned.name()), vec![d.table_version?])))
            .collect(),
        risk: manifest
            .datasets
            .iter()
            .filter_map(|d| Some((d.planned.name().to_string(), serde_json::to_value(d.risk.as_ref()?.summary()).expect("serializes"))))
            .collect(),
        failed: manifest.failure.as_ref().map(|f| f.dataset.clone()),
    };
    audit.append(&event)?;
    Ok(manifest_path)
}

/// The datasets a failed run published (with how many of their partitions) and those it
/// did not finish.
fn progress_of(plan: &PipelinePlan, manifest: &Manifest) -> (Vec<String>, Vec<String>) {
    let mut published = Vec::new();
    let mut not_published = Vec::new();
    for d in &plan.datasets {
        let total = d.source.partitions().len();
        let done = manifest.datasets.iter().find(|r| r.planned.name() == d.planned.name()).map_or(0, |r| r.partitions.len());
        if done > 0 {
            published.push(format!("{} ({done} of {total} partitions)", d.planned.name()));
        }
        if done < total {
            not_published.push(d.planned.name().to_string());
        }
    }
    (published, not_published)
}

/// Writes the partitions of one run.
struct PartitionWriter<'a> {
    /// The session that reads, transforms, writes and checks partitions: this process's, or
    /// a cluster's.
    engine: SessionContext,
    /// The session the risk gate evaluates tables on: the engine's, in bounded memory locally.
    evaluator: SessionContext,
    udfs: Udfs,
    run_id: &'a str,
    classifier: &'a Classifier,
    options: &'a RunOptions,
    /// The lake's lock (none on a dry run), held at every commit.
    lock: Option<&'a LakeLock>,
    /// Pseudonyms of subjects with a pending erasure, per dataset or `dataset.column`.
    pending: &'a BTreeMap<String, Vec<String>>,
    /// What marks a column as holding subjects.
    subjects: &'a SubjectKinds,
    /// The subject column of each planned dataset that has one.
    subject_columns: Vec<RawSubjectColumn>,
    /// Their ids as fingerprints, listed once per run when first needed (a run that writes
    /// nothing lists none), where the engine runs its plans.
    subject_ids: tokio::sync::OnceCell<SubjectIds>,
    /// The run's scratch directory, where the write keeps subject keys (a local run: on the
    /// lake, or on this machine where the lake is in an object store).
    scratch: Option<PathBuf>,
}

/// A partition whose inputs or plan changed, to be written.
struct PartitionJob {
    partition: String,
    files: Vec<DataFile>,
    /// Its inputs' fingerprint, tagged on the files written.
    fingerprint: String,
    inputs: Vec<InputRecord>,
    /// Its raw bytes.
    bytes: u64,
    /// Where its files go.
    out_dir: PathBuf,
    /// The table's files the new ones replace.
    replaces: Vec<PathBuf>,
}

/// A file written by this run, not yet committed.
struct Written {
    path: PathBuf,
    rows: u64,
    fingerprint: String,
    /// Its Delta statistics; `None` for an empty file.
    stats: Option<String>,
}

fn paths(written: &[Written]) -> Vec<PathBuf> {
    written.iter().map(|w| w.path.clone()).collect()
}

/// Deletes a dataset's files `written` but never committed (never seen, so removed now rather
/// than left to a vacuum) and records that nothing of it was published.
fn abandon(written: &[PathBuf], record: &mut DatasetRecord) {
    for f in written {
        let _ = files::delete(f);
    }
    record.partitions.clear();
    record.rows_written = 0;
}

/// The partitions written together: in order, a batch closing at [`BATCH_BYTES`] of raw data
/// or [`BATCH_PARTITIONS`] partitions, so a large partition is a batch of its own.
fn batches(jobs: Vec<PartitionJob>) -> Vec<Vec<PartitionJob>> {
    let mut batches: Vec<Vec<PartitionJob>> = Vec::new();
    let mut bytes = 0;
    for job in jobs {
        match batches.last_mut() {
            Some(batch) if bytes + job.bytes <= BATCH_BYTES && batch.len() < BATCH_PARTITIONS => {
                bytes += job.bytes;
                batch.push(job);
            }
            _ => {
                bytes = job.bytes;
                batches.push(vec![job]);
            }
        }
    }
    batches
}

/// How errors and refusals name the partitions of a batch.
fn batch_label(jobs: &[&PartitionJob]) -> String {
    let name = |j: &PartitionJob| if j.partition.is_empty() { "(all)".to_string() } else { j.partition.clone() };
    match jobs {
        [one] => name(one),
        [first, .., last] => format!("{} to {} ({} partitions written together)", name(first), name(last), jobs.len()),
        [] => String::new(),
    }
}

impl PartitionWriter<'_> {
    /// Writes the partitions of `p` whose inputs or plan changed (none on a dry run) and
    /// commits them to the dataset's table as one version, recording each in `record`. On
    /// failure, names the partition at fault; nothing of the dataset is then published.
    async fn dataset(
        &self,
        p: &DatasetRun,
        record: &mut DatasetRecord,
        progress: &mut dyn FnMut(RunEvent<'_>),
    ) -> Result<(), (String, RunError)> {
        let name = p.planned.name();
        let lake = &self.options.lake;
        let table = LakeTable::open(lake, name, AsOf::Latest).await.map_err(|e| (String::new(), e.into()))?;
        let current = match &table {
            Some(t) => t.files().map_err(|e| (String::new(), e.into()))?,
            None => Vec::new(),
        };
        if !self.options.dry_run {
            remove_uncommitted(lake, name, table.as_ref()).map_err(|e| (String::new(), e.into()))?;
        }
        let mut jobs = Vec::new();
        for (partition, files) in p.source.partitions() {
            let existing: Vec<&TableFile> = current.iter().filter(|f| f.partition == partition).collect();
            match self.prepare(p, &partition, files, &existing) {
                Ok(Ok(job)) => jobs.push(job),
                Ok(Err(untouched)) => {
                    progress(RunEvent::Partition { dataset: name, partition: &partition, status: untouched.status, rows: untouched.rows });
                    record.partitions.push(untouched);
                }
                Err(e) => return Err((partition, e)),
            }
        }
        let mut written: Vec<Written> = Vec::new();
        // Classes counted by the write serve only where every file published is written now,
        // and where records are what a class counts: no subject is published, or the write
        // keeps the subject keys that may prove each record a subject of its own.
        let keeps_files = current.iter().any(|f| !jobs.iter().any(|j| j.replaces.contains(&f.path)));
        let records_counted = p.planned.plan.subject.is_none() || self.subject_key_dir(p).is_some();
        let plan = &p.planned.plan;
        let classes = (!keeps_files && records_counted).then(|| CountedClasses::new(plan.class_groupings(), plan.class_subject_cap()));
        let text_lengths = (!keeps_files).then(|| {
            let priors = risk_priors(&p.planned.plan);
            risk::measured_texts(&priors).into_iter().map(|c| (c.to_string(), TextLength::default())).collect()
        });
        let mut counts = GateCounts { subject_keys: Vec::new(), classes, text_lengths };
        let mut changed = Vec::new();
        let mut replaced = Vec::new();
        for batch in batches(jobs) {
            let files = match self.write_batch(p, &batch, &mut record.write_plans, &mut counts).await {
                Ok(files) => files,
                Err((partition, e)) => {
                    abandon(&paths(&written), record);
                    return Err((partition, e));
                }
            };
            for (job, files) in batch.into_iter().zip(files) {
                let rows = files.iter().map(|f| f.rows).sum();
                progress(RunEvent::Partition { dataset: name, partition: &job.partition, status: PartitionStatus::Written, rows });
                record.rows_written += rows;
                record.partitions.push(PartitionRecord {
                    partition: job.partition.clone(),
                    status: PartitionStatus::Written,
                    inputs: job.inputs,
                    output: job.out_dir.display().to_string(),
                    files: files.iter().map(|f| f.path.display().to_string()).collect(),
                    rows,
                });
                changed.push(job.partition);
                replaced.extend(job.replaces);
                written.extend(files);
            }
        }
        record.partitions.sort_by(|a, b| a.partition.cmp(&b.partition));
        if !written.is_empty() {
            // The risk gate: the table as this commit would publish it, new files and kept ones.
            let kept: Vec<PathBuf> = current.iter().filter(|f| !replaced.contains(&f.path)).map(|f| f.path.clone()).collect();
            let evaluated = self.evaluate(p, &kept, &mut written, &mut counts).await;
            if let Some(dir) = self.subject_key_dir(p) {
                let _ = files::delete_tree(&dir);
            }
            match evaluated {
                Ok(evaluation) => record.risk = Some(evaluation),
                Err(e) => {
                    abandon(&paths(&written), record);
                    return Err((String::new(), e));
                }
            }
        }
        let mut commit = TableCommit::default();
        for w in &written {
            let added =
                commit.add(&lake.dataset_dir(Zone::Deid, name), &w.path, w.rows, w.stats.as_deref(), Some(&w.fingerprint), self.run_id);
            if let Err(e) = added {
                abandon(&paths(&written), record);
                return Err((String::new(), e.into()));
            }
        }
        for f in current.iter().filter(|f| replaced.contains(&f.path)) {
            commit.remove(f);
        }
        if !commit.is_empty() {
            let operation = TableOperation::Run { run_id: self.run_id.to_string(), partitions: changed };
            let committed = async {
                self.lock.map(LakeLock::ensure_held).transpose()?;
                Ok::<_, RunError>(commit.commit(&lake.dataset_dir(Zone::Deid, name), table.as_ref(), &operation).await?)
            };
            match committed.await {
                Ok(version) => record.table_version = Some(version),
                Err(e) => {
                    abandon(&paths(&written), record);
                    return Err((String::new(), e));
                }
            }
        }
        Ok(())
    }

    /// The risk gate: evaluates the table as a commit would publish it (the files `written`
    /// now and those `kept`) and refuses it below level 3. Where the pipeline allows local
    /// suppression and that suffices, the records of small classes in the files written now
    /// have their quasi-identifiers nulled first, in place (each file's statistics in `written`
    /// updated).
    async fn evaluate(
        &self,
        p: &DatasetRun,
        kept: &[PathBuf],
        written: &mut [Written],
        counts: &mut GateCounts,
    ) -> Result<Evaluation, RunError> {
        let plan = &p.planned.plan;
        let name = &plan.name;
        let root = self.options.lake.dataset_dir(Zone::Deid, name);
        let failed = |e: datafusion::error::DataFusionError| RunError::Dataset {
            dataset: name.clone(),
            message: format!("risk evaluation: {}", lake::read::scrubbed(&e)),
        };
        let priors = risk_priors(plan);
        let started = std::time::Instant::now();
        // The write kept every row's subject key when no file is kept from an earlier run: the
        // merge of its sorted runs tells whether every record is a subject of its own.
        let rows: u64 = written.iter().map(|w| w.rows).sum();
        let subject_keys = &counts.subject_keys;
        let proved = kept.is_empty() && plan.subject.is_some() && subject_keys.iter().map(SubjectKeyRuns::rows).sum::<u64>() == rows;
        let unreadable =
            |e: std::io::Error| RunError::Dataset { dataset: name.clone(), message: format!("risk evaluation: subject keys: {e}") };
        let per_record = match proved {
            true => Some(every_subject_distinct(subject_keys).map_err(unreadable)?),
            false => None,
        };
        // Where a subject's records may be several, classes whose subjects outnumber what the
        // write kept are sized by the merge of its subject keys, taken to its end.
        if let Some(classes) = counts.classes.as_mut().filter(|_| per_record == Some(false)) {
            classes.size_beyond_cap(subject_keys).map_err(unreadable)?;
        }
        // Where the plan settles no quasi-identifier, every record may be in one class, whose
        // distinct subjects the merge counts to its end.
        let one_class = plan.class_groupings().first().is_some_and(Vec::is_empty);
        let subjects = match per_record == Some(false) && one_class {
            true => Some(distinct_subjects(subject_keys).map_err(unreadable)?),
            false => None,
        };
        let counted_records = kept.is_empty().then_some(Published { records: rows, subjects });
        // The write's text lengths serve, as its counts do, where they hold every record published.
        let text_lengths =
            counts.text_lengths.as_ref().filter(|_| kept.is_empty()).map(|l| l.iter().map(|(_, length)| length.mean()).collect());
        let method = Method {
            sharing: plan.sharing,
            max_suppressed: plan.max_suppressed,
            subject: plan.subject.clone(),
            per_record,
            text_lengths,
            published: counted_records,
        };
        let published = |written: &[Written]| {
            paths(written)
                .into_iter()
                .chain(kept.iter().cloned())
                .map(|path| DataFile { path, format: FileFormat::Parquet })
                .collect::<Vec<_>>()
        };
        // The write's class counts serve where they hold every record published.
        let counted = match counts.classes.as_ref().filter(|_| kept.is_empty()) {
            Some(c) => c.covering(rows, per_record == Some(false)),
            None => Vec::new(),
        };
        let view = self.read_table(&root, &published(written)).await?;
        let evaluation = risk::evaluate(&view, &priors, &method, &counted).await.map_err(failed)?;
        let counted = counted.into_iter().find(|c| evaluation.counted_by(c));
        let evaluation = match evaluation.suppression_suffices() {
            false => evaluation,
            true => {
                let small = match counted {
                    Some(c) => c.smaller_than(evaluation.min_class()).map_err(|e| failed(e.into()))?,
                    None => risk::small_classes(&view, &evaluation).await.map_err(failed)?,
                };
                let properties = gate::writer_properties(plan).map_err(failed)?;
                let suppress = |w: &Written| risk::suppress::suppress_file(&root, &w.path, &small, properties.clone());
                // Files are amended in parallel, a core each.
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let mut suppressed = 0;
                for group in written.chunks_mut(cores) {
                    let mut failure = None;
                    let results: Vec<_> = std::thread::scope(|s| {
                        let amended: Vec<_> = group.iter().map(|w| s.spawn(|| suppress(w))).collect();
                        amended.into_iter().map(|t| t.join().map_err(|_| "local suppression stopped".to_string())).collect()
                    });
                    for (w, result) in group.iter_mut().zip(results) {
                        match result.and_then(|r| r.map_err(|e| e.to_string())) {
                            Ok(done) if done.records > 0 => {
                                w.stats = w.stats.as_deref().and_then(|s| gate::with_nulls(s, &done.nulled));
                                suppressed += done.records;
                            }
                            Ok(_) => {}
                            Err(e) => failure = failure.or(Some(e)),
                        }
                    }
                    if let Some(e) = failure {
                        return Err(RunError::Dataset { dataset: plan.name.clone(), message: format!("local suppression: {e}") });
                    }
                }
                // Counted again as published: records of small classes in files this run kept
                // (and any suppression missed) are still in classes, and refuse the table.
                // Where every record of a small class was nulled, the classes are those counted
                // before, less the small ones.
                let sizes = match suppressed == evaluation.figures.at_risk {
                    true => evaluation.sizes.after_suppression(evaluation.min_class()),
                    false => {
                        let view = self.read_table(&root, &published(written)).await?;
                        let subject = evaluation.counted_subject();
                        risk::class_sizes(&view, &evaluation.quasi_identifiers, subject).await.map_err(failed)?
                    }
                };
                evaluation.after_suppression(sizes, suppressed)
            }
        };
        let mut evaluation = Evaluation { seconds: started.elapsed().as_secs_f64(), ..evaluation };
        if !evaluation.level.publishable() {
            risk::explain(&view, &mut evaluation).await.map_err(failed)?;
            return Err(RunError::Risk { dataset: name.clone(), report: risk::report::refusal(name, &evaluation) });
        }
        Ok(evaluation)
    }

    /// The `files` of the table at `root` as readers will see it, read by the risk gate's session.
    async fn read_table(&self, root: &Path, files: &[DataFile]) -> Result<DataFrame, RunError> {
        let dataset = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        lake::read::read_dataset(&self.evaluator, root, files).await.map_err(|e| RunError::Dataset { dataset, message: e.to_string() })
    }

    /// `partition` of `p` as a job to write, or, when its inputs and plan are unchanged (every
    /// file the table holds of it was written from them) or the run is dry, its record as it is.
    fn prepare(
        &self,
        p: &DatasetRun,
        partition: &str,
        files: Vec<DataFile>,
        existing: &[&TableFile],
    ) -> Result<Result<PartitionJob, PartitionRecord>, RunError> {
        let root = self.options.lake.dataset_dir(Zone::Deid, p.planned.name());
        let out_dir = if partition.is_empty() { root.clone() } else { root.join(partition) };
        let inputs = inputs_of(&files)?;
        // Inputs by their place in the dataset, so `--lake ./lake` and `--lake lake` agree.
        let identity: Vec<(String, u64, String)> = files
            .iter()
            .zip(&inputs)
            .map(|(f, (r, mtime))| {
                let rel = f.path.strip_prefix(&p.source.path).unwrap_or(&f.path);
                (rel.display().to_string(), r.bytes, mtime.to_string())
            })
            .collect();
        let fingerprint = sha256_hex(serde_json::to_string(&(&p.plan_hash, identity)).expect("serializes").as_bytes());
        let unchanged = !existing.is_empty() && existing.iter().all(|f| f.fingerprint.as_deref() == Some(fingerprint.as_str()));
        let inputs: Vec<InputRecord> = inputs.into_iter().map(|(r, _)| r).collect();
        let record = |status, rows, files: Vec<String>| PartitionRecord {
            partition: partition.to_string(),
            status,
            inputs: inputs.clone(),
            output: out_dir.display().to_string(),
            files,
            rows,
        };
        match (unchanged, self.options.force, self.options.dry_run) {
            (true, false, _) => {
                let rows = existing.iter().map(|f| f.rows.unwrap_or_default()).sum();
                Ok(Err(record(PartitionStatus::Unchanged, rows, existing.iter().map(|f| f.path.display().to_string()).collect())))
            }
            (_, _, true) => Ok(Err(record(PartitionStatus::Planned, 0, Vec::new()))),
            _ => Ok(Ok(PartitionJob {
                partition: partition.to_string(),
                bytes: inputs.iter().map(|i| i.bytes).sum(),
                files,
                fingerprint,
                inputs,
                out_dir,
                replaces: existing.iter().map(|f| f.path.clone()).collect(),
            })),
        }
    }

    /// The error of running a plan over the partitions `label` names, scrubbed: a cast or
    /// parse error quotes the value it failed on.
    fn plan_error(dataset: &str, label: &str) -> impl Fn(datafusion::error::DataFusionError) -> RunError {
        let (dataset, label) = (dataset.to_string(), label.to_string());
        move |e| RunError::Dataset {
            dataset: dataset.clone(),
            message: format!(
                "partition {label}: {}",
                crate::cluster::find_key_refusal(&e.to_string()).unwrap_or_else(|| lake::read::scrubbed(&e))
            ),
        }
    }

    /// The projection of one partition: its output columns, the fingerprints of its protected
    /// raw columns (hidden, as [`gate::raw_fingerprint_column`]) and its tag, without the
    /// rows of subjects with a pending erasure.
    async fn projection(
        &self,
        p: &DatasetRun,
        job: &PartitionJob,
        tag: u32,
        protected: &[(String, Category)],
    ) -> Result<DataFrame, RunError> {
        let plan = &p.planned.plan;
        let name = &plan.name;
        let df_err = Self::plan_error(name, &job.partition);
        let df = lake::read_files(&self.engine, &job.files)
            .await
            .map_err(|e| RunError::Dataset { dataset: name.clone(), message: e.to_string() })?;
        let mut exprs = Vec::new();
        for field in df.schema().fields() {
            let Some(c) = plan.columns.iter().find(|c| &c.name == field.name()) else {
                return Err(RunError::Dataset {
                    dataset: name.clone(),
                    message: format!(
                        "column `{}` appears in partition {} but was not in the classified sample; nothing was written for it (rescan with a larger --sample-rows)",
                        field.name(),
                        job.partition
                    ),
                });
            };
            exprs.extend(column_expr(c, &self.udfs));
        }
        if exprs.is_empty() {
            return Err(RunError::Dataset { dataset: name.clone(), message: "every column is dropped; nothing to write".into() });
        }
        for (i, (column, _)) in protected.iter().enumerate() {
            let fingerprints = match df.schema().has_column_with_unqualified_name(column) {
                true => leak::fingerprint_of(column),
                false => lit(ScalarValue::UInt64(None)),
            };
            exprs.push(fingerprints.alias(gate::raw_fingerprint_column(i)));
        }
        exprs.push(lit(tag).alias(gate::PARTITION_TAG));
        let mut df = df.select(exprs).map_err(&df_err)?;
        for (subject, refs) in self.held_back(p) {
            df = df.filter(subject.matches(Zone::Deid, refs, &self.udfs.hash).is_not_true()).map_err(&df_err)?;
        }
        Ok(df)
    }

    /// The subject columns of `p` with subjects whose erasure is pending, and those subjects:
    /// their raw rows are held by a legal floor, but they never reach the de-identified zone
    /// again (nor as the other party), so the projection filters them out.
    fn held_back(&self, p: &DatasetRun) -> Vec<(SubjectColumn, &Vec<String>)> {
        let columns = p.planned.subject_columns(self.subjects).into_iter();
        columns.filter_map(|(ref_key, subject)| Some((subject, self.pending.get(&ref_key)?))).collect()
    }

    /// Where the write keeps the subject keys of `p`'s rows, when it can and `p` publishes a subject.
    fn subject_key_dir(&self, p: &DatasetRun) -> Option<PathBuf> {
        p.planned.plan.subject.as_ref().and(self.scratch.as_ref()).map(|dir| dir.join(p.planned.name()))
    }

    /// Whether the write of `tags` of `batch` met every id the lake's subject-id list would
    /// hold: the run's one subject column is `p`'s own and protected, and the write read all of
    /// its raw files, no row held back by an erasure. The write's sample then holds that
    /// column's raw fingerprints, sampled as its kept values are, and the list (another read
    /// of the column, every fingerprint gathered here) would find nothing more.
    fn write_holds_every_subject_id(
        &self,
        p: &DatasetRun,
        batch: &[PartitionJob],
        tags: &[usize],
        protected: &[(String, Category)],
    ) -> bool {
        let [only] = &self.subject_columns[..] else { return false };
        let read: BTreeSet<&PathBuf> = tags.iter().flat_map(|t| &batch[*t].files).map(|f| &f.path).collect();
        only.dataset == p.planned.name()
            && protected.iter().any(|(column, category)| *column == only.column && *category == only.category)
            && read == only.files.iter().map(|f| &f.path).collect()
            && self.held_back(p).is_empty()
    }

    /// The lake's subject ids, listed on first use.
    async fn subject_ids(&self) -> Result<&SubjectIds, RunError> {
        let listed = self.subject_ids.get_or_try_init(|| async {
            leak::subject_ids(&self.engine, &self.subject_columns)
                .await
                .map_err(|(dataset, e)| RunError::Dataset { dataset, message: e.to_string() })
        });
        listed.await
    }

    /// Streams the partitions of `batch` through their plan into new files no version
    /// references yet, one plan for those whose columns agree, and checks them: the files of
    /// each partition, in order; or the partitions at fault and why, with nothing left behind.
    async fn write_batch(
        &self,
        p: &DatasetRun,
        batch: &[PartitionJob],
        plans: &mut u64,
        counts: &mut GateCounts,
    ) -> Result<Vec<Vec<Written>>, (String, RunError)> {
        let plan = &p.planned.plan;
        let protected = plan.protected_columns();
        // Runs of partitions whose projections agree, each written by one plan.
        let mut parts: Vec<(Vec<usize>, Vec<DataFrame>)> = Vec::new();
        for (tag, job) in batch.iter().enumerate() {
            let df = self.projection(p, job, tag as u32, &protected).await.map_err(|e| (job.partition.clone(), e))?;
            match parts.last_mut() {
                Some((tags, dfs)) if dfs[0].schema().as_arrow() == df.schema().as_arrow() => {
                    tags.push(tag);
                    dfs.push(df);
                }
                _ => parts.push((vec![tag], vec![df])),
            }
        }
        // One flat union a run: unions of two, nested hundreds deep, cost more to plan than the
        // small partitions they write.
        let mut runs: Vec<(Vec<usize>, String, DataFrame)> = Vec::new();
        for (tags, dfs) in parts {
            let label = batch_label(&tags.iter().map(|t| &batch[*t]).collect::<Vec<_>>());
            let df = lake::read::flat_union(dfs).map_err(|e| (label.clone(), Self::plan_error(&plan.name, &label)(e)))?;
            runs.push((tags, label, df));
        }
        let mut files: Vec<Vec<Written>> = batch.iter().map(|_| Vec::new()).collect();
        let discard = |files: &[Vec<Written>]| {
            for f in files.iter().flatten() {
                let _ = files::delete(&f.path);
            }
        };
        for (tags, label, df) in runs {
            *plans += 1;
            match self.gated_write(p, batch, &tags, df, &label, counts).await {
                Ok(written) => {
                    for (tag, w) in written {
                        files[tag].push(w);
                    }
                }
                Err(e) => {
                    discard(&files);
                    return Err((label, e));
                }
            }
        }
        Ok(files)
    }

    /// Writes the partitions of `batch` at `tags` from `df` in one gated write and judges them;
    /// a file with no rows for a partition that had none, so its table keeps a file of its inputs.
    /// Returns the files, and adds what the write counted of their rows to `counts`.
    async fn gated_write(
        &self,
        p: &DatasetRun,
        batch: &[PartitionJob],
        tags: &[usize],
        df: DataFrame,
        label: &str,
        counts: &mut GateCounts,
    ) -> Result<Vec<(usize, Written)>, RunError> {
        let plan = &p.planned.plan;
        let name = &plan.name;
        let protected = &plan.protected_columns();
        let schema = df.schema().as_arrow().clone();
        let spec = GateSpec {
            plan: plan.clone(),
            out_dirs: batch.iter().map(|j| j.out_dir.display().to_string()).collect(),
            run_id: self.run_id.to_string(),
            protected: protected.to_vec(),
            overrides: self.classifier.rules().override_texts.clone(),
            subject_keys: self.subject_key_dir(p).map(|d| d.display().to_string()),
            count_classes: counts.classes.is_some(),
            text_columns: counts.text_lengths.iter().flatten().map(|(column, _)| column.clone()).collect(),
        };
        // The lake's subject ids are listed after the write, not beside it: beside it they
        // saved 0.1-0.2 s of 3.8 s at 2 M rows but held 40 MiB more at 20 M.
        let outcome = match gate::write(df, spec).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // Tasks that finished, or were stopped mid-file, when another failed left files
                // the client was never told of: this run's names them.
                for &tag in tags {
                    sweep(&batch[tag].out_dir, self.run_id);
                }
                return Err(Self::plan_error(name, label)(e));
            }
        };
        let mut written: Vec<(usize, Written)> = outcome
            .files
            .iter()
            .map(|f| {
                let fingerprint = batch[f.partition].fingerprint.clone();
                (f.partition, Written { path: f.path.clone(), rows: f.rows, fingerprint, stats: Some(f.stats.clone()) })
            })
            .collect();
        let discard = |written: &[(usize, Written)]| {
            for (_, w) in written {
                let _ = files::delete(&w.path);
            }
        };
        // The leak gate: every kept value of every row against the raw values of the columns
        // the plan protects and the lake's subject ids; then every row of the output classified
        // as `piguard verify` would, except columns kept with a reason.
        let none = SubjectIds::default();
        let subjects = match self.write_holds_every_subject_id(p, batch, tags, protected) {
            true => &none,
            false => match self.subject_ids().await {
                Ok(s) => s,
                Err(e) => {
                    discard(&written);
                    return Err(e);
                }
            },
        };
        let root = self.options.lake.dataset_dir(Zone::Deid, name).display().to_string();
        let categories: Vec<Category> = protected.iter().map(|(_, c)| *c).collect();
        let mut findings: Vec<Finding> = Vec::new();
        for (column, (checked, matched, category)) in plan.kept_columns().iter().zip(outcome.sample.matches(&categories, subjects)) {
            if let (true, Some(category)) = (matched > 0, category) {
                findings.push(Finding::raw_identifier(name, &root, column, category, checked, matched));
            }
        }
        for c in &plan.columns {
            if let Some(j) = outcome.judgements.get(&c.name).filter(|_| !findings.iter().any(|f| f.column == c.name)) {
                findings.push(j.finding(name, &root, &c.name));
            }
        }
        if !findings.is_empty() {
            discard(&written);
            return Err(RunError::Leak { dataset: name.clone(), partition: label.to_string(), findings });
        }
        for &tag in tags {
            let job = &batch[tag];
            if written.iter().any(|(t, _)| *t == tag) {
                continue;
            }
            match empty_file(plan, &schema, &job.out_dir, self.run_id, tag) {
                Ok(path) => written.push((tag, Written { path, rows: 0, fingerprint: job.fingerprint.clone(), stats: None })),
                Err(e) => {
                    discard(&written);
                    return Err(e);
                }
            }
        }
        counts.subject_keys.extend(outcome.subject_keys);
        if let Some(lengths) = &mut counts.text_lengths {
            lengths.iter_mut().zip(outcome.text_lengths).for_each(|((_, mine), theirs)| mine.merge(theirs));
        }
        if let Some(classes) = &mut counts.classes {
            for parts in &outcome.classes {
                if let Err(e) = classes.merge(parts) {
                    discard(&written);
                    return Err(RunError::Dataset { dataset: name.clone(), message: format!("class counts: {e}") });
                }
            }
        }
        Ok(written)
    }
}

/// What the writes of a dataset counted for its risk gate, over every task.
struct GateCounts {
    /// The subject keys each task kept, where it kept them.
    subject_keys: Vec<SubjectKeyRuns>,
    /// The records by class over the plan's class groupings, where the gate can use them.
    classes: Option<CountedClasses>,
    /// The plan's measured text columns ([`risk::measured_texts`]) with their lengths, where
    /// every file published is written now.
    text_lengths: Option<Vec<(String, TextLength)>>,
}

/// What the risk gate knows of `plan`'s columns before it measures any: from the plan, and
/// partition values, published too (`dt`) and measured like any kept column.
fn risk_priors(plan: &DatasetPlan) -> Vec<ColumnPrior> {
    let mut priors: Vec<ColumnPrior> = plan.columns.iter().filter_map(ColumnPlan::risk_prior).collect();
    priors.extend(plan.partition_columns.iter().map(|c| ColumnPrior::partition_key(c, Prior::Measure)));
    priors
}

/// Deletes the files `run_id` wrote into `dir`, best effort: none is committed, so none is seen,
/// and a run that cannot delete one leaves it to the next, which deletes what no version holds.
fn sweep(dir: &Path, run_id: &str) {
    for entry in files::list_dir(dir).unwrap_or_default() {
        if !entry.is_dir && entry.path.file_name().is_some_and(|n| n.to_string_lossy().contains(run_id)) {
            let _ = files::delete(&entry.path);
        }
    }
}

/// Writes a file of no rows with the output columns of `schema` (the hidden ones left out)
/// into `dir`, and returns it.
fn empty_file(plan: &DatasetPlan, schema: &arrow::datatypes::Schema, dir: &Path, run_id: &str, tag: usize) -> Result<PathBuf, RunError> {
    let failed = |message: String| RunError::Dataset { dataset: plan.name.clone(), message };
    let schema = Arc::new(gate::written_schema(schema));
    let properties = gate::writer_properties(plan).map_err(|e| failed(e.to_string()))?;
    let mut bytes = Vec::new();
    let writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, Some(properties)).map_err(|e| failed(e.to_string()))?;
    writer.close().map_err(|e| failed(e.to_string()))?;
    let path = dir.join(format!("part-{tag:05}-{run_id}-empty.parquet"));
    files::write_atomic(&path, &bytes).map_err(io_err(&path))?;
    Ok(path)
}

/// The key id and column actions, as a dry run prints them.
pub fn describe_plan(manifest: &Manifest) -> String {
    let mut out = String::new();
    for d in &manifest.datasets {
        let todo = d.partitions.iter().filter(|p| p.status != PartitionStatus::Unchanged).count();
        out.push_str(&format!("{}: {} partition(s), {} to write\n", d.planned.name(), d.partitions.len(), todo));
        for c in &d.planned.plan.columns {
            let reason = c.reason.as_ref().or(c.measured.as_ref()).map(|r| format!(" — {r}")).unwrap_or_default();
            out.push_str(&format!("  {:<20} {:<17} {}{reason}\n", c.name, c.category, c.step));
        }
    }
    out
}
