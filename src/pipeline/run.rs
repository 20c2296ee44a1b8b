//! `piguard run`: de-identify the raw zone into the analytics zone.
//!
//! Commit points, in order, per partition: the output is streamed by DataFusion into a
//! hidden temporary file in the partition's directory; the leak gate checks it; it is
//! renamed over `part-00000.parquet` (atomic, so readers see the old file or the new one);
//! then a marker records the inputs' fingerprint, so an unchanged partition is skipped next
//! time. A kill at any moment leaves every visible file complete; the next run removes
//! leftover temporaries and redoes what has no marker.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use datafusion::common::Column;
use datafusion::config::{ParquetColumnOptions, TableParquetOptions};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::logical_expr::{Expr, ScalarUDF};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext, lit};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::plan::{ColumnPlan, DatasetPlan, Origin, Step, resolve};
use super::spec::{PipelineSpec, SpecError};
use crate::audit::{AuditError, AuditLog};
use crate::classify::Classifier;
use crate::export::{self, ExportError, ExportPlan, ExportRecord};
use crate::inventory::{classify_dataset, DEFAULT_SAMPLE_ROWS};
use crate::lake::{self, DataFile, DatasetSource, FileFormat, LakeLock, LockError, TMP_PREFIX, write_atomic};
use crate::transform::udf::{GeneralizeUdf, HashUdf, MaskUdf, RedactUdf};
use crate::transform::{PseudonymKey, RedactStyle};
use crate::retention::RetentionPolicy;
use crate::retention::erasure::{ErasureLedger, LedgerError, SubjectColumn, Zone, pending_subjects};
use crate::verify::{Finding, check_dataset};

/// The file each output partition holds.
pub const OUTPUT_FILE: &str = "part-00000.parquet";
/// The marker recording what a partition was made from.
pub const MARKER_FILE: &str = "_piguard_partition.json";
/// The codec of what piguard writes to the de-identified zone.
pub const DEID_COMPRESSION: &str = "zstd(1)";
/// Rows per Parquet row group in what piguard writes.
pub(crate) const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Why a run stopped. None of these carries a value from the data.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{path}: no such dataset in the raw zone (expected LAKE/raw/<name>/ with data files)")]
    NoRaw { path: PathBuf },
    #[error("dataset {dataset}: {message}")]
    Dataset { dataset: String, message: String },
    #[error("nothing was written: {} problem(s) in the pipeline\n{}", .0.len(), .0.iter().map(|(d, p)| format!("  dataset {d}: {p}")).collect::<Vec<_>>().join("\n"))]
    FailClosed(Vec<(String, String)>),
    #[error("dataset {dataset}, partition {partition}: the output still holds raw PI, so it was not published\n{}", .findings.iter().map(|f| format!("  column {}: {} ({} of {} sampled values)", f.column, f.category, f.values_matched, f.values_checked)).collect::<Vec<_>>().join("\n"))]
    Leak { dataset: String, partition: String, findings: Vec<Finding> },
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
}

impl RunError {
    /// 1 for a refusal by policy (the leak gate), 2 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Leak { .. } => 1,
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
    /// The lake root.
    pub lake: PathBuf,
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Plan and report, write nothing.
    pub dry_run: bool,
    /// Rewrite partitions even when their inputs are unchanged.
    pub force: bool,
    /// Rows sampled per dataset to classify its columns.
    pub sample_rows: usize,
}

impl RunOptions {
    /// Options with defaults for `pipeline` on `lake`.
    pub fn new(lake: impl Into<PathBuf>, pipeline: impl Into<PathBuf>) -> Self {
        RunOptions { lake: lake.into(), pipeline: pipeline.into(), dry_run: false, force: false, sample_rows: DEFAULT_SAMPLE_ROWS }
    }
}

/// What happened to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionStatus {
    Written,
    Unchanged,
    /// Dry run: would be written.
    Planned,
}

/// Progress, for the terminal or the log.
#[derive(Debug, Clone)]
pub enum RunEvent<'a> {
    /// Planning done: datasets and partitions in total.
    Planned { datasets: usize, partitions: usize },
    /// A partition was handled.
    Partition { dataset: &'a str, partition: &'a str, status: PartitionStatus, rows: u64 },
}

/// One partition in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub partition: String,
    pub status: PartitionStatus,
    pub inputs: Vec<InputRecord>,
    pub output: String,
    pub rows: u64,
}

/// One input file in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRecord {
    pub path: String,
    pub bytes: u64,
}

