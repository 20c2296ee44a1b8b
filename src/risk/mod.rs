//! The de-identification effect, measured (GB/T 42460-2023, Annex D): which columns of a
//! published table are identifiers, how records group into equivalence classes over the
//! quasi-identifiers, the re-identification risk of those classes, and the level that follows.
//!
//! Roles come first from what was done to a column (a keyed hash is a pseudonym; a raw
//! identifier is a direct identifier) and from its category (gender, birth dates, addresses and
//! locations are quasi-identifiers); every other column that is published is *measured*: one
//! whose values alone single out more than [`RARE_SHARE`] of the records is a quasi-identifier
//! whatever the classifier called it. Class sizes are the write's own counts where those serve
//! ([`counted`]), or else aggregates DataFusion computes where the session runs its plans
//! (spilling, on executors on a cluster); only counts come back.

pub mod counted;
pub mod report;
pub mod subjects;
pub mod suppress;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use datafusion::common::{Column, DataFusionError};
use datafusion::functions::expr_fn::character_length;
use datafusion::functions_aggregate::expr_fn::{avg, count, sum};
use datafusion::logical_expr::{Expr, ScalarUDF};
use datafusion::prelude::{DataFrame, lit};
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::classify::TypeKind;
use crate::leak::FingerprintUdf;
pub use counted::{Classes, CountedClasses};
pub use suppress::SmallClasses;

/// Who may see a published dataset; it sets the threshold τ of GB/T 42460.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// Published or shared with anyone: τ = 1/20.
    Public,
    /// Shared under contract with known recipients: τ = 1/5.
    #[default]
    Controlled,
    /// Read only inside a controlled environment: τ = 1/3.
    Enclave,
}

impl Sharing {
    /// The smallest class (in subjects) whose risk θ = 1/f is not above τ = 1/k.
    pub fn min_class(self) -> u64 {
        match self {
            Sharing::Public => 20,
            Sharing::Controlled => 5,
            Sharing::Enclave => 3,
        }
    }

    /// τ, the highest acceptable θ.
    pub fn tau(self) -> f64 {
        1.0 / self.min_class() as f64
    }

    /// The id used in pipelines and reports.
    pub fn id(self) -> &'static str {
        match self {
            Sharing::Public => "public",
            Sharing::Controlled => "controlled",
            Sharing::Enclave => "enclave",
        }
    }
}

impl std::str::FromStr for Sharing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("`{s}` is not a sharing model: public, controlled or enclave"))
    }
}

/// A column's part in re-identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Points to one person on its own: must be none in published data.
    DirectIdentifier,
    /// A keyed hash: the record key, not a quasi-identifier.
    Pseudonym,
    /// Known to others from elsewhere, and combined it singles people out.
    QuasiIdentifier,
    /// What is learned about a person, not how they are found.
    SensitiveAttribute,
    Other,
}

impl Role {
    /// The role in words, for reports.
    pub fn label(self) -> &'static str {
        match self {
            Role::DirectIdentifier => "direct identifier",
            Role::Pseudonym => "pseudonym",
            Role::QuasiIdentifier => "quasi-identifier",
            Role::SensitiveAttribute => "sensitive attribute",
            Role::Other => "other",
        }
    }
}

/// A column whose values alone leave more than this share of records in classes smaller than
/// the sharing model allows singles out rows: it is a quasi-identifier, whatever its category.
pub const RARE_SHARE: f64 = 0.01;

/// Text this long on average (in characters) is free text: the content shared, not something
/// known about a person beforehand, so a sensitive attribute rather than a quasi-identifier.
pub const FREE_TEXT_CHARS: f64 = 40.0;

/// The categories whose values others know about a person from elsewhere.
pub fn is_quasi_identifier(category: Category) -> bool {
    matches!(category, Category::Gender | Category::Birthday | Category::Address | Category::PreciseLocation | Category::IpAddress)
}

/// The categories whose values are what is learned about a person.
pub fn is_sensitive_attribute(category: Category) -> bool {
    matches!(category, Category::Transaction | Category::Health | Category::Communication | Category::BrowsingHistory | Category::Biometric)
}

