//! The pipeline file (`pipelines/*.toml`): which datasets to de-identify and how.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::category::Action;
use crate::risk::Sharing;
use crate::transform::{Generalization, MaskSpec, RedactStyle, TimeGrain};

/// Why a pipeline file is unusable. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read pipeline {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("pipeline {path}: {message}")]
    Parse { path: String, message: String },
    #[error("pipeline {path}: dataset `{dataset}`, column `{column}`: {message}")]
    Column { path: String, dataset: String, column: String, message: String },
}

/// A parsed pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Datasets to de-identify, in order.
    #[serde(rename = "dataset", default)]
    pub datasets: Vec<DatasetSpec>,
    /// Aggregate exports for third parties, computed from the de-identified zone.
    #[serde(rename = "export", default)]
    pub exports: Vec<ExportSpec>,
    /// `[retention.<dataset>]`: how long each dataset's partitions are kept.
    #[serde(default)]
    pub retention: BTreeMap<String, RetentionSpec>,
}

/// What kind of data a dataset holds, where the law cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// Browsing or access logs: kept at least 180 days (Cybersecurity Law Art. 21).
    BrowsingLog,
}

/// One `[retention.<dataset>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// Partitions older than this many days are purged (none: kept until erasure).
    pub max_days: Option<u32>,
    /// A legal floor: rows younger than this many days are kept, even on erasure.
    pub min_days: Option<u32>,
    /// `browsing_log` puts the dataset under the 180-day floor (also detected from its columns).
    pub kind: Option<DatasetKind>,
    /// The hive partition key (default: the dataset's first) or date column that dates a partition.
    pub age: Option<String>,
}

fn default_min_subjects() -> u64 {
    50
}

/// One `[[export]]`: aggregates of a de-identified dataset with small cells suppressed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// Writes `LAKE/export/<name>/<run-id>/`.
    pub name: String,
    /// A dataset of this pipeline.
    pub from: String,
    /// Generalized dimensions.
    pub group_by: Vec<String>,
    /// Output column → `count_distinct_subjects`, `count`, `sum(col)` or `avg(col)`.
    pub metrics: BTreeMap<String, String>,
    /// Rows covering fewer distinct subjects are suppressed.
    #[serde(default = "default_min_subjects")]
    pub min_subjects: u64,
    /// A dataset whose subjects with a true `*opt_out*` column are left out.
    pub exclude_opted_out: Option<String>,
}

/// One `[[dataset]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Reads `LAKE/raw/<name>`, writes `LAKE/deid/<name>`.
    pub name: String,
    /// The column that names the person.
    pub subject: Option<String>,
    /// The action of columns not listed in `columns` (`"auto"`: the inventory's suggestion).
    pub default_action: Option<ColumnSpec>,
    /// Column name → action.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnSpec>,
    /// Who may see the output: the threshold of the risk gate (GB/T 42460).
    #[serde(default)]
    pub sharing: Sharing,
    /// The share of records whose quasi-identifiers may be nulled (local suppression) so that
    /// the rest pass the risk gate; 0 (the default) suppresses none.
    #[serde(default)]
    pub max_suppressed: f64,
}

/// An action as written: `"hash"`, or a table with parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ColumnSpec {
    /// `"hash"`, `"mask"`, `"generalize"`, `"redact"`, `"drop"`, `"keep"` or `"auto"`.
    Name(ActionName),
    /// `{ action = "...", ... }`.
    Table(ColumnTable),
}

/// An action name, or `auto` (the inventory's suggestion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Auto,
    #[serde(untagged)]
    Action(Action),
}

/// The table form of a column action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnTable {
    pub action: ActionName,
    /// hash: pseudonym domain (default: the column's category).
    pub domain: Option<String>,
    /// mask: characters kept at the start.
    pub keep_first: Option<usize>,
    /// mask: characters kept at the end.
    pub keep_last: Option<usize>,
    /// generalize: grid cell in degrees.
    pub grid: Option<f64>,
    /// generalize: geohash precision.
    pub geohash: Option<usize>,
    /// generalize: time grain (`hour`, `day`, `month`).
    pub time: Option<TimeGrain>,
    /// generalize: bucket width.
    pub bucket: Option<f64>,
    /// generalize: `birth_year`, `birth_decade`, `ip`, `region`, `province` or `url`.
    pub to: Option<String>,
    /// redact: `mask` (default) or `tag`.
    pub style: Option<RedactStyle>,
    /// keep: why PI may stay as it is (required for PI columns).
    pub reason: Option<String>,
}

