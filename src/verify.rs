//! `piguard verify`: the leak gate ([`crate::leak`]) over published outputs, reported.
//!
//! Given the lake, it also checks every value of the columns a dataset's written plan keeps
//! against the raw values of the columns that plan protects and the lake's subject ids, as
//! `run` does before publishing. The subject ids are held in memory as fingerprints, a
//! bounded sample of them in a large lake.

use std::path::PathBuf;

use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use serde::Serialize;

use crate::classify::Classifier;
use crate::inventory::FailedDataset;
use crate::lake::{self, DatasetSource, Lake, LakeError, Zone};
use crate::leak::{Finding, RawSubjectColumn, check_dataset, check_identifiers, subject_fingerprints};
use crate::plan::{PlanError, SealedManifests, WrittenDataset, written_plans};

/// The result of checking some outputs.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub datasets_checked: usize,
    /// Datasets whose kept values were checked against the raw zone.
    pub datasets_cross_checked: usize,
    pub findings: Vec<Finding>,
    pub failed: Vec<FailedDataset>,
}

/// The raw zone and written plans that outputs are cross-checked against.
struct RawReference<'a> {
    ctx: SessionContext,
    lake: &'a Lake,
    written: Vec<WrittenDataset>,
    /// The lake's subject ids as fingerprints.
    subjects: Option<DataFrame>,
}

impl RawReference<'_> {
    /// The findings of `source`'s kept columns against its raw dataset; `None` when the lake
    /// wrote no dataset of that name.
    async fn check(&self, source: &DatasetSource) -> Option<Result<Vec<Finding>, LakeError>> {
        let written = self.written.iter().find(|w| w.planned.name() == source.name)?;
        let plan = &written.planned.plan;
        Some(
            async {
                let raw = self.lake.dataset(Zone::Raw, &source.name)?.map(|r| r.files).unwrap_or_default();
                let rows = lake::read_files(&self.ctx, &source.files)
                    .await?
                    .count()
                    .await
                    .map_err(|e| lake::read::read_error(&source.files[0], &e))?;
                check_identifiers(&self.ctx, source, &plan.kept_columns(), rows, &raw, &plan.protected_columns(), self.subjects.clone())
                    .await
            }
            .await,
        )
    }
}

async fn reference<'a>(lake: &'a Lake, sealed: &SealedManifests) -> Result<RawReference<'a>, PlanError> {
    let ctx = lake::context(SessionConfig::new());
    let written = written_plans(lake, sealed, &[])?;
    let mut columns: Vec<RawSubjectColumn> = written
        .iter()
        .filter_map(|w| RawSubjectColumn::of(&w.planned, || Some(lake.dataset(Zone::Raw, w.planned.name()).ok()??.files)))
        .collect();
    // A raw dataset that cannot be read leaves its subjects out; `run` would fail on it.
    let tables = loop {
        match subject_fingerprints(&ctx, &columns).await {
            Ok(tables) => break tables,
            Err((dataset, _)) => columns.retain(|c| c.dataset != dataset),
        }
    };
    let mut subjects: Option<DataFrame> = None;
    for (_, table) in tables {
        let Ok(held) = table.cache().await else { continue };
        subjects = Some(match subjects {
            Some(all) => all.union(held).expect("fingerprint tables share one schema"),
            None => held,
        });
    }
    Ok(RawReference { ctx, lake, written, subjects })
}

/// Checks every dataset found at `paths`, and with `lake` (and the manifests its audit log
/// seals), cross-checks them against its raw zone.
pub async fn verify(
    paths: &[PathBuf],
    classifier: &Classifier,
    sample_rows: usize,
    lake: Option<(&Lake, &SealedManifests)>,
) -> Result<VerifyReport, PlanError> {
    let reference = match lake {
        Some((lake, sealed)) => Some(reference(lake, sealed).await?),
        None => None,
    };
    let mut report = VerifyReport::default();
    for path in paths {
        let discovery = lake::discover(path);
        // A file that is no table was not checked: it cannot be called clean.
        for skipped in &discovery.skipped {
            let name = std::path::Path::new(&skipped.path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            report.failed.push(FailedDataset { name, path: skipped.path.clone(), error: skipped.reason.clone() });
        }
        for found in discovery.datasets {
            let failed = |name: &str, path: String, error: String| FailedDataset { name: name.to_string(), path, error };
            let (name, dir) = match &found {
                Ok(source) => (source.name.clone(), source.path.clone()),
                Err((name, path, _)) => (name.clone(), path.clone()),
            };
            // A Delta table is what its latest version holds, not every file in its directory.
            let current = match found {
                Ok(source) => lake::delta::current(source).await.map_err(|e| e.to_string()),
                Err((_, _, error)) => Err(error.to_string()),
            };
            let source = match current {
                Ok(Some(source)) => source,
                Ok(None) => continue,
                Err(error) => {
                    report.failed.push(failed(&name, dir.display().to_string(), error));
                    continue;
                }
            };
            let cross = match &reference {
                Some(r) => r.check(&source).await,
                None => None,
            };
            if let Some(cross) = &cross {
                report.datasets_cross_checked += usize::from(cross.is_ok());
            }
            let raw_findings = match cross.transpose() {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => {
                    report.failed.push(failed(&source.name, source.path.display().to_string(), e.to_string()));
                    continue;
                }
            };
            let flagged: Vec<String> = raw_findings.iter().map(|f| f.column.clone()).collect();
            match check_dataset(&source, classifier, sample_rows, &flagged).await {
                Ok(f) => {
                    report.datasets_checked += 1;
                    report.findings.extend(raw_findings);
                    report.findings.extend(f);
                }
                Err(e) => report.failed.push(failed(&source.name, source.path.display().to_string(), e.to_string())),
            }
        }
    }
    Ok(report)
}
