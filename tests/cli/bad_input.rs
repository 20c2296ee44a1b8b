//! Bad input gets a clear error naming the file and exit code 2, never a panic, and one
//! dataset failing does not keep the others from being reported.

use std::path::Path;

use serde_json::Value;

use crate::{bundled_lake, piguard, text, write_parquet};

/// A phone number planted in bad files: it must never be echoed in an error.
const PLANTED: &str = "13912345678";

fn assert_fails_cleanly(path: &Path, expect_in_error: &[&str]) {
    let out = piguard(&["scan", path.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains(PLANTED) && !stdout.contains(PLANTED), "a value leaked: {stderr}");
    for needle in expect_in_error {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
}

#[test]
fn truncated_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(bundled_lake().join("raw/users/part-00000.parquet")).unwrap();
    let bad = dir.path().join("users.parquet");
    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    assert_fails_cleanly(&bad, &["users.parquet", "Parquet"]);
}

#[test]
fn ragged_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ragged.csv");
    std::fs::write(&bad, format!("name,phone\n张三,13800000000\n李四,{PLANTED},extra\n")).unwrap();
    assert_fails_cleanly(&bad, &["ragged.csv", "line 3", "ragged"]);
}

#[test]
fn non_utf8_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("gbk.csv");
    // "姓名,手机\n张三,<phone>" encoded in GBK.
    let mut bytes = b"\xd0\xd5\xc3\xfb,\xca\xd6\xbb\xfa\n\xd5\xc5\xc8\xfd,".to_vec();
    bytes.extend_from_slice(PLANTED.as_bytes());
    std::fs::write(&bad, bytes).unwrap();
    assert_fails_cleanly(&bad, &["gbk.csv", "UTF-8", "iconv"]);
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("empty.csv");
    std::fs::write(&bad, b"").unwrap();
    assert_fails_cleanly(&bad, &["empty.csv", "empty file"]);
}

#[test]
fn directory_with_nothing_readable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    assert_fails_cleanly(dir.path(), &["no readable data files"]);
}

#[test]
fn missing_path_and_bad_usage() {
    let out = piguard(&["scan", "/nonexistent/piguard-lake"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("/nonexistent/piguard-lake"));
    assert_eq!(piguard(&["scan"]).status.code(), Some(2), "PATH is required");
    assert_eq!(piguard(&["scan", ".", "--sample-rows", "0"]).status.code(), Some(2));
    assert_eq!(piguard(&["scan", ".", "--format", "pdf"]).status.code(), Some(2));
}

#[test]
fn malformed_classifier_rules_name_file_and_key() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("broken.toml"),
        "[[category]]\nid = \"phone\"\nlabel_zh = \"手机\"\nsensitivity = \"general\"\naction = \"hash\"\ndetector = [\"cn_phone\"]\n",
    )
    .unwrap();
    let out = piguard(&["scan", bundled_lake().join("raw/users").to_str().unwrap(), "--classifiers", rules.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty(), "nothing is reported with broken rules");
    assert!(stderr.contains("broken.toml") && stderr.contains("detector"), "{stderr}");
}

#[test]
fn one_bad_dataset_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    crate::copy_tree(&bundled_lake().join("raw/users"), &lake.join("raw/users"));
    std::fs::create_dir_all(lake.join("raw/broken")).unwrap();
    std::fs::write(lake.join("raw/broken/part-0.csv"), format!("a,b\n1\n{PLANTED},2,3\n")).unwrap();
    let out = piguard(&["scan", lake.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("dataset broken could not be read"), "{stderr}");
    assert!(!stderr.contains(PLANTED));
    let inv: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(inv["datasets"][0]["name"], "users");
    assert_eq!(inv["failed"][0]["name"], "broken");
    assert!(inv["failed"][0]["error"].as_str().unwrap().contains("part-0.csv"));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(lake.join("_piguard/inventory.json")).unwrap()).unwrap();
    assert_eq!(saved["failed"][0]["name"], "broken");
}

#[test]
fn nested_columns_must_be_decided_by_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw/profiles");
    std::fs::create_dir_all(&raw).unwrap();
    let mut lines = String::new();
    for i in 0..30 {
        lines.push_str(&format!("{{\"id\":{i},\"contact\":{{\"phone\":\"1381234{i:04}\",\"city\":\"北京\"}},\"tags\":[\"a\",\"b\"]}}\n"));
    }
    std::fs::write(raw.join("part-0.jsonl"), lines).unwrap();
    let pipeline = dir.path().join("p.toml");
    let lake = dir.path().to_str().unwrap();
    let run = |text: &str| {
        std::fs::write(&pipeline, text).unwrap();
        crate::piguard_with_key(Some(crate::KEY), &["run", pipeline.to_str().unwrap(), "--lake", lake])
    };
    let out = run("[[dataset]]\nname = \"profiles\"\ndefault_action = \"auto\"\n");
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("column `contact` is nested or binary (Struct"), "{stderr}");
    assert!(stderr.contains("column `tags` is nested or binary (List"), "{stderr}");
    assert!(!stderr.contains("1381234"), "no value in the error");
    let out = run("[[dataset]]\nname = \"profiles\"\ndefault_action = \"auto\"\ncolumns.contact = \"drop\"\ncolumns.tags = \"keep\"\n");
    assert!(text(&out).1.contains("`tags`") && text(&out).1.contains("reason"), "{}", text(&out).1);
    let out = run(
        "[[dataset]]\nname = \"profiles\"\ndefault_action = \"auto\"\ncolumns.contact = \"drop\"\ncolumns.tags = { action = \"keep\", reason = \"labels, no PI\" }\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(crate::visible_parquet_files(&dir.path().join("deid/profiles")).len(), 1);
}

