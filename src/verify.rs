//! `piguard verify`: the leak gate ([`crate::leak`]) over published outputs, reported.

use std::path::PathBuf;

use serde::Serialize;

use crate::classify::Classifier;
use crate::inventory::FailedDataset;
use crate::lake;
use crate::leak::{Finding, check_dataset};

/// The result of checking some outputs.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub datasets_checked: usize,
    pub findings: Vec<Finding>,
    pub failed: Vec<FailedDataset>,
}

/// Checks every dataset found at `paths`.
pub async fn verify(paths: &[PathBuf], classifier: &Classifier, sample_rows: usize) -> VerifyReport {
    let mut report = VerifyReport::default();
    for path in paths {
        for found in lake::discover(path).datasets {
            match found {
                Ok(source) => match check_dataset(&source, classifier, sample_rows, &[]).await {
                    Ok(f) => {
                        report.datasets_checked += 1;
                        report.findings.extend(f);
                    }
                    Err(e) => report.failed.push(FailedDataset {
                        name: source.name.clone(),
                        path: source.path.display().to_string(),
                        error: e.to_string(),
                    }),
                },
                Err((name, path, error)) => report.failed.push(FailedDataset {
                    name,
                    path: path.display().to_string(),
                    error: error.to_string(),
                }),
            }
        }
    }
    report
}