/// What a column's role is before its values are measured.
#[derive(Debug, Clone, PartialEq)]
pub enum Prior {
    /// Settled by what was done to it or its category, with why.
    Settled(Role, String),
    /// Decided by measuring its values.
    Measure,
}

/// A published column before its values are measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPrior {
    pub name: String,
    pub data_type: String,
    pub category: Category,
    /// What the plan does to it (`generalize (time:day)`), when a plan made it.
    pub step: Option<String>,
    pub prior: Prior,
}

/// The step a partition key is reported with: it is published as its directories name it.
pub const PARTITION_STEP: &str = "partition";

impl ColumnPrior {
    /// A partition key (`dt`): text, read from the table's directories.
    pub fn partition_key(name: &str, prior: Prior) -> ColumnPrior {
        ColumnPrior { name: name.to_string(), data_type: "Utf8".into(), category: Category::None, step: Some(PARTITION_STEP.into()), prior }
    }
}

/// One column's role, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnRole {
    pub name: String,
    pub data_type: String,
    pub category: Category,
    /// What the plan did to it, when a plan made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub role: Role,
    pub why: String,
    /// Share of records whose value of this column alone is shared by fewer subjects (or
    /// records) than the sharing model's smallest class; for measured columns and QIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rare_share: Option<f64>,
    /// R_a over the other quasi-identifiers, when the evaluation is above the threshold:
    /// what leaving this one out would achieve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r_a_without: Option<f64>,
}

/// Class sizes: for each size f, the classes of that size and the records in them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassSizes {
    /// (f, classes, records), by f ascending.
    pub sizes: Vec<(u64, u64, u64)>,
    /// Records with every quasi-identifier null (suppressed): they match nothing known.
    pub unmatched: u64,
}

impl ClassSizes {
    /// Records in classes.
    pub fn records(&self) -> u64 {
        self.sizes.iter().map(|(_, _, r)| r).sum()
    }

    /// Records in classes smaller than `k`.
    pub fn records_below(&self, k: u64) -> u64 {
        self.sizes.iter().filter(|(f, _, _)| *f < k).map(|(_, _, r)| r).sum()
    }

    /// The class sizes once the records of classes smaller than `k` have had every
    /// quasi-identifier nulled: those classes are gone, and their records match nothing.
    pub fn after_suppression(&self, k: u64) -> ClassSizes {
        ClassSizes {
            sizes: self.sizes.iter().copied().filter(|(f, _, _)| *f >= k).collect(),
            unmatched: self.unmatched + self.records_below(k),
        }
    }

    /// The figures of Annex D at threshold 1/`k`.
    pub fn figures(&self, k: u64) -> RiskFigures {
        let records = self.records();
        let classes = self.sizes.iter().map(|(_, c, _)| c).sum();
        let share = |n: f64| if records == 0 { 0.0 } else { n / records as f64 };
        let histogram = SizeBin::histogram(self.sizes.iter().copied());
        RiskFigures {
            records,
            at_risk: self.records_below(k),
            unmatched: self.unmatched,
            classes,
            k: self.sizes.first().map_or(0, |(f, _, _)| *f),
            r_a: share(self.records_below(k) as f64),
            r_b: self.sizes.first().map_or(0.0, |(f, _, _)| 1.0 / *f as f64),
            r_c: share(self.sizes.iter().map(|&(f, _, r)| r as f64 / f as f64).sum()),
            histogram,
        }
    }
}

/// Classes and records of one range of class sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SizeBin {
    pub classes: u64,
    pub records: u64,
}

