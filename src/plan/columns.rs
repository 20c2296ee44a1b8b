//! Resolving a dataset's pipeline entry against its inventory into one step per column,
//! failing closed: a PI column with no action, or kept without a reason, stops the run
//! before anything is written.

use std::sync::Arc;

use arrow::array::ArrayRef;
use serde::{Deserialize, Serialize};

use super::PlanProblem;
use super::auto;
use super::spec::{Chosen, DatasetSpec};
use crate::category::{Action, Category, Sensitivity};
use crate::classify::TypeKind;
use crate::inventory::ColumnInventory;
use crate::lake::SampledColumn;
use crate::risk::{self, ColumnPrior, Prior, Role, Sharing};
use crate::transform::generalize::generalize;
use crate::transform::{Generalization, MaskSpec, RedactStyle, TimeGrain};

/// What happens to one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// Keyed pseudonym in `domain`, canonicalized as `category`.
    Hash {
        domain: String,
        category: Category,
    },
    /// Mask with `spec`, or the category's preset.
    Mask {
        category: Category,
        spec: Option<MaskSpec>,
    },
    Generalize {
        generalization: Generalization,
    },
    Redact {
        style: RedactStyle,
    },
    Drop,
    Keep,
}

impl Step {
    /// The action id.
    pub fn action(&self) -> Action {
        match self {
            Step::Hash { .. } => Action::Hash,
            Step::Mask { .. } => Action::Mask,
            Step::Generalize { .. } => Action::Generalize,
            Step::Redact { .. } => Action::Redact,
            Step::Drop => Action::Drop,
            Step::Keep => Action::Keep,
        }
    }

    /// Parameters in words, for manifests and dry runs.
    pub fn params(&self) -> String {
        match self {
            Step::Hash { domain, .. } => format!("domain={domain}"),
            Step::Mask { spec: Some(s), .. } => format!("keep_first={}, keep_last={}", s.keep_first, s.keep_last),
            Step::Mask { category, spec: None } => format!("preset={category}"),
            Step::Generalize { generalization } => generalization.to_string(),
            Step::Redact { style: RedactStyle::Mask } => "style=mask".into(),
            Step::Redact { style: RedactStyle::Tag } => "style=tag".into(),
            Step::Drop | Step::Keep => String::new(),
        }
    }
}

impl std::fmt::Display for Step {
    /// The action with its parameters: `generalize (grid:0.01)`, `keep`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.params() {
            p if p.is_empty() => write!(f, "{}", self.action()),
            p => write!(f, "{} ({p})", self.action()),
        }
    }
}

/// Where a column's step came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Named in the pipeline.
    Explicit,
    /// `default_action`: unlisted, given the dataset's default.
    Auto,
    /// Not PI and not listed: kept.
    NotPi,
    /// `default_action = "auto"` suggested a generalization the sampled values do not
    /// parse as (search terms under a URL category): dropped instead, never kept.
    AutoDropped,
    /// `default_action = "auto"` on a column no rule calls PI whose sampled values single
    /// out rows: generalized, hashed or dropped instead of kept (`measured` says why).
    Measured,
}

/// One column's resolved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPlan {
    pub name: String,
    pub data_type: String,
    pub category: Category,
    pub sensitivity: Sensitivity,
    pub step: Step,
    pub origin: Origin,
    /// Why PI is kept as it is, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What `auto` measured in the sampled values, when that decided the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
}

/// A dataset's resolved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetPlan {
    pub name: String,
    pub subject: Option<String>,
    pub columns: Vec<ColumnPlan>,
    /// Hive partition keys (`dt`): coarse by construction, usable as export dimensions.
    #[serde(default)]
    pub partition_columns: Vec<String>,
    /// Who may see the output (the risk gate's threshold).
    #[serde(default)]
    pub sharing: Sharing,
    /// The share of records the risk gate may suppress.
    #[serde(default)]
    pub max_suppressed: f64,
}