/// One column in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnRecord {
    pub name: String,
    pub data_type: String,
    pub category: String,
    pub sensitivity: String,
    pub action: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub params: String,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One dataset in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetRecord {
    pub name: String,
    pub subject: Option<String>,
    pub input: String,
    pub output: String,
    pub columns: Vec<ColumnRecord>,
    pub partitions: Vec<PartitionRecord>,
    pub rows_written: u64,
}

/// `LAKE/_piguard/runs/<run-id>/manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub run_id: String,
    pub piguard_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub pipeline: String,
    pub pipeline_sha256: String,
    pub key_id: String,
    pub classifier_version: String,
    pub dry_run: bool,
    pub forced: bool,
    pub datasets: Vec<DatasetRecord>,
    pub exports: Vec<ExportRecord>,
}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    pub manifest: Manifest,
    /// Where the manifest was written (none for a dry run).
    pub manifest_path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct Marker {
    fingerprint: String,
    rows: u64,
    run_id: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id()) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

fn inputs_of(files: &[DataFile]) -> Result<Vec<(InputRecord, u128)>, RunError> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(&f.path).map_err(io_err(&f.path))?;
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            Ok((InputRecord { path: f.path.display().to_string(), bytes: meta.len() }, mtime))
        })
        .collect()
}

fn column_records(plan: &DatasetPlan) -> Vec<ColumnRecord> {
    plan.columns
        .iter()
        .map(|c| ColumnRecord {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
            category: c.category.to_string(),
            sensitivity: c.sensitivity.to_string(),
            action: c.step.action().to_string(),
            params: c.step.params(),
            origin: c.origin,
            reason: c.reason.clone(),
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
        Step::Generalize(g) => udfs.generalize.call(vec![input, lit(g.to_string())]),
        Step::Redact(style) => udfs.redact.call(vec![input, lit(if *style == RedactStyle::Tag { "tag" } else { "mask" })]),
    };
    Some(out.alias(&c.name))
}

struct Udfs {
    hash: ScalarUDF,
    mask: ScalarUDF,
    generalize: ScalarUDF,
    redact: ScalarUDF,
}

/// How de-identified partitions are written (by `run` and by erasure's rewrites).
pub(crate) fn deid_parquet_options(plan: &DatasetPlan) -> TableParquetOptions {
    let mut parquet = TableParquetOptions::default();
    // The writer buffers a whole row group; with 64-character pseudonyms DataFusion's default
    // of ~1M rows holds ~200 MB. 128Ki rows bounds memory (measured flat at 2M and 20M rows),
    // parallelizes serialization better, and lets erasure skip finer-grained row groups.
    parquet.global.max_row_group_size = ROW_GROUP_ROWS;
    // zstd level 1 rather than DataFusion's 3: the benchmark's output came out the same size
    // for a tenth less CPU. Pseudonyms are 64 high-entropy characters that no level finds
    // matches in; their 2x comes from entropy coding alone.
    parquet.global.compression = Some(DEID_COMPRESSION.into());
    for c in plan.columns.iter().filter(|c| matches!(c.step, Step::Hash { .. })) {
        // Pseudonyms are uniformly random and mostly distinct, and each setting below was
        // measured on the benchmark's whole run:
        // - no dictionary: it only costs time before the writer falls back to plain;
        // - delta-length encoding stores the lengths apart from the digits, so zstd sees pure
        //   hex and skips through it instead of matching every 4-byte length prefix (22% less
        //   CPU, 5% smaller output);
        // - no statistics: the min and max of random digests span the whole range in every
        //   page and row group and prune nothing (10% less CPU). Lookups by pseudonym use the
        //   subject's bloom filter.
        parquet.column_specific_options.insert(
            c.name.clone(),
            ParquetColumnOptions {
                dictionary_enabled: Some(false),
                encoding: Some("delta_length_byte_array".into()),
                statistics_enabled: Some("none".into()),
                ..Default::default()
            },
        );
    }
    if let Some(subject) = &plan.subject {
        // Erasure finds a subject's rows through statistics and bloom filters.
        parquet.column_specific_options.entry(subject.clone()).or_default().bloom_filter_enabled = Some(true);
    }
    parquet
}

/// A dataset ready to run: its files, its resolved plan and its retention.
#[derive(Debug, Clone)]
pub struct Planned {
    pub source: DatasetSource,
    pub plan: DatasetPlan,
    /// Fingerprint of the plan, the version and the key id: a change rewrites every partition.
    pub plan_hash: String,
    /// How an erasure finds a person in it, when the pipeline names a subject column.
    pub subject: Option<SubjectColumn>,
    pub retention: RetentionPolicy,
}

/// Plans every dataset and export of `spec` against the lake's raw zone before anything is
/// written. Fails closed with every problem listed: PI without an action, a subject column
/// that erasure could not find again, a retention policy below a legal floor.
pub fn plan_pipeline(
    lake_root: &Path,
    spec: &PipelineSpec,
    key_id: &str,
    classifier: &Classifier,
    sample_rows: usize,
) -> Result<(Vec<Planned>, Vec<ExportPlan>), RunError> {
    let mut planned = Vec::new();
    let mut problems = Vec::new();
    for d in &spec.datasets {
        let raw = lake_root.join("raw").join(&d.name);
        if !raw.is_dir() {
            return Err(RunError::NoRaw { path: raw });
        }
        let source = match lake::discover(&raw).datasets.into_iter().next() {
            Some(Ok(s)) => s,
            Some(Err((_, _, e))) => return Err(RunError::Dataset { dataset: d.name.clone(), message: e.to_string() }),
            None => return Err(RunError::NoRaw { path: raw }),
        };
        let inventory = classify_dataset(&source, classifier, sample_rows)
            .map_err(|f| RunError::Dataset { dataset: d.name.clone(), message: f.error })?;
        let mut plan = match resolve(d, &inventory.columns) {
            Ok(plan) => plan,
            Err(ps) => {
                problems.extend(ps.into_iter().map(|p| (d.name.clone(), p)));
                continue;
            }
        };
        plan.partition_columns = source.partition_columns.clone();
        let subject = match SubjectColumn::of(&plan) {
            Ok(s) => s,
            Err(problem) => {
                problems.push((d.name.clone(), problem));
                continue;
            }
        };
        let retention = match RetentionPolicy::resolve(&plan, spec.retention.get(&d.name)) {
            Ok(r) => r,
            Err(p) => {
                problems.push((d.name.clone(), format!("[retention.{}]: {p}", d.name)));
                continue;
            }
        };
        let described: Vec<(String, String, String, String)> = plan
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.step.action().to_string(), c.step.params(), c.category.to_string()))
            .collect();
        let plan_hash =
            sha256_hex(serde_json::to_string(&(env!("CARGO_PKG_VERSION"), key_id, described)).expect("serializes").as_bytes());
        planned.push(Planned { source, plan, plan_hash, subject, retention });
    }
    let mut exports = Vec::new();
    let dataset_plans: Vec<DatasetPlan> = planned.iter().map(|p| p.plan.clone()).collect();
    for e in &spec.exports {
        match export::plan(e, &dataset_plans) {
            Ok(plan) => exports.push(plan),
            Err(ps) => problems.extend(ps.into_iter().map(|p| (format!("{} (export {})", e.from, e.name), p))),
        }
    }
    if problems.is_empty() { Ok((planned, exports)) } else { Err(RunError::FailClosed(problems)) }
}

