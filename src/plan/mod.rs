//! The plan: every decision a command makes before it touches data, made once. A
//! [`PipelinePlan`] resolves a pipeline against the lake's raw zone and one classifier (the
//! builtin rules plus `--classifiers`): each column's category, action, parameters and
//! pseudonym domain, the subject column, retention, and the exports. Every problem is
//! returned as a typed [`PlanProblem`], all at once, before anything is written. Runs record
//! their plan in the manifest ([`manifest`]), where `purge` and `erase` load it.

pub mod auto;
pub mod columns;
pub mod export;
pub mod manifest;
pub mod retention;
pub mod spec;
pub mod subject;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use datafusion::config::{ParquetColumnOptions, TableParquetOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use columns::{ColumnPlan, DatasetPlan, Origin, Step};
pub use export::ExportPlan;
pub use manifest::{Manifest, SealedManifests, WrittenDataset};
pub use retention::RetentionPolicy;
pub use spec::{PipelineSpec, SpecError};
pub use subject::SubjectColumn;

use crate::category::{Action, Category, Sensitivity};
use crate::classify::Classifier;
use crate::inventory::classify_sample;
use crate::lake::{self, DatasetSource, Lake, Zone};
use manifest::ClassifierRecord;

/// The codec of what piguard writes to the de-identified zone.
pub const DEID_COMPRESSION: &str = "zstd(1)";
/// Rows per Parquet row group in what piguard writes.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// One reason a pipeline cannot run as written. Names datasets, columns and files, never a
/// value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanProblem {
    #[error("dataset {dataset}: {path}: no such dataset in the raw zone (expected LAKE/raw/<name>/ with data files)")]
    NoRaw { dataset: String, path: PathBuf },
    #[error("dataset {dataset}: {message}")]
    Unreadable { dataset: String, message: String },
    #[error("dataset {dataset}: column `{column}` is in the pipeline but not in the dataset")]
    UnknownColumn { dataset: String, column: String },
    #[error(
        "dataset {dataset}: `columns.default` names no column of the dataset: the action of unlisted columns is now `default_action = \"auto\"` (or another action) in the [[dataset]]"
    )]
    LegacyDefault { dataset: String },
    #[error("dataset {dataset}: column `{column}`: {step} does not apply to its type {data_type}: choose an action that does, or drop it")]
    ActionDoesNotFit { dataset: String, column: String, step: String, data_type: String },
    #[error("dataset {dataset}: subject column `{column}` is not in the dataset")]
    MissingSubject { dataset: String, column: String },
    #[error("dataset {dataset}: column `{column}` holds PI ({category}, {sensitivity}) and has no action")]
    NoAction { dataset: String, column: String, category: Category, sensitivity: Sensitivity },
    #[error(
        "dataset {dataset}: column `{column}`: {category} column ({sensitivity}) would be kept as it is: transform it, drop it, or keep it with a `reason`"
    )]
    KeptWithoutReason { dataset: String, column: String, category: Category, sensitivity: Sensitivity },
    #[error(
        "dataset {dataset}: column `{column}` is nested or binary ({data_type}): nothing can check what it holds, so the pipeline must decide it: drop it, or keep it with a `reason`"
    )]
    UndecidedOpaque { dataset: String, column: String, data_type: String },
    #[error("dataset {dataset}: column `{column}`: generalize needs parameters for a {category} column: grid, geohash, time, bucket or to")]
    GeneralizeNeedsParameters { dataset: String, column: String, category: Category },
    #[error(
        "dataset {dataset}: subject column `{column}` has action `{action}`, so an erasure could not find the person's rows in the de-identified zone: hash it or keep it"
    )]
    SubjectNotFindable { dataset: String, column: String, action: Action },
    #[error("dataset {dataset}: [retention.{dataset}]: {message}")]
    Retention { dataset: String, message: String },
    #[error("dataset {from} (export {export}): {message}")]
    Export { export: String, from: String, message: String },
    #[error(
        "dataset {dataset}: column `{column}` is {first} but {other}: one table cannot hold both, and times of two kinds cannot be dated or generalized alike; rewrite the files to one type"
    )]
    MixedTypes { dataset: String, column: String, first: String, other: String },
}

