//! `piguard run`: de-identify the raw zone into the analytics zone.
//!
//! Commit points, in order, per dataset: each partition to rewrite is streamed by DataFusion
//! into a new file of the dataset's Delta table (no version references it yet); the leak gate
//! checks it; then one commit replaces the rewritten partitions' files with the new ones
//! (readers see the old version or the new one), their tags recording the inputs'
//! fingerprint, so an unchanged partition is skipped next time. A kill at any moment leaves
//! every version complete; files it wrote but never committed are invisible, and the next
//! run deletes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use futures::StreamExt;

use datafusion::common::Column;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, ScalarUDF};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, lit};

use crate::audit::{AuditError, AuditEvent, AuditLog, Operation};
use crate::classify::Classifier;
use crate::cluster::{ClusterError, Engine};
use crate::export::{self, ExportError};
use crate::integrity::{self, IntegrityError};
use crate::lake::delta::{AsOf, LakeTable, TableCommit, TableError, TableFile, TableOperation, remove_uncommitted};
use crate::lake::{self, DataFile, DatasetSource, FileFormat, Lake, LakeLock, LockError, TMP_PREFIX, Zone, files};
use crate::leak::{Finding, RawSubjectColumn, check_all_rows, check_identifiers, subject_fingerprints};
use crate::ledger::{LedgerError, open_requests, pending_subjects};
use crate::plan::manifest::{DatasetRecord, InputRecord, Manifest, PartitionRecord, PartitionStatus, RunFailure};
use crate::plan::{
    ColumnPlan, DatasetPlan, DatasetRun, PipelinePlan, PipelineSpec, PlanError, Step, SubjectKinds, deid_parquet_options, sha256_hex,
    subject_kinds,
};
use crate::risk::{self, ColumnPrior, Evaluation, Method, Prior};
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