#[test]
fn a_corrupt_arrow_schema_is_an_error_not_a_panic() {
    // A Parquet footer whose embedded Arrow schema decodes to a message arrow-ipc unwraps.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corrupt_arrow_schema.parquet");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("users.parquet");
    std::fs::copy(fixture, &bad).unwrap();
    assert_fails_cleanly(&bad, &["users.parquet", "embedded Arrow schema is corrupt"]);
    // Raw-zone queries register the file through the same check.
    std::fs::create_dir_all(dir.path().join("lake/raw/users")).unwrap();
    std::fs::copy(&bad, dir.path().join("lake/raw/users/part-0.parquet")).unwrap();
    let out = crate::piguard_in(&dir.path().join("lake"), Some(crate::KEY), &["query", "--zone", "raw", "--reason", "test", "select 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out).1.contains("panicked") && text(&out).1.contains("part-0.parquet"), "{}", text(&out).1);
}

#[test]
fn headers_without_columns_or_with_a_name_twice_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.csv");
    std::fs::write(&zero, "\n\n").unwrap();
    assert_fails_cleanly(&zero, &["zero.csv", "names no columns"]);
    let twice = dir.path().join("twice.csv");
    std::fs::write(&twice, format!("phone,phone\n{PLANTED},1\n")).unwrap();
    assert_fails_cleanly(&twice, &["twice.csv", "column `phone` twice (columns 1 and 2)"]);
    let parquet = dir.path().join("twice.parquet");
    let phones: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::StringArray::from(vec![PLANTED]));
    write_parquet(&parquet, vec![("phone", phones.clone()), ("phone", phones)]);
    assert_fails_cleanly(&parquet, &["twice.parquet", "column `phone` appears twice"]);
}

#[test]
fn an_unterminated_quote_is_an_error_not_lost_rows() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("quote.csv");
    std::fs::write(&bad, format!("name,phone\n张三,\"{PLANTED}\n李四,13800000000\n王五,13900000000\n")).unwrap();
    assert_fails_cleanly(&bad, &["quote.csv", "line 2", "never closed"]);
    // Quotes that close, escaped quotes and quotes inside unquoted values are fine.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "name,note\n\"张, 三\",\"say \"\"hi\"\"\"\n李四,5'3\" tall\n").unwrap();
    assert_eq!(crate::piguard(&["scan", good.to_str().unwrap()]).status.code(), Some(0));
}

#[test]
fn large_binary_columns_are_read_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw/blobs");
    std::fs::create_dir_all(&raw).unwrap();
    let blob: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::LargeBinaryArray::from(vec![PLANTED.as_bytes()]));
    let id: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::Int64Array::from(vec![1]));
    write_parquet(&raw.join("part-0.parquet"), vec![("id", id), ("payload", blob)]);
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, "[[dataset]]\nname = \"blobs\"\ndefault_action = \"auto\"\n").unwrap();
    let out = crate::piguard_in(dir.path(), Some(crate::KEY), &["run", pipeline.to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "an undecided binary column stops the run: {stderr}");
    assert!(stderr.contains("`payload`") && stderr.contains("binary") && !stderr.contains(PLANTED), "{stderr}");
}

#[test]
fn a_file_whose_name_is_not_utf8_is_reported_not_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("raw/users");
    crate::copy_tree(&bundled_lake().join("raw/users"), &users);
    std::fs::copy(users.join("part-00000.parquet"), users.join(std::ffi::OsStr::from_bytes(b"part-\xff.parquet"))).unwrap();
    let out = piguard(&["scan", dir.path().to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("raw/users") && stderr.contains("not valid UTF-8") && stderr.contains("part-\u{fffd}.parquet"), "{stderr}");
}

#[test]
fn a_value_that_fails_while_a_partition_is_written_is_not_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw/events");
    std::fs::create_dir_all(&raw).unwrap();
    // Past the rows planning samples, a value the inferred type cannot hold.
    let mut lines = String::new();
    for i in 0..25_000 {
        match i {
            20_000 => lines.push_str(&format!("{{\"event\":{i},\"amount\":\"{PLANTED}x\"}}\n")),
            _ => lines.push_str(&format!("{{\"event\":{i},\"amount\":{}}}\n", i % 97)),
        }
    }
    std::fs::write(raw.join("part-0.jsonl"), lines).unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        "[[dataset]]\nname = \"events\"\ndefault_action = \"auto\"\ncolumns.amount = { action = \"keep\", reason = \"stats\" }\n",
    )
    .unwrap();
    let out = crate::piguard_in(dir.path(), Some(crate::KEY), &["run", pipeline.to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("dataset events") && stderr.contains("as Int64"), "{stderr}");
    assert!(!stderr.contains(PLANTED), "the value is scrubbed: {stderr}");
}