/// The first column of `source`'s Parquet files whose type is of another kind (text, number,
/// time) in one file than in another, as a problem naming both files; `Ok` when they agree
/// (the footers alone are read). CSV and JSON types are inferred as they are read.
fn mixed_types(dataset: &str, source: &DatasetSource) -> Result<(), PlanProblem> {
    use crate::classify::TypeKind;
    let mut first: std::collections::HashMap<String, (TypeKind, String, String)> = std::collections::HashMap::new();
    for file in source.files.iter().filter(|f| f.format == lake::FileFormat::Parquet) {
        let schema = lake::read::parquet_schema(&file.path)
            .map_err(|e| PlanProblem::Unreadable { dataset: dataset.to_string(), message: e.to_string() })?;
        for field in schema.fields() {
            let shown = lake::sample::reported_type(field.data_type());
            let kind = TypeKind::of(&shown);
            let path = file.path.display().to_string();
            match first.get(field.name()) {
                Some((k, t, at)) if *k != kind => {
                    return Err(PlanProblem::MixedTypes {
                        dataset: dataset.to_string(),
                        column: field.name().clone(),
                        first: format!("{t} in {at}"),
                        other: format!("{shown} in {path}"),
                    });
                }
                Some(_) => {}
                None => {
                    first.insert(field.name().clone(), (kind, shown, path));
                }
            }
        }
    }
    Ok(())
}

/// Why a plan could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("nothing was written: {} problem(s) in the pipeline\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<PlanProblem>),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(
        "dataset {dataset}: no run has written it yet, so there is no plan to take its subject column and retention from: run the pipeline first"
    )]
    NotRun { dataset: String },
    #[error(
        "lake {lake}: no run has written it yet, so there are no plans to take subject columns and retention from: run the pipeline first"
    )]
    NothingRun { lake: PathBuf },
    #[error(
        "{path} (sha256 {sha256}) is not the pipeline dataset {dataset} was last run with (run {run_id}, sha256 {recorded}): its retention would apply to data no run planned with it; run it first (`piguard run {path}`), or pass the file that run read"
    )]
    OtherPipeline { path: PathBuf, sha256: String, dataset: String, run_id: String, recorded: String },
}

/// Everything decided about one dataset: its columns, its subject column and its retention.
/// Written into the run manifest and loaded from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedDataset {
    #[serde(flatten)]
    pub plan: DatasetPlan,
    /// How an erasure finds a person in it, when the pipeline names a subject column.
    pub subject_column: Option<SubjectColumn>,
    pub retention: RetentionPolicy,
}

impl PlannedDataset {
    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// The columns a subject is found in, each with the key an erasure request records its
    /// pseudonym under: the subject column (`dataset`), and every other column hashed in
    /// one of the subject domains or as one of the subject columns' categories, in whatever
    /// domain (`dataset.column`), such as the other party of a message.
    pub fn subject_columns(&self, kinds: &SubjectKinds) -> Vec<(String, SubjectColumn)> {
        let own = self.subject_column.iter().map(|s| (self.name().to_string(), s.clone()));
        let others = self.plan.columns.iter().filter_map(|c| match &c.step {
            Step::Hash { domain, category }
                if (kinds.domains.contains(domain) || kinds.categories.contains(category))
                    && self.subject_column.as_ref().is_none_or(|s| s.column != c.name) =>
            {
                let column = SubjectColumn { column: c.name.clone(), domain: domain.clone(), category: *category, hashed: true };
                Some((format!("{}.{}", self.name(), c.name), column))
            }
            _ => None,
        });
        own.chain(others).collect()
    }
}

/// What marks a column as holding a lake's subjects: hashed in the pseudonym domain of a
/// subject column, or hashed as a subject column's category (an id of the same kind, put in
/// a domain of its own).
#[derive(Debug, Clone, Default)]
pub struct SubjectKinds {
    pub domains: BTreeSet<String>,
    pub categories: Vec<Category>,
}