impl SizeBin {
    /// The ranges of the histogram.
    pub const LABELS: [&'static str; 6] = ["1", "2", "3–4", "5–9", "10–19", "20+"];

    /// The histogram of `(f, classes, records)`: classes and records by class size f.
    pub fn histogram(sizes: impl IntoIterator<Item = (u64, u64, u64)>) -> [SizeBin; 6] {
        let mut histogram = [SizeBin::default(); 6];
        for (f, c, r) in sizes {
            let bin = &mut histogram[SizeBin::index(f)];
            bin.classes += c;
            bin.records += r;
        }
        histogram
    }

    fn index(f: u64) -> usize {
        match f {
            0 | 1 => 0,
            2 => 1,
            3..=4 => 2,
            5..=9 => 3,
            10..=19 => 4,
            _ => 5,
        }
    }
}

/// GB/T 42460 Annex D's figures over the equivalence classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFigures {
    /// Records in classes.
    pub records: u64,
    /// Records in classes smaller than the sharing model allows (R_a's numerator).
    pub at_risk: u64,
    /// Records with every quasi-identifier null.
    pub unmatched: u64,
    pub classes: u64,
    /// The smallest class: the table is k-anonymous for this k.
    pub k: u64,
    /// Share of records in classes with θ = 1/f above τ.
    pub r_a: f64,
    /// The highest θ.
    pub r_b: f64,
    /// The mean θ over records.
    pub r_c: f64,
    /// Classes and records by class size: 1, 2, 3–4, 5–9, 10–19, 20+.
    pub histogram: [SizeBin; 6],
}

/// GB/T 42460's levels of de-identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Level(pub u8);

impl Level {
    /// Whether data at this level may be published.
    pub fn publishable(self) -> bool {
        self.0 >= 3
    }

    /// The level in words.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            1 => "identified: direct identifiers present",
            2 => "quasi-identifiers only, risk above the threshold",
            3 => "de-identified: quasi-identifiers only, risk below the threshold",
            _ => "no identifiers",
        }
    }
}

/// One dataset's evaluation: the identifier report, the method's parameters, the figures and
/// the level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub sharing: Sharing,
    pub tau: f64,
    /// The column whose distinct values a class counts; records are counted without one.
    pub subject: Option<String>,
    pub columns: Vec<ColumnRole>,
    pub quasi_identifiers: Vec<String>,
    pub figures: RiskFigures,
    /// Records whose quasi-identifiers were nulled because their class was too small.
    pub suppressed: u64,
    /// The share of records the pipeline allows to be suppressed.
    pub max_suppressed: f64,
    pub level: Level,
    /// The figures are exact counts (DataFusion's aggregate spills rather than estimates).
    pub exact: bool,
    /// Wall seconds the evaluation took (local suppression included), for the benchmark.
    #[serde(default)]
    pub seconds: f64,
    /// Every record is a distinct subject, so records were counted for subjects.
    #[serde(default)]
    pub subject_per_record: bool,
    /// The class sizes were counted by the write, as it wrote the records, rather than by an
    /// aggregate over the table read back.
    #[serde(default)]
    pub classes_from_write: bool,
    /// The class sizes the figures are of, kept for what suppression leaves of them.
    #[serde(skip)]
    pub sizes: ClassSizes,
}

impl Evaluation {
    /// The smallest class the sharing model allows.
    pub fn min_class(&self) -> u64 {
        self.sharing.min_class()
    }

    /// The column classes are counted by: none when every record is a distinct subject.
    pub fn counted_subject(&self) -> Option<&str> {
        self.subject.as_deref().filter(|_| !self.subject_per_record)
    }

    /// Whether the write's `counted` classes are this evaluation's: over the same
    /// quasi-identifiers, counting what it counts (records or subjects).
    pub fn counted_by(&self, counted: &Classes<'_>) -> bool {
        counted.serve(self.counted_subject().is_some(), &self.quasi_identifiers)
    }

    /// The columns of `role`.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &ColumnRole> {
        self.columns.iter().filter(move |c| c.role == role)
    }

    /// Figures only, for the audit log.
    pub fn summary(&self) -> RiskSummary {
        RiskSummary {
            level: self.level,
            sharing: self.sharing,
            records: self.figures.records + self.figures.unmatched,
            k: self.figures.k,
            r_a: format!("{:.6}", self.figures.r_a),
            r_b: format!("{:.6}", self.figures.r_b),
            r_c: format!("{:.6}", self.figures.r_c),
            suppressed: self.suppressed,
        }
    }
}

/// An evaluation's figures, as the audit log records them: the shares as decimals in text,
/// because an entry's seal is checked on its parsed JSON, which holds integers and text
/// exactly but not every float.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskSummary {
    pub level: Level,
    pub sharing: Sharing,
    pub records: u64,
    pub k: u64,
    pub r_a: String,
    pub r_b: String,
    pub r_c: String,
    pub suppressed: u64,
}

