//! Attacks and careless operation that once got through: forged or deleted audit logs, an
//! emptied ledger, a future `--today`, oversized reasons and torn entries, lossy keys,
//! another pipeline's retention, erasures that said `done` while the subject remained.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use piguard::lake::Zone;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{KEY, bundled_lake, command, copy_tree, piguard_in, text};

/// A lake of the demo browsing logs de-identified by a pipeline, with the pipeline's path.
fn logs_run() -> (tempfile::TempDir, PathBuf) {
    let dir = crate::retention::LOGS_RUN.copy();
    let pipeline = dir.path().join("p.toml");
    (dir, pipeline)
}

fn audit_verify(lake: &Path) -> (Option<i32>, String, String) {
    let out = piguard_in(lake, Some(KEY), &["audit", "verify"]);
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

fn entries(lake: &Path) -> Vec<Map<String, Value>> {
    std::fs::read_to_string(lake.join("_piguard/audit.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_future_today_is_refused_by_purge_and_erase() {
    let (lake, _) = logs_run();
    let before = std::fs::read_dir(lake.path().join("raw/browsing_logs")).unwrap().count();
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    for args in [vec!["purge", "--today", &tomorrow], vec!["erase", "--subject", "1", "--today", &tomorrow]] {
        let out = piguard_in(lake.path(), Some(KEY), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out).1.contains("later than the system date"), "{}", text(&out).1);
    }
    assert_eq!(std::fs::read_dir(lake.path().join("raw/browsing_logs")).unwrap().count(), before, "nothing was purged");
    assert!(!lake.path().join("_piguard/erasure.jsonl").exists(), "nothing was requested");
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(piguard_in(lake.path(), Some(KEY), &["purge", "--today", &today]).status.code(), Some(0));
}

#[test]
fn a_rechained_or_deleted_audit_log_is_tampering() {
    let (lake, pipeline) = logs_run();
    let (code, stdout, stderr) = audit_verify(lake.path());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("1 run manifest(s) sealed"), "{stdout}");
    let log = lake.path().join("_piguard/audit.jsonl");
    let head = lake.path().join("_piguard/audit.head");

    // Drop the run's `began` entry and re-chain with plain SHA-256, as anyone with write
    // access could do to an unkeyed chain.
    let mut prev = "0".repeat(64);
    let mut forged = String::new();
    for (i, mut e) in entries(lake.path()).into_iter().skip(1).enumerate() {
        e.insert("seq".into(), Value::from(i + 1));
        e.insert("prev".into(), Value::from(prev.clone()));
        e.remove("hash");
        let hash: String = Sha256::digest(serde_json::to_vec(&e).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
        e.insert("hash".into(), Value::from(hash.clone()));
        forged.push_str(&format!("{}\n", serde_json::to_string(&e).unwrap()));
        std::fs::write(&head, format!("{{\"seq\":{},\"hash\":\"{hash}\"}}", i + 1)).unwrap();
        prev = hash;
    }
    std::fs::write(&log, forged).unwrap();
    let (code, _, stderr) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("tampering") && stderr.contains("line 1"), "{stderr}");

    // Deleting both files leaves manifests that name entries no log holds.
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_file(&head).unwrap();
    let (code, _, stderr) = audit_verify(lake.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("missing or empty"), "{stderr}");
    let out = piguard_in(lake.path(), Some(KEY), &["run", pipeline.to_str().unwrap(), "--force"]);
    assert_eq!(out.status.code(), Some(1), "run refuses a lake whose records were tampered with: {}", text(&out).1);
    assert!(!log.exists(), "and writes nothing");
}

#[test]
fn a_long_reason_or_a_torn_entry_never_stops_the_lake() {
    let (lake, _) = logs_run();
    let reason = "x".repeat(70_000);
    let out = piguard_in(lake.path(), Some(KEY), &["erase", "--subject", "1", "--reason", &reason, "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("at most 1000"), "{}", text(&out).1);
    let out = piguard_in(lake.path(), Some(KEY), &["query", "--zone", "raw", "--reason", &reason, "select 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!lake.path().join("_piguard/erasure.jsonl").exists());

    // A crash while appending leaves half an entry.
    let log = lake.path().join("_piguard/audit.jsonl");
    let tear = || {
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(br#"{"action":"que"#).unwrap();
    };
    tear();
    let (code, _, stderr) = audit_verify(lake.path());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("torn"), "a warning names it: {stderr}");
    // The next audited command sets it aside and records that it did.
    let out = piguard_in(lake.path(), Some(KEY), &["purge", "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let actions: Vec<String> = entries(lake.path()).iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    let repair = actions.iter().position(|a| a == "repair").expect("the repair is audited");
    assert_eq!(&actions[repair + 1..], ["began", "purge"]);
    let (code, _, stderr) = audit_verify(lake.path());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("torn"), "{stderr}");
    let set_aside: Vec<_> = std::fs::read_dir(lake.path().join("_piguard"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit.jsonl.torn-"))
        .collect();
    assert_eq!(set_aside.len(), 1);

    // And `audit repair` does it on request.
    tear();
    let out = piguard_in(lake.path(), Some(KEY), &["audit", "repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).0.contains("set aside a torn final entry"), "{}", text(&out).0);
    assert_eq!(audit_verify(lake.path()).0, Some(0));
}

#[test]
fn a_run_that_fails_after_publishing_is_in_the_log_and_its_manifest() {
    let (lake, pipeline) = logs_run();
    let mut text_of = std::fs::read_to_string(&pipeline).unwrap();
    text_of.push_str("\n[[export]]\nname = \"visits\"\nfrom = \"browsing_logs\"\ngroup_by = []\nmetrics = { visits = \"count\" }\n");
    std::fs::write(&pipeline, text_of).unwrap();
    // The export zone cannot be written: the export fails after the datasets are published.
    std::fs::write(lake.path().join("export"), b"not a directory").unwrap();
    let out = piguard_in(lake.path(), Some(KEY), &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("stopped part-way"), "{}", text(&out).1);
    let all = entries(lake.path());
    let last_run = all.iter().rev().find(|e| e["action"] == "run").unwrap();
    assert_eq!(last_run["failed"], "export visits");
    let began = all.iter().rev().find(|e| e["action"] == "began").unwrap();
    assert_eq!((began["operation"].as_str(), &began["id"]), (Some("run"), &last_run["run_id"]));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(lake.path().join(format!("_piguard/runs/{}/manifest.json", last_run["run_id"].as_str().unwrap()))).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["audit"]["hash"], began["hash"], "the manifest anchors the entry that announced it");
    assert!(manifest["failure"]["dataset"].as_str().unwrap().contains("visits"));
    assert!(Path::new(manifest["pipeline"].as_str().unwrap()).is_absolute(), "the pipeline is recorded absolute");
    assert_eq!(audit_verify(lake.path()).0, Some(0));
}

#[test]
fn an_emptied_ledger_stops_run_from_publishing_held_rows_again() {
    let (lake, pipeline) = logs_run();
    let subject = crate::sql(lake.path(), Zone::Raw, "select user_id from raw.browsing_logs where dt > '2026-10-01' limit 1")[0][0].clone();
    let out = piguard_in(lake.path(), Some(KEY), &["erase", "--subject", &subject, "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(1), "young logs are held: {}", text(&out).1);
    let deid = lake.path().join("deid/browsing_logs");
    let before = crate::retention::snapshot(&deid);
    for f in ["erasure.jsonl", "erasure.head"] {
        std::fs::write(lake.path().join("_piguard").join(f), b"").unwrap();
    }
    std::fs::remove_file(lake.path().join("_piguard/erasure.head")).unwrap();
    let out = piguard_in(lake.path(), Some(KEY), &["run", pipeline.to_str().unwrap(), "--force"]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tampering") && stderr.contains("erasure.jsonl") && stderr.contains("nothing was run"), "{stderr}");
    assert_eq!(crate::retention::snapshot(&deid), before, "nothing was republished");
}

#[test]
fn keys_are_their_bytes_and_key_files_are_bounded() {
    let (lake, pipeline) = logs_run();
    let key_id = |key: &[u8]| {
        let mut cmd = command(Some(lake.path()), None, &["run", pipeline.to_str().unwrap(), "--dry-run"]);
        cmd.env("PIGUARD_KEY", std::ffi::OsStr::from_bytes(key));
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
        text(&out).1.split("key id ").nth(1).unwrap().trim().trim_end_matches(')').to_string()
    };
    let base = b"integration-test-key-0123456789abcdef-".to_vec();
    let ids: Vec<String> =
        [&b"\xff"[..], b"\xfe", b"\xff\xfe"].iter().map(|tail| key_id(&[base.clone(), tail.to_vec()].concat())).collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "three keys, three ids: {ids:?}");

    let big = lake.path().join("big.key");
    std::fs::write(&big, vec![b'k'; 5000]).unwrap();
    for file in [Path::new("/dev/urandom"), big.as_path()] {
        let mut cmd = command(Some(lake.path()), None, &["run", pipeline.to_str().unwrap(), "--dry-run"]);
        cmd.env("PIGUARD_KEY_FILE", file);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
        assert!(text(&out).1.contains("a key file is a regular file of at most 4096 bytes"), "{}", text(&out).1);
    }
}

#[test]
fn retention_comes_only_from_a_pipeline_a_run_recorded() {
    let (lake, pipeline) = logs_run();
    let p = pipeline.to_str().unwrap();
    assert_eq!(
        piguard_in(lake.path(), Some(KEY), &["purge", "--pipeline", p, "--dry-run", "--today", "2026-11-23"]).status.code(),
        Some(0)
    );
    // The same name, another file: edited, or a relative path from another directory.
    let mut edited = std::fs::read_to_string(&pipeline).unwrap();
    edited.push_str("\n[retention.browsing_logs]\nmax_days = 200\n");
    std::fs::write(&pipeline, edited).unwrap();
    let out = piguard_in(lake.path(), Some(KEY), &["purge", "--pipeline", p, "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("is not the pipeline dataset browsing_logs was last run with"), "{}", text(&out).1);
    // Running it records it; then its retention applies.
    assert_eq!(piguard_in(lake.path(), Some(KEY), &["run", p]).status.code(), Some(0));
    assert_eq!(piguard_in(lake.path(), Some(KEY), &["purge", "--pipeline", p, "--today", "2026-11-23"]).status.code(), Some(0));
}

#[test]
fn an_empty_subject_is_refused() {
    let (lake, _) = logs_run();
    for subject in ["", "   "] {
        let out = piguard_in(lake.path(), Some(KEY), &["erase", "--subject", subject, "--today", "2026-11-23"]);
        assert_eq!(out.status.code(), Some(2), "{subject:?}");
        assert!(text(&out).1.contains("names nobody"), "{}", text(&out).1);
    }
    assert!(!lake.path().join("_piguard/erasure.jsonl").exists());
}

#[test]
fn erasure_covers_the_other_party_and_says_what_it_could_not_search() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    for ds in ["users", "chat_messages"] {
        copy_tree(&bundled_lake().join("raw").join(ds), &lake.join("raw").join(ds));
    }
    let pipeline = lake.join("p.toml");
    std::fs::write(
        &pipeline,
        "[[dataset]]\nname = \"users\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\ncolumns.xb = { action = \"keep\", reason = \"stats\" }\n\n\
         [[dataset]]\nname = \"chat_messages\"\nsubject = \"from_user_id\"\ndefault_action = \"auto\"\n",
    )
    .unwrap();
    crate::run_ok(lake, &pipeline);
    let raw_count = |sql: &str| crate::count(lake, Zone::Raw, sql);
    let recipient =
        crate::sql(lake, Zone::Raw, "select to_user_id from raw.chat_messages group by to_user_id order by count(*) desc limit 1")[0][0]
            .clone();
    assert!(raw_count(&format!("select count(*) from raw.chat_messages where to_user_id = {recipient}")) > 0);

    let out = piguard_in(lake, Some(KEY), &["erase", "--subject", &recipient, "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        raw_count(&format!("select count(*) from raw.chat_messages where to_user_id = {recipient} or from_user_id = {recipient}")),
        0
    );
    let ledger: Vec<Value> =
        std::fs::read_to_string(lake.join("_piguard/erasure.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reference =
        ledger.last().unwrap()["subject_refs"]["chat_messages.to_user_id"].as_str().expect("the recipient column is searched").to_string();
    let left = crate::count(lake, Zone::Deid, &format!("select count(*) from chat_messages where to_user_id = '{reference}'"));
    assert_eq!(left, 0, "gone from the de-identified zone too");

    // A raw dataset no run planned, and a file whose name cannot be read: not `done`.
    copy_tree(&bundled_lake().join("raw/orders"), &lake.join("raw/orders"));
    let users = lake.join("raw/users");
    std::fs::copy(users.join("part-00000.parquet"), users.join(std::ffi::OsStr::from_bytes(b"part-\xff.parquet"))).unwrap();
    let out = piguard_in(lake, Some(KEY), &["erase", "--subject", "100000002", "--today", "2026-11-23"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("incomplete") && stdout.contains("raw/orders was left: no run has planned this dataset"), "{stdout} {stderr}");
    assert!(stdout.contains("raw/users was left") && stdout.contains("not valid UTF-8"), "{stdout}");
    let last: Value =
        serde_json::from_str(std::fs::read_to_string(lake.join("_piguard/erasure.jsonl")).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["state"], "incomplete");
    assert_eq!(last["left"].as_array().unwrap().len(), 2, "{last}");
    // Purge tries it again, and says so while it stays incomplete.
    let out = piguard_in(lake, Some(KEY), &["purge", "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    assert!(text(&out).0.contains("incomplete: ") && text(&out).1.contains("could not be searched"), "{}", text(&out).0);
}
