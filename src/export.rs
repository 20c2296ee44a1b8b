//! Aggregate exports for advertisers: GROUP BY generalized dimensions over a de-identified
//! dataset, every published row covering at least `min_subjects` distinct subjects.
//!
//! Suppression policy (see [`SUPPRESSION`]): rows below the threshold are withheld and no
//! totals or margins are published; across the exports of one source in a run, complementary
//! rows are withheld too (secondary suppression); and a row fewer than the threshold of
//! subjects changed since it was last published is withheld, so neither two exports nor two
//! runs of one can be subtracted to single a person out. Subjects who opted out of ad use are
//! removed before aggregation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use parquet::arrow::ArrowWriter;

use crate::lake::delta::AsOf;
use crate::lake::{self, Lake, Zone, files};
use crate::plan::export::{ExportPlan, Metric};
use crate::plan::manifest::ExportRecord;
use crate::risk::SizeBin;

/// What `report.json` says of suppression.
pub const SUPPRESSION: &str = "rows covering fewer than min_subjects distinct subjects are withheld, and no totals or margins are published; where another export of the same source withholds a row, the rows that would give it as a difference are withheld too (secondary suppression); a row that fewer than min_subjects subjects changed since it was last published is withheld until more have, so two runs cannot be subtracted either";

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

/// Why a row of an export is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Withheld {
    /// It covers fewer than `min_subjects` distinct subjects.
    Small,
    /// Since it was last published, fewer than `min_subjects` subjects changed what they add
    /// to it: the difference of the two would single them out.
    Changed,
    /// Another export of the same source withholds a row under a cell of their shared
    /// dimensions where this export published every row: the withheld row would be the
    /// difference of the two exports' rows there (secondary suppression).
    Complement,
}

/// What each subject adds to each cell (`cell key → subject → contribution`): the export's
/// state, kept under `_piguard/exports/<name>/state.parquet` for the cells last published.
type Contributions = BTreeMap<String, BTreeMap<String, String>>;

/// An export computed and not yet published (aggregates are small: collected whole).
pub struct ComputedExport<'a> {
    plan: &'a ExportPlan,
    /// Its rows, with the subject count.
    rows: RecordBatch,
    /// The dimension values of each row, as text.
    dims: Vec<Vec<String>>,
    withheld: Vec<Option<Withheld>>,
    excluded: i64,
    /// What each subject adds to each cell now, and as last published (none before the first
    /// run that kept state). Held in memory: one entry per subject of each cell, the size of
    /// the de-identified dataset's distinct (cell, subject) pairs.
    now: Contributions,
    published: Option<Contributions>,
}

/// The text of each row of `columns` (nulls as `\0`, so they differ from any value).
fn texts(columns: &[arrow::array::ArrayRef], rows: usize) -> Result<Vec<Vec<String>>, arrow::error::ArrowError> {
    let cast: Vec<arrow::array::ArrayRef> =
        columns.iter().map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)).collect::<Result<_, _>>()?;
    Ok((0..rows)
        .map(|i| {
            cast.iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    if c.is_null(i) { "\0".to_string() } else { c.value(i).to_string() }
                })
                .collect()
        })
        .collect())
}

/// A cell's key: its dimension values joined by the unit separator.
fn cell_key(dims: &[String]) -> String {
    dims.join("\u{1f}")
}

/// Where an export's state is kept.
fn state_path(lake: &Lake, name: &str) -> PathBuf {
    lake.meta_dir().join("exports").join(name).join("state.parquet")
}

/// The contributions an export published last, if it kept state.
fn read_state(path: &Path) -> Result<Option<Contributions>, String> {
    let bytes = match files::read(path) {
        Ok(bytes) => bytes::Bytes::from(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 8192).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut state = Contributions::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("{}: {e}", path.display()))?;
        let column = |i: usize| batch.column(i).as_string::<i32>().clone();
        let (cells, subjects, values) = (column(0), column(1), column(2));
        for i in 0..batch.num_rows() {
            state.entry(cells.value(i).to_string()).or_default().insert(subjects.value(i).to_string(), values.value(i).to_string());
        }
    }
    Ok(Some(state))
}