/// Runs a pipeline. Nothing is written when the pipeline fails closed.
pub async fn run(
    options: &RunOptions,
    key: &PseudonymKey,
    classifier: &Classifier,
    progress: &mut dyn FnMut(RunEvent<'_>),
) -> Result<RunReport, RunError> {
    let started_at = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let spec = PipelineSpec::load(&options.pipeline)?;
    let pipeline_bytes = std::fs::read(&options.pipeline).map_err(io_err(&options.pipeline))?;
    let key_id = key.id();

    let (planned, exports) = plan_pipeline(&options.lake, &spec, &key_id, classifier, options.sample_rows)?;

    let run_id = new_run_id();
    let piguard_dir = options.lake.join("_piguard");
    let lock = if options.dry_run { None } else { Some(LakeLock::acquire(&options.lake)?) };
    // Read under the lock: an erase that finished a moment ago is honoured.
    let pending = pending_subjects(&ErasureLedger::of_lake(&options.lake).open_requests()?, &key_id)?;

    let total: usize = planned.iter().map(|p| p.source.partitions().len()).sum();
    progress(RunEvent::Planned { datasets: planned.len(), partitions: total });

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    let udfs = Udfs {
        hash: ScalarUDF::new_from_impl(HashUdf::new(key.clone())),
        mask: ScalarUDF::new_from_impl(MaskUdf::default()),
        generalize: ScalarUDF::new_from_impl(GeneralizeUdf::default()),
        redact: ScalarUDF::new_from_impl(RedactUdf::default()),
    };

    let mut records = Vec::new();
    for p in &planned {
        let out_root = options.lake.join("deid").join(&p.plan.name);
        if !options.dry_run {
            lake::remove_temporaries(&out_root, TMP_PREFIX).map_err(io_err(&out_root))?;
        }
        let mut parts = Vec::new();
        let mut rows_written = 0;
        for (partition, files) in p.source.partitions() {
            let out_dir = if partition.is_empty() { out_root.clone() } else { out_root.join(&partition) };
            let output = out_dir.join(OUTPUT_FILE);
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
            let marker_path = out_dir.join(MARKER_FILE);
            let previous: Option<Marker> = std::fs::read(&marker_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let unchanged = previous.as_ref().filter(|m| m.fingerprint == fingerprint && output.is_file());
            let (status, rows) = match (unchanged, options.force, options.dry_run) {
                (Some(m), false, _) => (PartitionStatus::Unchanged, m.rows),
                (_, _, true) => (PartitionStatus::Planned, 0),
                _ => {
                    let rows = write_partition(&ctx, &udfs, p, &files, &out_dir, &run_id, classifier, &partition, pending.get(&p.plan.name)).await?;
                    let marker = Marker { fingerprint, rows, run_id: run_id.clone() };
                    write_atomic(&marker_path, &serde_json::to_vec_pretty(&marker).expect("serializes")).map_err(io_err(&marker_path))?;
                    rows_written += rows;
                    (PartitionStatus::Written, rows)
                }
            };
            progress(RunEvent::Partition { dataset: &p.plan.name, partition: &partition, status, rows });
            parts.push(PartitionRecord {
                partition,
                status,
                inputs: inputs.into_iter().map(|(r, _)| r).collect(),
                output: output.display().to_string(),
                rows,
            });
        }
        records.push(DatasetRecord {
            name: p.plan.name.clone(),
            subject: p.plan.subject.clone(),
            input: p.source.path.display().to_string(),
            output: out_root.display().to_string(),
            columns: column_records(&p.plan),
            partitions: parts,
            rows_written,
        });
    }

    let mut export_records = Vec::new();
    if !options.dry_run {
        for e in &exports {
            export_records.push(export::write(&options.lake, e, &run_id).await?);
        }
    }

    let manifest = Manifest {
        run_id: run_id.clone(),
        piguard_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        pipeline: options.pipeline.display().to_string(),
        pipeline_sha256: sha256_hex(&pipeline_bytes),
        key_id,
        classifier_version: classifier.rules().version(),
        dry_run: options.dry_run,
        forced: options.force,
        datasets: records,
        exports: export_records,
    };
    if options.dry_run {
        return Ok(RunReport { manifest, manifest_path: None });
    }
    let manifest_path = piguard_dir.join("runs").join(&run_id).join("manifest.json");
    write_atomic(&manifest_path, &serde_json::to_vec_pretty(&manifest).expect("serializes")).map_err(io_err(&manifest_path))?;
    let count = |s: PartitionStatus| manifest.datasets.iter().flat_map(|d| &d.partitions).filter(|p| p.status == s).count();
    let mut event = Map::new();
    event.insert("action".into(), Value::from("run"));
    event.insert("run_id".into(), Value::from(run_id));
    event.insert("pipeline".into(), Value::from(manifest.pipeline.clone()));
    event.insert("pipeline_sha256".into(), Value::from(manifest.pipeline_sha256.clone()));
    event.insert("key_id".into(), Value::from(manifest.key_id.clone()));
    event.insert("datasets".into(), Value::from(manifest.datasets.len()));
    event.insert("partitions_written".into(), Value::from(count(PartitionStatus::Written)));
    event.insert("partitions_unchanged".into(), Value::from(count(PartitionStatus::Unchanged)));
    event.insert("exports".into(), Value::from(manifest.exports.iter().map(|e| format!("{} ({} rows, {} suppressed)", e.export, e.rows_published, e.rows_suppressed)).collect::<Vec<_>>()));
    event.insert("rows_written".into(), Value::from(manifest.datasets.iter().map(|d| d.rows_written).sum::<u64>()));
    AuditLog::of_lake(&options.lake).append(event)?;
    drop(lock);
    Ok(RunReport { manifest, manifest_path: Some(manifest_path) })
}

/// Streams one partition through the plan into a temporary file, checks it, and publishes it.
#[allow(clippy::too_many_arguments)]
async fn write_partition(
    ctx: &SessionContext,
    udfs: &Udfs,
    p: &Planned,
    files: &[DataFile],
    out_dir: &Path,
    run_id: &str,
    classifier: &Classifier,
    partition: &str,
    erased: Option<&Vec<String>>,
) -> Result<u64, RunError> {
    let name = &p.plan.name;
    let df_err = |e: datafusion::error::DataFusionError| RunError::Dataset {
        dataset: name.clone(),
        message: format!("partition {}: {e}", if partition.is_empty() { "(all)" } else { partition }),
    };
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    let df = match files[0].format {
        FileFormat::Parquet => ctx.read_parquet(paths, ParquetReadOptions::default()).await,
        FileFormat::Csv => {
            // Every CSV column as text, as `scan` saw it: phone numbers keep leading zeros.
            let schema = arrow::datatypes::Schema::new(
                p.plan.columns.iter().map(|c| arrow::datatypes::Field::new(&c.name, arrow::datatypes::DataType::Utf8, true)).collect::<Vec<_>>(),
            );
            ctx.read_csv(paths, CsvReadOptions::new().has_header(true).schema(&schema)).await
        }
        FileFormat::Json => {
            let ext = files[0].path.extension().and_then(|e| e.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
            ctx.read_json(paths, JsonReadOptions::default().file_extension(&ext)).await
        }
    }
    .map_err(df_err)?;
    let mut exprs = Vec::new();
    for field in df.schema().fields() {
        let Some(c) = p.plan.columns.iter().find(|c| &c.name == field.name()) else {
            return Err(RunError::Dataset {
                dataset: name.clone(),
                message: format!("column `{}` appears in partition {partition} but was not in the classified sample; nothing was written for it (rescan with a larger --sample-rows)", field.name()),
            });
        };
        exprs.extend(column_expr(c, udfs));
    }
    if exprs.is_empty() {
        return Err(RunError::Dataset { dataset: name.clone(), message: "every column is dropped; nothing to write".into() });
    }
    let mut df = df.select(exprs).map_err(df_err)?;
    if let (Some(refs), Some(subject)) = (erased, &p.subject) {
        // Subjects with a pending erasure: their raw rows are held by a legal floor, but
        // they never reach the de-identified zone again.
        df = df.filter(subject.matches(Zone::Deid, refs, &udfs.hash).is_not_true()).map_err(df_err)?;
    }

    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let tmp = out_dir.join(format!("{TMP_PREFIX}{run_id}-{OUTPUT_FILE}"));
    let parquet = deid_parquet_options(&p.plan);
    let written = df
        .write_parquet(&tmp.display().to_string(), DataFrameWriteOptions::new().with_single_file_output(true), Some(parquet))
        .await
        .map_err(df_err)?;
    let rows = written
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>().map(|a| a.value(0)))
        .unwrap_or(0);

    // The leak gate: the output is checked as `piguard verify` would, except columns that the
    // pipeline keeps with a reason.
    let reasoned: Vec<String> = p.plan.columns.iter().filter(|c| c.reason.is_some()).map(|c| c.name.clone()).collect();
    let check = DatasetSource {
        name: name.clone(),
        path: tmp.clone(),
        files: vec![DataFile { path: tmp.clone(), format: FileFormat::Parquet }],
        partition_columns: Vec::new(),
    };
    let findings = if rows == 0 {
        Vec::new()
    } else {
        check_dataset(&check, classifier, DEFAULT_SAMPLE_ROWS, &reasoned)
            .map_err(|e| RunError::Dataset { dataset: name.clone(), message: e.to_string() })?
    };
    if !findings.is_empty() {
        let _ = std::fs::remove_file(&tmp);
        return Err(RunError::Leak { dataset: name.clone(), partition: partition.to_string(), findings });
    }
    let output = out_dir.join(OUTPUT_FILE);
    lake::publish(&tmp, &output).map_err(io_err(&output))?;
    Ok(rows)
}

/// The key id and column actions, as a dry run prints them.
pub fn describe_plan(manifest: &Manifest) -> String {
    let mut out = String::new();
    for d in &manifest.datasets {
        let todo = d.partitions.iter().filter(|p| p.status != PartitionStatus::Unchanged).count();
        out.push_str(&format!("{}: {} partition(s), {} to write\n", d.name, d.partitions.len(), todo));
        for c in &d.columns {
            let params = if c.params.is_empty() { String::new() } else { format!(" ({})", c.params) };
            let reason = c.reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default();
            out.push_str(&format!("  {:<20} {:<17} {}{}{}\n", c.name, c.category, c.action, params, reason));
        }
    }
    out
}
