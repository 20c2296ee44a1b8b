//! `piguard risk`: the de-identification effect (GB/T 42460) of any table, read as `scan`
//! reads it (Parquet, CSV, JSON, Delta tables at their latest version). With no plan to say
//! what was done to a column, its values do: 256-bit hex digests are pseudonyms, values that
//! validate as a pinpointing category are direct identifiers, and the rest are roled by
//! category or measured, as in the run's gate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::Array;

use crate::classify::Classifier;
use crate::inventory::{ColumnInventory, FailedDataset, classify_sample};
use crate::lake::{self, DatasetSource, Lake, SampledColumn, files};
use crate::plan::Manifest;
use crate::risk::report::DatasetRisk;
use crate::risk::{self, ColumnPrior, Method, Prior, Role, Sharing};

/// What `piguard risk` is asked.
#[derive(Debug, Clone)]
pub struct RiskOptions {
    pub sharing: Sharing,
    /// The quasi-identifiers, when the user names them; otherwise decided as a run does.
    pub quasi_identifiers: Option<Vec<String>>,
    /// The column whose distinct values a class counts (records without one).
    pub subject: Option<String>,
    /// Rows sampled to classify columns.
    pub sample_rows: usize,
}

/// What `piguard risk` found: each dataset's evaluation, and those it could not read.
#[derive(Debug, Default)]
pub struct RiskFindings {
    pub datasets: Vec<DatasetRisk>,
    pub failed: Vec<FailedDataset>,
}

/// Whether every sampled value is a 64-character lowercase hex digest, as a keyed hash
/// writes.
fn digests(sampled: &SampledColumn) -> bool {
    let values = &sampled.values;
    values.len() > values.null_count()
        && values.iter().flatten().all(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// With `--qi`, the role of column `name`: a QI when it is named, else none.
fn named(options: &RiskOptions, name: &str) -> Option<Prior> {
    let qis = options.quasi_identifiers.as_ref()?;
    Some(match qis.iter().any(|q| q == name) {
        true => Prior::Settled(Role::QuasiIdentifier, "named by --qi".into()),
        false => Prior::Settled(Role::Other, "not named by --qi".into()),
    })
}

/// The role `c` starts from, read from its values, `--qi` and its category.
fn prior(c: &ColumnInventory, sampled: Option<&SampledColumn>, options: &RiskOptions) -> Prior {
    let e = &c.evidence;
    let validated = e.values_checked > 0 && e.values_matched * 2 >= e.values_checked;
    if sampled.is_some_and(digests) {
        return Prior::Settled(Role::Pseudonym, "values are 256-bit hex digests (a keyed hash)".into());
    }
    if c.category.pinpoints_a_person() && validated {
        let why = format!("{} of {} sampled values are {}", e.values_matched, e.values_checked, c.category);
        return Prior::Settled(Role::DirectIdentifier, why);
    }
    match named(options, &c.name) {
        Some(prior) => prior,
        None if risk::is_quasi_identifier(c.category) => Prior::Settled(Role::QuasiIdentifier, format!("category {}", c.category)),
        None if risk::is_sensitive_attribute(c.category) => Prior::Settled(Role::SensitiveAttribute, format!("category {}", c.category)),
        None => Prior::Measure,
    }
}

/// Each published dataset's latest evaluation, as the run manifests of `lake` record it: for
/// reports (the inventory), read as they are; `audit verify` checks them.
pub fn recorded(lake: &Lake) -> Vec<DatasetRisk> {
    let mut latest: BTreeMap<String, DatasetRisk> = BTreeMap::new();
    for run_id in lake.run_ids() {
        let path = lake.manifest_path(&run_id);
        let Ok(manifest) =
            files::read(&path).map_err(|e| e.to_string()).and_then(|b| Manifest::parse(&path, &b).map_err(|e| e.to_string()))
        else {
            continue;
        };
        for d in manifest.datasets {
            if let Some(evaluation) = d.risk {
                let name = d.planned.name().to_string();
                latest.insert(name.clone(), DatasetRisk { name, path: d.output, run_id: Some(run_id.clone()), evaluation });
            }
        }
    }
    latest.into_values().collect()
}

/// Evaluates every dataset found at `paths`.
pub async fn assess(paths: &[PathBuf], classifier: &Classifier, options: &RiskOptions) -> RiskFindings {
    let mut findings = RiskFindings::default();
    let ctx = lake::context(datafusion::prelude::SessionConfig::new());
    for path in paths {
        let discovery = lake::discover(path);
        for skipped in discovery.skipped {
            let name = std::path::Path::new(&skipped.path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            findings.failed.push(FailedDataset { name, path: skipped.path, error: skipped.reason });
        }
        for found in discovery.datasets {
            let source = match found {
                Ok(source) => lake::delta::current(source).await.map_err(|e| e.to_string()),
                Err((name, path, error)) => {
                    findings.failed.push(FailedDataset { name, path: path.display().to_string(), error: error.to_string() });
                    continue;
                }
            };
            let source = match source {
                Ok(Some(source)) => source,
                Ok(None) => continue,
                Err(error) => {
                    findings.failed.push(FailedDataset { name: path.display().to_string(), path: path.display().to_string(), error });
                    continue;
                }
            };
            match assess_one(&ctx, &source, classifier, options).await {
                Ok(evaluation) => findings.datasets.push(DatasetRisk {
                    name: source.name.clone(),
                    path: source.path.display().to_string(),
                    run_id: None,
                    evaluation,
                }),
                Err(error) => {
                    findings.failed.push(FailedDataset { name: source.name.clone(), path: source.path.display().to_string(), error })
                }
            }
        }
    }
    findings
}

async fn assess_one(
    ctx: &datafusion::prelude::SessionContext,
    source: &DatasetSource,
    classifier: &Classifier,
    options: &RiskOptions,
) -> Result<risk::Evaluation, String> {
    let sample = lake::sample_dataset(source, options.sample_rows).await.map_err(|e| e.to_string())?;
    let inventory = classify_sample(source, &sample, classifier);
    let asked = options.quasi_identifiers.iter().flatten().chain(&options.subject);
    let known = |n: &String| inventory.columns.iter().any(|c| &c.name == n) || source.partition_columns.contains(n);
    if let Some(missing) = asked.into_iter().find(|n| !known(n)) {
        return Err(format!("no column `{missing}`"));
    }
    let mut priors: Vec<ColumnPrior> = inventory
        .columns
        .iter()
        .map(|c| ColumnPrior {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
            category: c.category,
            step: None,
            prior: prior(c, sample.columns.iter().find(|s| s.name == c.name), options),
        })
        .collect();
    // Partition keys (`dt`) are columns of the table too, read from its directories.
    let keys: Vec<&String> = source.partition_columns.iter().filter(|k| !priors.iter().any(|p| &p.name == *k)).collect();
    for key in keys {
        priors.push(ColumnPrior::partition_key(key, named(options, key).unwrap_or(Prior::Measure)));
    }
    let method = Method {
        sharing: options.sharing,
        max_suppressed: 0.0,
        subject: options.subject.clone(),
        per_record: None,
        text_lengths: None,
        published: None,
    };
    let df = lake::read::read_dataset(ctx, &source.path, &source.files).await.map_err(|e| e.to_string())?;
    let mut evaluation = risk::evaluate(&df, &priors, &method, &[]).await.map_err(|e| lake::read::scrubbed(&e))?;
    risk::explain(&df, &mut evaluation).await.map_err(|e| lake::read::scrubbed(&e))?;
    Ok(evaluation)
}
