//! `piguard scan` on the demo lake: the full expected inventory.

use piguard::category::Category;
use piguard::inventory::Inventory;
use serde_json::Value;

use crate::{full_demo_lake, piguard, text};

/// Every column of the demo lake: (dataset, column, category, sensitivity).
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    ("browsing_logs", "user_id", "account_id", "general"),
    ("browsing_logs", "url", "browsing_history", "sensitive"),
    ("browsing_logs", "referer", "browsing_history", "sensitive"),
    ("browsing_logs", "search_keyword", "browsing_history", "sensitive"),
    ("browsing_logs", "client_ip", "ip_address", "general"),
    ("browsing_logs", "request_id", "none", "none"),
    ("browsing_logs", "event_time", "none", "none"),
    ("chat_messages", "msg_id", "none", "none"),
    ("chat_messages", "from_user_id", "account_id", "general"),
    ("chat_messages", "to_user_id", "account_id", "general"),
    ("chat_messages", "content", "communication", "sensitive"),
    ("chat_messages", "send_time", "none", "none"),
    ("consents", "user_id", "account_id", "general"),
    ("consents", "ad_opt_out", "none", "none"),
    ("consents", "updated_at", "none", "none"),
    ("device_info", "user_id", "account_id", "general"),
    ("device_info", "imei", "device_id", "sensitive"),
    ("device_info", "mac", "device_id", "sensitive"),
    ("device_info", "android_id", "device_id", "sensitive"),
    ("device_info", "idfa", "device_id", "sensitive"),
    ("device_info", "oaid", "device_id", "sensitive"),
    ("device_info", "imsi", "device_id", "sensitive"),
    ("device_info", "client_ip", "ip_address", "general"),
    ("device_info", "device_model", "none", "none"),
    ("device_info", "os_version", "none", "none"),
    ("device_info", "app_version", "none", "none"),
    ("locations", "user_id", "account_id", "general"),
    ("locations", "lat", "precise_location", "sensitive"),
    ("locations", "lng", "precise_location", "sensitive"),
    ("locations", "geo", "precise_location", "sensitive"),
    ("locations", "accuracy_m", "none", "none"),
    ("locations", "poi_name", "none", "none"),
    ("locations", "checkin_time", "none", "none"),
    ("orders", "order_no", "none", "none"),
    ("orders", "user_id", "account_id", "general"),
    ("orders", "sku_code", "none", "none"),
    ("orders", "pay_amount", "transaction", "sensitive"),
    ("orders", "coupon_code", "none", "none"),
    ("orders", "收货人", "name", "general"),
    ("orders", "收货人手机", "phone", "general"),
    ("orders", "收货地址", "address", "general"),
    ("orders", "province", "none", "none"),
    ("orders", "order_time", "none", "none"),
    ("payments", "payment_id", "none", "none"),
    ("payments", "order_no", "none", "none"),
    ("payments", "user_id", "account_id", "general"),
    ("payments", "bank_card_no", "bank_card", "sensitive"),
    ("payments", "card_holder", "name", "general"),
    ("payments", "bank_name", "none", "none"),
    ("payments", "amount", "transaction", "sensitive"),
    ("payments", "serial_no", "none", "none"),
    ("payments", "ext_field1", "id_card", "sensitive"),
    ("payments", "pay_time", "none", "none"),
    ("users", "user_id", "account_id", "general"),
    ("users", "xm", "name", "general"),
    ("users", "sfzh", "id_card", "sensitive"),
    ("users", "sjhm", "phone", "general"),
    ("users", "email", "email", "general"),
    ("users", "csrq", "birthday", "general"),
    ("users", "xb", "gender", "general"),
    ("users", "jtzz", "address", "general"),
    ("users", "nickname", "nickname", "general"),
    ("users", "password_hash", "credential", "sensitive"),
    ("users", "vip_level", "none", "none"),
    ("users", "register_time", "none", "none"),
];

