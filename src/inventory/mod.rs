//! The PI inventory (个人信息清单): every dataset's columns with category, sensitivity,
//! confidence, evidence and suggested action, as JSON, Markdown or HTML.

mod joins;
pub(crate) mod render;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::category::{Action, Category, Sensitivity};
use crate::classify::context::SampledColumn;
use crate::classify::{Classifier, Evidence};
use crate::lake::{self, DatasetSample, DatasetSource, SkippedFile};
pub use render::{render_html, render_markdown};

/// Default rows sampled per dataset.
pub const DEFAULT_SAMPLE_ROWS: usize = 10_000;

/// A scanned inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// The piguard version that produced it.
    pub piguard_version: String,
    /// When it was produced (RFC 3339, local time with offset).
    pub generated_at: String,
    /// The classifier rules' version.
    pub classifier_version: String,
    /// The most rows sampled from any one dataset.
    pub sample_rows: usize,
    /// Datasets that were read.
    pub datasets: Vec<DatasetInventory>,
    /// Datasets that could not be read, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedDataset>,
    /// Loose files that are no table (a JSON document, not records), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedFile>,
    /// The de-identification effect of the lake's published datasets, as the runs that
    /// published them evaluated it (GB/T 42460 §6.6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effect: Vec<crate::risk::report::DatasetRisk>,
}

/// One dataset's columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInventory {
    pub name: String,
    pub path: String,
    pub format: String,
    pub files: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_columns: Vec<String>,
    pub rows_sampled: usize,
    pub columns: Vec<ColumnInventory>,
    /// Sampled keys of its subject columns and of identifier-like columns no rule claims, by
    /// which [`scan`] finds a column that joins to another table's subjects.
    #[serde(skip)]
    pub(crate) keys: Vec<joins::KeySample>,
}

/// One column's classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInventory {
    pub name: String,
    pub data_type: String,
    pub category: Category,
    pub sensitivity: Sensitivity,
    pub confidence: f64,
    pub evidence: Evidence,
    pub suggested_action: Action,
}

/// A dataset that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedDataset {
    pub name: String,
    pub path: String,
    pub error: String,
}

impl Inventory {
    /// Columns that hold PI, over all datasets.
    pub fn pi_columns(&self) -> impl Iterator<Item = (&DatasetInventory, &ColumnInventory)> {
        self.datasets.iter().flat_map(|d| d.columns.iter().filter(|c| c.category != Category::None).map(move |c| (d, c)))
    }
}

/// The result of scanning the paths given on the command line.
#[derive(Debug)]
pub struct Scan {
    /// Everything found.
    pub inventory: Inventory,
    /// For each lake among the paths, its root and the inventory of its datasets.
    pub lakes: Vec<(PathBuf, Inventory)>,
}

/// Options for a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Rows sampled per dataset, at most.
    pub sample_rows: usize,
    /// Worker threads; datasets are scanned in parallel.
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { sample_rows: DEFAULT_SAMPLE_ROWS, threads: std::thread::available_parallelism().map_or(2, |n| n.get()) }
    }
}

/// Samples and classifies one dataset.
pub async fn classify_dataset(
    source: &DatasetSource,
    classifier: &Classifier,
    sample_rows: usize,
) -> Result<DatasetInventory, FailedDataset> {
    let sample = lake::sample_dataset(source, sample_rows).await.map_err(|e| FailedDataset {
        name: source.name.clone(),
        path: source.path.display().to_string(),
        error: e.to_string(),
    })?;
    Ok(classify_sample(source, &sample, classifier))
}

/// Classifies the columns of a sample of `source`.
pub fn classify_sample(source: &DatasetSource, sample: &DatasetSample, classifier: &Classifier) -> DatasetInventory {
    let sampled: Vec<SampledColumn> =
        sample.columns.iter().map(|c| SampledColumn { name: &c.name, data_type: &c.data_type, values: &c.values }).collect();
    let columns: Vec<ColumnInventory> = sample
        .columns
        .iter()
        .zip(classifier.classify_table(&sampled))
        .map(|(col, v)| ColumnInventory {
            name: col.name.clone(),
            data_type: col.data_type.clone(),
            category: v.category,
            sensitivity: v.sensitivity,
            confidence: v.confidence,
            evidence: v.evidence,
            suggested_action: v.suggested_action,
        })
        .collect();
    let keys = joins::key_samples(sample, &columns);
    DatasetInventory {
        keys,
        name: source.name.clone(),
        path: source.path.display().to_string(),
        format: source.format().id().to_string(),
        files: source.files.len(),
        partition_columns: source.partition_columns.clone(),
        rows_sampled: sample.rows,
        columns,
    }
}

