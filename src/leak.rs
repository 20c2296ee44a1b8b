//! The leak gate: raw PI found by value (not by column name) in de-identified output is a
//! finding. `run` checks every partition with it before publishing; `verify` checks a
//! published zone.
//!
//! A column is a finding when its values validate as PI the way `scan` would classify them
//! (ID numbers, phones, e-mails, cards, device ids, names, addresses, precise coordinates…),
//! or when free text in it still embeds such values. Generalized URLs and gender are not
//! findings: they remain by design.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::{cast, concat};
use arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::classify::Classifier;
use crate::lake::{self, DataFile, DatasetSource, LakeError};
use crate::transform::redact::find_spans;

/// PI found in an output. Never holds the values themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub dataset: String,
    pub path: String,
    pub column: String,
    pub category: Category,
    /// `values`: the column's values are PI; `embedded`: free text contains PI;
    /// `raw_identifier`: values equal raw values of a column the plan protects, or a subject id.
    pub kind: &'static str,
    pub values_checked: usize,
    pub values_matched: usize,
}

impl Finding {
    /// One line for reports and errors: the column, what was found and how often.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            "raw_identifier" => format!("raw values of a protected {} column", self.category),
            "embedded" => format!("{} inside free text", self.category),
            _ => self.category.to_string(),
        };
        format!("column {}: {what} ({} of {} values checked)", self.column, self.values_matched, self.values_checked)
    }
}

/// Categories whose values may remain in de-identified data as they are.
fn allowed(category: Category) -> bool {
    matches!(category, Category::None | Category::BrowsingHistory | Category::Gender)
}

/// Free text: has whitespace or non-ASCII characters (identifiers and codes have neither).
fn is_free_text(v: &str) -> bool {
    v.chars().any(|c| c.is_whitespace() || !c.is_ascii())
}

fn embedded_count(values: &StringArray) -> (usize, usize, Option<Category>) {
    let mut checked = 0;
    let mut matched = 0;
    let mut category = None;
    for v in values.iter().flatten().map(str::trim).filter(|v| is_free_text(v)) {
        checked += 1;
        if let Some(span) = find_spans(v).into_iter().find(|s| s.end - s.start < v.len()) {
            matched += 1;
            category.get_or_insert(span.category);
        }
    }
    (checked, matched, category)
}

/// What the value detectors find in one column's values: the category and kind of finding,
/// with the values checked and matched.
fn judge(classifier: &Classifier, name: &str, data_type: &str, values: &StringArray) -> Option<(Category, &'static str, usize, usize)> {
    let v = classifier.classify_typed(name, data_type, values);
    let min_share = classifier.rule(v.category).map_or(1.0, |r| r.min_share);
    let e = &v.evidence;
    if !allowed(v.category) && e.values_checked > 0 && e.values_matched as f64 >= min_share * e.values_checked as f64 {
        return Some((v.category, "values", e.values_checked, e.values_matched));
    }
    let (checked, matched, category) = embedded_count(values);
    category.map(|c| (c, "embedded", checked, matched))
}

/// Checks a sample of one dataset; columns named in `skip` (kept with a reason) are not checked.
pub async fn check_dataset(
    source: &DatasetSource,
    classifier: &Classifier,
    sample_rows: usize,
    skip: &[String],
) -> Result<Vec<Finding>, LakeError> {
    let sample = lake::sample_dataset(source, sample_rows).await?;
    let findings = sample.columns.iter().filter(|c| !skip.contains(&c.name)).filter_map(|col| {
        let (category, kind, values_checked, values_matched) = judge(classifier, &col.name, &col.data_type, &col.values)?;
        Some(Finding { dataset: source.name.clone(), path: source.path.display().to_string(), column: col.name.clone(), category, kind, values_checked, values_matched })
    });
    Ok(findings.collect())
}

/// Rows judged together by [`check_all_rows`]: the share tests of `scan` apply to each chunk
/// of this many rows (the size of a sample), so PI in any stretch of a column is judged on
/// that stretch, and memory holds one chunk.
pub const CHECK_CHUNK_ROWS: usize = 10_000;