/// A column action with its parameters checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Chosen {
    /// Use the inventory's suggestion.
    Auto,
    Hash {
        domain: Option<String>,
    },
    Mask {
        spec: Option<MaskSpec>,
    },
    /// `None`: the category's default generalization.
    Generalize(Option<Generalization>),
    Redact(RedactStyle),
    Drop,
    Keep {
        reason: Option<String>,
    },
}

impl Chosen {
    /// `action` with its default parameters.
    pub fn plain(action: Action) -> Chosen {
        match action {
            Action::Hash => Chosen::Hash { domain: None },
            Action::Mask => Chosen::Mask { spec: None },
            Action::Generalize => Chosen::Generalize(None),
            Action::Redact => Chosen::Redact(RedactStyle::default()),
            Action::Drop => Chosen::Drop,
            Action::Keep => Chosen::Keep { reason: None },
        }
    }

    /// The action id, for reports.
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            Chosen::Auto => return None,
            Chosen::Hash { .. } => Action::Hash,
            Chosen::Mask { .. } => Action::Mask,
            Chosen::Generalize(_) => Action::Generalize,
            Chosen::Redact(_) => Action::Redact,
            Chosen::Drop => Action::Drop,
            Chosen::Keep { .. } => Action::Keep,
        })
    }
}

impl ColumnSpec {
    /// Checks that only the parameters of the chosen action are given.
    pub fn chosen(&self) -> Result<Chosen, String> {
        let t = match self {
            ColumnSpec::Name(ActionName::Auto) => return Ok(Chosen::Auto),
            ColumnSpec::Name(ActionName::Action(a)) => return Ok(Chosen::plain(*a)),
            ColumnSpec::Table(t) => t,
        };
        let given: Vec<&str> = [
            ("domain", t.domain.is_some()),
            ("keep_first", t.keep_first.is_some()),
            ("keep_last", t.keep_last.is_some()),
            ("grid", t.grid.is_some()),
            ("geohash", t.geohash.is_some()),
            ("time", t.time.is_some()),
            ("bucket", t.bucket.is_some()),
            ("to", t.to.is_some()),
            ("style", t.style.is_some()),
            ("reason", t.reason.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let action = match t.action {
            ActionName::Auto => None,
            ActionName::Action(a) => Some(a),
        };
        let allowed: &[&str] = match action {
            None | Some(Action::Drop) => &[],
            Some(Action::Hash) => &["domain"],
            Some(Action::Mask) => &["keep_first", "keep_last"],
            Some(Action::Generalize) => &["grid", "geohash", "time", "bucket", "to"],
            Some(Action::Redact) => &["style"],
            Some(Action::Keep) => &["reason"],
        };
        if let Some(bad) = given.iter().find(|k| !allowed.contains(k)) {
            return Err(format!("`{bad}` does not apply to action `{}`", action.map_or("auto", Action::id)));
        }
        let Some(action) = action else { return Ok(Chosen::Auto) };
        Ok(match action {
            Action::Drop => Chosen::Drop,
            Action::Hash => Chosen::Hash { domain: t.domain.clone() },
            Action::Mask => Chosen::Mask {
                spec: (t.keep_first.is_some() || t.keep_last.is_some())
                    .then(|| MaskSpec { keep_first: t.keep_first.unwrap_or(0), keep_last: t.keep_last.unwrap_or(0) }),
            },
            Action::Generalize => {
                let positive = |what: &str, x: f64| {
                    if x.is_finite() && x > 0.0 { Ok(x) } else { Err(format!("`{what}` must be a positive number")) }
                };
                let mut specs = Vec::new();
                if let Some(size) = t.grid {
                    specs.push(Generalization::Grid { size: positive("grid", size)? });
                }
                if let Some(precision) = t.geohash {
                    if !(1..=12).contains(&precision) {
                        return Err("`geohash` must be a precision of 1 to 12".into());
                    }
                    specs.push(Generalization::Geohash { precision });
                }
                if let Some(grain) = t.time {
                    specs.push(Generalization::Time { grain });
                }
                if let Some(width) = t.bucket {
                    specs.push(Generalization::Bucket { width: positive("bucket", width)? });
                }
                if let Some(to) = &t.to {
                    specs.push(match to.as_str() {
                        "birth_year" => Generalization::BirthYear,
                        "birth_decade" => Generalization::BirthDecade,
                        "ip" => Generalization::IpPrefix,
                        "region" => Generalization::Region,
                        "province" => Generalization::Province,
                        "url" => Generalization::UrlPath,
                        _ => return Err(format!("`to = \"{to}\"` must be birth_year, birth_decade, ip, region, province or url")),
                    });
                }
                match specs.as_slice() {
                    [] => Chosen::Generalize(None),
                    [one] => Chosen::Generalize(Some(*one)),
                    _ => return Err("give one of grid, geohash, time, bucket or to".into()),
                }
            }
            Action::Redact => Chosen::Redact(t.style.unwrap_or_default()),
            Action::Keep => Chosen::Keep { reason: t.reason.clone().filter(|r| !r.trim().is_empty()) },
        })
    }
}

/// Why `name` cannot name a dataset or an export: it becomes a directory of the lake and a
/// table in queries, so only letters, digits, `_` and `-`, not first `_` or `-`, at most 128.
pub fn table_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.chars().count() > 128 {
        return Some("empty or longer than 128 characters");
    }
    if name.starts_with(['_', '-']) || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Some("not a plain name (letters, digits, `_` and `-`; no dots, slashes or leading `_`/`-`)");
    }
    None
}

