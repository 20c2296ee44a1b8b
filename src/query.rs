//! `piguard query`: SQL (DataFusion) over the de-identified zone and exports. The raw zone is
//! visible only when asked for with a reason, and such a query is written to the audit log
//! (the SQL and the reason, never result values).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::audit::{AuditError, AuditLog};
use crate::lake;
use crate::pipeline::run::OUTPUT_FILE;
use crate::transform::{PseudonymKey, udf};

/// Which zone a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// De-identified datasets and exports (the default).
    Deid,
    /// Exports only.
    Export,
    /// The raw zone, as `raw.<dataset>`; needs a reason and is audited.
    Raw,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// Why a query could not run. Messages are one line and carry no result values.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}: not a lake (no raw/, deid/ or export/ zone)")]
    NoLake(PathBuf),
    #[error("querying the raw zone needs --reason: it holds real PI, and the query and reason are audited")]
    NoReason,
    #[error("{0}")]
    Sql(String),
    #[error("writing results: {0}")]
    Output(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

fn sql_error(e: DataFusionError, zone: Zone, sql: &str) -> QueryError {
    let message = e.to_string().lines().next().unwrap_or("").to_string();
    let mentions_raw = sql.to_ascii_lowercase().contains("raw.");
    if zone != Zone::Raw && mentions_raw && message.contains("not found") {
        return QueryError::Sql(format!(
            "{message}: the raw zone holds real PI and is not visible to analysts; \
             use --zone raw --reason \"...\" if you are entitled to it (the query is audited)"
        ));
    }
    QueryError::Sql(message)
}

/// Registers a directory of published Parquet files (hive partitions included) as `name`.
async fn register_dir(ctx: &SessionContext, name: &str, dir: &Path, only_published: bool) -> Result<(), DataFusionError> {
    let found = lake::discover(dir);
    let partition_cols: Vec<(String, DataType)> = match found.datasets.first() {
        Some(Ok(source)) => source.partition_columns.iter().map(|c| (c.clone(), DataType::Utf8)).collect(),
        _ => return Ok(()),
    };
    let abs = std::fs::canonicalize(dir)?;
    // Only files a run has published: never a run's hidden temporary output.
    let pattern = if only_published { OUTPUT_FILE.replace("00000", "*") } else { "*.parquet".to_string() };
    let url = ListingTableUrl::parse(format!("{}/{pattern}", abs.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols);
    let config = ListingTableConfig::new(url).with_listing_options(options).infer_schema(&ctx.state()).await?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with(['.', '_'])))
        .collect();
    out.sort();
    out
}

fn table_name(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A session with the zone's tables and the `piguard_*` functions (`piguard_hash` only with a key).
pub async fn session(lake_root: &Path, zone: Zone, key: Option<PseudonymKey>) -> Result<SessionContext, QueryError> {
    if !["raw", "deid", "export"].iter().any(|z| lake_root.join(z).is_dir()) {
        return Err(QueryError::NoLake(lake_root.to_path_buf()));
    }
    let ctx = SessionContext::new();
    udf::register(&ctx, key);
    let err = |e: DataFusionError| QueryError::Sql(e.to_string());
    if zone == Zone::Raw {
        let catalog = ctx.catalog("datafusion").ok_or_else(|| QueryError::Sql("no default catalog".into()))?;
        catalog.register_schema("raw", Arc::new(MemorySchemaProvider::new())).map_err(err)?;
        for dir in subdirs(&lake_root.join("raw")) {
            register_dir(&ctx, &format!("raw.{}", table_name(&dir)), &dir, false).await.map_err(err)?;
        }
        return Ok(ctx);
    }
    if zone == Zone::Deid {
        for dir in subdirs(&lake_root.join("deid")) {
            register_dir(&ctx, &table_name(&dir), &dir, true).await.map_err(err)?;
        }
    }
    // Each export as its latest run (run ids sort by time).
    for dir in subdirs(&lake_root.join("export")) {
        if let Some(latest) = subdirs(&dir).pop() {
            register_dir(&ctx, &table_name(&dir), &latest, false).await.map_err(err)?;
        }
    }
    Ok(ctx)
}

/// Runs `sql` and writes the result to `out`; returns the number of rows. A raw-zone query
/// needs `reason` and is audited before it runs.
pub async fn query(
    lake_root: &Path,
    zone: Zone,
    reason: Option<&str>,
    sql: &str,
    format: OutputFormat,
    key: Option<PseudonymKey>,
    out: &mut dyn Write,
) -> Result<usize, QueryError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if zone == Zone::Raw && reason.is_none() {
        return Err(QueryError::NoReason);
    }
    let ctx = session(lake_root, zone, key).await?;
    let df = ctx.sql(sql).await.map_err(|e| sql_error(e, zone, sql))?;
    if zone == Zone::Raw {
        // Logged before any raw value is shown.
        let mut event = Map::new();
        event.insert("action".into(), Value::from("query"));
        event.insert("zone".into(), Value::from("raw"));
        event.insert("sql".into(), Value::from(sql));
        event.insert("reason".into(), Value::from(reason.unwrap_or_default()));
        AuditLog::of_lake(lake_root).append(event)?;
    }
    let output = |e: &dyn std::fmt::Display| QueryError::Output(e.to_string());
    let rows = match format {
        // A table is laid out from all rows at once; csv and json stream batch by batch.
        OutputFormat::Table => {
            let batches = df.collect().await.map_err(|e| sql_error(e, zone, sql))?;
            let table = arrow::util::pretty::pretty_format_batches(&batches).map_err(|e| output(&e))?;
            writeln!(out, "{table}").map_err(|e| output(&e))?;
            batches.iter().map(|b| b.num_rows()).sum()
        }
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *out);
            stream_into(df, zone, sql, |b| writer.write(b)).await?
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            let rows = stream_into(df, zone, sql, |b| writer.write(b)).await?;
            writer.finish().map_err(|e| output(&e))?;
            rows
        }
    };
    Ok(rows)
}

/// Streams the result batch by batch into `write` (never the whole result in memory) and
/// returns the number of rows.
async fn stream_into(
    df: DataFrame,
    zone: Zone,
    sql: &str,
    mut write: impl FnMut(&RecordBatch) -> Result<(), ArrowError>,
) -> Result<usize, QueryError> {
    let mut stream = df.execute_stream().await.map_err(|e| sql_error(e, zone, sql))?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| sql_error(e, zone, sql))?;
        rows += batch.num_rows();
        write(&batch).map_err(|e| QueryError::Output(e.to_string()))?;
    }
    Ok(rows)
}