/// A subject column's value as a 64-bit key (`piguard_subject_key`): classes count distinct
/// subjects by a number rather than by a 64-character pseudonym.
fn subject_key(column: &str) -> Expr {
    ScalarUDF::new_from_impl(FingerprintUdf::subject_keys()).call(vec![ident(column)])
}

/// Names used inside the evaluation's queries, apart from any column's.
const F: &str = "__piguard_f";
const N: &str = "__piguard_n";
const MATCHED: &str = "__piguard_matched";
const CLASSES: &str = "__piguard_classes";
const SUBJECT: &str = "__piguard_subject";

fn ident(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Each class over `qis` with its size f (distinct `subject` values, or records without one)
/// and its records n: a two-level count, (class, subject) pairs first, so that every step is
/// a hash aggregate that spills instead of a distinct set held per class.
fn classes(df: &DataFrame, qis: &[String], subject: Option<&str>) -> Result<DataFrame, DataFusionError> {
    let keys: Vec<Expr> = qis.iter().map(|q| ident(q)).collect();
    match subject {
        Some(s) => {
            let mut pairs = keys.clone();
            pairs.push(subject_key(s).alias(SUBJECT));
            df.clone().aggregate(pairs, vec![count(lit(1)).alias(N)])?.aggregate(keys, vec![count(lit(1)).alias(F), sum(ident(N)).alias(N)])
        }
        None => {
            let counted = df.clone().aggregate(keys.clone(), vec![count(lit(1)).alias(N)])?;
            let mut out = keys;
            out.extend([ident(N).alias(F), ident(N)]);
            counted.select(out)
        }
    }
}

/// Whether any of `qis` is set: a class of all-null quasi-identifiers is suppressed records.
fn any_set(qis: &[String]) -> Expr {
    qis.iter().map(|q| ident(q).is_not_null()).reduce(Expr::or).unwrap_or(lit(true))
}

fn counts_of(batches: &[arrow::record_batch::RecordBatch]) -> Result<ClassSizes, DataFusionError> {
    let mut by: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut unmatched = 0;
    for b in batches {
        let number = |i: usize| cast(b.column(i), &DataType::UInt64);
        let (f, classes, records) = (number(0)?, number(2)?, number(3)?);
        let (f, classes, records) =
            (f.as_primitive::<UInt64Type>(), classes.as_primitive::<UInt64Type>(), records.as_primitive::<UInt64Type>());
        let matched = b.column(1).as_boolean();
        for i in 0..b.num_rows() {
            if matched.is_valid(i) && !matched.value(i) {
                unmatched += records.value(i);
            } else {
                let e = by.entry(f.value(i)).or_default();
                e.0 += classes.value(i);
                e.1 += records.value(i);
            }
        }
    }
    Ok(ClassSizes { sizes: by.into_iter().map(|(f, (c, r))| (f, c, r)).collect(), unmatched })
}

/// The class sizes of `df` over `qis`, counting distinct `subject` values per class when
/// there is one. Where `df`'s session runs its plans, only the histogram of sizes comes back.
pub async fn class_sizes(df: &DataFrame, qis: &[String], subject: Option<&str>) -> Result<ClassSizes, DataFusionError> {
    let sized = classes(df, qis, subject)?
        .aggregate(vec![ident(F), any_set(qis).alias(MATCHED)], vec![count(lit(1)).alias(CLASSES), sum(ident(N)).alias(N)])?;
    counts_of(&sized.collect().await?)
}

/// What one look at a table tells before its columns are measured: whether every record is a
/// subject of its own (so that counting records counts subjects, and each measurement need not
/// read the subject column; `known` when the write proved it), and the mean length in
/// characters of each of the `texts` columns.
async fn profile(df: &DataFrame, subject: Option<&str>, texts: &[&str], known: Option<bool>) -> Result<(bool, Vec<f64>), DataFusionError> {
    let mut stats = vec![count(lit(1)).alias(N)];
    stats.extend(subject.map(|s| count(ident(s)).alias(SUBJECT)));
    stats.extend(
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| avg(character_length(datafusion::logical_expr::cast(ident(t), DataType::Utf8))).alias(format!("{F}{i}"))),
    );
    let batches = df.clone().aggregate(vec![], stats)?.collect().await?;
    let Some(b) = batches.first() else { return Ok((false, vec![0.0; texts.len()])) };
    let number = |i: usize| -> Result<f64, DataFusionError> {
        let v = cast(b.column(i), &DataType::Float64)?;
        let v = v.as_primitive::<Float64Type>();
        Ok(if v.is_valid(0) { v.value(0) } else { 0.0 })
    };
    let rows = number(0)?;
    let offset = 1 + usize::from(subject.is_some());
    let lengths = (0..texts.len()).map(|i| number(offset + i)).collect::<Result<Vec<_>, _>>()?;
    let per_record = match (subject, known) {
        (Some(_), Some(known)) => known,
        // Null subjects could be anyone: they are counted as one, so never as one each.
        (Some(s), None) if number(1)? == rows => {
            let subjects = df.clone().aggregate(vec![subject_key(s).alias(SUBJECT)], vec![])?.count().await?;
            subjects as f64 == rows
        }
        _ => false,
    };
    Ok((per_record, lengths))
}