/// `state` as the Parquet bytes of its file.
fn state_bytes(state: &Contributions) -> Result<Vec<u8>, String> {
    let rows = state.iter().flat_map(|(cell, subjects)| subjects.iter().map(move |(s, v)| (cell.as_str(), s.as_str(), v.as_str())));
    let (mut cells, mut subjects, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (c, s, v) in rows {
        cells.push(c);
        subjects.push(s);
        values.push(v);
    }
    let batch = RecordBatch::try_from_iter([
        ("cell", Arc::new(arrow::array::StringArray::from(cells)) as arrow::array::ArrayRef),
        ("subject", Arc::new(arrow::array::StringArray::from(subjects))),
        ("contribution", Arc::new(arrow::array::StringArray::from(values))),
    ])
    .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Takes the pseudonyms `refs` of an erased subject out of every export's state: each is
/// replaced by a tombstone of the request (`erased:<request>`), so the state no longer holds
/// the person, while the cells they added to still count them as changed and are withheld
/// until enough others have changed too. Returns how many states were rewritten.
pub fn forget_subjects(lake: &Lake, refs: &[&str], request_id: &str) -> Result<usize, String> {
    let root = lake.meta_dir().join("exports");
    let mut rewritten = 0;
    for export in lake::files::list_dir(&root).unwrap_or_default().into_iter().filter(|e| e.is_dir) {
        let path = export.path.join("state.parquet");
        let Some(mut state) = read_state(&path)? else { continue };
        let mut found = false;
        for subjects in state.values_mut() {
            for r in refs {
                if let Some(contribution) = subjects.remove(*r) {
                    subjects.insert(format!("erased:{request_id}"), contribution);
                    found = true;
                }
            }
        }
        if found {
            files::write_atomic(&path, &state_bytes(&state)?).map_err(|e| format!("{}: {e}", path.display()))?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// Computes an export from the de-identified zone, on `deid` (a session with the
/// de-identified datasets as tables, a cluster's) or in this process, and decides which rows
/// are withheld on their own: small cells, and cells too few subjects changed since they were
/// last published.
pub async fn compute<'a>(lake: &Lake, plan: &'a ExportPlan, deid: Option<&SessionContext>) -> Result<ComputedExport<'a>, ExportError> {
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
    // What one subject adds to a cell: its rows, and its sum of each summed column.
    let mut adds = vec!["CAST(COUNT(*) AS VARCHAR)".to_string()];
    for (out, m) in &plan.metrics {
        select.push(match m {
            Metric::CountDistinctSubjects => format!("COUNT(DISTINCT t.{subject}) AS {}", quote(out)),
            Metric::Count => format!("COUNT(*) AS {}", quote(out)),
            Metric::Sum(c) => format!("SUM(t.{}) AS {}", quote(c), quote(out)),
            Metric::Avg(c) => format!("AVG(t.{}) AS {}", quote(c), quote(out)),
        });
        if let Metric::Sum(c) | Metric::Avg(c) = m {
            adds.push(format!("COALESCE(CAST(SUM(t.{0}) AS VARCHAR), '') || '/' || CAST(COUNT(t.{0}) AS VARCHAR)", quote(c)));
        }
    }
    let filter = opted_out.as_ref().map(|e| format!(" WHERE NOT {e}")).unwrap_or_default();
    let group = if groups.is_empty() { String::new() } else { format!(" GROUP BY {}", groups.join(", ")) };
    let sql = format!("SELECT {} FROM {from} t{filter}{group}", select.join(", "));
    let batches = collect(&ctx, &sql, name).await?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => ctx.sql(&sql).await.map_err(|e| failed(crate::lake::read::scrubbed(&e)))?.schema().inner().clone(),
    };
    let rows = arrow::compute::concat_batches(&schema, &batches).map_err(|e| failed(e.to_string()))?;
    let dim_columns: Vec<arrow::array::ArrayRef> = (0..plan.spec.group_by.len()).map(|i| rows.column(i).clone()).collect();
    let dims = texts(&dim_columns, rows.num_rows()).map_err(|e| failed(e.to_string()))?;

    let mut by_subject: Vec<String> = groups.iter().enumerate().map(|(i, g)| format!("{g} AS d{i}")).collect();
    by_subject.push(format!("t.{subject} AS s"));
    by_subject.push(format!("{} AS c", adds.join(" || ';' || ")));
    let mut keys = groups.clone();
    keys.push(format!("t.{subject}"));
    let sql = format!("SELECT {} FROM {from} t{filter} GROUP BY {}", by_subject.join(", "), keys.join(", "));
    let mut now = Contributions::new();
    for b in collect(&ctx, &sql, name).await? {
        let n = plan.spec.group_by.len();
        let cells = texts(&b.columns()[..n], b.num_rows()).map_err(|e| failed(e.to_string()))?;
        let rest = texts(&b.columns()[n..], b.num_rows()).map_err(|e| failed(e.to_string()))?;
        for (cell, sc) in cells.iter().zip(rest) {
            now.entry(cell_key(cell)).or_default().insert(sc[0].clone(), sc[1].clone());
        }
    }
    let published = read_state(&state_path(lake, name)).map_err(failed)?;

    let counts = rows.column_by_name(SUBJECTS).expect("selected").as_primitive::<Int64Type>();
    let min = plan.spec.min_subjects as usize;
    let withheld = dims
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if counts.value(i) < plan.spec.min_subjects as i64 {
                return Some(Withheld::Small);
            }
            let before = published.as_ref().and_then(|p| p.get(&cell_key(d)))?;
            let empty = BTreeMap::new();
            let after = now.get(&cell_key(d)).unwrap_or(&empty);
            let changed = after.iter().filter(|(s, v)| before.get(*s) != Some(*v)).count()
                + before.keys().filter(|s| !after.contains_key(*s)).count();
            (changed > 0 && changed < min).then_some(Withheld::Changed)
        })
        .collect();

    let excluded = match &opted_out {
        None => 0,
        Some(e) => {
            let b = collect(&ctx, &format!("SELECT COUNT(DISTINCT t.{subject}) AS n FROM {from} t WHERE {e}"), name).await?;
            b.first().map_or(0, |b| b.column(0).as_primitive::<Int64Type>().value(0))
        }
    };
    Ok(ComputedExport { plan, rows, dims, withheld, excluded, now, published })
}

