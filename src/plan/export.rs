//! Checking an `[[export]]` against the dataset plans: aggregates of generalized dimensions
//! only, never identifiers or pseudonyms. `export` writes what this checks.

use super::columns::{ColumnPlan, DatasetPlan, Step};
use super::spec::ExportSpec;
use crate::category::Category;
use crate::classify::TypeKind;

/// Categories that identify a person directly: never a dimension or a metric of an export.
const DIRECT: [Category; 10] = [
    Category::IdCard,
    Category::Phone,
    Category::Email,
    Category::DeviceId,
    Category::AccountId,
    Category::Name,
    Category::BankCard,
    Category::Passport,
    Category::Nickname,
    Category::UnknownIdentifier,
];

/// Fewest distinct subjects a published row may cover: below it, differences between two
/// exports single out a person.
pub const MIN_SUBJECTS_FLOOR: u64 = 10;

/// Head words of names that key single rows (`order_no`, `trade_id`, `订单编号`).
const ROW_KEY_HEADS: [&str; 8] = ["id", "no", "num", "number", "uuid", "ref", "编号", "单号"];

/// Whether grouping by `column` would make one row per record: an exact time, or a key.
fn row_level(column: &ColumnPlan) -> Option<&'static str> {
    let exact_time = TypeKind::of(&column.data_type) == TypeKind::Temporal && !matches!(column.step, Step::Generalize { .. });
    let tokens = crate::classify::names::tokenize(&column.name);
    let head = tokens.iter().rev().find(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    let key = head.is_some_and(|h| ROW_KEY_HEADS.iter().any(|k| h == k || (!h.is_ascii() && h.ends_with(k))));
    if exact_time {
        Some("an exact time; generalize it to a day or a month first")
    } else if key {
        Some("a row-level key")
    } else {
        None
    }
}

/// The pseudonym domain a column is hashed in, if it is.
fn domain_of(plan: &DatasetPlan, column: &str) -> Option<String> {
    plan.columns.iter().find(|c| c.name == column).and_then(|c| match &c.step {
        Step::Hash { domain, .. } => Some(domain.clone()),
        _ => None,
    })
}

/// One aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    CountDistinctSubjects,
    Count,
    Sum(String),
    Avg(String),
}

impl Metric {
    /// `count_distinct_subjects`, `count`, `sum(column)` or `avg(column)`.
    pub fn parse(text: &str) -> Option<Metric> {
        let t = text.trim();
        let arg =
            |f: &str| t.strip_prefix(f).and_then(|r| r.strip_prefix('(')).and_then(|r| r.strip_suffix(')')).map(|c| c.trim().to_string());
        match t {
            "count_distinct_subjects" => Some(Metric::CountDistinctSubjects),
            "count" => Some(Metric::Count),
            _ => arg("sum").map(Metric::Sum).or_else(|| arg("avg").map(Metric::Avg)),
        }
    }
}

/// A checked export.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    pub spec: ExportSpec,
    /// The source dataset's subject column.
    pub subject: String,
    /// Output column and aggregate, in the spec's order.
    pub metrics: Vec<(String, Metric)>,
    /// Subjects left out for having opted out of ad use.
    pub consent: Option<ConsentFilter>,
}

/// Where opt-outs are read: a dataset, its subject column and its opt-out flag column.
#[derive(Debug, Clone)]
pub struct ConsentFilter {
    pub dataset: String,
    pub subject: String,
    pub flag: String,
}