/// The domains and categories of the subject columns of `datasets`.
pub fn subject_kinds<'a>(datasets: impl IntoIterator<Item = &'a PlannedDataset>) -> SubjectKinds {
    let mut kinds = SubjectKinds::default();
    for s in datasets.into_iter().filter_map(|d| d.subject_column.as_ref()) {
        kinds.domains.insert(s.domain.clone());
        if !kinds.categories.contains(&s.category) {
            kinds.categories.push(s.category);
        }
    }
    kinds
}

/// A planned dataset with the raw files it reads.
#[derive(Debug, Clone)]
pub struct DatasetRun {
    pub source: DatasetSource,
    pub planned: PlannedDataset,
    /// Fingerprint of the plan, the version and the key id: a change rewrites every partition.
    pub plan_hash: String,
}

/// A pipeline resolved against a lake: what `run` does.
#[derive(Debug, Clone)]
pub struct PipelinePlan {
    pub datasets: Vec<DatasetRun>,
    pub exports: Vec<ExportPlan>,
    pub classifier: ClassifierRecord,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl PipelinePlan {
    /// Plans every dataset and export of `spec` against the lake's raw zone, classified by
    /// `classifier`. Fails closed with every problem listed: a dataset missing or unreadable,
    /// PI without an action, a subject column that erasure could not find again, a retention
    /// policy below a legal floor, an export that would carry identifiers.
    pub async fn build(
        lake: &Lake,
        spec: &PipelineSpec,
        classifier: &Classifier,
        key_id: &str,
        sample_rows: usize,
    ) -> Result<PipelinePlan, PlanError> {
        let mut datasets = Vec::new();
        let mut problems = Vec::new();
        for d in &spec.datasets {
            let source = match lake.dataset(Zone::Raw, &d.name) {
                Ok(Some(source)) => source,
                Ok(None) => {
                    problems.push(PlanProblem::NoRaw { dataset: d.name.clone(), path: lake.dataset_dir(Zone::Raw, &d.name) });
                    continue;
                }
                Err(e) => {
                    problems.push(PlanProblem::Unreadable { dataset: d.name.clone(), message: e.to_string() });
                    continue;
                }
            };
            if let Err(problem) = mixed_types(&d.name, &source) {
                problems.push(problem);
                continue;
            }
            let sample = match lake::sample_dataset(&source, sample_rows).await {
                Ok(sample) => sample,
                Err(e) => {
                    problems.push(PlanProblem::Unreadable { dataset: d.name.clone(), message: e.to_string() });
                    continue;
                }
            };
            let inventory = classify_sample(&source, &sample, classifier);
            let mut plan = match columns::resolve(d, &inventory.columns, &sample.columns) {
                Ok(plan) => plan,
                Err(ps) => {
                    problems.extend(ps);
                    continue;
                }
            };
            plan.partition_columns = source.partition_columns.clone();
            let subject_column = match SubjectColumn::of(&plan) {
                Ok(s) => s,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let retention = match RetentionPolicy::resolve(&plan, spec.retention.get(&d.name)) {
                Ok(r) => r,
                Err(message) => {
                    problems.push(PlanProblem::Retention { dataset: d.name.clone(), message });
                    continue;
                }
            };
            let described: Vec<(&str, &Step, &Category)> = plan.columns.iter().map(|c| (c.name.as_str(), &c.step, &c.category)).collect();
            let plan_hash = sha256_hex(
                serde_json::to_string(&(env!("CARGO_PKG_VERSION"), key_id, described, (plan.sharing, plan.max_suppressed)))
                    .expect("serializes")
                    .as_bytes(),
            );
            datasets.push(DatasetRun { source, planned: PlannedDataset { plan, subject_column, retention }, plan_hash });
        }
        let mut exports = Vec::new();
        let dataset_plans: Vec<DatasetPlan> = datasets.iter().map(|d| d.planned.plan.clone()).collect();
        for e in &spec.exports {
            match export::plan(e, &dataset_plans) {
                Ok(plan) => exports.push(plan),
                Err(ps) => problems.extend(ps.into_iter().map(|message| PlanProblem::Export {
                    export: e.name.clone(),
                    from: e.from.clone(),
                    message,
                })),
            }
        }
        // Two exports of one source that leave out different subjects differ by exactly
        // those subjects' rows: the opted-out would be published as a difference.
        for (i, a) in spec.exports.iter().enumerate() {
            if let Some(b) = spec.exports[..i].iter().find(|b| b.from == a.from && b.exclude_opted_out != a.exclude_opted_out) {
                let message = format!(
                    "exports `{}` and `{}` read the same dataset but leave out different subjects (`exclude_opted_out`), so their difference would be the rows of the subjects one leaves out: give both the same `exclude_opted_out`",
                    b.name, a.name
                );
                problems.push(PlanProblem::Export { export: a.name.clone(), from: a.from.clone(), message });
            }
        }
        if !problems.is_empty() {
            return Err(PlanError::Problems(problems));
        }
        let rules = classifier.rules();
        let classifier = ClassifierRecord {
            version: rules.version(),
            overrides: rules.override_files.iter().map(|p| p.display().to_string()).collect(),
        };
        Ok(PipelinePlan { datasets, exports, classifier })
    }
}

/// The plans the lake's data was written with, as the sealed manifests record them: every
/// written dataset, each of `required` among them. A required dataset no run has written, or
/// a lake no run has written, is an error.
pub fn written_plans(lake: &Lake, sealed: &SealedManifests, required: &[String]) -> Result<Vec<WrittenDataset>, PlanError> {
    let written = manifest::written_datasets(sealed);
    if let Some(missing) = required.iter().find(|n| !written.iter().any(|w| w.planned.name() == n.as_str())) {
        return Err(PlanError::NotRun { dataset: missing.clone() });
    }
    if written.is_empty() {
        return Err(PlanError::NothingRun { lake: lake.root().to_path_buf() });
    }
    Ok(written)
}

/// Every written dataset with the retention that applies to it: the policy it was written
/// with, or for the datasets of `pipeline` (each of which must have been written) that
/// pipeline's, resolved against the written plan so that its floors hold. Also returns the
/// names of the pipeline's datasets, when one is given.
pub fn written_policies(
    lake: &Lake,
    sealed: &SealedManifests,
    pipeline: Option<&Path>,
) -> Result<(Vec<WrittenDataset>, Option<Vec<String>>), PlanError> {
    let Some(path) = pipeline else { return Ok((written_plans(lake, sealed, &[])?, None)) };
    let spec = PipelineSpec::load(path)?;
    let names: Vec<String> = spec.datasets.iter().map(|d| d.name.clone()).collect();
    let mut written = written_plans(lake, sealed, &names)?;
    let mut problems = Vec::new();
    for w in written.iter_mut().filter(|w| names.iter().any(|n| n == w.planned.name())) {
        match RetentionPolicy::resolve(&w.planned.plan, spec.retention.get(w.planned.name())) {
            Ok(policy) => w.planned.retention = policy,
            Err(message) => problems.push(PlanProblem::Retention { dataset: w.planned.name().to_string(), message }),
        }
    }
    if !problems.is_empty() {
        return Err(PlanError::Problems(problems));
    }
    // The policies in force are always those of a pipeline a run recorded: a relative path
    // resolved from another directory, or an edited file, names another pipeline.
    let sha256 = sha256_hex(&std::fs::read(path).map_err(|cause| SpecError::Io { path: path.display().to_string(), cause })?);
    if let Some(w) = written.iter().find(|w| names.iter().any(|n| n == w.planned.name()) && w.pipeline_sha256 != sha256) {
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        return Err(PlanError::OtherPipeline {
            path: absolute,
            sha256: sha256[..16].to_string(),
            dataset: w.planned.name().to_string(),
            run_id: w.run_id.clone(),
            recorded: w.pipeline_sha256.chars().take(16).collect(),
        });
    }
    Ok((written, Some(names)))
}

/// How de-identified partitions are written (by `run` and by erasure's rewrites).
pub fn deid_parquet_options(plan: &DatasetPlan) -> TableParquetOptions {
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