/// Partitions a cluster writes at once: enough to keep a few executors' task slots busy
/// while the client checks finished ones; each in flight holds a leak-gate sketch here.
const CLUSTER_JOBS_IN_FLIGHT: usize = 8;

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
    let engine = engine_context(&options.engine, &ctx).await?;
    let udfs = Udfs {
        hash: ScalarUDF::new_from_impl(HashUdf::new(key.clone())),
        mask: ScalarUDF::new_from_impl(MaskUdf::default()),
        redact: ScalarUDF::new_from_impl(RedactUdf::default()),
    };

    // A killed run's scratch files go first.
    if !options.dry_run {
        let scratch = lake.meta_dir().join(LEAK_GATE_DIR);
        files::delete_tree(&scratch).map_err(io_err(&scratch))?;
    }
    let leak_gate = LeakGateFiles::new(lake, &run_id, &plan);

    let subjects = subject_kinds(plan.datasets.iter().map(|d| &d.planned));
    let jobs_in_flight = match options.engine {
        Engine::Local => 1,
        Engine::Ballista { .. } => CLUSTER_JOBS_IN_FLIGHT,
    };
    let writer = PartitionWriter {
        local: ctx.clone(),
        engine,
        jobs_in_flight,
        udfs,
        run_id: &run_id,
        classifier: Arc::new(classifier.clone()),
        options,
        lock: lock.as_ref(),
        pending: &pending,
        subjects: &subjects,
        leak_gate: &leak_gate,
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

/// Where runs keep the leak gate's scratch files, under `_piguard/`.
const LEAK_GATE_DIR: &str = "leak-gate";

/// The leak gate's run-wide files, under `_piguard/leak-gate/<run-id>/`: deleted when the run
/// ends; a killed run's are deleted by the next.
struct LeakGateFiles {
    dir: PathBuf,
    /// The subject column of each planned dataset that has one.
    columns: Vec<RawSubjectColumn>,
    /// Their ids as fingerprints, one file per dataset, written when first needed (a run that
    /// writes nothing reads none of them) and read as one table; `None` without any.
    subjects: tokio::sync::OnceCell<Option<DataFrame>>,
}

impl LeakGateFiles {
    fn new(lake: &Lake, run_id: &str, plan: &PipelinePlan) -> Self {
        let columns = plan.datasets.iter().filter_map(|p| RawSubjectColumn::of(&p.planned, || Some(p.source.files.clone()))).collect();
        LeakGateFiles { dir: lake.meta_dir().join(LEAK_GATE_DIR).join(run_id), columns, subjects: tokio::sync::OnceCell::new() }
    }

    /// The lake's subject fingerprints, listed where `engine` runs its plans (on a cluster the
    /// executors read the raw zone and write them), as a table read by `engine`.
    async fn subjects(&self, engine: &SessionContext) -> Result<Option<DataFrame>, RunError> {
        let table = self.subjects.get_or_try_init(|| async {
            match self.write_subjects(engine).await?.as_slice() {
                [] => Ok(None),
                // Each file is named after the dataset whose subject ids it holds.
                written => lake::read_files(engine, written).await.map(Some).map_err(|e| RunError::Dataset {
                    dataset: written[0].path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
                    message: e.to_string(),
                }),
            }
        });
        table.await.cloned()
    }

    async fn write_subjects(&self, engine: &SessionContext) -> Result<Vec<DataFile>, RunError> {
        let failed = |dataset: String, message: String| RunError::Dataset { dataset, message };
        let tables = subject_fingerprints(engine, &self.columns).await.map_err(|(dataset, e)| failed(dataset, e.to_string()))?;
        files::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let mut written = Vec::new();
        for (dataset, table) in tables {
            let path = self.dir.join(format!("{dataset}.parquet"));
            let wrote =
                table.write_parquet(&path.display().to_string(), DataFrameWriteOptions::new().with_single_file_output(true), None).await;
            wrote.map_err(|e| failed(dataset, lake::read::scrubbed(&e)))?;
            written.push(DataFile { path, format: FileFormat::Parquet });
        }
        Ok(written)
    }
}

impl Drop for LeakGateFiles {
    fn drop(&mut self) {
        let _ = files::delete_tree(&self.dir);
    }
}

/// The session partitions are written with: `local`'s, or one whose plans run on a cluster.
async fn engine_context(engine: &Engine, local: &SessionContext) -> Result<SessionContext, RunError> {
    match engine {
        Engine::Local => Ok(local.clone()),
        #[cfg(feature = "cluster")]
        Engine::Ballista { host, port } => {
            let config = local.copied_config().with_target_partitions(CLUSTER_TASKS_PER_FILE_SCAN);
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
    /// This process's session: local suppression joins a table of small classes held here.
    local: SessionContext,
    /// Partitions written at once.
    jobs_in_flight: usize,
    udfs: Udfs,
    run_id: &'a str,
    /// Shared with the leak gate's aggregates, which may run on several threads or machines.
    classifier: Arc<Classifier>,
    options: &'a RunOptions,
    /// The lake's lock (none on a dry run), held at every commit.
    lock: Option<&'a LakeLock>,
    /// Pseudonyms of subjects with a pending erasure, per dataset or `dataset.column`.
    pending: &'a BTreeMap<String, Vec<String>>,
    /// What marks a column as holding subjects.
    subjects: &'a SubjectKinds,
    /// The lake's subject ids, as fingerprints.
    leak_gate: &'a LeakGateFiles,
}

/// What writing one partition did.
struct PartitionOutcome {
    record: PartitionRecord,
    /// The file written and its inputs' fingerprint, when one was.
    written: Option<(PathBuf, String)>,
    /// The table's files the new one replaces.
    replaces: Vec<PathBuf>,
}

impl PartitionOutcome {
    /// A partition left as it is.
    fn untouched(record: PartitionRecord) -> Self {
        PartitionOutcome { record, written: None, replaces: Vec::new() }
    }
}

fn paths(written: &[(PathBuf, u64, String)]) -> Vec<PathBuf> {
    written.iter().map(|(f, _, _)| f.clone()).collect()
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
        let mut commit = TableCommit::default();
        let mut written = Vec::new();
        let mut changed = Vec::new();
        let mut replaced = Vec::new();
        let partitions = p.source.partitions();
        let current = &current;
        let outcomes = partitions.iter().map(|(partition, files)| async move {
            let existing: Vec<&TableFile> = current.iter().filter(|f| &f.partition == partition).collect();
            (partition, self.partition(p, partition, files, &existing).await)
        });
        // A cluster runs several partitions' jobs at once; here, one partition at a time
        // already keeps every core busy, and memory holds one.
        let mut outcomes = futures::stream::iter(outcomes).buffered(self.jobs_in_flight);
        while let Some((partition, outcome)) = outcomes.next().await {
            match outcome {
                Ok(PartitionOutcome { record: part, written: output, replaces }) => {
                    progress(RunEvent::Partition { dataset: name, partition, status: part.status, rows: part.rows });
                    if let Some((file, fingerprint)) = output {
                        record.rows_written += part.rows;
                        changed.push(partition.clone());
                        written.push((file, part.rows, fingerprint));
                        replaced.extend(replaces);
                    }
                    record.partitions.push(part);
                }
                Err(e) => {
                    abandon(&paths(&written), record);
                    return Err((partition.clone(), e));
                }
            }
        }
        drop(outcomes);
        if !written.is_empty() {
            // The risk gate: the table as this commit would publish it, new files and kept ones.
            let kept: Vec<PathBuf> = current.iter().filter(|f| !replaced.contains(&f.path)).map(|f| f.path.clone()).collect();
            match self.evaluate(p, &kept, &mut written).await {
                Ok(evaluation) => record.risk = Some(evaluation),
                Err(e) => {
                    abandon(&paths(&written), record);
                    return Err((String::new(), e));
                }
            }
        }
        for (file, rows, fingerprint) in &written {
            if let Err(e) = commit.add(&lake.dataset_dir(Zone::Deid, name), file, *rows, Some(fingerprint), self.run_id) {
                abandon(&paths(&written), record);
                return Err((String::new(), e.into()));
            }
        }
        for f in current.iter().filter(|f| replaced.contains(&f.path)) {
            commit.remove(f);
        }
        let written = paths(&written);
        if !commit.is_empty() {
            let operation = TableOperation::Run { run_id: self.run_id.to_string(), partitions: changed };
            let committed = async {
                self.lock.map(LakeLock::ensure_held).transpose()?;
                Ok::<_, RunError>(commit.commit(&lake.dataset_dir(Zone::Deid, name), table.as_ref(), &operation).await?)
            };
            match committed.await {
                Ok(version) => record.table_version = Some(version),
                Err(e) => {
                    abandon(&written, record);
                    return Err((String::new(), e));
                }
            }
        }
        Ok(())
    }

    /// The risk gate: evaluates the table as a commit would publish it (the files `written`
    /// now and those `kept`) and refuses it below level 3. Where the pipeline allows local
    /// suppression and that suffices, the records of small classes in the files written now
    /// have their quasi-identifiers nulled first (each file replaced in `written`).
    async fn evaluate(&self, p: &DatasetRun, kept: &[PathBuf], written: &mut [(PathBuf, u64, String)]) -> Result<Evaluation, RunError> {
        let plan = &p.planned.plan;
        let name = &plan.name;
        let root = self.options.lake.dataset_dir(Zone::Deid, name);
        let failed = |e: datafusion::error::DataFusionError| RunError::Dataset {
            dataset: name.clone(),
            message: format!("risk evaluation: {}", lake::read::scrubbed(&e)),
        };
        let mut priors: Vec<ColumnPrior> = plan.columns.iter().filter_map(ColumnPlan::risk_prior).collect();
        // Partition values are published too (`dt`), and measured like any kept column.
        priors.extend(plan.partition_columns.iter().map(|c| ColumnPrior::partition_key(c, Prior::Measure)));
        let method = Method { sharing: plan.sharing, max_suppressed: plan.max_suppressed, subject: plan.subject.clone() };
        let published = |written: &[(PathBuf, u64, String)]| {
            paths(written)
                .into_iter()
                .chain(kept.iter().cloned())
                .map(|path| DataFile { path, format: FileFormat::Parquet })
                .collect::<Vec<_>>()
        };
        let started = std::time::Instant::now();
        let view = self.read_table(&root, &published(written)).await?;
        let evaluation = risk::evaluate(&view, &priors, &method).await.map_err(failed)?;
        let evaluation = match evaluation.suppression_suffices() {
            false => evaluation,
            true => {
                let small = risk::small_classes(&view, &evaluation).await.map_err(failed)?;
                for (file, _, _) in written.iter_mut() {
                    *file = self.suppress(plan, &root, file, &evaluation.quasi_identifiers, small.clone()).await?;
                }
                // A partition key cannot be nulled: with one among the quasi-identifiers the table
                // is counted again; otherwise the suppressed records are in no class.
                let sizes = match evaluation.quasi_identifiers.iter().any(|q| plan.partition_columns.contains(q)) {
                    true => {
                        let view = self.read_table(&root, &published(written)).await?;
                        risk::class_sizes(&view, &evaluation.quasi_identifiers, evaluation.counted_subject()).await.map_err(failed)?
                    }
                    false => evaluation.sizes.without_below(evaluation.min_class()),
                };
                evaluation.after_suppression(sizes, evaluation.figures.at_risk)
            }
        };
        let mut evaluation = Evaluation { seconds: started.elapsed().as_secs_f64(), ..evaluation };
        if !evaluation.level.publishable() {
            risk::explain(&view, &mut evaluation).await.map_err(failed)?;
            return Err(RunError::Risk { dataset: name.clone(), report: risk::report::refusal(name, &evaluation) });
        }
        Ok(evaluation)
    }

    /// The `files` of the table at `root` as readers will see it, read by the engine.
    async fn read_table(&self, root: &Path, files: &[DataFile]) -> Result<DataFrame, RunError> {
        let dataset = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        lake::read::read_dataset(&self.engine, root, files).await.map_err(|e| RunError::Dataset { dataset, message: e.to_string() })
    }

    /// Writes `file` (of the table at `root`, not yet committed) again with the
    /// quasi-identifiers `qis` of its records in `small` classes nulled, deletes it, and
    /// returns the new file.
    async fn suppress(
        &self,
        plan: &DatasetPlan,
        root: &Path,
        file: &Path,
        qis: &[String],
        small: Arc<MemTable>,
    ) -> Result<PathBuf, RunError> {
        let failed = |e: datafusion::error::DataFusionError| RunError::Dataset {
            dataset: plan.name.clone(),
            message: format!("local suppression of {}: {}", file.display(), lake::read::scrubbed(&e)),
        };
        let one = [DataFile { path: file.to_path_buf(), format: FileFormat::Parquet }];
        let df = lake::read::read_dataset(&self.local, root, &one)
            .await
            .map_err(|e| RunError::Dataset { dataset: plan.name.clone(), message: e.to_string() })?;
        let stored =
            lake::read::parquet_schema(file).map_err(|e| RunError::Dataset { dataset: plan.name.clone(), message: e.to_string() })?;
        let output: Vec<String> = stored.fields().iter().map(|f| f.name().clone()).collect();
        let suppressed = risk::suppress(&self.local, df, qis, small, &output).map_err(failed)?;
        let rewritten = file.with_extension("suppressed.parquet");
        let written = suppressed
            .write_parquet(
                &rewritten.display().to_string(),
                DataFrameWriteOptions::new().with_single_file_output(true),
                Some(deid_parquet_options(plan)),
            )
            .await;
        if let Err(e) = written {
            let _ = files::delete(&rewritten);
            return Err(failed(e));
        }
        files::delete(file).map_err(io_err(file))?;
        Ok(rewritten)
    }

    /// Writes `partition` of `p` unless its inputs and plan are unchanged (or the run is
    /// dry), and says what it did; the new file is to replace `existing` in the table.
    async fn partition(
        &self,
        p: &DatasetRun,
        partition: &str,
        files: &[DataFile],
        existing: &[&TableFile],
    ) -> Result<PartitionOutcome, RunError> {
        let root = self.options.lake.dataset_dir(Zone::Deid, p.planned.name());
        let out_dir = if partition.is_empty() { root.clone() } else { root.join(partition) };
        let inputs = inputs_of(files)?;
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
        let unchanged = match existing {
            [one] if one.fingerprint.as_deref() == Some(fingerprint.as_str()) => Some(*one),
            _ => None,
        };
        let record = |status, rows, output: &Path| PartitionRecord {
            partition: partition.to_string(),
            status,
            inputs: inputs.iter().map(|(r, _)| r.clone()).collect(),
            output: output.display().to_string(),
            rows,
        };
        match (unchanged, self.options.force, self.options.dry_run) {
            (Some(f), false, _) => Ok(PartitionOutcome::untouched(record(PartitionStatus::Unchanged, f.rows.unwrap_or_default(), &f.path))),
            (_, _, true) => Ok(PartitionOutcome::untouched(record(PartitionStatus::Planned, 0, &out_dir))),
            _ => {
                let output = out_dir.join(format!("part-00000-{}.parquet", self.run_id));
                let rows = match self.write(p, files, &output, partition).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        let _ = files::delete(&output);
                        return Err(e);
                    }
                };
                Ok(PartitionOutcome {
                    record: record(PartitionStatus::Written, rows, &output),
                    replaces: existing.iter().map(|f| f.path.clone()).collect(),
                    written: Some((output, fingerprint)),
                })
            }
        }
    }

    /// Streams one partition through the plan into `output`, a file no version references
    /// yet, and checks it.
    async fn write(&self, p: &DatasetRun, files: &[DataFile], output: &Path, partition: &str) -> Result<u64, RunError> {
        let plan = &p.planned.plan;
        let name = &plan.name;
        // Scrubbed: a cast or parse error quotes the value it failed on.
        let df_err = |e: datafusion::error::DataFusionError| RunError::Dataset {
            dataset: name.clone(),
            message: format!(
                "partition {}: {}",
                if partition.is_empty() { "(all)" } else { partition },
                crate::cluster::find_key_refusal(&e.to_string()).unwrap_or_else(|| lake::read::scrubbed(&e))
            ),
        };
        let df =
            lake::read_files(&self.engine, files).await.map_err(|e| RunError::Dataset { dataset: name.clone(), message: e.to_string() })?;
        let mut exprs = Vec::new();
        for field in df.schema().fields() {
            let Some(c) = plan.columns.iter().find(|c| &c.name == field.name()) else {
                return Err(RunError::Dataset {
                    dataset: name.clone(),
                    message: format!(
                        "column `{}` appears in partition {partition} but was not in the classified sample; nothing was written for it (rescan with a larger --sample-rows)",
                        field.name()
                    ),
                });
            };
            exprs.extend(column_expr(c, &self.udfs));
        }
        if exprs.is_empty() {
            return Err(RunError::Dataset { dataset: name.clone(), message: "every column is dropped; nothing to write".into() });
        }
        let mut df = df.select(exprs).map_err(df_err)?;
        for (ref_key, subject) in p.planned.subject_columns(self.subjects) {
            // Subjects with a pending erasure: their raw rows are held by a legal floor, but
            // they never reach the de-identified zone again (nor as the other party).
            if let Some(refs) = self.pending.get(&ref_key) {
                df = df.filter(subject.matches(Zone::Deid, refs, &self.udfs.hash).is_not_true()).map_err(df_err)?;
            }
        }

        let out_dir = output.parent().expect("a data file is in its table");
        files::create_dir_all(out_dir).map_err(io_err(out_dir))?;
        let parquet = deid_parquet_options(plan);
        let written = df
            .write_parquet(&output.display().to_string(), DataFrameWriteOptions::new().with_single_file_output(true), Some(parquet))
            .await
            .map_err(df_err)?;
        let rows =
            written.first().and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>().map(|a| a.value(0))).unwrap_or(0);

        // The leak gate: every kept value of every row is checked against the partition's raw
        // values of the columns the plan protects and the lake's subject ids; then every row of
        // the output is classified as `piguard verify` would, except columns kept with a reason.
        let reasoned: Vec<String> = plan.columns.iter().filter(|c| c.reason.is_some()).map(|c| c.name.clone()).collect();
        let check = DatasetSource {
            name: name.clone(),
            path: output.to_path_buf(),
            files: vec![DataFile { path: output.to_path_buf(), format: FileFormat::Parquet }],
            partition_columns: Vec::new(),
        };
        let lake_err = |e: lake::LakeError| RunError::Dataset { dataset: name.clone(), message: e.to_string() };
        let findings = if rows == 0 {
            Vec::new()
        } else {
            let subjects = self.leak_gate.subjects(&self.engine).await?;
            let (kept, protected) = (plan.kept_columns(), plan.protected_columns());
            let checked = check_identifiers(&self.engine, &check, &kept, rows as usize, files, &protected, subjects).await;
            let mut findings = checked.map_err(lake_err)?;
            // Every row, except columns found already or kept with a reason, and those whose
            // kernel cannot output PI: pseudonyms (HMAC digests) and numbers or times rounded
            // by a generalization (checking them took a seventh of the benchmark's run).
            let flagged: Vec<String> = findings.iter().map(|f| f.column.clone()).chain(reasoned).collect();
            let cannot_hold_pi = |c: &&ColumnPlan| match &c.step {
                Step::Hash { .. } | Step::Drop => true,
                Step::Generalize { generalization } => generalization.yields_only_coarse_numbers(),
                _ => false,
            };
            let judged: Vec<String> =
                plan.columns.iter().filter(|c| !cannot_hold_pi(c) && !flagged.contains(&c.name)).map(|c| c.name.clone()).collect();
            // On a cluster, executors judge the rows and return counts.
            findings.extend(check_all_rows(&self.engine, &check, &self.classifier, &judged).await.map_err(lake_err)?);
            findings
        };
        if !findings.is_empty() {
            return Err(RunError::Leak { dataset: name.clone(), partition: partition.to_string(), findings });
        }
        Ok(rows)
    }
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