impl PipelineSpec {
    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<PipelineSpec, SpecError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| SpecError::Io { path: shown.clone(), cause })?;
        Self::parse(&shown, &text)
    }

    /// Parses and checks pipeline text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<PipelineSpec, SpecError> {
        let spec: PipelineSpec = toml::from_str(text)
            .map_err(|e| SpecError::Parse { path: origin.to_string(), message: e.to_string().trim_end().to_string() })?;
        if spec.datasets.is_empty() {
            return Err(SpecError::Parse { path: origin.to_string(), message: "no [[dataset]] to run".into() });
        }
        let mut names = Vec::new();
        let named = spec.datasets.iter().map(|d| ("dataset", &d.name)).chain(spec.exports.iter().map(|e| ("export", &e.name)));
        for (what, name) in named {
            let problem = table_name_problem(name)
                .or_else(|| names.contains(name).then_some("used twice (datasets and exports share one namespace in queries)"));
            if let Some(problem) = problem {
                return Err(SpecError::Parse { path: origin.to_string(), message: format!("{what} name `{name}` is {problem}") });
            }
            names.push(name.clone());
        }
        for d in &spec.datasets {
            if !(0.0..=0.5).contains(&d.max_suppressed) {
                return Err(SpecError::Parse {
                    path: origin.to_string(),
                    message: format!("dataset `{}`: max_suppressed = {} must be a share from 0 to 0.5", d.name, d.max_suppressed),
                });
            }
            if let Some(default) = &d.default_action {
                default.chosen().map_err(|message| SpecError::Parse {
                    path: origin.to_string(),
                    message: format!("dataset `{}`: default_action: {message}", d.name),
                })?;
            }
            for (column, c) in &d.columns {
                c.chosen().map_err(|message| SpecError::Column {
                    path: origin.to_string(),
                    dataset: d.name.clone(),
                    column: column.clone(),
                    message,
                })?;
            }
        }
        for (dataset, r) in &spec.retention {
            let problem = if !names.contains(dataset) { Some("names no [[dataset]] of this pipeline".to_string()) } else { r.problem() };
            if let Some(message) = problem {
                return Err(SpecError::Parse { path: origin.to_string(), message: format!("[retention.{dataset}]: {message}") });
            }
        }
        Ok(spec)
    }
}

