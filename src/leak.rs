//! The leak gate: raw PI found by value (not by column name) in de-identified output is a
//! finding. `run` checks every partition with it before publishing; `verify` checks a
//! published zone.
//!
//! A column is a finding when its values validate as PI the way `scan` would classify them
//! (ID numbers, phones, e-mails, cards, device ids, names, addresses, precise coordinates…),
//! or when free text in it still embeds such values. Generalized URLs and gender are not
//! findings: they remain by design.

use std::hash::Hasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt64Array};
use arrow::compute::{cast, concat};
use arrow::datatypes::{DataType, UInt64Type};
use datafusion::common::{Column, DataFusionError, JoinType};
use datafusion::execution::SessionStateBuilder;
use datafusion::functions_aggregate::expr_fn::{approx_distinct, count, min};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, binary_expr, cast as cast_expr,
};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::classify::detectors::{IdentifierCell, canonical_phone_into, grouped_digits_into, is_plain, normalize_value, starts_with_date};
use crate::classify::{Classifier, PerValue};
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
    /// A kept column of `dataset` (at `path`) whose values equal raw values of a protected
    /// column, or subject ids, of `category`: `matched` of the `checked`.
    pub fn raw_identifier(dataset: &str, path: &str, column: &str, category: Category, checked: usize, matched: usize) -> Self {
        Finding {
            dataset: dataset.to_string(),
            path: path.to_string(),
            column: column.to_string(),
            category,
            kind: "raw_identifier",
            values_checked: checked,
            values_matched: matched,
        }
    }

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
    let mut seen = PerValue::default();
    for v in values.iter().flatten().map(str::trim).filter(|v| is_free_text(v)) {
        checked += 1;
        // The category of PI inside the text, beside other text.
        let found = *seen.of(v, |v| find_spans(v).into_iter().find(|s| s.end - s.start < v.len()).map(|s| s.category));
        if let Some(found) = found {
            matched += 1;
            category.get_or_insert(found);
        }
    }
    (checked, matched, category)
}

/// Cells that are on their own an identifier ([`IdentifierCell`]), judged against chance:
/// for each kind, the cells of its shape that pass its check are a finding when they are most
/// of that shape, or more than chance allows (four standard deviations above the expected
/// share). One ID number, or one valid card among a few numbers, is found at any share of its
/// column; a column of serial numbers a tenth of which pass Luhn is not. Returns the kind
/// with the most valid cells, the values checked and the valid cells.
fn identifier_cells(values: &StringArray) -> Option<(Category, &'static str, usize, usize)> {
    let mut checked = 0;
    // (category, cells of its shape, cells that passed its check)
    let mut tally: Vec<(Category, usize, usize)> = Vec::new();
    let mut seen = PerValue::default();
    for v in values.iter().flatten() {
        checked += 1;
        // Cheap refusal first: an identifier has at least 11 digits.
        if v.len() < 11 {
            continue;
        }
        // A plain value is its own normalization, and most (masks, codes) fail the shape at
        // their first byte that is not a digit: cheaper checked than remembered.
        let cell = match is_plain(v) {
            true => IdentifierCell::of(v),
            false => *seen.of(v, |v| IdentifierCell::of(&normalize_value(v))),
        };
        let Some(cell) = cell else { continue };
        let at = match tally.iter().position(|(c, _, _)| *c == cell.category) {
            Some(i) => i,
            None => {
                tally.push((cell.category, 0, 0));
                tally.len() - 1
            }
        };
        tally[at].1 += 1;
        tally[at].2 += usize::from(cell.valid);
    }
    let beyond_chance = |&&(category, shaped, valid): &&(Category, usize, usize)| {
        let (n, p) = (shaped as f64, IdentifierCell::chance(category));
        valid > 0 && (2 * valid >= shaped || valid as f64 > n * p + 4.0 * (n * p * (1.0 - p)).sqrt())
    };
    tally.iter().filter(beyond_chance).max_by_key(|(_, _, valid)| *valid).map(|&(category, _, valid)| (category, "values", checked, valid))
}

/// What the value detectors find in one column's values: the category and kind of finding,
/// with the values checked and matched.
fn judge(classifier: &Classifier, name: &str, data_type: &str, values: &StringArray) -> Option<(Category, &'static str, usize, usize)> {
    let v = classifier.classify_typed(name, data_type, values);
    let min_share = classifier.rule(v.category).map_or(1.0, |r| r.min_share);
    let e = &v.evidence;
    // A category the classifier reached by values alone (no name keyword) is PI by its
    // values, whatever the share it took (a mixed column, names among remarks).
    let by_values = e.name_keyword.is_none() && e.values_matched > 0;
    if !allowed(v.category) && e.values_checked > 0 && (by_values || e.values_matched as f64 >= min_share * e.values_checked as f64) {
        return Some((v.category, "values", e.values_checked, e.values_matched));
    }
    // Shares decide a column's category, never whether a value leaks: one ID number, card,
    // IMEI or mobile number standing alone in a cell is a finding.
    if let Some(found) = identifier_cells(values) {
        return Some(found);
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
        Some(Finding {
            dataset: source.name.clone(),
            path: source.path.display().to_string(),
            column: col.name.clone(),
            category,
            kind,
            values_checked,
            values_matched,
        })
    });
    Ok(findings.collect())
}

/// Rows judged together by a [`ColumnJudge`]: the share tests of `scan` apply to each chunk
/// of this many rows (the size of a sample), so PI in any stretch of a column is judged on
/// that stretch, and memory holds one chunk.
pub const CHECK_CHUNK_ROWS: usize = 10_000;

/// What the value detectors found in a column: counts, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub category: Category,
    pub kind: JudgementKind,
    pub checked: usize,
    pub matched: usize,
}

impl Judgement {
    /// The finding in `column` of `dataset` (at `path`) this judgement is.
    pub fn finding(&self, dataset: &str, path: &str, column: &str) -> Finding {
        Finding {
            dataset: dataset.to_string(),
            path: path.to_string(),
            column: column.to_string(),
            category: self.category,
            kind: self.kind.as_str(),
            values_checked: self.checked,
            values_matched: self.matched,
        }
    }
}