/// Checks an export against the pipeline's dataset plans; every problem is reported (as
/// sentences; [`super::PlanProblem::Export`] names the export).
pub fn plan(spec: &ExportSpec, datasets: &[DatasetPlan]) -> Result<ExportPlan, Vec<String>> {
    let mut problems = Vec::new();
    let Some(from) = datasets.iter().find(|d| d.name == spec.from) else {
        return Err(vec![format!("`from = \"{}\"` is not a dataset of this pipeline", spec.from)]);
    };
    let Some(subject) = from.subject.clone() else {
        return Err(vec![format!("dataset `{}` has no `subject` column, so subjects cannot be counted", from.name)]);
    };
    let check = |column: &str, role: &str| -> Option<String> {
        if from.partition_columns.iter().any(|p| p == column) {
            return None;
        }
        let Some(c) = from.columns.iter().find(|c| c.name == column) else {
            return Some(format!("{role} `{column}` is not a column of `{}`", from.name));
        };
        if c.step == Step::Drop {
            Some(format!("{role} `{column}` is dropped from `{}`", from.name))
        } else if column == subject {
            Some(format!("{role} `{column}` is the subject column and holds pseudonyms; exports carry none"))
        } else if DIRECT.contains(&c.category) {
            Some(format!("{role} `{column}` is a direct identifier ({}); exports carry none", c.category))
        } else if matches!(c.step, Step::Hash { .. }) {
            Some(format!("{role} `{column}` holds pseudonyms; exports carry none"))
        } else if c.category == Category::PreciseLocation && !matches!(c.step, Step::Generalize { .. }) {
            Some(format!("{role} `{column}` is a precise location; generalize it first"))
        } else {
            None
        }
    };
    problems.extend(spec.group_by.iter().filter_map(|g| check(g, "group_by")));
    for g in &spec.group_by {
        if let Some(why) = from.columns.iter().find(|c| &c.name == g).and_then(row_level) {
            problems.push(format!("group_by `{g}` is {why}: rows grouped by it describe single records"));
        }
    }
    let mut metrics = Vec::new();
    for (name, text) in &spec.metrics {
        match Metric::parse(text) {
            None => {
                problems.push(format!("metric `{name} = \"{text}\"`: expected count_distinct_subjects, count, sum(column) or avg(column)"))
            }
            Some(m) => {
                if let Metric::Sum(c) | Metric::Avg(c) = &m {
                    problems.extend(check(c, &format!("metric `{name}`")));
                }
                metrics.push((name.clone(), m));
            }
        }
    }
    if spec.min_subjects < MIN_SUBJECTS_FLOOR {
        problems.push(format!(
            "min_subjects = {} is below {MIN_SUBJECTS_FLOOR}: two exports that differ by one person's rows would reveal them",
            spec.min_subjects
        ));
    }
    let consent = match &spec.exclude_opted_out {
        None => None,
        Some(name) => match datasets.iter().find(|d| &d.name == name) {
            None => {
                problems.push(format!("exclude_opted_out = \"{name}\" is not a dataset of this pipeline"));
                None
            }
            Some(d) => {
                let flag = d.columns.iter().find(|c| c.name.contains("opt_out") && c.step == Step::Keep).map(|c| c.name.clone());
                match (d.subject.clone(), flag) {
                    (Some(consent_subject), Some(_)) if domain_of(d, &consent_subject) != domain_of(from, &subject) => {
                        problems.push(format!(
                            "consent dataset `{name}` pseudonymizes `{consent_subject}` in domain {} and `{}` pseudonymizes `{subject}` in domain {}: opt-outs cannot be matched to subjects; hash both in one domain",
                            domain_of(d, &consent_subject).map_or("(none: not hashed)".into(), |d| format!("`{d}`")),
                            from.name,
                            domain_of(from, &subject).map_or("(none: not hashed)".into(), |d| format!("`{d}`")),
                        ));
                        None
                    }
                    (Some(subject), Some(flag)) => Some(ConsentFilter { dataset: d.name.clone(), subject, flag }),
                    _ => {
                        problems.push(format!("consent dataset `{name}` needs a `subject` and a kept boolean `*opt_out*` column"));
                        None
                    }
                }
            }
        },
    };
    if problems.is_empty() { Ok(ExportPlan { spec: spec.clone(), subject, metrics, consent }) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse() {
        assert_eq!(Metric::parse("count_distinct_subjects"), Some(Metric::CountDistinctSubjects));
        assert_eq!(Metric::parse(" sum(pay_amount) "), Some(Metric::Sum("pay_amount".into())));
        assert_eq!(Metric::parse("avg( amount )"), Some(Metric::Avg("amount".into())));
        assert_eq!(Metric::parse("max(amount)"), None);
        assert_eq!(Metric::parse("sum"), None);
    }
}
