//! `piguard query`: SQL over the de-identified zone; the raw zone only with a reason, audited.

use serde_json::Value;

use crate::{KEY, bundled_lake, copy_tree, piguard_in, text};

/// A lake with users and orders de-identified.
fn lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for ds in ["users", "orders"] {
        copy_tree(&bundled_lake().join("raw").join(ds), &dir.path().join("raw").join(ds));
    }
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        "[[dataset]]\nname = \"users\"\ndefault_action = \"auto\"\ncolumns.xb = { action = \"keep\", reason = \"stats\" }\n\n\
         [[dataset]]\nname = \"orders\"\ndefault_action = \"auto\"\ncolumns.pay_amount = { action = \"keep\", reason = \"GMV\" }\ncolumns.coupon_code = \"drop\"\n",
    )
    .unwrap();
    let out = piguard_in(dir.path(), Some(KEY), &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    dir
}

#[test]
fn analysts_query_the_deid_zone_in_every_format() {
    let lake = lake();
    let out = piguard_in(lake.path(), None, &["query", "select count(*) as n from users"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("| n   |") && stdout.contains("| 500 |"), "{stdout}");

    // Hive partitions are columns.
    let out = piguard_in(
        lake.path(),
        None,
        &["query", "--format", "csv", "select count(distinct dt) as months, sum(pay_amount) > 0 as paid from orders"],
    );
    assert_eq!(text(&out).0, "months,paid\n15,true\n");

    let out = piguard_in(
        lake.path(),
        None,
        &[
            "query",
            "--format",
            "json",
            "select \"收货人\" as name, piguard_mask(\"收货人\", 'name') as again from orders order by 1 limit 3",
        ],
    );
    let rows: Vec<Value> = text(&out).0.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let name = r["name"].as_str().unwrap();
        assert!(name.ends_with('*'), "names are masked: {name}");
    }

    // A file no commit added (a killed run's output) is never read.
    let published = crate::visible_parquet_files(&lake.path().join("deid/users")).pop().unwrap();
    std::fs::copy(&published, published.with_file_name("part-00000-uncommitted.parquet")).unwrap();
    let out = piguard_in(lake.path(), None, &["query", "--format", "csv", "select count(*) as n from users"]);
    assert_eq!(text(&out).0, "n\n500\n");
}

#[test]
fn the_raw_zone_needs_a_reason_and_is_audited() {
    let lake = lake();
    let out = piguard_in(lake.path(), None, &["query", "select * from raw.users"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty());
    assert!(stderr.contains("not visible to analysts") && stderr.contains("--zone raw --reason"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");

    let out = piguard_in(lake.path(), None, &["query", "--zone", "raw", "select count(*) from raw.users"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("needs --reason"));

    let audit_path = lake.path().join("_piguard/audit.jsonl");
    let before = std::fs::read_to_string(&audit_path).unwrap().lines().count();
    let args =
        ["query", "--zone", "raw", "--reason", "PIPL Art. 45 access request #42", "--format", "csv", "select sfzh from raw.users limit 1"];
    // The entry is sealed with the audit key: without one, nothing is shown.
    let out = piguard_in(lake.path(), None, &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).0.is_empty() && text(&out).1.contains("sealed"), "{}", text(&out).1);
    assert_eq!(text(&out).1.matches("PIGUARD_KEY_FILE").count(), 1, "each cause once: {}", text(&out).1);
    let out = piguard_in(lake.path(), Some(KEY), &args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let value = stdout.lines().nth(1).unwrap().to_string();
    assert_eq!(value.len(), 18, "the raw value is shown to the entitled user");
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert_eq!(audit.lines().count(), before + 1);
    let entry: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(entry["action"], "query");
    assert_eq!(entry["zone"], "raw");
    assert_eq!(entry["reason"], "PIPL Art. 45 access request #42");
    assert_eq!(entry["sql"], "select sfzh from raw.users limit 1");
    assert!(!audit.contains(&value), "no result values in the audit log");
}

#[test]
fn bad_queries_are_one_line_and_exit_2() {
    let lake = lake();
    for sql in ["select * from nope", "selec 1", "select no_such_column from users"] {
        let out = piguard_in(lake.path(), None, &["query", sql]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{sql}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.trim().lines().count(), 1, "{sql}: {stderr}");
    }
    // piguard_hash exists only where the key is configured, and agrees with the run.
    let sql = "select piguard_hash('100000001', 'account_id') = (select user_id from users u where u.user_id = piguard_hash('100000001', 'account_id')) as same";
    assert_eq!(piguard_in(lake.path(), None, &["query", sql]).status.code(), Some(2));
    let out = piguard_in(lake.path(), Some(KEY), &["query", "--format", "csv", sql]);
    assert_eq!(text(&out).0, "same\ntrue\n", "{}", text(&out).1);
}

#[test]
fn analysts_sql_cannot_write_or_widen_the_session() {
    let lake = lake();
    let deid_file = crate::visible_parquet_files(&lake.path().join("deid/users")).pop().unwrap();
    let before = std::fs::read(&deid_file).unwrap();
    let target = deid_file.to_str().unwrap().to_string();
    for sql in [
        format!("COPY (select 1 as x) TO '{target}' STORED AS PARQUET"),
        "INSERT INTO users (xb) VALUES ('x')".to_string(),
        format!("CREATE EXTERNAL TABLE r STORED AS CSV LOCATION '{}'", lake.path().join("raw/users").display()),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "DROP TABLE users".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        for zone in ["deid", "export"] {
            let out = piguard_in(lake.path(), None, &["query", "--zone", zone, &sql]);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{zone}: {sql} was accepted: {stdout}");
            // (The export zone has no `users` table to write to in the first place.)
            let refused = ["not supported", "not allowed", "not found"].iter().any(|w| stderr.contains(w));
            assert!(refused && (zone == "export" || !stderr.contains("not found")), "{zone}: {sql}: {stderr}");
        }
    }
    assert_eq!(std::fs::read(&deid_file).unwrap(), before, "the de-identified file was not overwritten");
    let out = piguard_in(lake.path(), None, &["query", "--format", "csv", "select count(*) as n from users"]);
    assert_eq!(text(&out).0, "n\n500\n");
}
