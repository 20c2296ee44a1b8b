//! `piguard query`: SQL (DataFusion) over the de-identified zone and exports. The raw zone is
//! visible only when asked for with a reason, and such a query is written to the audit log
//! (the SQL and the reason, never result values).

use std::io::Write;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use crate::audit::{AuditError, AuditEvent, AuditLog, check_reason};
use crate::integrity::{self, IntegrityError};
use crate::lake::delta::AsOf;
use crate::lake::{self, Lake, Zone};
use crate::sealed::{AuditKey, AuditKeyError};
use crate::transform::PseudonymKey;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// What an analyst asked for.
#[derive(Debug, Clone, Copy)]
pub struct QueryRequest<'a> {
    pub zone: Zone,
    /// Why the raw zone is needed (required for it; audited).
    pub reason: Option<&'a str>,
    pub sql: &'a str,
    pub format: OutputFormat,
    /// Which version of the de-identified tables to read (for audits).
    pub as_of: AsOf,
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
    #[error("querying the raw zone is audited, and the audit log is sealed: {0}")]
    AuditKey(#[from] AuditKeyError),
    #[error("the raw zone is queried only on a lake whose records verify under the audit key set; nothing was read: {0}")]
    Integrity(#[from] IntegrityError),
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

/// Runs `sql` over `zone` (see [`lake::session`]) and writes the result to `out`; returns
/// the number of rows. A raw-zone query needs `reason` and the audit key, and is audited
/// before it runs.
pub async fn query(
    lake: &Lake,
    request: QueryRequest<'_>,
    key: Option<PseudonymKey>,
    audit_key: Result<AuditKey, AuditKeyError>,
    out: &mut dyn Write,
) -> Result<usize, QueryError> {
    let QueryRequest { zone, reason, sql, format, as_of } = request;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let audit = match zone {
        Zone::Raw if reason.is_none() => return Err(QueryError::NoReason),
        Zone::Raw => {
            check_reason(reason)?;
            // Checked before anything is read: an entry sealed with another key would show
            // raw data and leave a log no later command can extend.
            let audit_key = audit_key?;
            integrity::check(lake, &audit_key)?;
            Some(AuditLog::open(lake, &audit_key))
        }
        _ => None,
    };
    if !lake.exists() {
        return Err(QueryError::NoLake(lake.root().to_path_buf()));
    }
    let ctx = lake::session(lake, zone, key, as_of).await.map_err(|e| QueryError::Sql(e.to_string()))?;
    // Analysts read; `COPY ... TO`, `INSERT`, `CREATE EXTERNAL TABLE` and `SET` could write
    // over the lake or widen what the session sees.
    let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let df = ctx.sql_with_options(sql, read_only).await.map_err(|e| sql_error(e, zone, sql))?;
    if let Some(audit) = &audit {
        // Logged before any raw value is shown (a statement too long to log is not run).
        let event = AuditEvent::Query { zone, sql: sql.to_string(), reason: reason.unwrap_or_default().to_string() };
        audit.append(&event)?;
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
