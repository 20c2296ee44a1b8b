//! `[[export]]`: advertiser aggregates with small-cell suppression and consent exclusion.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::{KEY, bundled_lake, copy_tree, piguard_in, text};

const DATASETS: &str = "[[dataset]]\nname = \"orders\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\ncolumns.pay_amount = { action = \"keep\", reason = \"GMV\" }\ncolumns.coupon_code = \"drop\"\n\n[[dataset]]\nname = \"consents\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\n";

fn lake_with(export: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    for ds in ["orders", "consents"] {
        copy_tree(&bundled_lake().join("raw").join(ds), &dir.path().join("raw").join(ds));
    }
    let p = dir.path().join("p.toml");
    std::fs::write(&p, format!("{DATASETS}\n{export}")).unwrap();
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
    let (lake, out) = lake_with(
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