fn columns(inv: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for d in inv["datasets"].as_array().unwrap() {
        for c in d["columns"].as_array().unwrap() {
            out.push((
                d["name"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
                c["category"].as_str().unwrap().to_string(),
                c["sensitivity"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[test]
fn demo_lake_inventory_is_exactly_right() {
    let lake = full_demo_lake();
    let out = piguard(&["scan", lake.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let inv: Value = serde_json::from_str(&stdout).unwrap();
    let expected: Vec<(String, String, String, String)> =
        EXPECTED.iter().map(|(d, c, k, s)| (d.to_string(), c.to_string(), k.to_string(), s.to_string())).collect();
    assert_eq!(columns(&inv), expected);

    // The design's evidence fields, and the lake's own copy of the inventory.
    let sfzh = &inv["datasets"][7]["columns"][2];
    assert_eq!(sfzh["name"], "sfzh");
    assert_eq!(sfzh["evidence"]["name_keyword"], "sfzh");
    assert_eq!(sfzh["evidence"]["values_checked"], sfzh["evidence"]["values_matched"]);
    assert!(sfzh["confidence"].as_f64().unwrap() >= 0.95);
    assert_eq!(sfzh["suggested_action"], "hash");
    let logs = &inv["datasets"][0];
    assert_eq!(logs["partition_columns"], serde_json::json!(["dt"]));
    assert!(logs["files"].as_u64().unwrap() >= 14 * 30);
    let saved = std::fs::read_to_string(lake.path().join("_piguard/inventory.json")).unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(columns(&saved), expected);
}

#[test]
fn sample_rows_bounds_the_sample_and_spreads_it_over_partitions() {
    let lake = full_demo_lake();
    let logs = lake.path().join("raw/browsing_logs");
    let out = piguard(&["scan", logs.to_str().unwrap(), "--sample-rows", "500"]);
    assert_eq!(out.status.code(), Some(0));
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &inv["datasets"][0];
    assert_eq!(d["rows_sampled"], 500);
    // 500 rows over ~460 daily partitions: about one row from each, so the evidence
    // covers the whole time range rather than the first file.
    let url = &d["columns"][1];
    assert_eq!(url["category"], "browsing_history");
    assert!(!lake.path().join("_piguard").exists(), "a dataset path is not a lake");
}

#[test]
fn markdown_and_html_reports_are_complete_and_self_contained() {
    let lake = full_demo_lake();
    let md = piguard(&["scan", lake.path().to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(0));
    let (md, _) = text(&md);
    assert!(md.contains("| id_card | 身份证号码 | sensitive | 2 | 2 |"), "{md}");
    assert!(md.contains("| sfzh | Utf8 | id_card | sensitive |"));

    let report = lake.path().join("report.html");
    let out = piguard(&["scan", lake.path().to_str().unwrap(), "--format", "html", "--output", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "the report goes to the file");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Summary by category"));
    for (dataset, column, _, _) in EXPECTED {
        assert!(html.contains(&format!("<h2 id=\"ds-{dataset}\">")), "{dataset}");
        assert!(html.contains(&format!("<code>{column}</code>")), "{column}");
    }
    for external in ["<script", "src=\"http", "href=\"http", "<link"] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }
}

#[test]
fn classifier_overrides_change_the_inventory() {
    let lake = full_demo_lake();
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("gender.toml"),
        "[[category]]\nid = \"gender\"\nlabel_zh = \"性别\"\nsensitivity = \"sensitive\"\naction = \"drop\"\nkeywords = [\"xb\"]\n",
    )
    .unwrap();
    let users = lake.path().join("raw/users");
    let out = piguard(&["scan", users.to_str().unwrap(), "--classifiers", rules.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let xb = inv["datasets"][0]["columns"].as_array().unwrap().iter().find(|c| c["name"] == "xb").unwrap().clone();
    assert_eq!(xb["sensitivity"], "sensitive");
    assert_eq!(xb["suggested_action"], "drop");
}

#[test]
fn csv_and_json_datasets_are_classified_like_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("crm.csv");
    std::fs::write(&csv, "客户姓名,联系电话,c2,remark\n张伟,138-1234-5678,11010519491231002X,VIP\n李娜,+86 13987654321,110105491231002,\n")
        .unwrap();
    let jsonl = dir.path().join("events.jsonl");
    std::fs::write(&jsonl, "{\"uid\": 7, \"ip\": \"10.1.2.3\", \"page\": \"home\"}\n{\"uid\": 8, \"ip\": \"2408:8207::1\"}\n").unwrap();
    let out = piguard(&["scan", csv.to_str().unwrap(), jsonl.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let inv: Value = serde_json::from_str(&stdout).unwrap();
    let got = columns(&inv);
    let cat = |d: &str, c: &str| got.iter().find(|x| x.0 == d && x.1 == c).map(|x| x.2.clone()).unwrap();
    assert_eq!(cat("crm", "客户姓名"), "name");
    assert_eq!(cat("crm", "联系电话"), "phone");
    assert_eq!(cat("crm", "c2"), "id_card");
    assert_eq!(cat("crm", "remark"), "none");
    assert_eq!(cat("events", "uid"), "account_id");
    assert_eq!(cat("events", "ip"), "ip_address");
    assert_eq!(inv["datasets"][0]["format"], "csv");
    assert_eq!(inv["datasets"][1]["format"], "json");
}

/// An export drop: loose files that are different tables, and a JSON document among them.
fn export_drop(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut customers = String::from("customer_id,name,phone\n");
    let mut orders = String::new();
    for i in 0..30 {
        customers.push_str(&format!("C{i:05},张伟,1381234{i:04}\n"));
        orders.push_str(&format!("{{\"order_no\":\"2026050112{i:08}\",\"customer_id\":\"C{i:05}\",\"amount\":\"{i}.50\"}}\n"));
    }
    std::fs::write(dir.join("customers.csv"), customers).unwrap();
    std::fs::write(dir.join("orders.jsonl"), orders).unwrap();
    std::fs::write(dir.join("settings.json"), "{\n  \"exported_by\": \"crm\",\n  \"version\": 3\n}\n").unwrap();
}

#[test]
fn a_folder_of_unrelated_tables_is_one_dataset_per_file_and_documents_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    export_drop(&drop);
    let out = piguard(&["scan", drop.to_str().unwrap(), "--format", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let inv: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = inv["datasets"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["customers", "orders"]);
    let phone = &inv["datasets"][0]["columns"][2];
    assert_eq!(phone["category"], "phone");
    assert!(inv.get("failed").is_none(), "nothing failed: {stdout}");
    assert_eq!(inv["skipped"][0]["path"].as_str().unwrap(), drop.join("settings.json").to_str().unwrap());
    assert!(inv["skipped"][0]["reason"].as_str().unwrap().contains("not records"));
    assert!(stderr.contains("skipped") && stderr.contains("settings.json"), "{stderr}");

    // As a lake's raw zone, the files are the pipeline's datasets.
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    std::fs::rename(&drop, lake.join("raw")).unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, "[[dataset]]\nname = \"customers\"\nsubject = \"customer_id\"\ndefault_action = \"auto\"\n\n[[dataset]]\nname = \"orders\"\nsubject = \"customer_id\"\ndefault_action = \"auto\"\ncolumns.amount = { action = \"keep\", reason = \"revenue\" }\n").unwrap();
    let out = crate::piguard_with_key(Some(crate::KEY), &["run", pipeline.to_str().unwrap(), "--lake", lake.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(crate::visible_parquet_files(&lake.join("deid/customers")).len(), 1);
    assert_eq!(crate::visible_parquet_files(&lake.join("deid/orders")).len(), 1);
}

#[test]
fn a_column_that_joins_to_another_tables_subjects_is_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let user = |i: u64| 310_000_000 + i * 7_919;
    let mut users = String::from("user_id,phone,signup_date\n");
    for i in 0..200 {
        users.push_str(&format!("{},139{:08},2026-01-{:02}\n", user(i), 10_000_000 + i * 37, 1 + i % 28));
    }
    // Each event names a user under a word no rule knows; a sequence of order numbers does not join.
    let mut events = String::from("ref_code,order_seq,page,amount_band\n");
    for i in 0..600u64 {
        events.push_str(&format!(
            "{},{},/item/{},{}\n",
            user(i * 13 % 150),
            310_000_000 + i,
            i % 40,
            ["low", "mid", "high"][i as usize % 3]
        ));
    }
    for (name, csv) in [("users", users), ("events", events)] {
        std::fs::create_dir_all(raw.join(name)).unwrap();
        std::fs::write(raw.join(name).join("part-0.csv"), csv).unwrap();
    }
    let out = piguard(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let inventory: Inventory = serde_json::from_slice(&out.stdout).unwrap();
    let column = |dataset: &str, column: &str| {
        let d = inventory.datasets.iter().find(|d| d.name == dataset).unwrap();
        d.columns.iter().find(|c| c.name == column).unwrap().clone()
    };
    let joined = column("events", "ref_code");
    assert_eq!(joined.category, Category::AccountId, "{}", joined.evidence.reason);
    assert!(joined.evidence.reason.contains("users.user_id"), "{}", joined.evidence.reason);
    assert_eq!(column("events", "order_seq").category, Category::None, "a sequence overlaps ids by its range, not by a join");
}