/// The columns of `priors` whose mean length is measured: text to be measured, but partition
/// keys, short by construction.
pub fn measured_texts(priors: &[ColumnPrior]) -> Vec<&str> {
    priors
        .iter()
        .filter(|c| c.prior == Prior::Measure && TypeKind::of(&c.data_type) == TypeKind::Text && c.step.as_deref() != Some(PARTITION_STEP))
        .map(|c| c.name.as_str())
        .collect()
}

/// The characters and the values (not null) of a text column, summed as a write meets them:
/// its mean length as the profile's `avg(character_length(…))` computes it, without reading
/// the column back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextLength {
    pub chars: u64,
    pub values: u64,
}

impl TextLength {
    /// Adds `values`, read as text (other types as the profile casts them).
    pub fn add(&mut self, values: &arrow::array::ArrayRef) -> Result<(), arrow::error::ArrowError> {
        let add = |v: Option<&str>| {
            if let Some(v) = v {
                self.chars += v.chars().count() as u64;
                self.values += 1;
            }
        };
        match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().iter().for_each(add),
            DataType::LargeUtf8 => values.as_string::<i64>().iter().for_each(add),
            DataType::Utf8View => values.as_string_view().iter().for_each(add),
            _ => cast(values, &DataType::Utf8)?.as_string::<i32>().iter().for_each(add),
        }
        Ok(())
    }

    /// Adds what another part of the same column counted.
    pub fn merge(&mut self, other: TextLength) {
        self.chars += other.chars;
        self.values += other.values;
    }

    /// The mean length in characters; 0 without values, as the profile reads a null mean.
    pub fn mean(&self) -> f64 {
        if self.values == 0 { 0.0 } else { self.chars as f64 / self.values as f64 }
    }
}

/// Inputs of an evaluation.
#[derive(Debug, Clone)]
pub struct Method {
    pub sharing: Sharing,
    pub max_suppressed: f64,
    /// The subject column, when it is published (hashed or kept).
    pub subject: Option<String>,
    /// Whether every record is a subject of its own, when the write proved it or its opposite
    /// ([`subjects`]); counted from the table otherwise.
    pub per_record: Option<bool>,
    /// The mean length of each [`measured_texts`] column, in order, where the write counted
    /// every record published; read from the table otherwise.
    pub text_lengths: Option<Vec<f64>>,
    /// Every record published and its distinct subjects, where the write counted them: the
    /// one class there is where no column is a quasi-identifier.
    pub published: Option<Published>,
}

/// What the write counted of every record published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub records: u64,
    /// The distinct subjects among them (null ones as one), where a subject is published and
    /// its records may be several.
    pub subjects: Option<u64>,
}