/// How a column's values hold PI.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgementKind {
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

/// The leak gate's value check of one column over every row it is given, judged a chunk of
/// [`CHECK_CHUNK_ROWS`] at a time, until one chunk is a finding. A short final stretch is
/// judged together with the chunk before it: share tests on a handful of values would find PI
/// in chance matches.
#[derive(Debug)]
pub struct ColumnJudge {
    classifier: Arc<Classifier>,
    column: String,
    data_type: String,
    pending: Vec<ArrayRef>,
    rows: usize,
    previous: Vec<ArrayRef>,
    found: Option<Judgement>,
}

impl ColumnJudge {
    /// The judge of `column` (of `data_type`, as scan reports types) with `classifier`.
    pub fn new(classifier: Arc<Classifier>, column: String, data_type: String) -> Self {
        ColumnJudge { classifier, column, data_type, pending: Vec::new(), rows: 0, previous: Vec::new(), found: None }
    }

    /// Judges the next `values` of the column.
    pub fn push(&mut self, values: &ArrayRef) {
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
    pub fn finish(&mut self) -> Option<Judgement> {
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

/// Shortest raw value worth fingerprinting: shorter ones (`1`, `男`, `VIP`) are shared by chance.
const FINGERPRINT_MIN_LEN: usize = 6;

/// Most distinct raw fingerprints a check compares kept values against from each reference
/// (a partition's protected columns; the lake's subject ids): 16 to 32 MiB in a hash table.
/// Beyond it a reference keeps a fixed fraction of them, chosen by the fingerprint itself,
/// so a column that carries many raw identifiers is still found, and memory stays bounded
/// whatever the size of a partition or of the lake.
const REFERENCE_CAPACITY: usize = 1 << 20;

/// Most raw fingerprints a [`FingerprintSample`] keeps, all protected columns together: each
/// scan task holds one, so a quarter of a reference's.
const SAMPLE_RAW_CAPACITY: usize = REFERENCE_CAPACITY / 4;

/// Most distinct fingerprints a [`FingerprintSample`] keeps of one kept column.
const KEPT_CAPACITY: usize = 1 << 16;

/// Hashes a fingerprint by its high bits: fingerprints are uniform, but a sample's low bits
/// are zero.
#[derive(Debug, Default, Clone, Copy)]
pub struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, fp: u64) {
        self.0 = fp.swap_bytes();
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FingerprintSet = std::collections::HashSet<u64, std::hash::BuildHasherDefault<FingerprintHasher>>;
/// Fingerprints to what they stand for.
pub type FingerprintMap<V> = std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<FingerprintHasher>>;

/// The lake's subject ids as fingerprints (sampled, see [`subject_fingerprints`]), with what
/// each id is.
pub type SubjectIds = FingerprintMap<Category>;

/// Whether fingerprint `fp` is in the sample of one in 2^`shift` ([`in_sample`] as a value).
fn sampled(fp: u64, shift: u32) -> bool {
    fp & ((1u64 << shift) - 1) == 0
}

/// One kept column's fingerprints in a [`FingerprintSample`].
#[derive(Debug, Default, Clone)]
struct KeptSample {
    /// Non-null values seen, sampled or not.
    checked: u64,
    /// Sampled fingerprints, with how often each was seen.
    values: FingerprintMap<u32>,
}

/// The leak gate's identifier check as it streams: a sample of the fingerprints of the raw
/// values of each protected column and of the values of each kept column, the same one in
/// 2^`shift` on both sides (chosen by the fingerprint's low bits), so that a kept value equal
/// to a raw one is in both or in neither. The shift grows as values come, to keep at most
/// [`SAMPLE_RAW_CAPACITY`] raw and [`KEPT_CAPACITY`] kept fingerprints a column: a column that
/// carries many raw identifiers is found, and memory is bounded whatever the rows. Samples of
/// parts of a dataset merge into the sample of the whole.
#[derive(Debug, Default, Clone)]
pub struct FingerprintSample {
    shift: u32,
    raw: Vec<FingerprintSet>,
    kept: Vec<KeptSample>,
}

impl FingerprintSample {
    /// An empty sample of `protected` raw columns and `kept` columns.
    pub fn new(protected: usize, kept: usize) -> Self {
        FingerprintSample { shift: 0, raw: vec![FingerprintSet::default(); protected], kept: vec![KeptSample::default(); kept] }
    }

    /// Adds fingerprints of protected raw column `column`.
    pub fn add_raw(&mut self, column: usize, fingerprints: &UInt64Array) {
        let shift = self.shift;
        self.raw[column].extend(fingerprints.iter().flatten().filter(|fp| sampled(*fp, shift)));
        self.bound();
    }

    /// Adds fingerprints of kept column `column`.
    pub fn add_kept(&mut self, column: usize, fingerprints: &UInt64Array) {
        let shift = self.shift;
        let kept = &mut self.kept[column];
        kept.checked += (fingerprints.len() - fingerprints.null_count()) as u64;
        for fp in fingerprints.iter().flatten().filter(|fp| sampled(*fp, shift)) {
            *kept.values.entry(fp).or_default() += 1;
        }
        self.bound();
    }

    /// Adds the values of `other`, a sample of the same columns.
    pub fn merge(&mut self, other: FingerprintSample) {
        self.shift = self.shift.max(other.shift);
        for (mine, theirs) in self.raw.iter_mut().zip(other.raw) {
            mine.extend(theirs);
        }
        for (mine, theirs) in self.kept.iter_mut().zip(other.kept) {
            mine.checked += theirs.checked;
            for (fp, n) in theirs.values {
                *mine.values.entry(fp).or_default() += n;
            }
        }
        self.resample();
        self.bound();
    }

    /// Raises the shift until the sample is within its capacities.
    fn bound(&mut self) {
        let raw = self.raw.iter().map(FingerprintSet::len).sum::<usize>();
        if raw > SAMPLE_RAW_CAPACITY || self.kept.iter().any(|k| k.values.len() > KEPT_CAPACITY) {
            self.shift += 1;
            self.resample();
            self.bound();
        }
    }

    /// Drops the fingerprints outside the sample.
    fn resample(&mut self) {
        let shift = self.shift;
        for set in &mut self.raw {
            set.retain(|fp| sampled(*fp, shift));
        }
        for kept in &mut self.kept {
            kept.values.retain(|fp, _| sampled(*fp, shift));
        }
    }

    /// Per kept column (in the order they were given), the values checked, the values equal to
    /// a raw value of a protected column (of `categories`, in order) or to one of `subjects`,
    /// and the category of the first protected column or subject they equal.
    pub fn matches(&self, categories: &[Category], subjects: &SubjectIds) -> Vec<(usize, usize, Option<Category>)> {
        self.kept
            .iter()
            .map(|kept| {
                let mut matched = 0;
                let mut category: Option<Category> = None;
                for (fp, n) in &kept.values {
                    let found =
                        self.raw.iter().position(|set| set.contains(fp)).map(|i| categories[i]).or_else(|| subjects.get(fp).copied());
                    if let Some(c) = found {
                        matched += *n as usize;
                        category = Some(category.map_or(c, |seen| if c.id() < seen.id() { c } else { seen }));
                    }
                }
                (kept.checked as usize, matched, category)
            })
            .collect()
    }

    /// The sample as bytes, to travel from where it was taken.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |v: u64| out.extend_from_slice(&v.to_le_bytes());
        put(u64::from(self.shift));
        put(self.raw.len() as u64);
        for set in &self.raw {
            put(set.len() as u64);
            set.iter().for_each(|fp| put(*fp));
        }
        put(self.kept.len() as u64);
        for kept in &self.kept {
            put(kept.checked);
            put(kept.values.len() as u64);
            for (fp, n) in &kept.values {
                put(*fp);
                put(u64::from(*n));
            }
        }
        out
    }

    /// A sample from [`FingerprintSample::to_bytes`]; `None` when the bytes are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let words = (bytes.len() / 8) as u64;
        let mut read = bytes.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
        let mut next = || read.next();
        // A count is never above the words there are: no allocation beyond the bytes' size.
        let count = |n: u64| (n <= words).then_some(n);
        let shift = u32::try_from(next()?).ok().filter(|s| *s < 64)?;
        let raw = (0..count(next()?)?)
            .map(|_| {
                let n = count(next()?)?;
                (0..n).map(|_| next()).collect::<Option<FingerprintSet>>()
            })
            .collect::<Option<Vec<_>>>()?;
        let kept = (0..count(next()?)?)
            .map(|_| {
                let checked = next()?;
                let n = count(next()?)?;
                let values = (0..n).map(|_| Some((next()?, u32::try_from(next()?).ok()?))).collect::<Option<FingerprintMap<u32>>>()?;
                Some(KeptSample { checked, values })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FingerprintSample { shift, raw, kept })
    }
}

/// Column names of the check's plans.
const FP: &str = "fp";
const CATEGORY: &str = "category";
const KEPT: &str = "kept";
const KEY: &str = "kept_fp";

/// The fingerprint of `v` as the leak gate compares values, if it is worth one.
/// Decoration is removed ([`normalize_value`]), and a number written with separators or a
/// country prefix (`138-1234-5678`, `+86 138 1234 5678`) is reduced to its digits, so a kept
/// copy matches its raw value however either is written. A reduced number is built in
/// `digits`, kept from value to value so that a column allocates it once.
fn fingerprint_value(v: &str, digits: &mut String) -> Option<u64> {
    let v = normalize_value(v);
    // Dates and times are shared by every table of a lake; they identify nobody.
    if v.len() < FINGERPRINT_MIN_LEN || starts_with_date(&v) {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_alphanumeric()) || !v.bytes().any(|b| b.is_ascii_digit()) {
        return Some(fingerprint(&v));
    }
    if !grouped_digits_into(&v, digits) {
        return Some(fingerprint(&v));
    }
    if !canonical_phone_into(&v, digits) {
        grouped_digits_into(&v, digits);
    }
    Some(fingerprint(digits))
}

/// The 8 bytes of `w` with their ASCII capitals lower-cased, all at once: a byte is a capital
/// when its high bit is clear and it lies in `A..=Z`.
fn ascii_lower(w: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = w & !HIGH;
    let at_least_a = low7 + 0x3f3f_3f3f_3f3f_3f3f;
    let beyond_z = low7 + 0x2525_2525_2525_2525;
    let capital = at_least_a & !beyond_z & !w & HIGH;
    w | (capital >> 2)
}

/// A 64-bit hash of `v` with ASCII case ignored, eight bytes a step, then a SplitMix64
/// finalizer so that every bit, the low ones the sampling looks at included, is uniform.
fn fingerprint(v: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes = v.as_bytes();
    let mut h = 0x243f_6a88_85a3_08d3 ^ (bytes.len() as u64).wrapping_mul(K);
    let mut step = |w: u64| h = (h ^ ascii_lower(w)).wrapping_mul(K).rotate_left(29);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        step(u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    let tail = words.remainder().len();
    if tail > 0 {
        // The last bytes, zero above, as one word: the string's last eight read at once where
        // it has eight (a copy to a padded buffer stalled on its reload, a fifth of the hash).
        let last = match bytes.len().checked_sub(8) {
            Some(from) => u64::from_le_bytes(bytes[from..].try_into().expect("8 bytes")) >> (8 * (8 - tail)),
            None => bytes.iter().rev().fold(0, |w, b| w << 8 | u64::from(*b)),
        };
        step(last);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether a column of this type can hold identifiers: text or numbers (a float holds an
/// id or a phone exactly up to 2^53, and is read as its digits).
fn fingerprintable(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) || data_type.is_integer() || data_type.is_floating()
}

/// `piguard_fingerprint(value)`: a 64-bit hash of an identifier-like value (text or an
/// integer, normalized as `scan` reads it, case ignored), null for short values, dates and
/// other types. The leak gate compares raw identifiers and kept values by it where they are
/// read, so that only counts come back. A match is exact up to a 64-bit collision.
///
/// As `piguard_subject_key(value)` ([`FingerprintUdf::subject_keys`]) it hashes every value
/// as its text, unnormalized: the risk evaluation counts distinct subjects by it, and a
/// collision could only merge two (a smaller class, never a larger one).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FingerprintUdf {
    signature: Signature,
    subject_keys: bool,
}

impl Default for FingerprintUdf {
    fn default() -> Self {
        FingerprintUdf { signature: Signature::any(1, Volatility::Immutable), subject_keys: false }
    }
}

impl FingerprintUdf {
    /// `piguard_subject_key`: every value hashed as its text.
    pub fn subject_keys() -> Self {
        FingerprintUdf { subject_keys: true, ..FingerprintUdf::default() }
    }

    /// Whether it is `piguard_subject_key`.
    pub fn is_subject_keys(&self) -> bool {
        self.subject_keys
    }
}

impl ScalarUDFImpl for FingerprintUdf {
    fn name(&self) -> &str {
        if self.subject_keys { "piguard_subject_key" } else { "piguard_fingerprint" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let fingerprints = match self.subject_keys {
            true => subject_keys(&values)
                .ok_or_else(|| DataFusionError::Plan(format!("a subject column of type {} cannot be counted", values.data_type())))?,
            false => identifier_fingerprints(&values),
        };
        Ok(ColumnarValue::Array(Arc::new(fingerprints)))
    }
}

/// The subject keys of `values` as `piguard_subject_key` computes them: every value hashed
/// as its text, unnormalized; `None` for a type with no text.
pub fn subject_keys(values: &ArrayRef) -> Option<UInt64Array> {
    lake::sample::map_text(values, |v| Some(fingerprint(v)))
}

/// The fingerprints of `values` as `piguard_fingerprint` computes them: null for values not
/// worth one, and for every value of a type that cannot hold an identifier. Numbers are read
/// as the text `scan` sees.
pub fn identifier_fingerprints(values: &ArrayRef) -> UInt64Array {
    let mut digits = String::new();
    let fingerprints = fingerprintable(values.data_type()).then(|| lake::sample::map_text(values, |v| fingerprint_value(v, &mut digits)));
    fingerprints.flatten().unwrap_or_else(|| UInt64Array::new_null(values.len()))
}

/// `column`'s values as `piguard_fingerprint` fingerprints them.
pub fn fingerprint_of(column: &str) -> Expr {
    ScalarUDF::new_from_impl(FingerprintUdf::default()).call(vec![Expr::Column(Column::new_unqualified(column))])
}

/// How many low bits of a fingerprint must be zero for a reference of at most `expected`
/// distinct values to keep it within [`REFERENCE_CAPACITY`].
fn sample_shift(expected: usize) -> u32 {
    let mut shift = 0;
    while expected >> shift > REFERENCE_CAPACITY {
        shift += 1;
    }
    shift
}

/// Whether fingerprint `fp` is in the sample of one in 2^`shift`.
fn in_sample(fp: Expr, shift: u32) -> Expr {
    binary_expr(fp, Operator::BitwiseAnd, lit((1u64 << shift) - 1)).eq(lit(0u64))
}

/// The fingerprints (`fp`, `category`) of the values of `columns` (name, category) in `df`
/// that are in the sample of one in 2^`shift`, duplicates included; `None` when `df` has
/// none of the columns.
fn fingerprints(df: &DataFrame, columns: &[(String, Category)], shift: u32) -> datafusion::error::Result<Option<DataFrame>> {
    let mut parts = columns
        .iter()
        .filter(|(c, _)| df.schema().field_with_unqualified_name(c).is_ok_and(|f| fingerprintable(f.data_type())))
        .map(|(c, category)| {
            let listed = df.clone().select(vec![fingerprint_of(c).alias(FP), lit(category.id()).alias(CATEGORY)])?;
            listed.filter(col(FP).is_not_null().and(in_sample(col(FP), shift)))
        });
    let Some(first) = parts.next().transpose()? else { return Ok(None) };
    parts.try_fold(first, |all, part| all.union(part?)).map(Some)
}

/// Each fingerprint once, with one of its categories.
fn distinct(fingerprints: DataFrame) -> datafusion::error::Result<DataFrame> {
    fingerprints.aggregate(vec![col(FP)], vec![min(col(CATEGORY)).alias(CATEGORY)])
}

/// One dataset's subject column in the raw zone: ids that no kept column of any dataset may
/// carry.
#[derive(Debug, Clone)]
pub struct RawSubjectColumn {
    /// The dataset, named in errors.
    pub dataset: String,
    /// Its raw files.
    pub files: Vec<DataFile>,
    /// Its subject column.
    pub column: String,
    /// What the column's ids are.
    pub category: Category,
}

impl RawSubjectColumn {
    /// `planned`'s subject column in its raw files (listed by `files` only when needed), when
    /// it has one whose ids the de-identified zone hides (pseudonymized).
    pub fn of(planned: &crate::plan::PlannedDataset, files: impl FnOnce() -> Option<Vec<DataFile>>) -> Option<Self> {
        let s = planned.subject_column.as_ref().filter(|s| s.hashed)?;
        Some(RawSubjectColumn { dataset: planned.name().to_string(), files: files()?, column: s.column.clone(), category: s.category })
    }
}

/// The lake's subject ids as distinct fingerprints (`fp`, `category`), one table per
/// dataset, sampled together to at most [`REFERENCE_CAPACITY`]: first counted
/// (approximately, in bounded memory), then listed. Plans run where `ctx` runs them. An error
/// names the dataset that could not be read.
pub async fn subject_fingerprints(
    ctx: &SessionContext,
    subjects: &[RawSubjectColumn],
) -> Result<Vec<(String, DataFrame)>, (String, LakeError)> {
    let mut listed = Vec::new();
    let mut total = 0;
    for s in subjects {
        let failed = unreadable(s);
        let df = lake::read_files(ctx, &s.files).await.map_err(|e| (s.dataset.clone(), e))?;
        let columns = [(s.column.clone(), s.category)];
        let Some(all) = fingerprints(&df, &columns, 0).map_err(&failed)? else { continue };
        let counted = all.aggregate(Vec::new(), vec![approx_distinct(col(FP))]).map_err(&failed)?.collect().await.map_err(failed)?;
        let count = counted.first().and_then(|b| b.column(0).as_any().downcast_ref::<UInt64Array>()).map_or(0, |a| a.value(0));
        total += usize::try_from(count).unwrap_or(usize::MAX);
        listed.push((s, df, columns));
    }
    let shift = sample_shift(total);
    let mut tables = Vec::new();
    for (s, df, columns) in listed {
        if let Some(sampled) = fingerprints(&df, &columns, shift).map_err(unreadable(s))? {
            tables.push((s.dataset.clone(), distinct(sampled).map_err(unreadable(s))?));
        }
    }
    Ok(tables)
}

/// Fingerprints gathered into a bounded reference: every one while they fit in `capacity`,
/// then those of a sample of one in 2, 4, … (chosen by the fingerprint, as [`sampled`]).
struct Gathered {
    ids: SubjectIds,
    shift: u32,
    capacity: usize,
}

impl Gathered {
    fn new(capacity: usize) -> Self {
        Gathered { ids: SubjectIds::default(), shift: 0, capacity }
    }

    /// Adds `fp`; one in several datasets keeps the category that sorts first.
    fn add(&mut self, fp: u64, category: Category) {
        if !sampled(fp, self.shift) {
            return;
        }
        let kept = self.ids.entry(fp).or_insert(category);
        if category.id() < kept.id() {
            *kept = category;
        }
        if self.ids.len() > self.capacity {
            self.shift += 1;
            let shift = self.shift;
            self.ids.retain(|fp, _| sampled(*fp, shift));
        }
    }
}

/// The lake's subject ids, gathered here in one pass over each subject column: at most
/// [`REFERENCE_CAPACITY`] fingerprints (the smallest sample of the kind
/// [`subject_fingerprints`] lists that fits), never a value. Plans run where `ctx` runs
/// them; the fingerprints stream back (on a cluster, every row's: 8 bytes a row).
pub async fn subject_ids(ctx: &SessionContext, subjects: &[RawSubjectColumn]) -> Result<SubjectIds, (String, LakeError)> {
    let mut gathered = Gathered::new(REFERENCE_CAPACITY);
    for s in subjects {
        let failed = unreadable(s);
        let df = lake::read_files(ctx, &s.files).await.map_err(|e| (s.dataset.clone(), e))?;
        let Some(all) = fingerprints(&df, &[(s.column.clone(), s.category)], 0).map_err(&failed)? else { continue };
        let mut stream = all.select(vec![col(FP)]).map_err(&failed)?.execute_stream().await.map_err(&failed)?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(&failed)?;
            batch.column(0).as_primitive::<UInt64Type>().iter().flatten().for_each(|fp| gathered.add(fp, s.category));
        }
    }
    Ok(gathered.ids)
}

/// The error of reading `s`'s raw files, naming its dataset.
fn unreadable(s: &RawSubjectColumn) -> impl Fn(DataFusionError) -> (String, LakeError) + '_ {
    move |e| (s.dataset.clone(), lake::read::read_error(&s.files[0], &e))
}

/// `df` planned with each join's sides as written, the left one collected whole. The check's
/// join must hold the bounded reference and stream the partition's values past it, where they
/// are read: going by estimated sizes, the planner would hold the values instead (1.9 GiB more
/// at 20 M rows), or shuffle them between executors.
fn reference_on_the_left(df: DataFrame) -> DataFrame {
    let (state, plan) = df.into_parts();
    let mut config = state.config().clone();
    config.options_mut().optimizer.join_reordering = false;
    config.options_mut().optimizer.repartition_joins = false;
    DataFrame::new(SessionStateBuilder::new_from_existing(state).with_config(config).build(), plan)
}

/// Checks every value of the `kept` columns of `output` (`rows` rows) against the raw values
/// of the `protected` columns (name, category) of `raw` and against `subjects` (as
/// [`subject_fingerprints`] lists them): a column holding any of them is a finding, with
/// counts, never values. The check is one plan run where `ctx` runs its plans: on a cluster,
/// executors compare fingerprints and only the counts come back.
pub async fn check_identifiers(
    ctx: &SessionContext,
    output: &DatasetSource,
    kept: &[String],
    rows: usize,
    raw: &[DataFile],
    protected: &[(String, Category)],
    subjects: Option<DataFrame>,
) -> Result<Vec<Finding>, LakeError> {
    let out = lake::read_files(ctx, &output.files).await?;
    let failed = |e: DataFusionError| lake::read::read_error(&output.files[0], &e);
    let present: Vec<&String> =
        kept.iter().filter(|c| out.schema().field_with_unqualified_name(c).is_ok_and(|f| fingerprintable(f.data_type()))).collect();
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let own = match raw.first() {
        Some(first) => {
            let df = lake::read_files(ctx, raw).await?;
            fingerprints(&df, protected, sample_shift(rows.saturating_mul(protected.len())))
                .map_err(|e| lake::read::read_error(first, &e))?
        }
        None => None,
    };
    let subjects =
        subjects.map(|s| s.select(vec![col(FP), cast_expr(col(CATEGORY), DataType::Utf8).alias(CATEGORY)])).transpose().map_err(failed)?;
    let known = match (own, subjects) {
        (Some(own), Some(subjects)) => own.union(subjects).map_err(failed)?,
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => return Ok(Vec::new()),
    };
    let checked = present.iter().map(|c| {
        let values = out.clone().filter(Expr::Column(Column::new_unqualified(*c)).is_not_null())?;
        values.select(vec![lit(c.as_str()).alias(KEPT), fingerprint_of(c).alias(KEY)])
    });
    let checked = checked.reduce(|all, part| all?.union(part?)).expect("a kept column").map_err(failed)?;
    let tally = distinct(known)
        .and_then(|known| known.join(checked, JoinType::Right, &[FP], &[KEY], None))
        .and_then(|joined| {
            joined.aggregate(
                vec![col(KEPT)],
                vec![count(lit(1)).alias("checked"), count(col(FP)).alias("matched"), min(col(CATEGORY)).alias(CATEGORY)],
            )
        })
        .map_err(failed)?;
    let tally = reference_on_the_left(tally).collect().await.map_err(failed)?;
    let mut findings = Vec::new();
    for batch in &tally {
        let text = |i: usize| cast(batch.column(i), &DataType::Utf8).map_err(|e| failed(e.into()));
        let number = |i: usize| cast(batch.column(i), &DataType::UInt64).map_err(|e| failed(e.into()));
        let (columns, checked, matched, categories) = (text(0)?, number(1)?, number(2)?, text(3)?);
        let (columns, categories) = (columns.as_string::<i32>(), categories.as_string::<i32>());
        let (checked, matched) = (checked.as_primitive::<UInt64Type>(), matched.as_primitive::<UInt64Type>());
        for i in 0..batch.num_rows() {
            let category = categories
                .is_valid(i)
                .then(|| serde_json::from_value::<Category>(serde_json::Value::String(categories.value(i).to_string())));
            let Some(category) = category.transpose().map_err(|e| failed(DataFusionError::Internal(e.to_string())))? else { continue };
            findings.push(Finding::raw_identifier(
                &output.name,
                &output.path.display().to_string(),
                columns.value(i),
                category,
                checked.value(i) as usize,
                matched.value(i) as usize,
            ));
        }
    }
    findings.sort_by_key(|f| present.iter().position(|c| **c == f.column));
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::detectors::{canonical_phone, grouped_digits};
    use arrow::array::{Float64Array, Int64Array};
    use proptest::prelude::*;

    fn phones(n: usize, from: u64) -> ArrayRef {
        Arc::new(StringArray::from((0..n as u64).map(|i| format!("1381{:07}", from + i)).collect::<Vec<_>>()))
    }

    fn notes(n: usize) -> ArrayRef {
        Arc::new(StringArray::from((0..n).map(|i| format!("order {i} shipped")).collect::<Vec<_>>()))
    }

    #[test]
    fn a_judge_finds_pi_in_any_chunk_and_reports_counts_only() {
        let judge = || ColumnJudge::new(Arc::new(Classifier::new(crate::classify::Rules::builtin())), "remark".into(), "Utf8".into());
        // Phones past the first chunk are found; a column without them is not.
        let mut leaking = judge();
        leaking.push(&notes(CHECK_CHUNK_ROWS));
        leaking.push(&phones(CHECK_CHUNK_ROWS, 0));
        let mut clean = judge();
        clean.push(&notes(3 * CHECK_CHUNK_ROWS));
        assert_eq!(clean.finish(), None);
        let j = leaking.finish().expect("the phones are found");
        assert_eq!(
            (j.category, j.kind, j.checked, j.matched),
            (Category::Phone, JudgementKind::Values, CHECK_CHUNK_ROWS, CHECK_CHUNK_ROWS)
        );
        let described = j.finding("t", "t", "remark").describe();
        assert!(!described.contains("1381"), "counts, never values: {described}");
        // Shares decide a column's category, not whether a value leaks: 40 phones after
        // 10,000 notes are a finding, and so is one.
        for n in [40, 1] {
            let mut short = judge();
            short.push(&notes(CHECK_CHUNK_ROWS));
            short.push(&phones(n, 0));
            let j = short.finish().unwrap_or_else(|| panic!("{n} phones went unnoticed"));
            assert_eq!((j.category, j.checked, j.matched), (Category::Phone, CHECK_CHUNK_ROWS + n, n));
        }
    }

    #[test]
    fn fingerprints_ignore_ascii_case_only() {
        for (a, b) in
            [("Zhang.Wei@QQ.COM", "zhang.wei@qq.com"), ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"), ("X@[`{Ä", "x@[`{Ä")]
        {
            assert_eq!(fingerprint(a), fingerprint(b), "{a}");
        }
        for (a, b) in [("@[`{", "`{@["), ("Ä1234567", "ä1234567"), ("13812345678", "13812345679"), ("1234567", "12345670")] {
            assert_ne!(fingerprint(a), fingerprint(b), "{a} {b}");
        }
        let all: Vec<u8> = (0u8..=255).collect();
        for chunk in all.chunks(8) {
            let w = u64::from_le_bytes(chunk.try_into().unwrap());
            let lowered: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(ascii_lower(w), u64::from_le_bytes(lowered.try_into().unwrap()), "{chunk:?}");
        }
    }

    /// A value's fingerprint, spelled out with a new string at every step.
    fn fingerprint_alone(v: &str) -> Option<u64> {
        let v = normalize_value(v);
        if v.len() < FINGERPRINT_MIN_LEN || starts_with_date(&v) {
            return None;
        }
        let digits = grouped_digits(&v).filter(|_| v.bytes().any(|b| b.is_ascii_digit()) && !v.bytes().all(|b| b.is_ascii_alphanumeric()));
        Some(fingerprint(&digits.map_or(v.to_string(), |d| canonical_phone(&v).unwrap_or(d))))
    }

    /// [`fingerprint`] as first written: the last bytes copied to a zeroed word.
    fn fingerprint_padded(v: &str) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let bytes = v.as_bytes();
        let mut h = 0x243f_6a88_85a3_08d3 ^ (bytes.len() as u64).wrapping_mul(K);
        for word in bytes.chunks(8) {
            let mut padded = [0u8; 8];
            padded[..word.len()].copy_from_slice(word);
            h = (h ^ ascii_lower(u64::from_le_bytes(padded))).wrapping_mul(K).rotate_left(29);
        }
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }

    proptest! {
        // Subject keys and fingerprints of every length are what they were.
        #[test]
        fn fingerprints_read_the_last_bytes_as_a_padded_word(v in "\\PC{0,40}") {
            prop_assert_eq!(fingerprint(&v), fingerprint_padded(&v));
        }

        // One buffer serves a whole column: no value's fingerprint depends on the one before,
        // and a float is fingerprinted as the text `scan` reads it.
        #[test]
        fn a_columns_fingerprints_are_those_of_its_values_alone(
            values in proptest::collection::vec("(tel:|mailto:)?[0-9０-９ .+()xX@a-z张伟é\u{200b}\u{3000}\u{a0}\u{ad}\u{feff}\u{2028}\u{85}:'\"-]{0,20}|(\\+86|0086)?1[3-9][0-9]{9}", 1..24),
            floats in proptest::collection::vec(any::<f64>(), 1..24),
        ) {
            let column = identifier_fingerprints(&(Arc::new(StringArray::from(values.clone())) as ArrayRef));
            for (i, v) in values.iter().enumerate() {
                prop_assert_eq!(column.is_valid(i).then(|| column.value(i)), fingerprint_alone(v), "{:?}", v);
            }
            let floats: ArrayRef = Arc::new(Float64Array::from(floats));
            prop_assert_eq!(identifier_fingerprints(&floats), identifier_fingerprints(&lake::sample::floats_as_text(&floats)));
        }
    }

    #[test]
    fn a_sample_finds_raw_values_in_kept_columns_across_parts_and_beyond_its_capacity() {
        let fps = |values: &[String]| identifier_fingerprints(&(Arc::new(StringArray::from(values.to_vec())) as ArrayRef));
        let phones: Vec<String> = (0..3 * SAMPLE_RAW_CAPACITY as u64).map(|i| format!("138{i:08}")).collect();
        let categories = [Category::Phone];
        // Raw phones in one part, a kept column carrying 1 in 4 of them in another: merged,
        // the sample is bounded and still finds the column, with counts in the same sample.
        let mut raw = FingerprintSample::new(1, 1);
        for chunk in phones.chunks(1 << 16) {
            raw.add_raw(0, &fps(chunk));
        }
        let mut kept = FingerprintSample::new(1, 1);
        let carried: Vec<String> = phones.iter().step_by(4).cloned().collect();
        kept.add_kept(0, &fps(&carried));
        let mut merged = FingerprintSample::from_bytes(&raw.to_bytes()).expect("its own bytes");
        merged.merge(FingerprintSample::from_bytes(&kept.to_bytes()).expect("its own bytes"));
        assert!(merged.raw[0].len() <= SAMPLE_RAW_CAPACITY && merged.shift >= 2, "bounded: shift {}", merged.shift);
        let [(checked, matched, category)] = merged.matches(&categories, &SubjectIds::default())[..] else { panic!() };
        assert_eq!((checked, category), (carried.len(), Some(Category::Phone)));
        let expected = carried.len() >> merged.shift;
        assert!(matched > expected / 2 && matched < expected * 2, "{matched} of about {expected}");
        // Values that are no raw value, nor a subject id, match nothing; subject ids do.
        let mut clean = FingerprintSample::new(1, 1);
        clean.add_raw(0, &fps(&phones[..1000]));
        let others: Vec<String> = (0..1000).map(|i| format!("N{i:08}")).collect();
        clean.add_kept(0, &fps(&others));
        assert_eq!(clean.matches(&categories, &SubjectIds::default()), vec![(1000, 0, None)]);
        let subjects: SubjectIds = fps(&others[..3]).iter().flatten().map(|fp| (fp, Category::AccountId)).collect();
        assert_eq!(clean.matches(&categories, &subjects), vec![(1000, 3, Some(Category::AccountId))]);
        assert!(FingerprintSample::from_bytes(&[0xff; 24]).is_none(), "a count beyond the bytes is refused");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap()
    }

    fn csv(dir: &std::path::Path, name: &str, header: &str, rows: impl Iterator<Item = String>) -> DataFile {
        let path = dir.join(format!("{name}.csv"));
        std::fs::write(&path, std::iter::once(header.to_string()).chain(rows).collect::<Vec<_>>().join("\n")).unwrap();
        DataFile { path, format: crate::lake::FileFormat::Csv }
    }

    #[test]
    fn fingerprints_skip_short_values_and_dates_and_ignore_case_and_decoration() {
        let values = StringArray::from(vec![
            Some(" 13812345678 "),
            Some("tel:13812345678\0"),
            Some("Zhang.Wei@QQ.com"),
            Some("zhang.wei@qq.com"),
            Some("男"),
            None,
            Some("2026-05-01 12:00:00"),
            Some("100000123"),
        ]);
        let args = |array: ArrayRef| ScalarFunctionArgs {
            number_rows: array.len(),
            args: vec![ColumnarValue::Array(array)],
            arg_fields: Vec::new(),
            return_field: Arc::new(arrow::datatypes::Field::new("fp", DataType::UInt64, true)),
            config_options: Arc::new(datafusion::config::ConfigOptions::default()),
        };
        let udf = FingerprintUdf::default();
        let ColumnarValue::Array(fps) = udf.invoke_with_args(args(Arc::new(values))).unwrap() else { panic!() };
        let fps = fps.as_primitive::<UInt64Type>();
        assert_eq!(fps.value(0), fps.value(1), "decoration does not hide a value");
        assert_eq!(fps.value(2), fps.value(3), "nor case");
        assert_ne!(fps.value(0), fps.value(2));
        assert!(fps.is_null(4) && fps.is_null(5) && fps.is_null(6), "short values and dates identify nobody");
        let ColumnarValue::Array(ints) = udf.invoke_with_args(args(Arc::new(Int64Array::from(vec![100000123])))).unwrap() else { panic!() };
        assert_eq!(ints.as_primitive::<UInt64Type>().value(0), fps.value(7), "integers are fingerprinted as text");
        let floats = arrow::array::Float64Array::from(vec![100000123.0, 1.5, 13812345678.0]);
        let ColumnarValue::Array(floats) = udf.invoke_with_args(args(Arc::new(floats))).unwrap() else { panic!() };
        let floats = floats.as_primitive::<UInt64Type>();
        assert_eq!(floats.value(0), fps.value(7), "an integral float is fingerprinted as its digits");
        assert_eq!(floats.value(2), fps.value(0), "a phone stored as a float is the phone");
        assert!(floats.is_null(1));
        let grouped = StringArray::from(vec!["+86 138-1234-5678", "（＋８６）１３８ １２３４ ５６７８", "138.1234.5678"]);
        let ColumnarValue::Array(grouped) = udf.invoke_with_args(args(Arc::new(grouped))).unwrap() else { panic!() };
        for i in 0..3 {
            assert_eq!(grouped.as_primitive::<UInt64Type>().value(i), fps.value(0), "grouped or decorated copy {i}");
        }
        assert_eq!(
            (sample_shift(REFERENCE_CAPACITY), sample_shift(REFERENCE_CAPACITY + 1), sample_shift(4 * REFERENCE_CAPACITY + 4)),
            (0, 1, 3)
        );
    }

    #[test]
    fn gathered_ids_are_every_fingerprint_while_they_fit_then_the_smallest_sample_that_fits() {
        let fps: Vec<u64> = (0..5_000u64).map(|i| fingerprint(&format!("1380013{i:04}"))).collect();
        let mut gathered = Gathered::new(1_000);
        for (i, fp) in fps.iter().enumerate() {
            // Each id seen twice, the second time under a category that sorts first.
            gathered.add(*fp, Category::Phone);
            if i % 2 == 0 {
                gathered.add(*fp, Category::IdCard);
            }
        }
        let in_sample = |shift: u32| fps.iter().filter(|fp| sampled(**fp, shift)).count();
        let shift = gathered.shift;
        assert!(shift > 0 && in_sample(shift) <= 1_000 && in_sample(shift - 1) > 1_000, "shift {shift}");
        assert_eq!(gathered.ids.len(), in_sample(shift));
        for (i, fp) in fps.iter().enumerate().filter(|(_, fp)| sampled(**fp, shift)) {
            let first = if Category::IdCard.id() < Category::Phone.id() && i % 2 == 0 { Category::IdCard } else { Category::Phone };
            assert_eq!(gathered.ids.get(fp), Some(&first));
        }
        let mut few = Gathered::new(1_000);
        fps[..900].iter().for_each(|fp| few.add(*fp, Category::Phone));
        assert_eq!((few.shift, few.ids.len()), (0, 900), "all of them while they fit");
    }

    #[test]
    fn the_check_counts_kept_values_carrying_raw_identifiers_or_subject_ids() {
        let dir = tempfile::tempdir().unwrap();
        let raw = csv(dir.path(), "raw", "phone,city", (0..200).map(|i| format!("1381{i:07},Hangzhou")));
        let users = csv(dir.path(), "users", "user_id", (0..50).map(|i| format!("{}", 700_000_000 + i)));
        // `note` carries 30 raw phones; `ref` carries 5 subject ids; `city` kept as it is.
        let out = csv(
            dir.path(),
            "out",
            "note,ref,city,amount",
            (0..100).map(|i| {
                let note = if i < 30 { format!("1381{i:07}") } else { format!("N{i:08}") };
                format!("{note},{},Hangzhou,{i}", if i < 5 { 700_000_000 + i } else { 900_000_000 + i })
            }),
        );
        let output = DatasetSource { name: "out".into(), path: out.path.clone(), files: vec![out], partition_columns: Vec::new() };
        let kept: Vec<String> = ["note", "ref", "city", "amount", "gone"].map(String::from).to_vec();
        let protected = [("phone".to_string(), Category::Phone), ("missing".to_string(), Category::IdCard)];
        let subject =
            RawSubjectColumn { dataset: "users".into(), files: vec![users], column: "user_id".into(), category: Category::AccountId };
        let ctx = lake::context(datafusion::prelude::SessionConfig::new());
        runtime().block_on(async {
            let subjects = subject_fingerprints(&ctx, &[subject]).await.unwrap();
            assert_eq!(subjects.len(), 1);
            let subjects = subjects.into_iter().next().map(|(_, t)| t);
            let found =
                check_identifiers(&ctx, &output, &kept, 100, std::slice::from_ref(&raw), &protected, subjects.clone()).await.unwrap();
            let summary: Vec<_> =
                found.iter().map(|f| (f.column.as_str(), f.category, f.kind, f.values_checked, f.values_matched)).collect();
            assert_eq!(
                summary,
                [("note", Category::Phone, "raw_identifier", 100, 30), ("ref", Category::AccountId, "raw_identifier", 100, 5)]
            );
            let described = found.iter().map(Finding::describe).collect::<Vec<_>>().join("; ");
            assert!(!described.contains("1381") && !described.contains("7000000"), "counts, never values: {described}");

            // A partition too large for the reference keeps a fraction of its fingerprints
            // (about half here): a column carrying many raw values is still found.
            let sampled =
                check_identifiers(&ctx, &output, &kept, REFERENCE_CAPACITY + 1, std::slice::from_ref(&raw), &protected[..1], None)
                    .await
                    .unwrap();
            assert_eq!(sampled.len(), 1, "{sampled:?}");
            assert!((5..26).contains(&sampled[0].values_matched), "{sampled:?}");
            let none = check_identifiers(&ctx, &output, &["city".to_string()], 100, std::slice::from_ref(&raw), &protected, subjects)
                .await
                .unwrap();
            assert!(none.is_empty(), "{none:?}");
        });
    }
}