impl ColumnPlan {
    /// The column as the risk evaluation starts from it, or `None` when it is dropped: its
    /// role settled by its step or category, or to be measured.
    pub fn risk_prior(&self) -> Option<ColumnPrior> {
        let settled = |role, why: String| Prior::Settled(role, why);
        let prior = match (&self.step, &self.reason) {
            (Step::Drop, _) => return None,
            (Step::Hash { .. }, _) => settled(Role::Pseudonym, "keyed hash (HMAC-SHA256)".into()),
            // Free text is what is shared, not what others know beforehand; its PI is redacted.
            (Step::Redact { .. }, _) => settled(Role::SensitiveAttribute, "free text, PI in it redacted".into()),
            (Step::Keep, _) if self.category.pinpoints_a_person() => {
                settled(Role::DirectIdentifier, format!("{} kept as it is", self.category))
            }
            _ if risk::is_quasi_identifier(self.category) => settled(Role::QuasiIdentifier, format!("category {}", self.category)),
            (_, Some(reason)) if self.category != Category::None => {
                settled(Role::SensitiveAttribute, format!("kept with a reason: {reason}"))
            }
            (_, Some(reason)) => settled(Role::Other, format!("kept with a reason: {reason}")),
            _ if risk::is_sensitive_attribute(self.category) => settled(Role::SensitiveAttribute, format!("category {}", self.category)),
            _ => Prior::Measure,
        };
        Some(ColumnPrior {
            name: self.name.clone(),
            data_type: self.data_type.clone(),
            category: self.category,
            step: Some(self.step.to_string()),
            prior,
        })
    }
}

impl DatasetPlan {
    /// The columns whose raw values the leak gate must not find in the output: those of
    /// categories whose values point to one person, pseudonymized, masked, generalized or
    /// dropped.
    pub fn protected_columns(&self) -> Vec<(String, Category)> {
        self.columns
            .iter()
            .filter(|c| c.category.pinpoints_a_person() && !matches!(c.step, Step::Keep | Step::Redact { .. }))
            .map(|c| (c.name.clone(), c.category))
            .collect()
    }

    /// The columns written as they are.
    pub fn kept_columns(&self) -> Vec<String> {
        self.columns.iter().filter(|c| c.step == Step::Keep).map(|c| c.name.clone()).collect()
    }

    /// The most distinct subjects each class counted by the write keeps, where a subject is
    /// published: the smallest class the sharing model allows, all the risk gate asks of it.
    pub fn class_subject_cap(&self) -> Option<u64> {
        self.subject.as_ref().map(|_| self.sharing.min_class())
    }

    /// What the write counts records by for the risk gate: the quasi-identifiers the gate
    /// settles before measuring any value (in the order its evaluation lists them), then each
    /// column it measures, alone.
    pub fn class_groupings(&self) -> Vec<Vec<String>> {
        let priors: Vec<ColumnPrior> = self.columns.iter().filter_map(ColumnPlan::risk_prior).collect();
        let settled = priors.iter().filter(|c| matches!(c.prior, Prior::Settled(Role::QuasiIdentifier, _))).map(|c| c.name.clone());
        let measured = priors
            .iter()
            .filter(|c| c.prior == Prior::Measure && TypeKind::of(&c.data_type) != TypeKind::Opaque)
            .map(|c| vec![c.name.clone()]);
        std::iter::once(settled.collect()).chain(measured).collect()
    }
}

/// The generalization a category gets when none is given.
fn default_generalization(category: Category, data_type: &str) -> Option<Generalization> {
    Some(match category {
        Category::PreciseLocation => Generalization::Grid { size: 0.01 },
        Category::Birthday => Generalization::BirthYear,
        Category::IpAddress => Generalization::IpPrefix,
        Category::Address => Generalization::Region,
        Category::BrowsingHistory => Generalization::UrlPath,
        _ if data_type.starts_with("Timestamp") || data_type.starts_with("Date") => Generalization::Time { grain: TimeGrain::Day },
        _ => return None,
    })
}

