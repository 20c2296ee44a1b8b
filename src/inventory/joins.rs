//! Joins between tables: an identifier-like column no rule claims whose values are another
//! table's subject ids points at those people (`events.ref_code` holding `users.user_id`), an
//! account wherever it is found.
//!
//! Only the sampled values are compared. Keys shorter than [`KEY_MIN_CHARS`] and integers
//! that fill their range are left out: small counters and sequential ids of any two tables
//! overlap by construction, and say nothing of a join.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use super::{ColumnInventory, DatasetInventory};
use crate::category::Category;
use crate::classify::Classifier;
use crate::lake::DatasetSample;

/// Fewest characters of a key for its values to be compared.
const KEY_MIN_CHARS: usize = 6;
/// Most distinct values kept of one column.
const KEY_MAX_VALUES: usize = 2_000;
/// Fewest of a column's distinct values found among a subject column's for a join…
const JOIN_MIN_VALUES: usize = 20;
/// …and the least share of its distinct values they must be.
const JOIN_MIN_SHARE: f64 = 0.8;

/// The sampled keys of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySample {
    column: usize,
    /// An account column: the subjects others may join to.
    subject: bool,
    values: HashSet<u64>,
}

fn key_hash(v: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// The key samples of a dataset's subject columns and unclaimed, unnamed columns.
pub(crate) fn key_samples(sample: &DatasetSample, columns: &[ColumnInventory]) -> Vec<KeySample> {
    let mut out = Vec::new();
    for (i, (sampled, col)) in sample.columns.iter().zip(columns).enumerate() {
        let subject = col.category == Category::AccountId;
        let unclaimed = matches!(col.category, Category::None | Category::UnknownIdentifier) && col.evidence.name_keyword.is_none();
        if !subject && !unclaimed {
            continue;
        }
        let keys: Vec<&str> = sampled.values.iter().flatten().map(str::trim).filter(|v| !v.is_empty()).collect();
        let key_like =
            |v: &&str| v.len() >= KEY_MIN_CHARS && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if keys.is_empty() || !keys.iter().all(key_like) || (!subject && fills_its_range(&keys)) {
            continue;
        }
        let values: HashSet<u64> = keys.iter().map(|v| key_hash(v)).take(KEY_MAX_VALUES).collect();
        if subject || values.len() >= JOIN_MIN_VALUES {
            out.push(KeySample { column: i, subject, values });
        }
    }
    out
}

/// Whether integer keys are most of the integers between their least and greatest: a
/// sequence, which overlaps any other sequence of its range.
fn fills_its_range(keys: &[&str]) -> bool {
    let numbers: Option<Vec<u64>> = keys.iter().map(|v| v.parse::<u64>().ok()).collect();
    let Some(numbers) = numbers else { return false };
    let distinct: HashSet<u64> = numbers.iter().copied().collect();
    let (lo, hi) = (numbers.iter().min().copied().unwrap_or(0), numbers.iter().max().copied().unwrap_or(0));
    (hi - lo + 1) as f64 <= 2.0 * distinct.len() as f64
}

/// Makes every unclaimed column that joins to another table's subject column an account,
/// and says which column in its evidence.
pub(crate) fn link(datasets: &mut [&mut DatasetInventory], classifier: &Classifier) {
    let Some(rule) = classifier.rule(Category::AccountId) else { return };
    // Every subject column's values, indexed once: a candidate is looked up value by value.
    let subjects: Vec<(usize, usize)> =
        datasets.iter().enumerate().flat_map(|(d, ds)| ds.keys.iter().filter(|k| k.subject).map(move |k| (d, k.column))).collect();
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for (s, (d, column)) in subjects.iter().enumerate() {
        let key = datasets[*d].keys.iter().find(|k| k.subject && k.column == *column).expect("listed above");
        for v in &key.values {
            index.entry(*v).or_default().push(s);
        }
    }
    let mut found: Vec<(usize, usize, String, usize, usize)> = Vec::new();
    for (d, dataset) in datasets.iter().enumerate() {
        for candidate in dataset.keys.iter().filter(|k| !k.subject) {
            let mut hits: HashMap<usize, usize> = HashMap::new();
            for s in candidate.values.iter().filter_map(|v| index.get(v)).flatten().filter(|s| subjects[**s].0 != d) {
                *hits.entry(*s).or_default() += 1;
            }
            let Some((s, overlap)) = hits.into_iter().max_by_key(|(s, overlap)| (*overlap, std::cmp::Reverse(*s))) else { continue };
            if overlap >= JOIN_MIN_VALUES && overlap as f64 >= JOIN_MIN_SHARE * candidate.values.len() as f64 {
                let (o, column) = subjects[s];
                let to = format!("{}.{}", datasets[o].name, datasets[o].columns[column].name);
                found.push((d, candidate.column, to, overlap, candidate.values.len()));
            }
        }
    }
    for (d, column, to, overlap, of) in found {
        let col = &mut datasets[d].columns[column];
        col.category = Category::AccountId;
        col.sensitivity = rule.sensitivity;
        col.suggested_action = rule.action;
        col.confidence = 0.8;
        col.evidence.reason = format!("{overlap} of its {of} distinct sampled values are ids of {to}: it joins to a subject column");
    }
}