/// Checks every row of `columns` of `source`, a chunk at a time: a column is a finding when
/// any chunk of it is (PI after row 10,000 is found as surely as before it). The check is an
/// aggregate ([`LeakCheck`]) run where `ctx` runs its plans: on a cluster, each executor
/// judges the rows it reads and returns counts, never values.
pub async fn check_all_rows(ctx: &SessionContext, source: &DatasetSource, classifier: &Arc<Classifier>, columns: &[String]) -> Result<Vec<Finding>, LakeError> {
    let file = source.files.first().ok_or_else(|| LakeError::NothingReadable { path: source.path.clone() })?;
    let failed = |e| lake::read::read_error(file, &e);
    let df = lake::read_files(ctx, &source.files).await?;
    let present: Vec<(String, String)> = df
        .schema()
        .fields()
        .iter()
        .filter(|f| columns.contains(f.name()))
        .map(|f| (f.name().clone(), lake::sample::reported_type(f.data_type())))
        .collect();
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let checks = present.iter().map(|(name, data_type)| {
        AggregateUDF::new_from_impl(LeakCheck::new(classifier.clone(), name.clone(), data_type.clone())).call(vec![Expr::Column(Column::new_unqualified(name))]).alias(name)
    });
    let batches = df.aggregate(Vec::new(), checks.collect()).map_err(failed)?.collect().await.map_err(failed)?;
    let mut findings = Vec::new();
    for batch in &batches {
        for (i, (name, _)) in present.iter().enumerate() {
            let Some(verdicts) = batch.column(i).as_any().downcast_ref::<StringArray>() else { continue };
            let judged = verdicts.iter().flatten().find_map(|v| serde_json::from_str::<Judgement>(v).ok());
            if let Some(j) = judged {
                findings.push(Finding { dataset: source.name.clone(), path: source.path.display().to_string(), column: name.clone(), category: j.category, kind: j.kind.as_str(), values_checked: j.checked, values_matched: j.matched });
            }
        }
    }
    Ok(findings)
}

/// What the value detectors found in a column: counts, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Judgement {
    category: Category,
    kind: JudgementKind,
    checked: usize,
    matched: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JudgementKind {
    Values,
    Embedded,
}

impl JudgementKind {
    fn as_str(self) -> &'static str {
        match self {
            JudgementKind::Values => "values",
            JudgementKind::Embedded => "embedded",
        }
    }
}

/// One column's rows judged a chunk of [`CHECK_CHUNK_ROWS`] at a time, until one chunk is a
/// finding. A short final stretch is judged together with the chunk before it: share tests on
/// a handful of values would find PI in chance matches.
#[derive(Debug)]
struct ColumnJudge {
    classifier: Arc<Classifier>,
    column: String,
    data_type: String,
    pending: Vec<ArrayRef>,
    rows: usize,
    previous: Vec<ArrayRef>,
    found: Option<Judgement>,
}

impl ColumnJudge {
    fn new(check: &LeakCheck) -> Self {
        let LeakCheck { classifier, column, data_type, .. } = check.clone();
        ColumnJudge { classifier, column, data_type, pending: Vec::new(), rows: 0, previous: Vec::new(), found: None }
    }

    fn push(&mut self, values: &ArrayRef) {
        if self.found.is_some() {
            return;
        }
        let Some(strings) = lake::sample::as_strings(values) else { return };
        self.rows += strings.len();
        self.pending.push(strings);
        if self.rows >= CHECK_CHUNK_ROWS {
            self.previous = std::mem::take(&mut self.pending);
            self.rows = 0;
            self.found = self.judge(&self.previous);
        }
    }

    /// The finding, once every row was pushed.
    fn finish(&mut self) -> Option<Judgement> {
        if self.found.is_none() && !self.pending.is_empty() {
            let mut last = std::mem::take(&mut self.pending);
            if self.rows < CHECK_CHUNK_ROWS / 2 {
                last.splice(0..0, std::mem::take(&mut self.previous));
            }
            self.rows = 0;
            self.found = self.judge(&last);
        }
        self.found.clone()
    }

    fn judge(&self, parts: &[ArrayRef]) -> Option<Judgement> {
        let joined = concat(&parts.iter().map(|a| a.as_ref()).collect::<Vec<_>>()).ok()?;
        let values = joined.as_any().downcast_ref::<StringArray>()?;
        let (category, kind, checked, matched) = judge(&self.classifier, &self.column, &self.data_type, values)?;
        let kind = if kind == "values" { JudgementKind::Values } else { JudgementKind::Embedded };
        Some(Judgement { category, kind, checked, matched })
    }
}

