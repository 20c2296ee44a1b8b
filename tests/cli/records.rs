//! Records a writer can edit without the key: run manifests, the audit head, the Delta logs
//! of the de-identified tables and the whole `_piguard/` folder are all vouched for by the
//! sealed audit log, and a command refuses a lake whose records disagree.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{AUDIT_KEY, KEY, OTHER_KEY, command, piguard_in, text};

/// A lake of the demo browsing logs after one run, with its pipeline.
fn logs_run() -> (tempfile::TempDir, PathBuf) {
    let dir = crate::retention::LOGS_RUN.copy();
    let pipeline = dir.path().join("p.toml");
    (dir, pipeline)
}

fn audit_verify(lake: &Path) -> (Option<i32>, String) {
    let out = piguard_in(lake, Some(KEY), &["audit", "verify"]);
    (out.status.code(), format!("{}{}", text(&out).0, text(&out).1))
}

/// Sets every field `name` in `value`, at any depth, to `to`; returns how many it set.
fn set_all(value: &mut Value, name: &str, to: &Value) -> usize {
    match value {
        Value::Object(map) => map
            .iter_mut()
            .map(|(k, v)| {
                if k == name {
                    *v = to.clone();
                    1
                } else {
                    set_all(v, name, to)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(|v| set_all(v, name, to)).sum(),
        _ => 0,
    }
}

fn manifest_path(lake: &Path) -> PathBuf {
    let runs = lake.join("_piguard/runs");
    let mut ids: Vec<_> = std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().file_name()).collect();
    ids.sort();
    runs.join(ids.last().unwrap()).join("manifest.json")
}

fn raw_partitions(lake: &Path) -> usize {
    std::fs::read_dir(lake.join("raw/browsing_logs")).unwrap().count()
}

#[test]
fn an_edited_manifest_changes_no_retention_and_every_command_that_reads_it_refuses() {
    let (lake, _) = logs_run();
    let path = manifest_path(lake.path());
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // The attack: a 30-day retention with no floor, so a young browsing log is purged.
    assert!(set_all(&mut manifest, "max_days", &Value::from(30)) > 0);
    assert!(set_all(&mut manifest, "floor_days", &Value::from(0)) > 0);
    set_all(&mut manifest, "browsing_log", &Value::from(false));
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let before = raw_partitions(lake.path());

    let (code, out) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is not the one the run sealed") && out.contains("manifest.json"), "{out}");
    for args in [
        vec!["purge", "--today", "2026-11-23"],
        vec!["purge", "--today", "2026-11-23", "--dry-run"],
        vec!["erase", "--subject", "1", "--today", "2026-11-23"],
    ] {
        let out = piguard_in(lake.path(), Some(KEY), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out).1);
        assert!(text(&out).1.contains("tampering"), "{args:?}: {}", text(&out).1);
    }
    let deid = lake.path().join("deid");
    let out = piguard_in(lake.path(), Some(KEY), &["verify", deid.to_str().unwrap(), "--lake", lake.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "verify reads the plans too: {}", text(&out).1);
    assert_eq!(raw_partitions(lake.path()), before, "nothing was purged");
    assert!(!lake.path().join("_piguard/erasure.jsonl").exists(), "nothing was requested");

    // A manifest no run recorded at all is refused the same way.
    let forged = path.parent().unwrap().with_file_name("20990101T000000Z-0001");
    std::fs::create_dir_all(&forged).unwrap();
    std::fs::write(forged.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    std::fs::write(&path, b"{}").unwrap();
    let (code, out) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn entries_cut_from_the_end_stay_found_whatever_head_is_put_back() {
    let (lake, pipeline) = logs_run();
    let meta = lake.path().join("_piguard");
    let (log, head) = (meta.join("audit.jsonl"), meta.join("audit.head"));
    let (log_after_run, head_after_run) = (std::fs::read(&log).unwrap(), std::fs::read(&head).unwrap());

    // A raw-zone query, then its entry cut and the head rewritten to match, as the attack did.
    let out =
        piguard_in(lake.path(), Some(KEY), &["query", "--zone", "raw", "--reason", "ticket 1", "select count(*) from raw.browsing_logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    std::fs::write(&log, &log_after_run).unwrap();
    let last: Value = serde_json::from_slice(log_after_run.split(|b| *b == b'\n').rev().nth(1).unwrap()).unwrap();
    std::fs::write(&head, format!("{{\"seq\":{},\"hash\":{}}}", last["seq"], last["hash"])).unwrap();
    let (code, out) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not sealed by the audit key"), "{out}");

    // An erasure removes the subject's rows from the de-identified zone (its young raw rows
    // are held by the floor). Then the log and its genuine earlier head are put back and the
    // ledger deleted: the table version the erasure committed is named by no entry left.
    std::fs::write(&head, &head_after_run).unwrap();
    assert_eq!(audit_verify(lake.path()).0, Some(0), "a head put back as it was is the head of that log");
    let subject =
        crate::sql(lake.path(), piguard::lake::Zone::Raw, "select user_id from raw.browsing_logs where dt > '2026-10-01' limit 1")[0][0]
            .clone();
    let out = piguard_in(lake.path(), Some(KEY), &["erase", "--subject", &subject, "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(1), "young logs are held: {}", text(&out).1);
    let deid = lake.path().join("deid/browsing_logs");
    let erased = crate::retention::snapshot(&deid);
    std::fs::write(&log, &log_after_run).unwrap();
    std::fs::write(&head, &head_after_run).unwrap();
    for f in ["erasure.jsonl", "erasure.head"] {
        std::fs::remove_file(meta.join(f)).unwrap();
    }
    let (code, out) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("deid/browsing_logs") && out.contains("no run, purge or erasure in the audit log committed it"), "{out}");
    let out = piguard_in(lake.path(), Some(KEY), &["run", pipeline.to_str().unwrap(), "--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    assert_eq!(crate::retention::snapshot(&deid), erased, "the erased subject's held rows were not published again");
}

#[test]
fn a_lake_with_published_data_and_no_records_is_tampered() {
    let (lake, pipeline) = logs_run();
    std::fs::remove_dir_all(lake.path().join("_piguard")).unwrap();
    let (code, out) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("deid/browsing_logs") && out.contains("missing or empty"), "{out}");
    let out = piguard_in(lake.path(), Some(KEY), &["run", pipeline.to_str().unwrap(), "--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    assert!(!lake.path().join("_piguard/audit.jsonl").exists(), "and writes nothing");
}

#[test]
fn a_raw_query_under_another_audit_key_reads_nothing_and_leaves_the_log_whole() {
    let (lake, _) = logs_run();
    let log = lake.path().join("_piguard/audit.jsonl");
    let before = std::fs::read(&log).unwrap();
    for (key, audit_key) in [(OTHER_KEY, None), (KEY, Some(AUDIT_KEY))] {
        let mut cmd = command(
            Some(lake.path()),
            Some(key),
            &["query", "--zone", "raw", "--reason", "r", "select user_id from raw.browsing_logs limit 3"],
        );
        if let Some(k) = audit_key {
            cmd.env("PIGUARD_AUDIT_KEY", k);
        }
        let out = cmd.output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{}", text(&out).1);
        assert!(text(&out).0.is_empty(), "no row is shown");
        assert!(text(&out).1.contains("key id") && text(&out).1.contains("nothing was read"), "{}", text(&out).1);
        assert_eq!(std::fs::read(&log).unwrap(), before, "no foreign entry is appended");
    }
    assert_eq!(audit_verify(lake.path()).0, Some(0));
}