/// Why a column's chosen action cannot be applied to it.
enum Unfit {
    GeneralizeNeedsParameters,
    KeptWithoutReason,
}

fn step_for(chosen: &Chosen, col: &ColumnInventory) -> Result<(Step, Option<String>), Unfit> {
    Ok(match chosen {
        Chosen::Auto => return step_for(&Chosen::plain(col.suggested_action), col),
        Chosen::Hash { domain } => {
            let domain = domain.clone().unwrap_or_else(|| match col.category {
                Category::None | Category::UnknownIdentifier => col.name.clone(),
                c => c.id().to_string(),
            });
            (Step::Hash { domain, category: col.category }, None)
        }
        Chosen::Mask { spec } => (Step::Mask { category: col.category, spec: *spec }, None),
        Chosen::Generalize(Some(g)) => (Step::Generalize { generalization: *g }, None),
        Chosen::Generalize(None) => match default_generalization(col.category, &col.data_type) {
            Some(generalization) => (Step::Generalize { generalization }, None),
            None => return Err(Unfit::GeneralizeNeedsParameters),
        },
        Chosen::Redact(style) => (Step::Redact { style: *style }, None),
        Chosen::Drop => (Step::Drop, None),
        Chosen::Keep { reason } => {
            let opaque = TypeKind::of(&col.data_type) == TypeKind::Opaque;
            if (col.category != Category::None || opaque) && reason.is_none() {
                return Err(Unfit::KeptWithoutReason);
            }
            (Step::Keep, reason.clone())
        }
    })
}

/// Whether `step` can be applied to a column of `kind`, so that a run never fails on it
/// half-way (every kernel reads text; numbers, times and booleans are read as their text).
fn fits(step: &Step, kind: TypeKind) -> bool {
    use Generalization as G;
    match step {
        Step::Keep | Step::Drop => true,
        _ if kind == TypeKind::Opaque => false,
        Step::Hash { .. } | Step::Mask { .. } | Step::Redact { .. } => true,
        Step::Generalize { generalization } => match generalization {
            G::Grid { .. } => matches!(kind, TypeKind::Number | TypeKind::Text),
            G::Bucket { .. } => kind == TypeKind::Number,
            G::Time { .. } | G::BirthYear | G::BirthDecade => matches!(kind, TypeKind::Temporal | TypeKind::Text),
            G::Geohash { .. } | G::IpPrefix | G::Region | G::Province | G::UrlPath => kind == TypeKind::Text,
        },
    }
}

/// Why a generalization cannot be applied to a text column's sampled values, so that a run
/// never stops on them half-way. Typed columns are checked by [`fits`].
fn rejected_by_values(step: &Step, col: &ColumnInventory, sampled: Option<&SampledColumn>) -> Option<String> {
    let (Step::Generalize { generalization }, Some(sampled)) = (step, sampled) else { return None };
    if TypeKind::of(&col.data_type) != TypeKind::Text || arrow::array::Array::is_empty(&sampled.values) {
        return None;
    }
    let values: ArrayRef = Arc::new(sampled.values.clone());
    generalize(&values, *generalization).err().map(|e| e.to_string())
}

/// The key unlisted columns used to be configured under; now `default_action`.
const LEGACY_DEFAULT: &str = "default";

