//! Retention policies: how long each dataset is kept, and the legal floors no configuration
//! can lower. `purge` and `erase` apply them.
//!
//! A partition is dated by its hive key (`dt=2026-01-31`; `2026-01` means the month's last
//! day) or by the newest value of a date column. Its age on `today` is `today - date` in
//! days: it is past `max_days` when older than that, and under a floor while younger.

use arrow::array::{Array, Date32Array};
use arrow::datatypes::DataType;
use chrono::{Datelike, NaiveDate};
use datafusion::common::Column;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::{Expr, cast};
use datafusion::prelude::SessionConfig;

use serde::{Deserialize, Serialize};

use super::columns::{ColumnPlan, DatasetPlan, Step};
use super::spec::{DatasetKind, RetentionSpec};
use crate::category::Category;
use crate::lake::DataFile;

/// The floor on browsing and access logs, in days.
pub const LOG_FLOOR_DAYS: u32 = 180;
/// The law behind [`LOG_FLOOR_DAYS`].
pub const LOG_FLOOR_LAW: &str = "the PRC Cybersecurity Law (Art. 21) requires network logs to be kept at least six months";

fn log_floor_violation(key: &str, days: u32) -> String {
    format!("{key} = {days} on a browsing log: {LOG_FLOOR_LAW} ({LOG_FLOOR_DAYS} days), and no configuration can lower that")
}

/// A partition that could not be dated by its date column. Names the dataset, never a value.
#[derive(Debug, thiserror::Error)]
#[error("dataset {dataset}: {message}")]
pub struct DatingError {
    pub dataset: String,
    pub message: String,
}

/// What dates a dataset's partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeSource {
    /// A hive partition key, e.g. `dt`.
    Partition(String),
    /// The newest value of a date or timestamp column.
    Column(String),
}

/// A dataset's retention, with the floors of the law applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub dataset: String,
    /// Partitions older than this are purged.
    pub max_days: Option<u32>,
    /// Rows younger than this are kept, even on erasure (0: no floor).
    pub floor_days: u32,
    /// Declared or detected browsing/access log.
    pub browsing_log: bool,
    /// None when the dataset has no partition key and no `age` was given: its rows are then
    /// dated by their files' modification time where a floor needs a date (never earlier
    /// than the rows, so a floor holds at least as long as it should).
    pub age: Option<AgeSource>,
    /// For a dataset with a floor: a time column its partitions are also dated by, so a
    /// partition whose key says it is old but whose rows are young stays held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_column: Option<String>,
}

/// Name tokens of a request's target in access, request and click logs.
const REQUEST_WORDS: [&str; 9] = ["path", "uri", "url", "page", "endpoint", "route", "request", "referer", "referrer"];
/// Name tokens of a time.
const TIME_WORDS: [&str; 6] = ["time", "ts", "at", "timestamp", "date", "datetime"];

/// An access, request or click log by its shape: who (an IP, an account, a device), what
/// (a path, URL or page) and when (a time), named as the evidence; `None` otherwise.
fn access_log_shape(plan: &DatasetPlan) -> Option<String> {
    let named = |words: &[&str], c: &&ColumnPlan| crate::classify::names::tokenize(&c.name).iter().any(|t| words.contains(&t.as_str()));
    let who = plan.columns.iter().find(|c| matches!(c.category, Category::IpAddress | Category::AccountId | Category::DeviceId));
    let what = plan.columns.iter().find(|c| named(&REQUEST_WORDS, c));
    let when = plan
        .columns
        .iter()
        .find(|c| crate::classify::TypeKind::of(&c.data_type) == crate::classify::TypeKind::Temporal || named(&TIME_WORDS, c));
    match (who, what, when) {
        (Some(who), Some(what), Some(when)) => Some(format!("`{}`, `{}`, `{}`", who.name, what.name, when.name)),
        _ => None,
    }
}

