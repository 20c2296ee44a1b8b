//! `[[export]]`: advertiser aggregates with small-cell suppression and consent exclusion.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::{KEY, bundled_lake, copy_tree, piguard_in, text};

const DATASETS: &str = "[[dataset]]\nname = \"orders\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\ncolumns.pay_amount = { action = \"keep\", reason = \"GMV\" }\ncolumns.coupon_code = \"drop\"\n\n[[dataset]]\nname = \"consents\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\n";

fn lake_with(export: &str) -> (tempfile::TempDir, Output) {
    lake_with_datasets(DATASETS, export)
}

/// [`lake_with`], the datasets configured by `datasets`.
fn lake_with_datasets(datasets: &str, export: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    for ds in ["orders", "consents"] {
        copy_tree(&bundled_lake().join("raw").join(ds), &dir.path().join("raw").join(ds));
    }
    let p = dir.path().join("p.toml");
    std::fs::write(&p, format!("{datasets}\n{export}")).unwrap();
    let out = piguard_in(dir.path(), Some(KEY), &["run", p.to_str().unwrap()]);
    (dir, out)
}

fn csv_query(lake: &Path, sql: &str) -> Vec<Vec<String>> {
    let out = piguard_in(lake, Some(KEY), &["query", "--format", "csv", sql]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    text(&out).0.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn small_cells_are_suppressed_and_opted_out_buyers_do_not_count() {
    let (lake, out) = lake_with(
        "[[export]]\nname = \"by_province\"\nfrom = \"orders\"\ngroup_by = [\"province\"]\nmetrics = { buyers = \"count_distinct_subjects\", gmv = \"sum(pay_amount)\" }\nmin_subjects = 55\nexclude_opted_out = \"consents\"\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let root = lake.path().join("export/by_province");
    // The published run, as readers find it: the one the pointer names.
    let run = root.join(std::fs::read_to_string(root.join("_latest")).unwrap().trim());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();

    // The truth, computed independently from the de-identified zone.
    let truth: BTreeMap<String, i64> = csv_query(
        lake.path(),
        "select o.province, count(distinct o.user_id) from orders o \
         where not exists (select 1 from consents c where c.ad_opt_out and c.user_id = o.user_id) group by o.province",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect();
    let with_opted_out: BTreeMap<String, i64> =
        csv_query(lake.path(), "select province, count(distinct user_id) from orders group by province")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
    assert_ne!(truth, with_opted_out, "the demo has opted-out buyers");

    let published = csv_query(lake.path(), "select province, buyers from by_province");
    let expected: Vec<(&String, &i64)> = truth.iter().filter(|(_, n)| **n >= 55).collect();
    assert!(!expected.is_empty() && expected.len() < truth.len(), "some cells published, some withheld");
    let mut got: Vec<(String, i64)> = published.iter().map(|r| (r[0].clone(), r[1].parse().unwrap())).collect();
    got.sort();
    assert_eq!(got, expected.iter().map(|(p, n)| ((*p).clone(), **n)).collect::<Vec<_>>());
    assert!(got.iter().all(|(_, n)| *n >= 55));
    assert_eq!(report["rows_published"], expected.len());
    assert_eq!(report["rows_suppressed"], truth.len() - expected.len());
    assert!(report["subjects_excluded_by_consent"].as_i64().unwrap() > 0);
    // The cells by the subjects they cover, in the risk report's bins, and the share withheld.
    let bins: Vec<(u64, u64)> =
        report["cell_sizes"].as_array().unwrap().iter().map(|b| (b["classes"].as_u64().unwrap(), b["records"].as_u64().unwrap())).collect();
    assert_eq!(bins.iter().map(|b| b.0).sum::<u64>() as usize, truth.len());
    assert_eq!(bins.iter().map(|b| b.1).sum::<u64>() as i64, truth.values().sum::<i64>());
    let share = (truth.len() - expected.len()) as f64 / truth.len() as f64;
    assert!((report["suppressed_share"].as_f64().unwrap() - share).abs() < 1e-12);

    // No totals or margins: nothing to subtract a withheld cell from.
    assert!(published.iter().all(|r| !r[0].is_empty()), "no rollup row");
    let csv_file = std::fs::read_dir(&run).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "csv")).unwrap();
    let csv = std::fs::read_to_string(csv_file).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "province,buyers,gmv", "only dimensions and metrics");
    assert!(!csv.split(|c: char| !c.is_ascii_hexdigit()).any(|t| t.len() == 64), "no pseudonyms");
}

#[test]
fn identifiers_and_pseudonyms_are_refused_before_anything_runs() {
    let (lake, out) = lake_with(
        "[[export]]\nname = \"bad\"\nfrom = \"orders\"\ngroup_by = [\"收货人手机\", \"user_id\", \"nope\"]\nmetrics = { n = \"count\", x = \"max(pay_amount)\" }\n",
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`收货人手机` is a direct identifier"), "{stderr}");
    assert!(stderr.contains("`user_id` is the subject column"), "{stderr}");
    assert!(stderr.contains("`nope` is not a column"), "{stderr}");
    assert!(stderr.contains("max(pay_amount)"), "{stderr}");
    assert!(!lake.path().join("deid").exists() && !lake.path().join("export").exists(), "nothing written");
}

#[test]
fn exports_that_could_single_out_a_person_are_configuration_errors() {
    // Kept as they are (on `auto` the measurement would hash the order number and coarsen
    // the time): the export's plan must refuse to group by them.
    let kept =
        DATASETS.replacen("columns.coupon_code", "columns.order_no = \"keep\"\ncolumns.order_time = \"keep\"\ncolumns.coupon_code", 1);
    let (lake, out) = lake_with_datasets(
        &kept,
        "[[export]]\nname = \"tiny\"\nfrom = \"orders\"\ngroup_by = [\"province\", \"order_no\", \"order_time\"]\nmetrics = { n = \"count\" }\nmin_subjects = 5\n",
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("min_subjects = 5 is below 10"), "{stderr}");
    assert!(stderr.contains("group_by `order_no` is a row-level key"), "{stderr}");
    assert!(stderr.contains("group_by `order_time` is an exact time"), "{stderr}");
    assert!(!stderr.contains("`province`"), "{stderr}");
    assert!(!lake.path().join("deid").exists(), "nothing written");
}

#[test]
fn consents_hashed_in_another_domain_are_refused_instead_of_matching_nobody() {
    let dir = tempfile::tempdir().unwrap();
    for ds in ["orders", "consents"] {
        copy_tree(&bundled_lake().join("raw").join(ds), &dir.path().join("raw").join(ds));
    }
    let datasets = DATASETS.replace(
        "name = \"consents\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\n",
        "name = \"consents\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\ncolumns.user_id = { action = \"hash\", domain = \"consent_user\" }\n",
    );
    let p = dir.path().join("p.toml");
    std::fs::write(&p, format!("{datasets}\n[[export]]\nname = \"by_province\"\nfrom = \"orders\"\ngroup_by = [\"province\"]\nmetrics = {{ n = \"count\" }}\nexclude_opted_out = \"consents\"\n")).unwrap();
    let out = piguard_in(dir.path(), Some(KEY), &["run", p.to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("domain `consent_user`") && stderr.contains("opt-outs cannot be matched"), "{stderr}");
}

#[test]
fn a_new_export_run_retires_the_previous_one() {
    let export = "[[export]]\nname = \"by_province\"\nfrom = \"orders\"\ngroup_by = [\"province\"]\nmetrics = { n = \"count\" }\n";
    let (lake, out) = lake_with(export);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let root = lake.path().join("export/by_province");
    // The run directories, and the pointer readers follow to the published one.
    let runs = || -> Vec<_> { std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "_latest").collect() };
    let pointer = || std::fs::read_to_string(root.join("_latest")).unwrap();
    let first = runs();
    assert_eq!(first.len(), 1);
    assert_eq!(pointer(), first[0].to_str().unwrap());
    let p = lake.path().join("p.toml");
    let out = piguard_in(lake.path(), Some(KEY), &["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let second = runs();
    assert_eq!(second.len(), 1, "one current export");
    assert_ne!(first, second);
    assert_eq!(pointer(), second[0].to_str().unwrap());
    let runs = lake.path().join("_piguard/runs");
    let mut manifests: Vec<_> = std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().path()).collect();
    manifests.sort();
    let latest: Value = serde_json::from_slice(&std::fs::read(manifests.last().unwrap().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(latest["exports"][0]["retired_runs"][0].as_str(), first[0].to_str());
}

/// Buyers `from..to` in `region`, one order each of `amount`, as a Parquet file of the raw orders.
fn orders_file(lake: &Path, file: &str, region: &str, from: i64, to: i64, amount: f64) {
    use std::sync::Arc;
    let n = (to - from) as usize;
    let users: arrow::array::ArrayRef = Arc::new(arrow::array::Int64Array::from((from..to).collect::<Vec<_>>()));
    let regions: arrow::array::ArrayRef = Arc::new(arrow::array::StringArray::from(vec![region; n]));
    let amounts: arrow::array::ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![amount; n]));
    std::fs::create_dir_all(lake.join("raw/orders")).unwrap();
    crate::write_parquet(&lake.join("raw/orders").join(file), vec![("user_id", users), ("region", regions), ("amount", amounts)]);
}

/// The rows of the published run of export `name`, and its report.
fn published(lake: &Path, name: &str) -> (Vec<Vec<String>>, Value) {
    let root = lake.join("export").join(name);
    let run = root.join(std::fs::read_to_string(root.join("_latest")).unwrap().trim());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    let csv = std::fs::read_to_string(run.join(format!("{name}.csv"))).unwrap();
    (csv.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect(), report)
}

const SPEND_DATASET: &str = "[[dataset]]\nname = \"orders\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\ncolumns.amount = { action = \"keep\", reason = \"spend\" }\ncolumns.region = { action = \"keep\", reason = \"region\" }\n";

#[test]
fn a_withheld_cell_is_not_the_difference_of_two_exports() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    for (k, (region, buyers)) in [("R1", 60), ("R2", 60), ("R3", 60), ("R4", 15)].into_iter().enumerate() {
        let from = 100_000_000 + k as i64 * 100;
        orders_file(lake, &format!("part-{k}.parquet"), region, from, from + buyers, 10.0 + k as f64);
    }
    let exports = "[[export]]\nname = \"by_region\"\nfrom = \"orders\"\ngroup_by = [\"region\"]\nmetrics = { spend = \"sum(amount)\" }\nmin_subjects = 20\n\n\
                   [[export]]\nname = \"total\"\nfrom = \"orders\"\ngroup_by = []\nmetrics = { spend = \"sum(amount)\" }\nmin_subjects = 20\n";
    let p = lake.join("p.toml");
    std::fs::write(&p, format!("{SPEND_DATASET}\n{exports}")).unwrap();
    let out = piguard_in(lake, Some(KEY), &["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let (regions, report) = published(lake, "by_region");
    assert_eq!(regions.len(), 3, "R4 covers 15 buyers: withheld {regions:?}");
    assert_eq!(report["rows_suppressed"], 1);
    // The grand total less the three published regions would be R4's spend: it is withheld.
    let (total, report) = published(lake, "total");
    assert!(total.is_empty(), "{total:?}");
    assert_eq!((report["rows_suppressed"].as_u64(), report["rows_suppressed_complementary"].as_u64()), (Some(1), Some(1)));
    assert!(report["suppression"].as_str().unwrap().contains("secondary suppression"));
}

#[test]
fn two_exports_of_one_source_must_leave_out_the_same_subjects() {
    let (lake, out) = lake_with(
        "[[export]]\nname = \"consented\"\nfrom = \"orders\"\ngroup_by = [\"province\"]\nmetrics = { n = \"count\" }\nexclude_opted_out = \"consents\"\n\n\
         [[export]]\nname = \"everyone\"\nfrom = \"orders\"\ngroup_by = [\"province\"]\nmetrics = { n = \"count\" }\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("exports `consented` and `everyone` read the same dataset but leave out different subjects"),
        "{}",
        text(&out).1
    );
    assert!(!lake.path().join("export").exists(), "nothing was exported");
}

#[test]
fn a_cell_few_subjects_changed_since_it_was_published_is_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    orders_file(lake, "part-0.parquet", "R1", 100_000_000, 100_000_040, 20.0);
    orders_file(lake, "part-1.parquet", "R2", 100_001_000, 100_001_040, 30.0);
    let export = "[[export]]\nname = \"by_region\"\nfrom = \"orders\"\ngroup_by = [\"region\"]\nmetrics = { spend = \"sum(amount)\", buyers = \"count_distinct_subjects\" }\nmin_subjects = 20\n";
    let p = lake.join("p.toml");
    std::fs::write(&p, format!("{SPEND_DATASET}\n{export}")).unwrap();
    let run = || {
        let out = piguard_in(lake, Some(KEY), &["run", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
        published(lake, "by_region")
    };
    let (first, _) = run();
    assert_eq!(first.len(), 2);
    // One new buyer in R1: R1's spend now, less R1's spend as first published, is theirs.
    orders_file(lake, "part-2.parquet", "R1", 100_000_500, 100_000_501, 77.0);
    let (second, report) = run();
    let regions: Vec<&str> = second.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(regions, ["R2"], "R1 changed by one buyer since it was published: withheld");
    assert_eq!(report["rows_suppressed_changed"], 1);
    // Once enough buyers have changed it since it was last published, it is published again.
    orders_file(lake, "part-3.parquet", "R1", 100_000_600, 100_000_630, 5.0);
    let (third, _) = run();
    let r1 = third.iter().find(|r| r[0] == "R1").expect("R1 is published again");
    assert!(r1.contains(&"71".to_string()), "40 + 1 + 30 buyers: {r1:?}");

    // An erased buyer leaves the export's state, and R1, which they left, waits for others.
    let state = lake.join("_piguard/exports/by_region/state.parquet");
    let subjects = || -> Vec<String> {
        let bytes = bytes::Bytes::from(std::fs::read(&state).unwrap());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024).unwrap();
        reader
            .flat_map(|b| {
                arrow::array::AsArray::as_string::<i32>(b.unwrap().column(1)).iter().flatten().map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    };
    let before: std::collections::BTreeSet<String> = subjects().into_iter().collect();
    let out = piguard_in(lake, Some(KEY), &["erase", "--subject", "100000005", "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let after: std::collections::BTreeSet<String> = subjects().into_iter().collect();
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(gone.len(), 1, "the erased buyer's pseudonym is gone from the state: {gone:?}");
    assert!(!crate::sql(lake, piguard::lake::Zone::Deid, "select user_id from orders").iter().any(|r| &r[0] == gone[0]), "it was theirs");
    assert!(after.iter().any(|s| s.starts_with("erased:")), "a tombstone counts them as changed");
    let (fourth, _) = run();
    assert!(fourth.iter().all(|r| r[0] != "R1"), "R1 changed by one buyer since published: {fourth:?}");
}