impl Accumulator for ColumnJudge {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::error::Result<()> {
        self.push(&values[0]);
        Ok(())
    }
    fn evaluate(&mut self) -> datafusion::error::Result<ScalarValue> {
        Ok(ScalarValue::Utf8(self.finish().map(|j| serde_json::to_string(&j).expect("serializes"))))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.pending.iter().chain(&self.previous).map(|a| a.get_array_memory_size()).sum::<usize>()
    }
    fn state(&mut self) -> datafusion::error::Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::error::Result<()> {
        let Some(states) = states[0].as_any().downcast_ref::<StringArray>() else { return Ok(()) };
        if self.found.is_none() {
            self.found = states.iter().flatten().find_map(|s| serde_json::from_str(s).ok());
        }
        Ok(())
    }
}

/// `piguard_leak_check(column)`: the leak gate's value check of one column over every row,
/// as an aggregate so that it runs where the rows are read. Its result is the finding's
/// counts as JSON, or null.
#[derive(Debug, Clone)]
pub struct LeakCheck {
    classifier: Arc<Classifier>,
    column: String,
    data_type: String,
    signature: Signature,
}

impl LeakCheck {
    /// The check of `column` (of `data_type`, as scan reports types) with `classifier`.
    pub fn new(classifier: Arc<Classifier>, column: String, data_type: String) -> Self {
        LeakCheck { classifier, column, data_type, signature: Signature::any(1, Volatility::Immutable) }
    }

    /// The classifier's rules, the column and its type: what another process rebuilds it from.
    pub fn parts(&self) -> (&crate::classify::Rules, &str, &str) {
        (self.classifier.rules(), &self.column, &self.data_type)
    }
}

impl PartialEq for LeakCheck {
    fn eq(&self, other: &Self) -> bool {
        (&self.column, &self.data_type, &self.classifier.rules().override_texts) == (&other.column, &other.data_type, &other.classifier.rules().override_texts)
    }
}
impl Eq for LeakCheck {}
impl std::hash::Hash for LeakCheck {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.column, &self.data_type, &self.classifier.rules().override_texts).hash(state);
    }
}

