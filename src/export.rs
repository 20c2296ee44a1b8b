//! Aggregate exports for advertisers: GROUP BY generalized dimensions over a de-identified
//! dataset, every published row covering at least `min_subjects` distinct subjects.
//!
//! Suppression policy: rows below the threshold are withheld and **no totals or margins are
//! published**, so a withheld cell cannot be recovered by subtracting published cells from a
//! total. Subjects who opted out of ad use are removed before aggregation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use parquet::arrow::ArrowWriter;

use crate::lake::delta::AsOf;
use crate::lake::{self, Lake, Zone, files};
use crate::plan::export::{ExportPlan, Metric};
use crate::plan::manifest::ExportRecord;

/// The hidden column counting a row's distinct subjects.
const SUBJECTS: &str = "__piguard_subjects";

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("export {export}: {message}")]
    Failed { export: String, message: String },
    #[error("export {export}: {path}: {cause}")]
    Io { export: String, path: PathBuf, cause: std::io::Error },
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

async fn collect(ctx: &SessionContext, sql: &str, export: &str) -> Result<Vec<RecordBatch>, ExportError> {
    let failed = |e: datafusion::error::DataFusionError| ExportError::Failed {
        export: export.to_string(),
        message: crate::lake::read::scrubbed(&e),
    };
    ctx.sql(sql).await.map_err(failed)?.collect().await.map_err(failed)
}

/// Computes an export from the de-identified zone and publishes it as
/// `LAKE/export/<name>/<run-id>/` (Parquet, CSV and `report.json`), then points
/// `LAKE/export/<name>/_latest` at it. Aggregates are small, so the result is collected
/// before suppression and the files are encoded in memory. The aggregation runs on `deid`, a
/// session with the de-identified datasets as tables (a cluster's), or in this process.
pub async fn write(lake: &Lake, plan: &ExportPlan, run_id: &str, deid: Option<&SessionContext>) -> Result<ExportRecord, ExportError> {
    let name = &plan.spec.name;
    let failed = |message: String| ExportError::Failed { export: name.clone(), message };
    let ctx = match deid {
        Some(ctx) => ctx.clone(),
        None => lake::session(lake, Zone::Deid, None, AsOf::Latest).await.map_err(|e| failed(e.to_string()))?,
    };
    let subject = quote(&plan.subject);
    let from = quote(&plan.spec.from);
    let opted_out = plan.consent.as_ref().map(|c| {
        format!("EXISTS (SELECT 1 FROM {} c WHERE c.{} AND c.{} = t.{subject})", quote(&c.dataset), quote(&c.flag), quote(&c.subject))
    });
    let groups: Vec<String> = plan.spec.group_by.iter().map(|g| format!("t.{}", quote(g))).collect();
    let mut select: Vec<String> = plan.spec.group_by.iter().map(|g| format!("t.{} AS {}", quote(g), quote(g))).collect();
    select.push(format!("COUNT(DISTINCT t.{subject}) AS {SUBJECTS}"));
    for (out, m) in &plan.metrics {
        select.push(match m {
            Metric::CountDistinctSubjects => format!("COUNT(DISTINCT t.{subject}) AS {}", quote(out)),
            Metric::Count => format!("COUNT(*) AS {}", quote(out)),
            Metric::Sum(c) => format!("SUM(t.{}) AS {}", quote(c), quote(out)),
            Metric::Avg(c) => format!("AVG(t.{}) AS {}", quote(c), quote(out)),
        });
    }
    let filter = opted_out.as_ref().map(|e| format!(" WHERE NOT {e}")).unwrap_or_default();
    let group = if groups.is_empty() { String::new() } else { format!(" GROUP BY {}", groups.join(", ")) };
    let sql = format!("SELECT {} FROM {from} t{filter}{group}", select.join(", "));
    let batches = collect(&ctx, &sql, name).await?;

    let excluded = match &opted_out {
        None => 0,
        Some(e) => {
            let b = collect(&ctx, &format!("SELECT COUNT(DISTINCT t.{subject}) AS n FROM {from} t WHERE {e}"), name).await?;
            b.first().map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0))
        }
    };

    let mut published = Vec::new();
    let (mut kept, mut suppressed) = (0, 0);
    for batch in &batches {
        let counts = batch.column_by_name(SUBJECTS).expect("selected").as_primitive::<Int64Type>();
        let keep: BooleanArray = counts.iter().map(|n| Some(n.unwrap_or(0) >= plan.spec.min_subjects as i64)).collect();
        let out = filter_record_batch(batch, &keep).map_err(|e| failed(e.to_string()))?;
        kept += out.num_rows();
        suppressed += batch.num_rows() - out.num_rows();
        let index = out.schema().index_of(SUBJECTS).expect("selected");
        let mut out = out;
        out.remove_column(index);
        published.push(out);
    }

    let dir = lake.dataset_dir(Zone::Export, name);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        let export = name.clone();
        move |cause| ExportError::Io { export, path, cause }
    };
    let schema = published.first().map(|b| b.schema()).unwrap_or_else(|| {
        let mut fields: Vec<_> = batches.first().map(|b| b.schema().fields().iter().cloned().collect()).unwrap_or_default();
        fields.retain(|f| f.name() != SUBJECTS);
        Arc::new(arrow::datatypes::Schema::new(fields))
    });
    let mut parquet = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut parquet, schema.clone(), None).map_err(|e| failed(e.to_string()))?;
    let mut csv = arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
    for b in &published {
        writer.write(b).map_err(|e| failed(e.to_string()))?;
        csv.write(b).map_err(|e| failed(e.to_string()))?;
    }
    writer.close().map_err(|e| failed(e.to_string()))?;
    let csv = csv.into_inner();
    let target = dir.join(run_id);
    let record = ExportRecord {
        export: name.clone(),
        run_id: run_id.to_string(),
        from: plan.spec.from.clone(),
        output: target.display().to_string(),
        min_subjects: plan.spec.min_subjects,
        rows_published: kept,
        rows_suppressed: suppressed,
        subjects_excluded_by_consent: excluded,
        retired_runs: Vec::new(),
        suppression: "rows covering fewer than min_subjects distinct subjects are withheld; no totals or margins are published, so withheld rows cannot be recovered by subtraction".into(),
    };
    let report = serde_json::to_vec_pretty(&record).expect("serializes");
    // Locally the run's directory is staged and renamed into place whole; an object store
    // has no rename, so there each file is one PUT under the run's prefix, which readers
    // ignore until the pointer names it.
    let staging = match lake.is_local() {
        true => dir.join(format!("{}{run_id}", lake::TMP_PREFIX)),
        false => target.clone(),
    };
    for (file, bytes) in [(format!("{name}.parquet"), &parquet), (format!("{name}.csv"), &csv), ("report.json".to_string(), &report)] {
        let path = staging.join(file);
        files::write_atomic(&path, bytes).map_err(io(&path))?;
    }
    if lake.is_local() {
        files::publish(&staging, &target).map_err(io(&target))?;
    }
    let pointer = lake.export_pointer(name);
    files::write_atomic(&pointer, run_id.as_bytes()).map_err(io(&pointer))?;
    // One current export per name: an older run left published would let a reader compare
    // two exports and single out whoever changed between them.
    let mut record = record;
    for old in lake.export_runs(name).into_iter().filter(|r| r != run_id) {
        let path = dir.join(&old);
        files::delete_tree(&path).map_err(io(&path))?;
        record.retired_runs.push(old);
    }
    Ok(record)
}