impl RetentionSpec {
    /// Why this policy is inconsistent, if it is. (Legal floors need the dataset's columns,
    /// so [`crate::plan::RetentionPolicy::resolve`] checks those.)
    pub fn problem(&self) -> Option<String> {
        match (self.min_days, self.max_days) {
            (Some(min), Some(max)) if min > max => Some(format!("min_days = {min} is more than max_days = {max}")),
            (_, Some(0)) => Some("max_days = 0 would purge every partition; give at least 1".into()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example() {
        let spec = PipelineSpec::parse(
            "x.toml",
            r#"
[[dataset]]
name = "users"
subject = "user_id"
default_action = "auto"
columns.phone = "hash"
columns.name = { action = "mask", keep_first = 1 }
columns.lat = { action = "generalize", grid = 0.01 }
columns.remark = "redact"
columns.status = { action = "keep", reason = "order status, not PI" }
"#,
        )
        .unwrap();
        let d = &spec.datasets[0];
        assert_eq!(d.default_action.as_ref().unwrap().chosen().unwrap(), Chosen::Auto);
        assert_eq!(d.columns["name"].chosen().unwrap(), Chosen::Mask { spec: Some(MaskSpec { keep_first: 1, keep_last: 0 }) });
        assert_eq!(d.columns["lat"].chosen().unwrap(), Chosen::Generalize(Some(Generalization::Grid { size: 0.01 })));
    }

    #[test]
    fn mistakes_name_the_file_dataset_and_column() {
        let err = PipelineSpec::parse("p.toml", "[[dataset]]\nname = \"u\"\ncolumns.x = { action = \"hash\", grid = 0.01 }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml") && err.contains("`u`") && err.contains("`x`") && err.contains("grid"), "{err}");
        let err = PipelineSpec::parse("p.toml", "[[dataset]]\nname = \"u\"\ncolums.x = \"hash\"\n").unwrap_err().to_string();
        assert!(err.contains("colums"), "{err}");
        let err = PipelineSpec::parse("p.toml", "[[dataset]]\nname = \"u\"\ncolumns.x = \"scramble\"\n").unwrap_err().to_string();
        assert!(err.contains("p.toml"), "{err}");
        for name in ["../etc", "a.b", "/abs", "_hidden", ""] {
            let err = PipelineSpec::parse("p.toml", &format!("[[dataset]]\nname = \"{name}\"\n")).unwrap_err().to_string();
            assert!(err.contains("not a plain name") || err.contains("empty"), "{name}: {err}");
            let export = format!(
                "[[dataset]]\nname = \"u\"\n[[export]]\nname = \"{name}\"\nfrom = \"u\"\ngroup_by = []\nmetrics = {{ n = \"count\" }}\n"
            );
            let err = PipelineSpec::parse("p.toml", &export).unwrap_err().to_string();
            assert!(err.contains(&format!("export name `{name}`")), "{name}: {err}");
        }
        let twice = "[[dataset]]\nname = \"u\"\n[[export]]\nname = \"u\"\nfrom = \"u\"\ngroup_by = []\nmetrics = { n = \"count\" }\n";
        assert!(PipelineSpec::parse("p.toml", twice).unwrap_err().to_string().contains("used twice"));
        let err = PipelineSpec::parse(
            "p.toml",
            "[[dataset]]\nname = \"u\"\ncolumns.t = { action = \"generalize\", grid = 0.01, time = \"hour\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("one of"), "{err}");
        let err = PipelineSpec::parse("p.toml", "[[dataset]]\nname = \"u\"\ncolumns.l = { action = \"generalize\", grid = -1 }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`l`") && err.contains("positive"), "{err}");
        let err = PipelineSpec::parse("p.toml", "[[dataset]]\nname = \"u\"\ndefault_action = { action = \"keep\", grid = 1 }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("default_action") && err.contains("grid"), "{err}");
    }
}