impl RetentionPolicy {
    /// The policy of a planned dataset: its `[retention.<name>]`, if any, and the floors that
    /// apply whatever it says. A browsing log is one declared so or with a URL column.
    pub fn resolve(plan: &DatasetPlan, spec: Option<&RetentionSpec>) -> Result<RetentionPolicy, String> {
        let default = RetentionSpec::default();
        let spec = spec.unwrap_or(&default);
        let url_column = plan.columns.iter().find(|c| c.category == Category::BrowsingHistory);
        let shape = access_log_shape(plan);
        let browsing_log = spec.kind == Some(DatasetKind::BrowsingLog) || url_column.is_some() || shape.is_some();
        if browsing_log {
            let lowered = [("max_days", spec.max_days), ("min_days", spec.min_days)]
                .into_iter()
                .find_map(|(k, d)| d.filter(|d| *d < LOG_FLOOR_DAYS).map(|d| (k, d)));
            if let Some((key, days)) = lowered {
                let detected = match (spec.kind, url_column, shape) {
                    (None, Some(c), _) => {
                        format!(" (detected from its URL column `{}`; declare kind = \"browsing_log\" to make it explicit)", c.name)
                    }
                    (None, None, Some(shape)) => {
                        format!(" (detected from its shape, an access log: {shape}; declare kind = \"browsing_log\" to make it explicit)")
                    }
                    _ => String::new(),
                };
                return Err(format!("{}{detected}", log_floor_violation(key, days)));
            }
        }
        let age = match &spec.age {
            Some(a) if plan.partition_columns.contains(a) => Some(AgeSource::Partition(a.clone())),
            Some(a) if plan.columns.iter().any(|c| &c.name == a && c.step == Step::Drop) => {
                return Err(format!(
                    "age = \"{a}\" is dropped from the de-identified zone, so its partitions there could not be dated: keep or generalize it"
                ));
            }
            Some(a) if plan.columns.iter().any(|c| &c.name == a) => Some(AgeSource::Column(a.clone())),
            Some(a) => return Err(format!("age = \"{a}\" is neither a partition key nor a column of the dataset")),
            None => plan.partition_columns.first().map(|k| AgeSource::Partition(k.clone())),
        };
        if spec.max_days.is_some() && plan.partition_columns.is_empty() {
            return Err("purge deletes whole partitions, and this dataset has none: partition it by date (dt=YYYY-MM-DD/)".into());
        }
        let floor_days = spec.min_days.unwrap_or(0).max(if browsing_log { LOG_FLOOR_DAYS } else { 0 });
        let floor_column = (floor_days > 0 && matches!(age, Some(AgeSource::Partition(_)))).then(|| time_column(plan)).flatten();

        Ok(RetentionPolicy { dataset: plan.name.clone(), max_days: spec.max_days, floor_days, browsing_log, age, floor_column })
    }

    /// Whether a partition dated `newest` is past `max_days` on `today`.
    pub fn expired(&self, newest: NaiveDate, today: NaiveDate) -> bool {
        self.max_days.is_some_and(|max| age_days(newest, today) > i64::from(max))
    }

    /// Until when a floor holds a partition dated `newest`, if it still does on `today`.
    pub fn held_until(&self, newest: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
        let until = newest + chrono::Days::new(u64::from(self.floor_days));
        (self.floor_days > 0 && until > today).then_some(until)
    }

    /// The law or setting behind the floor, for messages.
    pub fn floor_basis(&self) -> String {
        if self.browsing_log && self.floor_days == LOG_FLOOR_DAYS {
            format!("the {LOG_FLOOR_DAYS}-day floor on browsing logs: {LOG_FLOOR_LAW}")
        } else {
            format!("min_days = {} of [retention.{}]", self.floor_days, self.dataset)
        }
    }

    /// The date of a partition (`rel`, e.g. `dt=2026-01-31`) holding `files`: `None` when it
    /// cannot be dated (no age source, no such key, an unparseable value, or no values).
    /// A floor-bearing partition is dated by its newest row too, whatever its format and
    /// however its time column is written (a timestamp, a date, text, epoch seconds or
    /// milliseconds): a young row filed under an old key keeps it. One that cannot be dated
    /// by its rows (no time column, or times that do not read as times) is an error, and the
    /// caller keeps it.
    pub async fn partition_date(&self, rel: &str, files: &[DataFile]) -> Result<Option<NaiveDate>, DatingError> {
        match &self.age {
            None => Ok(None),
            Some(AgeSource::Partition(key)) => {
                let by_key = rel.split('/').find_map(|seg| {
                    let (k, v) = seg.split_once('=')?;
                    (k == key).then(|| parse_partition_date(v)).flatten()
                });
                let Some(date) = by_key.filter(|_| self.floor_days > 0) else { return Ok(by_key) };
                let Some(column) = &self.floor_column else {
                    return Err(DatingError {
                        dataset: self.dataset.clone(),
                        message: format!(
                            "{rel} is under {} and no kept column dates its rows (a timestamp, or a column named as a time), so its newest row cannot be shown to be old",
                            self.floor_basis()
                        ),
                    });
                };
                let newest = newest_in(&self.dataset, column, files).await?.ok_or_else(|| DatingError {
                    dataset: self.dataset.clone(),
                    message: format!("{rel} is under {} and no row of it has a `{column}`", self.floor_basis()),
                })?;
                Ok(Some(newest.max(date)))
            }
            Some(AgeSource::Column(column)) => newest_in(&self.dataset, column, files).await,
        }
    }
}