/// Scans `paths` (files, dataset directories, directories of datasets, lakes) into an
/// inventory. A dataset that cannot be read is listed under `failed`; the others still are.
/// Runs its own worker threads: call it outside an async runtime.
pub fn scan(paths: &[PathBuf], classifier: &Classifier, options: &ScanOptions) -> Scan {
    // (lake root index or none, source)
    let mut jobs: Vec<(Option<usize>, DatasetSource)> = Vec::new();
    let mut failed = Vec::new();
    let mut skipped: Vec<(Option<usize>, SkippedFile)> = Vec::new();
    let mut roots: Vec<PathBuf> = Vec::new();
    for path in paths {
        let found = lake::discover(path);
        let lake_index = found.lake_root.map(|root| {
            roots.push(root);
            roots.len() - 1
        });
        skipped.extend(found.skipped.into_iter().map(|s| (lake_index, s)));
        for entry in found.datasets {
            match entry {
                Ok(source) => jobs.push((lake_index, source)),
                Err((name, path, error)) => {
                    failed.push((lake_index, FailedDataset { name, path: path.display().to_string(), error: error.to_string() }))
                }
            }
        }
    }

    let results: Mutex<Vec<(usize, Result<DatasetInventory, FailedDataset>)>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let next = AtomicUsize::new(0);
    let threads = options.threads.clamp(1, jobs.len().max(1));
    // One runtime the workers share: each reads its datasets on it and classifies them on its
    // own thread. Its I/O is always driven, so a connection one worker opened to an object
    // store serves the others too.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("a runtime starts");
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, source)) = jobs.get(i) else { break };
                    let r = runtime.block_on(classify_dataset(source, classifier, options.sample_rows));
                    results.lock().expect("no worker panics holding the lock").push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("workers have finished");
    results.sort_by_key(|(i, _)| *i);
    let mut scanned: Vec<&mut DatasetInventory> = results.iter_mut().filter_map(|(_, r)| r.as_mut().ok()).collect();
    joins::link(&mut scanned, classifier);

    let skipped_of = |lake: Option<usize>| -> Vec<SkippedFile> {
        skipped.iter().filter(|(l, _)| lake.is_none() || *l == lake).map(|(_, s)| s.clone()).collect()
    };
    let new_inventory = |datasets, failed, skipped| Inventory {
        piguard_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        classifier_version: classifier.rules().version(),
        sample_rows: options.sample_rows,
        datasets,
        failed,
        skipped,
        effect: Vec::new(),
    };
    let mut per_lake: Vec<(Vec<DatasetInventory>, Vec<FailedDataset>)> = roots.iter().map(|_| (Vec::new(), Vec::new())).collect();
    let mut all_ok = Vec::new();
    let mut all_failed = Vec::new();
    for (i, r) in results {
        let lake_index = jobs[i].0;
        match r {
            Ok(d) => {
                if let Some(l) = lake_index {
                    per_lake[l].0.push(d.clone());
                }
                all_ok.push(d);
            }
            Err(f) => {
                if let Some(l) = lake_index {
                    per_lake[l].1.push(f.clone());
                }
                all_failed.push(f);
            }
        }
    }
    for (lake_index, f) in failed {
        if let Some(l) = lake_index {
            per_lake[l].1.push(f.clone());
        }
        all_failed.push(f);
    }
    let lakes = roots
        .into_iter()
        .zip(per_lake)
        .enumerate()
        .map(|(l, (root, (ok, bad)))| (root, new_inventory(ok, bad, skipped_of(Some(l)))))
        .collect();
    Scan { inventory: new_inventory(all_ok, all_failed, skipped_of(None)), lakes }
}