/// Secondary suppression across the exports of one run: for any two exports of the same
/// source, a cell of the dimensions they share under which one withholds a row and the other
/// publishes every row would give the withheld rows as a difference; the other's smallest row
/// there is withheld too. Repeated until nothing changes (a row withheld this way can make
/// another export's cell complementary in turn).
pub fn suppress_complements(exports: &mut [ComputedExport<'_>]) {
    loop {
        let mut changed = false;
        for a in 0..exports.len() {
            for b in 0..exports.len() {
                if a == b || exports[a].plan.spec.from != exports[b].plan.spec.from {
                    continue;
                }
                let (ga, gb) = (&exports[a].plan.spec.group_by, &exports[b].plan.spec.group_by);
                let shared: Vec<(usize, usize)> =
                    ga.iter().enumerate().filter_map(|(i, g)| gb.iter().position(|h| h == g).map(|j| (i, j))).collect();
                let project_a = |d: &[String]| shared.iter().map(|(i, _)| d[*i].clone()).collect::<Vec<_>>();
                let project_b = |d: &[String]| shared.iter().map(|(_, j)| d[*j].clone()).collect::<Vec<_>>();
                let withheld_in_a: std::collections::BTreeSet<Vec<String>> =
                    exports[a].dims.iter().zip(&exports[a].withheld).filter(|(_, w)| w.is_some()).map(|(d, _)| project_a(d)).collect();
                let counts = exports[b].rows.column_by_name(SUBJECTS).expect("selected").as_primitive::<Int64Type>().clone();
                for cell in withheld_in_a {
                    let under: Vec<usize> = (0..exports[b].dims.len()).filter(|&i| project_b(&exports[b].dims[i]) == cell).collect();
                    if under.is_empty() || under.iter().any(|&i| exports[b].withheld[i].is_some()) {
                        continue;
                    }
                    let smallest = *under.iter().min_by_key(|&&i| counts.value(i)).expect("not empty");
                    exports[b].withheld[smallest] = Some(Withheld::Complement);
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
    }
}

/// Publishes a computed export as `LAKE/export/<name>/<run-id>/` (Parquet, CSV and
/// `report.json`), points `LAKE/export/<name>/_latest` at it, then keeps its state: what each
/// subject added to each cell it published (and, for cells it withheld, what was last
/// published).
pub fn publish(lake: &Lake, computed: ComputedExport<'_>, run_id: &str) -> Result<ExportRecord, ExportError> {
    let ComputedExport { plan, rows, dims, withheld, excluded, now, published: before } = computed;
    let name = &plan.spec.name;
    let failed = |message: String| ExportError::Failed { export: name.clone(), message };
    let keep: BooleanArray = withheld.iter().map(|w| Some(w.is_none())).collect();
    let out = filter_record_batch(&rows, &keep).map_err(|e| failed(e.to_string()))?;
    let kept = out.num_rows();
    let suppressed = rows.num_rows() - kept;
    let count = |kind: Withheld| withheld.iter().filter(|w| **w == Some(kind)).count();
    let (changed, complementary) = (count(Withheld::Changed), count(Withheld::Complement));
    let counts = rows.column_by_name(SUBJECTS).expect("selected").as_primitive::<Int64Type>();
    let mut out = out;
    out.remove_column(out.schema().index_of(SUBJECTS).expect("selected"));
    let published = [out];
    let mut state = before.unwrap_or_default();
    for (d, w) in dims.iter().zip(&withheld) {
        let key = cell_key(d);
        if w.is_none() {
            state.insert(key.clone(), now.get(&key).cloned().unwrap_or_default());
        }
    }

    let dir = lake.dataset_dir(Zone::Export, name);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        let export = name.clone();
        move |cause| ExportError::Io { export, path, cause }
    };
    let schema = published[0].schema();
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
        rows_suppressed_changed: changed,
        rows_suppressed_complementary: complementary,
        subjects_excluded_by_consent: excluded,
        cell_sizes: SizeBin::histogram(counts.values().iter().map(|&n| (n.max(0) as u64, 1, n.max(0) as u64))),
        suppressed_share: if rows.num_rows() == 0 { 0.0 } else { suppressed as f64 / rows.num_rows() as f64 },
        retired_runs: Vec::new(),
        suppression: SUPPRESSION.into(),
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
    // After the pointer: a run killed between the two leaves the older state, against which
    // the next run withholds more, never less.
    let state_file = state_path(lake, name);
    files::write_atomic(&state_file, &state_bytes(&state).map_err(failed)?).map_err(io(&state_file))?;
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