/// Whole days from `date` to `today`.
pub fn age_days(date: NaiveDate, today: NaiveDate) -> i64 {
    (today - date).num_days()
}

/// The first year a partition date is believed: anything earlier is a typo or a two-digit
/// year (`dt=26-10-31`), which would otherwise date the partition to antiquity and purge it.
const FIRST_PLAUSIBLE_YEAR: i32 = 1990;

/// `2026-01-31`, `20260131`, or a month `2026-01` (its last day, so no row is younger): digits
/// in exactly those shapes with a four-digit year from [`FIRST_PLAUSIBLE_YEAR`]. Any other
/// value leaves the partition undated, and an undated partition is never purged.
fn parse_partition_date(v: &str) -> Option<NaiveDate> {
    let shape: String = v.chars().map(|c| if c.is_ascii_digit() { 'd' } else { c }).collect();
    if !["dddd-dd-dd", "dddddddd", "dddd-dd"].contains(&shape.as_str()) {
        return None;
    }
    parse_date_shapes(v).filter(|d| d.year() >= FIRST_PLAUSIBLE_YEAR)
}

fn parse_date_shapes(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(v, "%Y%m%d")).ok().or_else(|| {
        let first = NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d").ok()?;
        let next =
            if first.month() == 12 { first.with_year(first.year() + 1)?.with_month(1)? } else { first.with_month(first.month() + 1)? };
        next.pred_opt()
    })
}

/// The column that dates a floor-bearing dataset's rows: the first kept timestamp or date,
/// else the first kept text or number column named as a time (`ts`, `event_time`).
fn time_column(plan: &DatasetPlan) -> Option<String> {
    use crate::classify::TypeKind;
    let kept = || plan.columns.iter().filter(|c| c.step != Step::Drop);
    let named = |c: &&ColumnPlan| crate::classify::names::tokenize(&c.name).iter().any(|t| TIME_WORDS.contains(&t.as_str()));
    kept()
        .find(|c| TypeKind::of(&c.data_type) == TypeKind::Temporal)
        .or_else(|| kept().filter(|c| matches!(TypeKind::of(&c.data_type), TypeKind::Text | TypeKind::Number)).find(named))
        .map(|c| c.name.clone())
}

/// The first plausible year of a row's time: an earlier one is a misread number.
const FIRST_PLAUSIBLE_ROW_YEAR: i32 = 1990;

/// The date of an epoch time in seconds, milliseconds, microseconds or nanoseconds, told
/// apart by magnitude (seconds reach 10^11 only in the year 5138).
fn epoch_date(v: i64) -> Option<NaiveDate> {
    let secs = match v.unsigned_abs() {
        n if n >= 100_000_000_000_000_000 => v / 1_000_000_000,
        n if n >= 100_000_000_000_000 => v / 1_000_000,
        n if n >= 100_000_000_000 => v / 1_000,
        _ => v,
    };
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.date_naive()).filter(|d| d.year() >= FIRST_PLAUSIBLE_ROW_YEAR)
}

