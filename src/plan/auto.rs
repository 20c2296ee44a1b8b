//! `default_action = "auto"` for the columns no rule calls PI: their sampled values decide
//! whether they can be kept as they are. A column whose values single out rows (more than
//! [`RARE_SHARE`] of the sampled values occur fewer times than the sharing model's smallest
//! class) is not kept: times and numbers are generalized to the finest grain at which they no
//! longer do, identifier-like text and numbers become pseudonyms, and free text, in which no
//! rule found PI to redact, is dropped. The classifier names a column; the measurement decides
//! what `auto` does with it, and says what it measured.

use std::collections::HashMap;

use arrow::array::Array;

use super::columns::Step;
use crate::category::Category;
use crate::classify::TypeKind;
use crate::classify::detectors::starts_with_date;
use crate::lake::SampledColumn;
use crate::risk::{FREE_TEXT_CHARS, Prior, RARE_SHARE, Role};
use crate::transform::{Generalization, TimeGrain};

/// What `auto` does with a column whose values single out rows, and what was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub step: Step,
    pub why: String,
}

/// The share of `values` that occur fewer than `k` times among them.
fn rare_share<'a>(values: impl IntoIterator<Item = &'a str>, k: u64) -> (f64, usize) {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut n = 0;
    for v in values {
        *counts.entry(v).or_default() += 1;
        n += 1;
    }
    let rare: u64 = counts.values().filter(|c| **c < k).sum();
    (if n == 0 { 0.0 } else { rare as f64 / n as f64 }, n)
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The step `auto` gives column `name` of type `data_type` instead of keeping it, when its
/// `sampled` values single out rows at classes of `k`; `None` to keep it.
pub fn decide(name: &str, data_type: &str, sampled: &SampledColumn, k: u64) -> Option<Measured> {
    let values: Vec<&str> = sampled.values.iter().flatten().map(str::trim).filter(|v| !v.is_empty()).collect();
    let (share, n) = rare_share(values.iter().copied(), k);
    if n == 0 || share <= RARE_SHARE {
        return None;
    }
    let measured = format!("auto, measured: {} of {n} sampled values occur fewer than {k} times", percent(share));
    let kind = TypeKind::of(data_type);
    let dated = values.iter().filter(|v| starts_with_date(v)).count();
    if kind == TypeKind::Temporal || (kind == TypeKind::Text && dated * 10 >= n * 9) {
        // ISO text: 2026-01-01T12… to the hour, the day, the month.
        let grains = [(TimeGrain::Hour, 13, "hour"), (TimeGrain::Day, 10, "day"), (TimeGrain::Month, 7, "month")];
        let fits = grains.iter().map(|&(grain, len, label)| {
            let (at, _) = rare_share(values.iter().map(|v| v.get(..len).unwrap_or(v)), k);
            (grain, label, at)
        });
        let (grain, label, at) =
            fits.clone().find(|(_, _, at)| *at <= RARE_SHARE).unwrap_or_else(|| fits.clone().next_back().expect("three grains"));
        return Some(Measured {
            step: Step::Generalize { generalization: Generalization::Time { grain } },
            why: format!("{measured}; to the {label}, {}", percent(at)),
        });
    }
    if kind == TypeKind::Number {
        let numbers: Vec<f64> = values.iter().filter_map(|v| v.parse::<f64>().ok()).filter(|x| x.is_finite()).collect();
        let (distinct, _) = rare_share(values.iter().copied(), 2);
        let identifier = numbers.iter().all(|x| x.fract() == 0.0 && x.abs() >= 10_000.0) && distinct >= 0.9;
        if !identifier {
            for width in (0..10).map(|e| 10f64.powi(e)) {
                let buckets: Vec<String> = numbers.iter().map(|x| format!("{}", (x / width).floor())).collect();
                let (at, _) = rare_share(buckets.iter().map(String::as_str), k);
                if at <= RARE_SHARE {
                    return Some(Measured {
                        step: Step::Generalize { generalization: Generalization::Bucket { width } },
                        why: format!("{measured}; in buckets of {width}, {}", percent(at)),
                    });
                }
            }
        }
    }
    let mean_chars = values.iter().map(|v| v.chars().count()).sum::<usize>() as f64 / n as f64;
    if kind == TypeKind::Text && mean_chars >= FREE_TEXT_CHARS {
        return Some(Measured {
            step: Step::Drop,
            why: format!("{measured}; free text ({mean_chars:.0} characters a value) with no PI a rule could redact"),
        });
    }
    Some(Measured {
        step: Step::Hash { domain: name.to_string(), category: Category::None },
        why: format!("{measured}; identifier-like, so a pseudonym"),
    })
}

/// The next coarser step for a quasi-identifier `auto` chose, or `None` when only dropping
/// it is left.
fn coarser(step: &Step) -> Option<Step> {
    use Generalization as G;
    let g = match step {
        Step::Generalize { generalization } => *generalization,
        _ => return None,
    };
    let next = match g {
        G::BirthYear => G::BirthDecade,
        G::Region => G::Province,
        G::Grid { size } if size < 1.0 => G::Grid { size: size * 10.0 },
        G::Time { grain: TimeGrain::Hour } => G::Time { grain: TimeGrain::Day },
        G::Time { grain: TimeGrain::Day } => G::Time { grain: TimeGrain::Month },
        _ => return None,
    };
    Some(Step::Generalize { generalization: next })
}

/// A planned column's output for its sampled values, as text; `None` for steps whose output
/// is a pseudonym, redacted text or nothing.
fn sampled_output(step: &Step, sampled: &SampledColumn) -> Option<Vec<Option<String>>> {
    use arrow::array::{ArrayRef, AsArray};
    let values: ArrayRef = std::sync::Arc::new(sampled.values.clone());
    let out = match step {
        Step::Keep => values,
        Step::Generalize { generalization } => crate::transform::generalize::generalize(&values, *generalization).ok()?,
        Step::Mask { category, spec } => crate::transform::mask_array(*category, *spec, &values).ok()?,
        _ => return None,
    };
    let out = arrow::compute::cast(&out, &arrow::datatypes::DataType::Utf8).ok()?;
    let out = out.as_string::<i32>();
    Some((0..out.len()).map(|i| out.is_valid(i).then(|| out.value(i).to_string())).collect())
}

/// The share of sampled rows in classes over `columns` (row-aligned) that hold fewer than
/// `k` distinct `subjects` (or rows without them); rows with every value null are in none.
fn sampled_r_a(columns: &[&Vec<Option<String>>], subjects: Option<&[Option<&str>]>, rows: usize, k: u64) -> f64 {
    // Each class's distinct subjects and rows.
    type Class<'a> = (std::collections::HashSet<Option<&'a str>>, u64);
    let mut classes: HashMap<Vec<Option<&str>>, Class> = HashMap::new();
    let mut counted = 0;
    for r in 0..rows {
        let key: Vec<Option<&str>> = columns.iter().map(|c| c[r].as_deref()).collect();
        if key.iter().all(Option::is_none) {
            continue;
        }
        let e = classes.entry(key).or_default();
        e.0.insert(subjects.map_or(Some(""), |s| s[r]));
        e.1 += 1;
        counted += 1;
    }
    let at_risk: u64 =
        classes.values().filter(|(s, n)| if subjects.is_some() { (s.len() as u64) < k } else { *n < k }).map(|(_, n)| n).sum();
    if counted == 0 { 0.0 } else { at_risk as f64 / counted as f64 }
}