impl AggregateUDFImpl for LeakCheck {
    fn name(&self) -> &str {
        "piguard_leak_check"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> datafusion::error::Result<Box<dyn Accumulator>> {
        Ok(Box::new(ColumnJudge::new(self)))
    }
}

/// Shortest raw value worth remembering: shorter ones (`1`, `男`, `VIP`) are shared by chance.
const SKETCH_MIN_LEN: usize = 6;

/// Most fingerprints one sketch holds (16 to 32 MiB with the map's overhead). Beyond it the
/// sketch keeps a fixed fraction of them, chosen by the fingerprint itself, and checks only
/// values in the same fraction: a column that carries many raw identifiers is still found,
/// and memory stays bounded whatever the size of a partition.
const SKETCH_CAPACITY: usize = 1 << 20;

/// Fingerprints of raw identifier values (64-bit hashes, never the values), each with the
/// category of the column it came from. The leak gate checks every kept value against it, so
/// a column that carries raw identifiers is found whatever its name and whatever the
/// classifier thinks of it. A match is exact up to a 64-bit hash collision.
#[derive(Debug, Clone, Default)]
pub struct IdentifierSketch {
    fingerprints: HashMap<u64, Category, BuildHasherDefault<PassThrough>>,
    /// Only fingerprints whose lowest `shift` bits are zero are held (and checked).
    shift: u32,
}

/// The map's hasher: fingerprints are already well mixed.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A value as remembered, if it is worth remembering.
fn normalized(v: &str) -> Option<&str> {
    let v = crate::classify::detectors::normalize_value(v);
    // Dates and times are shared by every table of a lake; they identify nobody.
    (v.len() >= SKETCH_MIN_LEN && !crate::classify::detectors::starts_with_date(v)).then_some(v)
}

/// FNV-1a over the ASCII-lower-cased bytes, then a SplitMix64 finalizer so that every bit,
/// the low ones the capacity sampling looks at included, is uniform.
fn fingerprint(v: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.bytes() {
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// An array's values as text, when it holds text or integers (what identifiers are).
fn as_text(array: &dyn Array) -> Option<StringArray> {
    let text_like = matches!(array.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        || array.data_type().is_integer();
    if !text_like {
        return None;
    }
    let cast = cast(array, &DataType::Utf8).ok()?;
    cast.as_any().downcast_ref::<StringArray>().cloned()
}

impl IdentifierSketch {
    /// How many distinct values it remembers.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Whether it remembers nothing.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// One in how many values it can recognize: 1 until it reached its capacity.
    pub fn one_in(&self) -> u64 {
        1 << self.shift
    }

    fn held(&self, fp: u64) -> bool {
        fp.trailing_zeros() >= self.shift
    }

    /// Remembers the values of `array`, from a column of `category`.
    pub fn insert(&mut self, array: &dyn Array, category: Category) {
        let Some(text) = as_text(array) else { return };
        for v in text.iter().flatten().filter_map(normalized) {
            let fp = fingerprint(v);
            if !self.held(fp) {
                continue;
            }
            self.fingerprints.entry(fp).or_insert(category);
            if self.fingerprints.len() > SKETCH_CAPACITY {
                self.shift += 1;
                let shift = self.shift;
                self.fingerprints.retain(|fp, _| fp.trailing_zeros() >= shift);
            }
        }
    }

    /// The category of the remembered value `v`, if it is one.
    pub fn get(&self, v: &str) -> Option<Category> {
        self.get_fingerprint(fingerprint(normalized(v)?))
    }

    fn get_fingerprint(&self, fp: u64) -> Option<Category> {
        if self.held(fp) { self.fingerprints.get(&fp).copied() } else { None }
    }

    /// Remembers every value of `columns` (name, category) in `files`, streaming.
    pub async fn add_files(&mut self, ctx: &SessionContext, files: &[DataFile], columns: &[(String, Category)]) -> Result<(), LakeError> {
        let df = lake::read_files(ctx, files).await?;
        let present: Vec<&(String, Category)> = columns.iter().filter(|(c, _)| df.schema().field_with_unqualified_name(c).is_ok()).collect();
        if present.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = present.iter().map(|(c, _)| c.as_str()).collect();
        let err = |e: datafusion::error::DataFusionError| lake::read::read_error(&files[0], &e);
        let mut stream = df.select_columns(&names).map_err(err)?.execute_stream().await.map_err(err)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(err)?;
            for (i, (_, category)) in present.iter().enumerate() {
                self.insert(batch.column(i).as_ref(), *category);
            }
        }
        Ok(())
    }
}

/// Checks every value of `columns` in `source` against the sketches: a column holding any
/// remembered raw value is a finding (with counts, never values).
pub async fn check_identifiers(
    ctx: &SessionContext,
    source: &DatasetSource,
    columns: &[String],
    sketches: &[&IdentifierSketch],
) -> Result<Vec<Finding>, LakeError> {
    if sketches.iter().all(|s| s.is_empty()) {
        return Ok(Vec::new());
    }
    let df = lake::read_files(ctx, &source.files).await?;
    let present: Vec<&str> = columns.iter().map(String::as_str).filter(|c| df.schema().field_with_unqualified_name(c).is_ok()).collect();
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let err = |e: datafusion::error::DataFusionError| lake::read::read_error(&source.files[0], &e);
    let mut stream = df.select_columns(&present).map_err(err)?.execute_stream().await.map_err(err)?;
    // Per column: values checked, values matched, the first category matched.
    let mut tally: Vec<(usize, usize, Option<Category>)> = vec![(0, 0, None); present.len()];
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(err)?;
        for (i, t) in tally.iter_mut().enumerate() {
            let Some(text) = as_text(batch.column(i).as_ref()) else { continue };
            for v in text.iter().flatten() {
                t.0 += 1;
                let Some(fp) = normalized(v).map(fingerprint) else { continue };
                if let Some(category) = sketches.iter().find_map(|s| s.get_fingerprint(fp)) {
                    t.1 += 1;
                    t.2.get_or_insert(category);
                }
            }
        }
    }
    Ok(present
        .iter()
        .zip(tally)
        .filter_map(|(column, (checked, matched, category))| {
            category.map(|category| Finding {
                dataset: source.name.clone(),
                path: source.path.display().to_string(),
                column: column.to_string(),
                category,
                kind: "raw_identifier",
                values_checked: checked,
                values_matched: matched,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn phones(n: usize, from: u64) -> ArrayRef {
        Arc::new(StringArray::from((0..n as u64).map(|i| format!("1381{:07}", from + i)).collect::<Vec<_>>()))
    }

    fn notes(n: usize) -> ArrayRef {
        Arc::new(StringArray::from((0..n).map(|i| format!("order {i} shipped")).collect::<Vec<_>>()))
    }

    #[test]
    fn each_partition_judges_its_rows_and_the_merge_keeps_a_finding() {
        let check = LeakCheck::new(Arc::new(Classifier::new(crate::classify::Rules::builtin())), "remark".into(), "Utf8".into());
        let accumulator = || ColumnJudge::new(&check);
        // Phones past the first chunk of a partition are found; a partition without them is not.
        let mut leaking = accumulator();
        leaking.update_batch(&[notes(CHECK_CHUNK_ROWS)]).unwrap();
        leaking.update_batch(&[phones(CHECK_CHUNK_ROWS, 0)]).unwrap();
        let mut clean = accumulator();
        clean.update_batch(&[notes(3 * CHECK_CHUNK_ROWS)]).unwrap();
        let (leaking, clean) = (leaking.state().unwrap(), clean.state().unwrap());
        assert_eq!(clean, vec![ScalarValue::Utf8(None)]);
        let ScalarValue::Utf8(Some(state)) = &leaking[0] else { panic!("{leaking:?}") };
        assert!(!state.contains("1381"), "counts, never values: {state}");
        let mut merged = accumulator();
        let states: ArrayRef = Arc::new(StringArray::from(vec![None, Some(state.as_str())]));
        merged.merge_batch(&[states]).unwrap();
        let ScalarValue::Utf8(Some(verdict)) = merged.evaluate().unwrap() else { panic!() };
        let j: Judgement = serde_json::from_str(&verdict).unwrap();
        assert_eq!((j.category, j.kind, j.checked, j.matched), (Category::Phone, JudgementKind::Values, CHECK_CHUNK_ROWS, CHECK_CHUNK_ROWS));
        // A short final stretch is judged with the chunk before it: 40 phones after 10,000
        // notes are too few to be a finding.
        let mut short = accumulator();
        short.update_batch(&[notes(CHECK_CHUNK_ROWS)]).unwrap();
        short.update_batch(&[phones(40, 0)]).unwrap();
        assert_eq!(short.evaluate().unwrap(), ScalarValue::Utf8(None));
    }

    #[test]
    fn the_sketch_remembers_identifiers_not_short_values_or_dates() {
        let mut sketch = IdentifierSketch::default();
        sketch.insert(&StringArray::from(vec![Some(" 13812345678 "), Some("男"), None, Some("2026-05-01 12:00:00"), Some("Zhang.Wei@QQ.com")]), Category::Phone);
        sketch.insert(&Int64Array::from(vec![100000123]), Category::AccountId);
        assert_eq!(sketch.len(), 3);
        assert_eq!(sketch.get("13812345678"), Some(Category::Phone));
        assert_eq!(sketch.get("zhang.wei@qq.com"), Some(Category::Phone), "case does not hide a value");
        assert_eq!(sketch.get("tel:13812345678\0"), Some(Category::Phone), "nor decoration");
        assert_eq!(sketch.get("100000123"), Some(Category::AccountId), "integers are remembered as text");
        assert_eq!(sketch.get("男"), None);
        assert_eq!(sketch.get("13812345679"), None);
        assert_eq!(sketch.one_in(), 1);
    }

    #[test]
    fn a_full_sketch_keeps_a_fraction_and_still_finds_a_carried_column() {
        let mut sketch = IdentifierSketch::default();
        let ids: Vec<String> = (0..(SKETCH_CAPACITY as u64 + 1000)).map(|i| format!("{}", 10_000_000_000u64 + i)).collect();
        sketch.insert(&StringArray::from(ids.iter().map(String::as_str).collect::<Vec<_>>()), Category::AccountId);
        assert!(sketch.len() <= SKETCH_CAPACITY && sketch.one_in() == 2, "{} held, one in {}", sketch.len(), sketch.one_in());
        let found = ids.iter().take(1000).filter(|v| sketch.get(v).is_some()).count();
        assert!((350..650).contains(&found), "about half of a carried column is recognized: {found}");
        assert!(ids.iter().take(1000).map(|v| format!("{v}x")).all(|v| sketch.get(&v).is_none()));
    }
}