/// The newest date in `column` over `files` (any format): timestamps and dates as they are,
/// text parsed as a time or as an epoch, numbers as an epoch. `None` when no row has one.
async fn newest_in(dataset: &str, column: &str, files: &[DataFile]) -> Result<Option<NaiveDate>, DatingError> {
    let failed = |message: String| DatingError { dataset: dataset.to_string(), message };
    let cannot = |e: &dyn std::fmt::Display| failed(format!("dating partitions by `{column}`: {e}"));
    let ctx = crate::lake::context(SessionConfig::new());
    let df = crate::lake::read_files(&ctx, files).await.map_err(|e| failed(e.to_string()))?;
    let data_type = df.schema().field_with_unqualified_name(column).map_err(|e| cannot(&e))?.data_type().clone();
    let value = Expr::Column(Column::new_unqualified(column));
    let newest = |expr: Expr| async {
        let batches = df.clone().aggregate(vec![], vec![max(expr)])?.collect().await?;
        Ok::<_, datafusion::error::DataFusionError>(batches.first().map(|b| b.column(0).clone()).filter(|c| c.is_valid(0)))
    };
    let as_date = |array: &arrow::array::ArrayRef| {
        array.as_any().downcast_ref::<Date32Array>().and_then(|d| NaiveDate::from_num_days_from_ce_opt(d.value(0) + 719_163))
    };
    let as_epoch = |array: &arrow::array::ArrayRef| {
        array.as_any().downcast_ref::<arrow::array::Int64Array>().map(|n| epoch_date(n.value(0)).ok_or_else(|| n.value(0)))
    };
    let epoch = |found: Option<arrow::array::ArrayRef>| match found.as_ref().map(as_epoch) {
        None => Ok(None),
        Some(Some(Ok(date))) => Ok(Some(date)),
        _ => Err(failed(format!("dating partitions by `{column}`: its newest value is not a plausible epoch time"))),
    };
    match crate::classify::TypeKind::of(&crate::lake::sample::reported_type(&data_type)) {
        crate::classify::TypeKind::Temporal => {
            Ok(newest(cast(value, DataType::Date32)).await.map_err(|e| cannot(&e))?.and_then(|a| as_date(&a)))
        }
        crate::classify::TypeKind::Number => epoch(newest(cast(value, DataType::Int64)).await.map_err(|e| cannot(&e))?),
        crate::classify::TypeKind::Text => {
            let timestamp = DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None);
            match newest(cast(cast(value.clone(), timestamp), DataType::Date32)).await {
                Ok(found) => Ok(found.and_then(|a| as_date(&a))),
                // Text that is no time may be an epoch written as digits.
                Err(_) => epoch(newest(cast(value, DataType::Int64)).await.map_err(|e| cannot(&e))?),
            }
        }
        _ => Err(failed(format!("dating partitions by `{column}`: a {data_type} column holds no time"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Sensitivity;
    use crate::plan::columns::{ColumnPlan, Origin};

    fn plan(columns: &[(&str, Category)]) -> DatasetPlan {
        DatasetPlan {
            name: "logs".into(),
            subject: None,
            columns: columns
                .iter()
                .map(|(n, c)| ColumnPlan {
                    name: n.to_string(),
                    data_type: "Utf8".into(),
                    category: *c,
                    sensitivity: Sensitivity::General,
                    step: Step::Keep,
                    origin: Origin::Explicit,
                    measured: None,
                    reason: None,
                })
                .collect(),
            partition_columns: vec!["dt".into()],
            sharing: Default::default(),
            max_suppressed: 0.0,
        }
    }

    fn spec(max: Option<u32>, min: Option<u32>, kind: Option<DatasetKind>) -> RetentionSpec {
        RetentionSpec { max_days: max, min_days: min, kind, age: None }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn access_logs_are_browsing_logs_by_their_shape() {
        let access = plan(&[
            ("path", Category::None),
            ("client_ip", Category::IpAddress),
            ("status", Category::None),
            ("event_time", Category::None),
        ]);
        let err = RetentionPolicy::resolve(&access, Some(&spec(Some(30), None, None))).unwrap_err();
        assert!(err.contains("access log: `client_ip`, `path`, `event_time`"), "{err}");
        assert!(RetentionPolicy::resolve(&access, None).unwrap().browsing_log);
        let no_time = plan(&[("path", Category::None), ("client_ip", Category::IpAddress)]);
        assert!(RetentionPolicy::resolve(&no_time, Some(&spec(Some(30), None, None))).is_ok());
        let no_one = plan(&[("path", Category::None), ("event_time", Category::None)]);
        assert!(RetentionPolicy::resolve(&no_one, Some(&spec(Some(30), None, None))).is_ok());
    }

    #[test]
    fn no_configuration_lowers_the_log_floor() {
        let logs = plan(&[("url", Category::BrowsingHistory)]);
        for (max, min) in [(Some(30), None), (Some(179), None), (None, Some(90)), (Some(365), Some(30))] {
            let err = RetentionPolicy::resolve(&logs, Some(&spec(max, min, None))).unwrap_err();
            assert!(err.contains("Cybersecurity Law") && err.contains("`url`"), "{err}");
        }
        let declared = plan(&[("path", Category::None)]);
        let err = RetentionPolicy::resolve(&declared, Some(&spec(Some(30), None, Some(DatasetKind::BrowsingLog)))).unwrap_err();
        assert!(err.contains("Art. 21"), "{err}");
        for s in [None, Some(spec(None, None, None)), Some(spec(Some(180), Some(180), None)), Some(spec(Some(400), None, None))] {
            let p = RetentionPolicy::resolve(&logs, s.as_ref()).unwrap();
            assert_eq!(p.floor_days, LOG_FLOOR_DAYS);
        }
        let other = RetentionPolicy::resolve(&plan(&[("amount", Category::Transaction)]), Some(&spec(Some(30), None, None))).unwrap();
        assert_eq!((other.floor_days, other.browsing_log), (0, false));

        let mut orders = plan(&[("order_time", Category::None)]);
        let by_time = RetentionSpec { age: Some("order_time".into()), ..spec(Some(365), None, None) };
        assert_eq!(RetentionPolicy::resolve(&orders, Some(&by_time)).unwrap().age, Some(AgeSource::Column("order_time".into())));
        orders.columns[0].step = Step::Drop;
        assert!(RetentionPolicy::resolve(&orders, Some(&by_time)).unwrap_err().contains("dropped"));
        orders.partition_columns.clear();
        assert!(RetentionPolicy::resolve(&orders, Some(&spec(Some(30), None, None))).unwrap_err().contains("whole partitions"));
    }

    #[test]
    fn ages_expiry_and_holds_count_whole_days() {
        let p = RetentionPolicy::resolve(&plan(&[("url", Category::BrowsingHistory)]), Some(&spec(Some(200), None, None))).unwrap();
        let today = day("2026-11-23");
        assert!(!p.expired(day("2026-05-07"), today), "200 days old is not past 200");
        assert!(p.expired(day("2026-05-06"), today));
        assert_eq!(p.held_until(day("2026-05-28"), today), Some(day("2026-11-24")), "179 days old");
        assert_eq!(p.held_until(day("2026-05-27"), today), None, "180 days old: the floor has passed");
    }

    proptest::proptest! {
        #[test]
        fn no_accepted_policy_expires_or_releases_a_young_log(
            max in proptest::option::of(1u32..2000),
            min in proptest::option::of(0u32..2000),
            declared in proptest::bool::ANY,
            age in 0u64..180,
        ) {
            let s = spec(max, min, declared.then_some(DatasetKind::BrowsingLog));
            if let Ok(p) = RetentionPolicy::resolve(&plan(&[("url", Category::BrowsingHistory)]), Some(&s)) {
                let today = day("2026-11-23");
                let date = today - chrono::Days::new(age);
                proptest::prop_assert!(!p.expired(date, today));
                proptest::prop_assert!(p.held_until(date, today).is_some());
            }
        }
    }

    #[test]
    fn partitions_are_dated_by_their_key() {
        assert_eq!(parse_partition_date("2026-01-31"), Some(day("2026-01-31")));
        assert_eq!(parse_partition_date("20260131"), Some(day("2026-01-31")));
        assert_eq!(parse_partition_date("2026-02"), Some(day("2026-02-28")));
        assert_eq!(parse_partition_date("2025-12"), Some(day("2025-12-31")));
        assert_eq!(parse_partition_date("latest"), None);
        for odd in ["26-10-31", "0202-10-29", "-2026-10-25", "2026-1-5", " 2026-01-05", "1970-01-01", "2026-02-30", "+2026-01-01"] {
            assert_eq!(parse_partition_date(odd), None, "{odd} is not a plausible date");
        }
        let p = RetentionPolicy::resolve(&plan(&[("x", Category::None)]), Some(&spec(Some(10), None, None))).unwrap();
        let date = futures::executor::block_on(p.partition_date("dt=2026-03-04", &[])).unwrap();
        assert_eq!(date, Some(day("2026-03-04")));
    }
}