/// Settles the quasi-identifiers `auto` chose, measured together on the sample: while more
/// of the sampled rows than `allowed` sit in classes of fewer than `k` subjects, the
/// quasi-identifier whose coarsening (or, at the coarsest, dropping) lowers that share most
/// is coarsened. Columns the pipeline names are left as written; the gate measures them.
pub fn settle(columns: &mut [super::ColumnPlan], samples: &[SampledColumn], subject: Option<&str>, k: u64, allowed: f64) {
    let rows = samples.iter().map(|s| s.values.len()).max().unwrap_or(0);
    if rows == 0 || samples.iter().any(|s| s.values.len() != rows && !s.values.is_empty()) {
        return;
    }
    let sampled = |name: &str| samples.iter().find(|s| s.name == name && s.values.len() == rows);
    let subjects: Option<Vec<Option<&str>>> = subject.and_then(sampled).map(|s| s.values.iter().collect());
    // The quasi-identifiers as the gate will see them: by category, or measured alone.
    let mut outputs: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for c in columns.iter() {
        let Some(out) = sampled(&c.name).and_then(|s| sampled_output(&c.step, s)) else { continue };
        let qi = match c.risk_prior().map(|p| p.prior) {
            Some(Prior::Settled(Role::QuasiIdentifier, _)) => true,
            Some(Prior::Measure) => sampled_r_a(&[&out], subjects.as_deref(), rows, k) > RARE_SHARE,
            _ => false,
        };
        if qi {
            outputs.insert(c.name.clone(), out);
        }
    }
    let r_a = |outputs: &HashMap<String, Vec<Option<String>>>| {
        let mut names: Vec<&String> = outputs.keys().collect();
        names.sort();
        let columns: Vec<&Vec<Option<String>>> = names.iter().map(|n| &outputs[*n]).collect();
        sampled_r_a(&columns, subjects.as_deref(), rows, k)
    };
    let mut current = r_a(&outputs);
    // Each coarsened column's first step and the share before it, for its explanation.
    let mut started: HashMap<String, (String, f64)> = HashMap::new();
    while current > allowed {
        let mut best: Option<(f64, usize, Step)> = None;
        for (i, c) in columns.iter().enumerate() {
            if !matches!(c.origin, super::Origin::Auto | super::Origin::Measured) || !outputs.contains_key(&c.name) {
                continue;
            }
            let step = coarser(&c.step).unwrap_or(Step::Drop);
            let mut trial = outputs.clone();
            match sampled(&c.name).and_then(|s| sampled_output(&step, s)) {
                Some(out) => trial.insert(c.name.clone(), out),
                None => trial.remove(&c.name),
            };
            let at = r_a(&trial);
            if best.as_ref().is_none_or(|(b, _, _)| at < *b) {
                best = Some((at, i, step));
            }
        }
        let Some((at, i, step)) = best else { return };
        let c = &mut columns[i];
        match sampled(&c.name).and_then(|s| sampled_output(&step, s)) {
            Some(out) => outputs.insert(c.name.clone(), out),
            None => outputs.remove(&c.name),
        };
        let (from, before) = started.entry(c.name.clone()).or_insert_with(|| (c.step.to_string(), current)).clone();
        c.measured = Some(format!(
            "auto, measured on the sample with the other quasi-identifiers: {step} instead of {from} takes the records in classes below {k} from {} to {}",
            percent(before),
            percent(at)
        ));
        c.step = step;
        c.origin = super::Origin::Measured;
        current = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampled(values: Vec<String>) -> SampledColumn {
        SampledColumn { name: "c".into(), data_type: "Utf8".into(), values: arrow::array::StringArray::from(values) }
    }

    fn planned(name: &str, category: Category, step: Step, origin: super::super::Origin) -> super::super::ColumnPlan {
        super::super::ColumnPlan {
            name: name.into(),
            data_type: "Utf8".into(),
            category,
            sensitivity: crate::category::Sensitivity::General,
            step,
            origin,
            reason: None,
            measured: None,
        }
    }

    #[test]
    fn the_quasi_identifiers_auto_chose_are_coarsened_together_until_classes_are_large_enough() {
        use super::super::Origin;
        // 300 people: birth dates over 40 years and 2 genders; the birth year with the gender
        // leaves 3 or 4 a class, the decade about 37.
        let n = 300;
        let births: Vec<String> = (0..n).map(|i| format!("{}-03-0{}", 1960 + (i / 2) % 40, 1 + i % 9)).collect();
        let genders: Vec<String> = (0..n).map(|i| ["男", "女"][i % 2].to_string()).collect();
        let ids: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
        let column = |name: &str, values: Vec<String>| SampledColumn { name: name.into(), ..sampled(values) };
        let samples = [column("uid", ids), column("born", births), column("xb", genders)];
        let mut columns = [
            planned("uid", Category::AccountId, Step::Hash { domain: "account_id".into(), category: Category::AccountId }, Origin::Auto),
            planned("born", Category::Birthday, Step::Generalize { generalization: Generalization::BirthYear }, Origin::Auto),
            planned("xb", Category::Gender, Step::Keep, Origin::Explicit),
        ];
        settle(&mut columns, &samples, Some("uid"), 5, 0.0);
        assert_eq!(columns[1].step, Step::Generalize { generalization: Generalization::BirthDecade }, "{:?}", columns[1]);
        assert_eq!(columns[1].origin, Origin::Measured);
        assert!(columns[1].measured.as_deref().is_some_and(|m| m.contains("to 0.0%")), "{:?}", columns[1].measured);
        assert_eq!(columns[2].step, Step::Keep, "what the pipeline names is left as written");
    }

    #[test]
    fn frequent_values_are_kept_and_values_that_single_out_rows_are_not() {
        let status: Vec<String> = (0..500).map(|i| ["paid", "shipped", "refunded"][i % 3].to_string()).collect();
        assert_eq!(decide("status", "Utf8", &sampled(status), 5), None);

        let names: Vec<String> = (0..500).map(|i| format!("Jane Doe{i}")).collect();
        let m = decide("payer", "Utf8", &sampled(names), 5).unwrap();
        assert_eq!(m.step, Step::Hash { domain: "payer".into(), category: Category::None });
        assert!(m.why.contains("100.0% of 500 sampled values"), "{}", m.why);

        let notes: Vec<String> = (0..500).map(|i| format!("called back about the parcel left at the door, ticket {i}")).collect();
        assert_eq!(decide("notes", "Utf8", &sampled(notes), 5).unwrap().step, Step::Drop);

        // Seconds and hours (about 2 an hour) single out a row; days (50 a day) do not.
        let times: Vec<String> =
            (0..500).map(|i| format!("2026-03-{:02} {:02}:{:02}:{:02}", 1 + i / 50, i % 24, (i / 60) % 60, i % 60)).collect();
        let m = decide("paid_at", "Timestamp(µs)", &sampled(times), 5).unwrap();
        assert_eq!(m.step, Step::Generalize { generalization: Generalization::Time { grain: TimeGrain::Day } }, "{}", m.why);

        // Amounts go to the finest bucket that leaves no value rare; numbers unique per row
        // and long enough to be ids become pseudonyms.
        let amounts: Vec<String> = (0..500).map(|i| format!("{}.{}", i % 97 * 3, i % 7)).collect();
        let m = decide("price", "Float64", &sampled(amounts), 5).unwrap();
        assert!(matches!(m.step, Step::Generalize { generalization: Generalization::Bucket { .. } }), "{m:?}");
        let ids: Vec<String> = (0..500).map(|i| (880_000_000 + i * 7919).to_string()).collect();
        assert!(matches!(decide("customer_no", "Int64", &sampled(ids), 5).unwrap().step, Step::Hash { .. }));
    }
}
