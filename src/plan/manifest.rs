//! The run manifest `LAKE/_piguard/runs/<run-id>/manifest.json`: what a run read, wrote and
//! decided. Its datasets carry the typed plan they were written with, which `purge` and
//! `erase` load instead of classifying the raw zone again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PlannedDataset;
use crate::sealed::Seal;

/// What happened to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionStatus {
    Written,
    Unchanged,
    /// Dry run: would be written.
    Planned,
}

/// One partition in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub partition: String,
    pub status: PartitionStatus,
    pub inputs: Vec<InputRecord>,
    /// Its directory in the de-identified zone.
    pub output: String,
    /// The table's files of it (none for a dry run).
    #[serde(default)]
    pub files: Vec<String>,
    pub rows: u64,
}

/// One input file in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRecord {
    pub path: String,
    pub bytes: u64,
}

/// One dataset in the manifest: its plan, and what was read and written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetRecord {
    #[serde(flatten)]
    pub planned: PlannedDataset,
    pub input: String,
    pub output: String,
    pub partitions: Vec<PartitionRecord>,
    pub rows_written: u64,
    /// Plans this run ran to write its partitions: small partitions share one.
    #[serde(default)]
    pub write_plans: u64,
    /// The Delta table version this run committed (none when nothing changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_version: Option<u64>,
    /// The risk evaluation of the table this run committed (GB/T 42460).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::risk::Evaluation>,
}

/// What an export wrote; also its `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    pub export: String,
    pub run_id: String,
    pub from: String,
    pub output: String,
    pub min_subjects: u64,
    pub rows_published: usize,
    pub rows_suppressed: usize,
    /// Of those, rows fewer than `min_subjects` subjects changed since last published.
    #[serde(default)]
    pub rows_suppressed_changed: usize,
    /// Of those, rows withheld because another export of the source withholds a row they
    /// would give as a difference.
    #[serde(default)]
    pub rows_suppressed_complementary: usize,
    pub subjects_excluded_by_consent: i64,
    /// The rows computed, by the distinct subjects each covers (1, 2, 3–4, 5–9, 10–19, 20+),
    /// as the risk evaluation reports classes: rows as classes, subjects as records.
    #[serde(default)]
    pub cell_sizes: [crate::risk::SizeBin; 6],
    /// The share of computed rows withheld.
    #[serde(default)]
    pub suppressed_share: f64,
    /// Older runs of this export, removed once this one was published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_runs: Vec<String>,
    pub suppression: String,
}

/// The classifier a run planned with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClassifierRecord {
    /// `builtin-<version>`, with the number of override files.
    pub version: String,
    /// The override files loaded (`--classifiers DIR`), if any.
    pub overrides: Vec<String>,
}

/// `LAKE/_piguard/runs/<run-id>/manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub piguard_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub pipeline: String,
    pub pipeline_sha256: String,
    pub key_id: String,
    pub classifier: ClassifierRecord,
    pub dry_run: bool,
    pub forced: bool,
    pub datasets: Vec<DatasetRecord>,
    pub exports: Vec<ExportRecord>,
    /// Why the run stopped part-way, when it did: `datasets` holds what it published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    /// The audit entry that announced the run, anchoring the log outside itself: `audit
    /// verify` checks the log still holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Seal>,
}

/// Where and why a run stopped after publishing part of its output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFailure {
    pub dataset: String,
    /// The partition being written (empty for none).
    pub partition: String,
    /// The error, which names files, columns and rows but never a value.
    pub error: String,
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("run manifest {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("run manifest {path} is not a manifest this piguard reads ({message}); re-run the pipeline to record its plan")]
    Unreadable { path: PathBuf, message: String },
}

/// The manifests the audit log seals, by run id, as read and checked once (see
/// [`crate::integrity::check`], which alone makes one): commands read plans from these, never
/// from the files again.
#[derive(Debug, Clone, Default)]
pub struct SealedManifests(BTreeMap<String, Manifest>);

impl SealedManifests {
    pub(crate) fn insert(&mut self, run_id: String, manifest: Manifest) {
        self.0.insert(run_id, manifest);
    }

    /// How many manifests are sealed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Manifest {
    /// Parses the manifest read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Unreadable { path: path.to_path_buf(), message: e.to_string() })
    }
}

/// A dataset as the newest run that wrote it planned it.
#[derive(Debug, Clone)]
pub struct WrittenDataset {
    pub run_id: String,
    /// The key its pseudonyms were made with.
    pub key_id: String,
    /// The SHA-256 of the pipeline file that run read.
    pub pipeline_sha256: String,
    pub planned: PlannedDataset,
}

/// Every dataset some run wrote, each with the plan of the newest run that wrote it (a later
/// run of a partial pipeline does not hide the others), sorted by name. Only manifests the
/// audit log seals are read.
pub fn written_datasets(sealed: &SealedManifests) -> Vec<WrittenDataset> {
    let mut found: Vec<WrittenDataset> = Vec::new();
    // Run ids sort by time: the newest first.
    for (run_id, manifest) in sealed.0.iter().rev() {
        for d in &manifest.datasets {
            if !found.iter().any(|w| w.planned.plan.name == d.planned.plan.name) {
                found.push(WrittenDataset {
                    run_id: run_id.clone(),
                    key_id: manifest.key_id.clone(),
                    pipeline_sha256: manifest.pipeline_sha256.clone(),
                    planned: d.planned.clone(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.planned.plan.name.cmp(&b.planned.plan.name));
    found
}