impl Published {
    /// The class sizes over no quasi-identifier: one class of every record, of its distinct
    /// `subject`s where they are counted; `None` where the write did not count those, or there
    /// is no record (the aggregate's class of none).
    fn one_class(&self, by_subject: bool) -> Option<ClassSizes> {
        let f = if by_subject { self.subjects? } else { self.records };
        (self.records > 0).then(|| ClassSizes { sizes: vec![(f, 1, self.records)], unmatched: 0 })
    }
}

/// Evaluates `df` (a dataset as it would be published) with its columns' `priors`. Measured
/// columns become quasi-identifiers when their values single out rows; then the classes over
/// every quasi-identifier are counted. Where records are what a class counts, a grouping the
/// write `counted` (a measured column alone, or the quasi-identifiers) is taken from its counts.
pub async fn evaluate(
    df: &DataFrame,
    priors: &[ColumnPrior],
    method: &Method,
    counted: &[Classes<'_>],
) -> Result<Evaluation, DataFusionError> {
    let k = method.sharing.min_class();
    let texts = measured_texts(priors);
    let subject = method.subject.as_deref();
    let (per_record, lengths) = match (&method.text_lengths, subject, method.per_record) {
        // Everything the profile would read is known: no look at the table.
        (Some(lengths), None, _) if lengths.len() == texts.len() => (false, lengths.clone()),
        (Some(lengths), Some(_), Some(known)) if lengths.len() == texts.len() => (known, lengths.clone()),
        _ => profile(df, subject, &texts, method.per_record).await?,
    };
    let subject = if per_record { None } else { subject };
    // Classes counted by the write serve where they count what a class counts here.
    let counted_over = |grouping: &[String]| counted.iter().find(|c| c.serve(subject.is_some(), grouping));
    let mut columns = Vec::new();
    for c in priors {
        let (name, kind) = (&c.name, TypeKind::of(&c.data_type));
        let role = |role, why: String, rare_share| ColumnRole {
            name: name.clone(),
            data_type: c.data_type.clone(),
            category: c.category,
            step: c.step.clone(),
            role,
            why,
            rare_share,
            r_a_without: None,
        };
        columns.push(match &c.prior {
            Prior::Settled(settled, why) => role(*settled, why.clone(), None),
            Prior::Measure if kind == TypeKind::Opaque => role(Role::Other, "nested or binary: not measured".into(), None),
            Prior::Measure if texts.iter().position(|t| t == name).is_some_and(|i| lengths[i] >= FREE_TEXT_CHARS) => {
                role(Role::SensitiveAttribute, format!("free text: measured at {FREE_TEXT_CHARS} or more characters a value"), None)
            }
            Prior::Measure => {
                let share = match counted_over(std::slice::from_ref(name)) {
                    Some(c) => c.sizes().figures(k).r_a,
                    None => rare_share(df, name, subject, k).await?,
                };
                let why = format!(
                    "measured: {:.1}% of records hold a value fewer than {k} {} share",
                    share * 100.0,
                    unit(method.subject.as_deref())
                );
                role(if share > RARE_SHARE { Role::QuasiIdentifier } else { Role::Other }, why, Some(share))
            }
        });
    }
    let quasi_identifiers: Vec<String> = columns.iter().filter(|c| c.role == Role::QuasiIdentifier).map(|c| c.name.clone()).collect();
    // Subjects beyond the cap leave a class's size unknown, and the figures need them all.
    let counted = counted_over(&quasi_identifiers).filter(|c| c.exact());
    let one_class = method.published.filter(|_| quasi_identifiers.is_empty()).and_then(|p| p.one_class(subject.is_some()));
    let (sizes, from_write) = match (counted, one_class) {
        (Some(c), _) => (c.sizes(), true),
        (None, Some(sizes)) => (sizes, true),
        (None, None) => (class_sizes(df, &quasi_identifiers, subject).await?, false),
    };
    let assessed = assess(sizes, columns, quasi_identifiers, method, 0);
    Ok(Evaluation { subject_per_record: per_record, classes_from_write: from_write, ..assessed })
}

/// Adds to an evaluation of `df` what its report explains a level with, at a query each: how
/// much each quasi-identifier singles out alone, and, above the threshold, what R_a would be
/// without it (the fix that helps most). A run asks only when it refuses.
pub async fn explain(df: &DataFrame, e: &mut Evaluation) -> Result<(), DataFusionError> {
    let (k, subject) = (e.min_class(), e.counted_subject().map(str::to_string));
    let qis = e.quasi_identifiers.clone();
    let above = e.level == Level(2) && qis.len() > 1;
    for c in e.columns.iter_mut().filter(|c| c.role == Role::QuasiIdentifier) {
        if c.rare_share.is_none() {
            c.rare_share = Some(rare_share(df, &c.name, subject.as_deref(), k).await?);
        }
        if above {
            let others: Vec<String> = qis.iter().filter(|q| **q != c.name).cloned().collect();
            c.r_a_without = Some(class_sizes(df, &others, subject.as_deref()).await?.figures(k).r_a);
        }
    }
    Ok(())
}

/// The share of `df`'s records whose value of `column` alone is shared by fewer than `k`
/// subjects (or records).
async fn rare_share(df: &DataFrame, column: &str, subject: Option<&str>, k: u64) -> Result<f64, DataFusionError> {
    let present = df.clone().filter(ident(column).is_not_null())?;
    Ok(class_sizes(&present, &[column.to_string()], subject).await?.figures(k).r_a)
}

fn unit(subject: Option<&str>) -> &'static str {
    if subject.is_some() { "subjects" } else { "records" }
}

