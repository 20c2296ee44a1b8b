//! The leak gate: raw PI found by value (not by column name) in de-identified output is a
//! finding. `run` checks every partition with it before publishing; `verify` checks a
//! published zone.
//!
//! A column is a finding when its values validate as PI the way `scan` would classify them
//! (ID numbers, phones, e-mails, cards, device ids, names, addresses, precise coordinates…),
//! or when free text in it still embeds such values. Generalized URLs and gender are not
//! findings: they remain by design.

use arrow::array::StringArray;
use serde::Serialize;

use crate::category::Category;
use crate::classify::Classifier;
use crate::lake::{self, DatasetSource, LakeError};
use crate::transform::redact::find_spans;

/// PI found in an output. Never holds the values themselves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub dataset: String,
    pub path: String,
    pub column: String,
    pub category: Category,
    /// `values`: the column's values are PI; `embedded`: free text contains PI.
    pub kind: &'static str,
    pub values_checked: usize,
    pub values_matched: usize,
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

/// Checks one dataset; columns named in `skip` (kept with a reason) are not checked.
pub async fn check_dataset(
    source: &DatasetSource,
    classifier: &Classifier,
    sample_rows: usize,
    skip: &[String],
) -> Result<Vec<Finding>, LakeError> {
    let sample = lake::sample_dataset(source, sample_rows).await?;
    let mut findings = Vec::new();
    for col in sample.columns.iter().filter(|c| !skip.contains(&c.name)) {
        let finding = |category, kind, values_checked, values_matched| Finding {
            dataset: source.name.clone(),
            path: source.path.display().to_string(),
            column: col.name.clone(),
            category,
            kind,
            values_checked,
            values_matched,
        };
        let v = classifier.classify_typed(&col.name, &col.data_type, &col.values);
        let min_share = classifier.rule(v.category).map_or(1.0, |r| r.min_share);
        let e = &v.evidence;
        if !allowed(v.category) && e.values_checked > 0 && e.values_matched as f64 >= min_share * e.values_checked as f64 {
            findings.push(finding(v.category, "values", e.values_checked, e.values_matched));
            continue;
        }
        let (checked, matched, category) = embedded_count(&col.values);
        if let Some(category) = category {
            findings.push(finding(category, "embedded", checked, matched));
        }
    }
    Ok(findings)
}