/// Resolves `spec` for a dataset whose columns were classified as `columns`. Every problem
/// is reported, not just the first.
pub fn resolve(spec: &DatasetSpec, columns: &[ColumnInventory], samples: &[SampledColumn]) -> Result<DatasetPlan, Vec<PlanProblem>> {
    let dataset = || spec.name.clone();
    let mut problems = Vec::new();
    let default = spec.default_action.as_ref().map(|c| c.chosen().expect("checked when parsed"));
    for listed in spec.columns.keys().filter(|k| !columns.iter().any(|c| &c.name == *k)) {
        problems.push(if listed == LEGACY_DEFAULT {
            PlanProblem::LegacyDefault { dataset: dataset() }
        } else {
            PlanProblem::UnknownColumn { dataset: dataset(), column: listed.clone() }
        });
    }
    if let Some(subject) = spec.subject.as_ref().filter(|s| !columns.iter().any(|c| &c.name == *s)) {
        problems.push(PlanProblem::MissingSubject { dataset: dataset(), column: subject.clone() });
    }
    let mut planned = Vec::new();
    for col in columns {
        let listed = spec.columns.get(&col.name);
        if listed.is_none() && TypeKind::of(&col.data_type) == TypeKind::Opaque {
            // Phones and ID numbers inside structs, lists, maps or bytes escape every detector.
            problems.push(PlanProblem::UndecidedOpaque { dataset: dataset(), column: col.name.clone(), data_type: col.data_type.clone() });
            continue;
        }
        let (chosen, origin) = match (listed, &default) {
            (Some(c), _) => (c.chosen().expect("checked when parsed"), Origin::Explicit),
            (None, Some(d)) => (d.clone(), Origin::Auto),
            (None, None) if col.category == Category::None => (Chosen::Keep { reason: None }, Origin::NotPi),
            (None, None) => {
                problems.push(PlanProblem::NoAction {
                    dataset: dataset(),
                    column: col.name.clone(),
                    category: col.category,
                    sensitivity: col.sensitivity,
                });
                continue;
            }
        };
        let sampled = samples.iter().find(|s| s.name == col.name);
        match step_for(&chosen, col) {
            Ok((step, _)) if !fits(&step, TypeKind::of(&col.data_type)) => problems.push(PlanProblem::ActionDoesNotFit {
                dataset: dataset(),
                column: col.name.clone(),
                step: step.to_string(),
                data_type: col.data_type.clone(),
            }),
            Ok((step, reason)) => {
                // The subject column identifies people whatever its values look like: on
                // `auto` it is a pseudonym in its own domain, never measured into buckets.
                let subject = spec.subject.as_deref() == Some(col.name.as_str());
                let step = match (origin, col.category) {
                    (Origin::Auto, Category::None | Category::UnknownIdentifier) if subject => {
                        Step::Hash { domain: col.name.clone(), category: col.category }
                    }
                    _ => step,
                };
                let measured = match (origin, col.category, sampled) {
                    (Origin::Auto, Category::None, Some(sampled)) if !subject => {
                        auto::decide(&col.name, &col.data_type, sampled, spec.sharing.min_class())
                    }
                    _ => None,
                };
                let (step, origin) = match rejected_by_values(&step, col, sampled) {
                    _ if measured.is_some() => (measured.as_ref().expect("measured").step.clone(), Origin::Measured),
                    None if origin == Origin::Auto && col.category == Category::None => (step, Origin::NotPi),
                    None => (step, origin),
                    Some(_) if origin == Origin::Auto => (Step::Drop, Origin::AutoDropped),
                    Some(error) => {
                        problems.push(PlanProblem::ActionDoesNotFit {
                            dataset: dataset(),
                            column: col.name.clone(),
                            step: step.to_string(),
                            data_type: format!("{} (sampled values: {error})", col.data_type),
                        });
                        continue;
                    }
                };
                planned.push(ColumnPlan {
                    name: col.name.clone(),
                    data_type: col.data_type.clone(),
                    category: col.category,
                    sensitivity: col.sensitivity,
                    step,
                    origin,
                    reason,
                    measured: measured.map(|m| m.why),
                });
            }
            Err(Unfit::GeneralizeNeedsParameters) => problems.push(PlanProblem::GeneralizeNeedsParameters {
                dataset: dataset(),
                column: col.name.clone(),
                category: col.category,
            }),
            Err(Unfit::KeptWithoutReason) => problems.push(PlanProblem::KeptWithoutReason {
                dataset: dataset(),
                column: col.name.clone(),
                category: col.category,
                sensitivity: col.sensitivity,
            }),
        }
    }
    if problems.is_empty() {
        auto::settle(&mut planned, samples, spec.subject.as_deref(), spec.sharing.min_class(), spec.max_suppressed);
        Ok(DatasetPlan {
            name: spec.name.clone(),
            subject: spec.subject.clone(),
            columns: planned,
            partition_columns: Vec::new(),
            sharing: spec.sharing,
            max_suppressed: spec.max_suppressed,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Evidence;
    use crate::plan::spec::PipelineSpec;

    fn col(name: &str, category: Category, sensitivity: Sensitivity, action: Action) -> ColumnInventory {
        ColumnInventory {
            name: name.into(),
            data_type: "Utf8".into(),
            category,
            sensitivity,
            confidence: 0.9,
            evidence: Evidence { name_keyword: None, values_checked: 0, values_matched: 0, detectors: vec![], reason: String::new() },
            suggested_action: action,
        }
    }

    fn dataset(toml: &str) -> DatasetSpec {
        PipelineSpec::parse("t.toml", toml).unwrap().datasets.remove(0)
    }

    #[test]
    fn fails_closed_and_lists_every_problem() {
        let cols = [
            col("phone", Category::Phone, Sensitivity::General, Action::Hash),
            col("amount", Category::Transaction, Sensitivity::Sensitive, Action::Keep),
            col("status", Category::None, Sensitivity::None, Action::Keep),
            col("remark", Category::Communication, Sensitivity::Sensitive, Action::Redact),
        ];
        let problems =
            resolve(&dataset("[[dataset]]\nname = \"o\"\ncolumns.amount = \"keep\"\ncolumns.ghost = \"drop\"\n"), &cols, &[]).unwrap_err();
        let all = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("`phone` holds PI"), "{all}");
        assert!(all.contains("`remark` holds PI"), "{all}");
        assert!(all.contains("`amount`") && all.contains("reason"), "{all}");
        assert!(all.contains("`ghost`"), "{all}");
        assert!(!all.contains("status"), "non-PI columns are kept without ceremony");

        // auto resolving to keep on PI fails too; a reason makes it explicit.
        let problems = resolve(&dataset("[[dataset]]\nname = \"o\"\ndefault_action = \"auto\"\n"), &cols, &[]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let plan = resolve(
            &dataset("[[dataset]]\nname = \"o\"\ndefault_action = \"auto\"\ncolumns.amount = { action = \"keep\", reason = \"GMV reporting\" }\n"),
            &cols,
            &[],
        )
        .unwrap();
        let steps: Vec<(&str, &Step)> = plan.columns.iter().map(|c| (c.name.as_str(), &c.step)).collect();
        assert_eq!(
            steps,
            [
                ("phone", &Step::Hash { domain: "phone".into(), category: Category::Phone }),
                ("amount", &Step::Keep),
                ("status", &Step::Keep),
                ("remark", &Step::Redact { style: RedactStyle::Mask }),
            ]
        );
        assert_eq!(plan.columns[1].reason.as_deref(), Some("GMV reporting"));

        // The old spelling of the default names a column that is not there, and says so.
        let problems = resolve(&dataset("[[dataset]]\nname = \"o\"\ncolumns.default = \"auto\"\n"), &cols, &[]).unwrap_err();
        assert!(problems.contains(&PlanProblem::LegacyDefault { dataset: "o".into() }), "{problems:?}");
        assert!(problems.iter().any(|p| p.to_string().contains("default_action")), "{problems:?}");
        // A real column named `default` is configured like any other.
        let mut with_default = cols.to_vec();
        with_default.push(col("default", Category::Phone, Sensitivity::General, Action::Hash));
        let plan =
            resolve(&dataset("[[dataset]]\nname = \"o\"\ndefault_action = \"drop\"\ncolumns.default = \"hash\"\n"), &with_default, &[])
                .unwrap();
        let default_col = plan.columns.iter().find(|c| c.name == "default").unwrap();
        assert!(matches!(default_col.step, Step::Hash { .. }));
        assert_eq!(plan.columns.iter().filter(|c| c.step == Step::Drop).count(), 4);
    }

    #[test]
    fn actions_must_fit_the_column_type_when_planned() {
        let typed = |name: &str, data_type: &str| ColumnInventory {
            data_type: data_type.into(),
            ..col(name, Category::None, Sensitivity::None, Action::Keep)
        };
        let cols = [
            typed("seen_at", "Timestamp(µs)"),
            typed("amount", "Float64"),
            typed("tags", "List(Utf8)"),
            typed("ip", "Utf8View"),
            typed("born", "Date32"),
        ];
        let ok = resolve(
            &dataset(
                "[[dataset]]\nname = \"t\"\ncolumns.seen_at = { action = \"generalize\", time = \"day\" }\ncolumns.amount = { action = \"generalize\", bucket = 100 }\ncolumns.tags = \"drop\"\ncolumns.ip = { action = \"generalize\", to = \"ip\" }\ncolumns.born = { action = \"generalize\", to = \"birth_year\" }\n",
            ),
            &cols,
            &[],
        );
        assert!(ok.is_ok(), "{ok:?}");
        let problems = resolve(
            &dataset("[[dataset]]\nname = \"t\"\ncolumns.seen_at = { action = \"generalize\", grid = 0.01 }\ncolumns.amount = { action = \"generalize\", to = \"region\" }\ncolumns.tags = \"hash\"\ncolumns.ip = { action = \"generalize\", bucket = 10 }\n"),
            &cols,
            &[],
        )
        .unwrap_err();
        let unfit: Vec<&str> = problems
            .iter()
            .filter_map(|p| match p {
                PlanProblem::ActionDoesNotFit { column, .. } => Some(column.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(unfit, ["seen_at", "amount", "tags", "ip"], "{problems:?}");
        let text = problems[0].to_string();
        assert!(text.contains("`seen_at`") && text.contains("grid:0.01") && text.contains("Timestamp"), "{text}");
    }

    #[test]
    fn generalize_defaults_follow_the_category() {
        let cols = [
            col("lat", Category::PreciseLocation, Sensitivity::Sensitive, Action::Generalize),
            col("score", Category::None, Sensitivity::None, Action::Keep),
        ];
        let plan = resolve(&dataset("[[dataset]]\nname = \"l\"\ncolumns.lat = \"generalize\"\n"), &cols, &[]).unwrap();
        assert_eq!(plan.columns[0].step, Step::Generalize { generalization: Generalization::Grid { size: 0.01 } });
        let err =
            resolve(&dataset("[[dataset]]\nname = \"l\"\ncolumns.lat = \"generalize\"\ncolumns.score = \"generalize\"\n"), &cols, &[])
                .unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].to_string().contains("`score`") && err[0].to_string().contains("needs parameters"), "{err:?}");
    }

    #[test]
    fn a_generalization_the_sampled_values_reject_is_dropped_by_auto_and_refused_when_chosen() {
        let cols = [col("search_kw", Category::BrowsingHistory, Sensitivity::Sensitive, Action::Generalize)];
        let samples = [SampledColumn {
            name: "search_kw".into(),
            data_type: "Utf8".into(),
            values: arrow::array::StringArray::from(vec!["蓝牙耳机", "降压药"]),
        }];
        let plan = resolve(&dataset("[[dataset]]\nname = \"s\"\ndefault_action = \"auto\"\n"), &cols, &samples).unwrap();
        assert_eq!((&plan.columns[0].step, plan.columns[0].origin), (&Step::Drop, Origin::AutoDropped));
        let err = resolve(&dataset("[[dataset]]\nname = \"s\"\ncolumns.search_kw = \"generalize\"\n"), &cols, &samples).unwrap_err();
        assert!(err[0].to_string().contains("sampled values: row 0: value is not an http(s) URL"), "{err:?}");
        assert!(!err[0].to_string().contains("蓝牙"), "no value in the problem");
    }
}