/// The evaluation of classes `sizes`, `suppressed` records having been suppressed already.
fn assess(sizes: ClassSizes, columns: Vec<ColumnRole>, quasi_identifiers: Vec<String>, method: &Method, suppressed: u64) -> Evaluation {
    let figures = sizes.figures(method.sharing.min_class());
    let has = |role| columns.iter().any(|c: &ColumnRole| c.role == role);
    let level = match () {
        _ if has(Role::DirectIdentifier) => 1,
        _ if quasi_identifiers.is_empty() && !has(Role::Pseudonym) => 4,
        _ if figures.r_a > 0.0 => 2,
        _ => 3,
    };
    Evaluation {
        sharing: method.sharing,
        tau: method.sharing.tau(),
        subject: method.subject.clone(),
        columns,
        quasi_identifiers,
        figures,
        sizes,
        suppressed,
        max_suppressed: method.max_suppressed,
        level: Level(level),
        exact: true,
        seconds: 0.0,
        subject_per_record: false,
        classes_from_write: false,
    }
}

impl Evaluation {
    /// Whether local suppression within `max_suppressed` would bring a level-2 evaluation to
    /// level 3.
    pub fn suppression_suffices(&self) -> bool {
        self.level == Level(2) && self.figures.r_a <= self.max_suppressed
    }

    /// This evaluation over the same quasi-identifiers once `suppressed` records had them
    /// nulled, leaving classes of `sizes`.
    pub fn after_suppression(&self, sizes: ClassSizes, suppressed: u64) -> Evaluation {
        let method = Method {
            sharing: self.sharing,
            max_suppressed: self.max_suppressed,
            subject: self.subject.clone(),
            per_record: None,
            text_lengths: None,
            published: None,
        };
        let after = assess(sizes, self.columns.clone(), self.quasi_identifiers.clone(), &method, self.suppressed + suppressed);
        Evaluation { subject_per_record: self.subject_per_record, classes_from_write: self.classes_from_write, ..after }
    }
}

/// The classes of `df` smaller than the sharing model allows, by their quasi-identifier
/// values (collected: at most `max_suppressed` of the records, which is what suppression
/// allows).
pub async fn small_classes(df: &DataFrame, e: &Evaluation) -> Result<SmallClasses, DataFusionError> {
    let qis = &e.quasi_identifiers;
    let small = classes(df, qis, e.counted_subject())?
        .filter(ident(F).lt(lit(e.min_class() as i64)).and(any_set(qis)))?
        .select(qis.iter().map(|q| ident(q)).collect::<Vec<_>>())?;
    let schema = Arc::new(small.schema().as_arrow().clone());
    let classes = arrow::compute::concat_batches(&schema, &small.collect().await?)?;
    Ok(SmallClasses { qis: qis.clone(), values: classes.columns().to_vec() })
}

#[cfg(test)]
mod tests;
