//! Hardening, second round: what an attacker and a careless operator got through once,
//! each held here. (Records anyone could edit are in `records`.)

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use chrono::{Days, NaiveDate, Utc};
use piguard::lake::Zone;

use crate::{KEY, piguard_in, run_in_process, text, write_parquet};

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A browsing log with one young partition filed under an old key and one old partition,
/// its time column written by `times` (given the rows' time, as epoch seconds), in Parquet
/// or, when `csv`, as CSV.
fn log_lake(times: impl Fn(i64) -> ArrayRef, csv: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let young = (today() - Days::new(4)).and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp();
    let old = NaiveDate::from_ymd_opt(2025, 2, 1).unwrap().and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp();
    for (dt, at) in [("2025-01-01", young), ("2025-02-01", old)] {
        let part = dir.path().join("raw/logs").join(format!("dt={dt}"));
        std::fs::create_dir_all(&part).unwrap();
        let users: ArrayRef = Arc::new(Int64Array::from((0..20).map(|i| 100_000_000 + i).collect::<Vec<_>>()));
        let urls: ArrayRef = Arc::new(StringArray::from((0..20).map(|i| format!("https://shop.example.cn/item/{i}")).collect::<Vec<_>>()));
        let when = times(at);
        if csv {
            let when = arrow::compute::cast(&when, &arrow::datatypes::DataType::Utf8).unwrap();
            let when = when.as_any().downcast_ref::<StringArray>().unwrap();
            let rows: String =
                (0..20).map(|i| format!("{},https://shop.example.cn/item/{i},{}\n", 100_000_000 + i, when.value(i))).collect();
            std::fs::write(part.join("part-0.csv"), format!("user_id,url,event_time\n{rows}")).unwrap();
        } else {
            write_parquet(&part.join("part-0.parquet"), vec![("user_id", users), ("url", urls), ("event_time", when)]);
        }
    }
    std::fs::write(
        dir.path().join("p.toml"),
        "[[dataset]]\nname = \"logs\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\n\n[retention.logs]\nkind = \"browsing_log\"\nmax_days = 200\n",
    )
    .unwrap();
    dir
}

fn partitions(lake: &Path, zone: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(lake.join(zone).join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dt="))
        .collect();
    found.sort();
    found
}

#[test]
fn young_log_rows_under_an_old_key_are_held_however_their_time_is_written() {
    let text_time = |at: i64| -> ArrayRef {
        let t = chrono::DateTime::from_timestamp(at, 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
        Arc::new(StringArray::from(vec![t; 20]))
    };
    type Times = Box<dyn Fn(i64) -> ArrayRef>;
    let variants: Vec<(&str, Times, bool)> = vec![
        ("text", Box::new(text_time), false),
        ("epoch seconds", Box::new(|at| Arc::new(Int64Array::from(vec![at; 20])) as ArrayRef), false),
        ("epoch milliseconds", Box::new(|at| Arc::new(Int64Array::from(vec![at * 1000; 20])) as ArrayRef), false),
        ("epoch seconds as text", Box::new(|at| Arc::new(StringArray::from(vec![at.to_string(); 20])) as ArrayRef), false),
        ("CSV", Box::new(text_time), true),
    ];
    for (what, times, csv) in variants {
        let lake = log_lake(times, csv);
        let report = run_in_process(lake.path(), &lake.path().join("p.toml")).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(report.manifest.datasets[0].planned.retention.browsing_log, "{what}");
        let out = piguard_in(lake.path(), Some(KEY), &["purge", "--today", &today().to_string()]);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out).1);
        for zone in ["raw", "deid"] {
            let left = partitions(lake.path(), zone);
            assert!(left.contains(&"dt=2025-01-01".to_string()), "{what}: the {zone} partition holding 4-day-old rows was purged");
            assert!(!left.contains(&"dt=2025-02-01".to_string()) || zone == "deid", "{what}: the old raw partition is purged: {left:?}");
        }
    }
}

#[test]
fn a_log_partition_whose_rows_cannot_be_dated_is_kept_with_a_warning() {
    let lake = log_lake(|_| Arc::new(StringArray::from(vec!["soon"; 20])) as ArrayRef, false);
    crate::run_ok(lake.path(), &lake.path().join("p.toml"));
    let out = piguard_in(lake.path(), Some(KEY), &["purge", "--today", &today().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).1.contains("warning: kept raw/logs/dt=2025-01-01") && text(&out).1.contains("event_time"), "{}", text(&out).1);
    assert_eq!(partitions(lake.path(), "raw").len(), 2, "nothing is purged by a key alone");
    let rows = crate::count(lake.path(), Zone::Raw, "select count(*) from raw.logs");
    assert_eq!(rows, 40);
}

/// A valid GB 11643 ID number for sequence `i`: region 110105, born 1990-01-01.
fn id_number(i: usize) -> String {
    let first17 = format!("11010519900101{:03}", i % 1000);
    let check = piguard::classify::detectors::id_card_check_char(first17.as_bytes()).unwrap();
    format!("{first17}{}", check as char)
}

fn phone(i: usize) -> String {
    format!("1381234{:04}", i % 10_000)
}

/// A lake of one dataset `t`: `user_id` and column `c` (`values`), and its pipeline.
fn one_column_lake(c: &str, values: ArrayRef) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw/t");
    std::fs::create_dir_all(&raw).unwrap();
    let users: ArrayRef = Arc::new(Int64Array::from((0..values.len() as i64).map(|i| 100_000_000 + i).collect::<Vec<_>>()));
    write_parquet(&raw.join("part-0.parquet"), vec![("user_id", users), (c, values)]);
    std::fs::write(dir.path().join("p.toml"), "[[dataset]]\nname = \"t\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\n").unwrap();
    dir
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

/// `n` cells of ordinary remarks with `pi(i)` at the rows `at` picks.
fn mixed(n: usize, at: impl Fn(usize) -> bool, pi: impl Fn(usize) -> String) -> ArrayRef {
    strings((0..n).map(|i| if at(i) { pi(i) } else { format!("order {i} shipped") }).collect())
}

/// A value as the check compares it: decoration removed, then only its digits and `X`.
fn digits(v: &str) -> String {
    piguard::classify::detectors::normalize_value(v).chars().filter(|c| c.is_ascii_digit() || *c == 'X').collect()
}

/// Runs the lake's pipeline; either it refuses to publish (exit 1, the leak gate naming
/// column `c`) and `t` is not in the de-identified zone, or nothing published carries any of
/// `secrets` in any form. Returns whether it refused.
fn publishes_none_of(lake: &Path, c: &str, secrets: &[String]) -> bool {
    let out = piguard_in(lake, Some(KEY), &["run", lake.join("p.toml").to_str().unwrap()]);
    let stderr = text(&out).1;
    if out.status.code() == Some(1) {
        assert!(stderr.contains("still holds raw PI") && stderr.contains(&format!("column {c}")), "{stderr}");
        assert!(!piguard::lake::delta::is_table(&lake.join("deid/t")), "nothing of t is published");
        return true;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let published = crate::sql(lake, Zone::Deid, &format!("select \"{c}\" from t"));
    for cell in published.iter().map(|row| &row[0]) {
        let (cell, shown) = (digits(cell), cell.clone());
        for s in secrets {
            let s = digits(s);
            assert!(s.len() < 6 || !cell.contains(&s), "column {c} published {shown}");
        }
    }
    false
}

#[test]
fn checksummed_ids_and_mobiles_are_found_at_any_share() {
    let cases: Vec<(&str, ArrayRef, Vec<String>)> = vec![
        ("bare ids in a tenth of the cells", mixed(300, |i| i % 10 == 0, id_number), (0..300).step_by(10).map(id_number).collect()),
        ("phones in a twentieth", mixed(300, |i| i % 20 == 0, phone), (0..300).step_by(20).map(phone).collect()),
        ("one phone in 300", mixed(300, |i| i == 150, phone), vec![phone(150)]),
        ("10,000 phones after row 10,000", mixed(20_000, |i| i >= 10_000, phone), (10_000..20_000).map(phone).collect()),
    ];
    for (what, values, secrets) in cases {
        let lake = one_column_lake("remark", values);
        // Kept as it is, so that the leak gate judges the cells (on `auto`, a column of rare
        // values is hashed before it could).
        std::fs::write(
            lake.path().join("p.toml"),
            "[[dataset]]\nname = \"t\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\ncolumns.remark = \"keep\"\n",
        )
        .unwrap();
        assert!(publishes_none_of(lake.path(), "remark", &secrets), "{what}: published");
    }
}

#[test]
fn decorated_and_numeric_pi_is_seen_as_what_it_shows() {
    let decorations: [fn(&str) -> String; 6] = [
        |p| format!("{}\0{}", &p[..3], &p[3..]),
        |p| format!("{}\u{200b}{}", &p[..3], &p[3..]),
        |p| p.chars().map(|c| char::from_u32(c as u32 + 0xfee0).unwrap()).collect(),
        |p| format!("(+86){p}"),
        |p| format!("{}.{}.{}", &p[..3], &p[3..7], &p[7..]),
        |p| format!("{} {} {}", &p[..3], &p[3..7], &p[7..]),
    ];
    let phones: Vec<String> = (0..300).map(phone).collect();
    for decorate in decorations {
        let lake = one_column_lake("c2", strings(phones.iter().map(|p| decorate(p)).collect()));
        publishes_none_of(lake.path(), "c2", &phones);
    }
    let ids: Vec<String> = (0..300).map(id_number).collect();
    let full_width = |v: &String| v.chars().map(|c| char::from_u32(c as u32 + 0xfee0).unwrap()).collect::<String>();
    let lake = one_column_lake("c3", strings(ids.iter().map(full_width).collect()));
    publishes_none_of(lake.path(), "c3", &ids);
    // Phones stored as floats, under a pinyin name and under none; a float copy of the subject id.
    for name in ["sjhm", "c4"] {
        let floats: ArrayRef =
            Arc::new(arrow::array::Float64Array::from(phones.iter().map(|p| p.parse::<f64>().unwrap()).collect::<Vec<_>>()));
        let lake = one_column_lake(name, floats);
        publishes_none_of(lake.path(), name, &phones);
    }
    let ids: Vec<String> = (0..300).map(|i| (100_000_000 + i).to_string()).collect();
    let copy: ArrayRef = Arc::new(arrow::array::Float64Array::from((0..300).map(|i| 100_000_000.0 + i as f64).collect::<Vec<_>>()));
    let lake = one_column_lake("ref_value", copy);
    publishes_none_of(lake.path(), "ref_value", &ids);
}

#[test]
fn chinese_names_are_found_by_value_under_neutral_names() {
    const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗";
    const GIVEN: &str = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰";
    let name = |i: usize| {
        let s: Vec<char> = SURNAMES.chars().collect();
        let g: Vec<char> = GIVEN.chars().collect();
        format!("{}{}{}", s[i % s.len()], g[(i / 7) % g.len()], g[(i * 13 + 5) % g.len()])
    };
    let names: Vec<String> = (0..300).map(name).collect();
    for c in ["c1", "contact_person"] {
        let lake = one_column_lake(c, strings(names.clone()));
        publishes_none_of(lake.path(), c, &[]);
        let published = crate::sql(lake.path(), Zone::Deid, &format!("select \"{c}\" from t"));
        assert!(published.iter().all(|r| !names.contains(&r[0])), "{c}: a name was published");
    }
    let remarks = strings((0..300).map(|i| if i % 3 == 0 { name(i) } else { "已发货".to_string() }).collect());
    let lake = one_column_lake("remark", remarks);
    if !publishes_none_of(lake.path(), "remark", &[]) {
        let published = crate::sql(lake.path(), Zone::Deid, "select remark from t");
        assert!(published.iter().all(|r| !names.contains(&r[0])), "remark: a name was published");
    }
}

/// An nginx combined log line from client `i`.
fn nginx_line(i: usize) -> String {
    format!(
        r#"10.{}.{}.{} - - [30/Nov/2026:10:00:{:02} +0800] "GET /item/{i}?ref=home HTTP/1.1" 200 512 "-" "Mozilla/5.0 Chrome/120.0.0.0""#,
        i / 65_536 % 256,
        i / 256 % 256,
        i % 256,
        i % 60
    )
}

#[test]
fn an_access_log_as_one_text_column_is_a_browsing_log_and_its_addresses_are_not_published() {
    let lines: Vec<String> = (0..300).map(nginx_line).collect();
    let lake = one_column_lake("line", strings(lines.clone()));
    let pipeline = lake.path().join("p.toml");
    let plain = std::fs::read_to_string(&pipeline).unwrap();
    std::fs::write(&pipeline, format!("{plain}\n[retention.t]\nmax_days = 30\n")).unwrap();
    let out = piguard_in(lake.path(), Some(KEY), &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a 30-day retention on an access log: {}", text(&out).1);
    assert!(text(&out).1.contains("browsing log") && text(&out).1.contains("180"), "{}", text(&out).1);

    std::fs::write(&pipeline, plain).unwrap();
    let report = crate::run_ok(lake.path(), &pipeline);
    assert!(report.manifest.datasets[0].planned.retention.browsing_log, "recognized by its lines");
    let published = crate::sql(lake.path(), Zone::Deid, "select line from t");
    assert_eq!(published.len(), 300);
    for (row, line) in published.iter().zip(&lines) {
        let client = line.split_whitespace().next().unwrap();
        assert!(!row[0].contains(client), "a client address was published: {}", row[0]);
        assert!(piguard::classify::detectors::ip_spans(&row[0]).is_empty(), "{}", row[0]);
    }
}

#[test]
fn addresses_and_international_e_mails_inside_text_are_not_published() {
    let notes: Vec<String> = (0..300)
        .map(|i| match i % 3 {
            0 => format!("登录IP 10.0.{}.{}，请确认", i / 256, i % 256),
            1 => format!("联系 用户{i}@例子.广告 或 2001:db8::{i:x}:1"),
            _ => "已发货".to_string(),
        })
        .collect();
    let lake = one_column_lake("remark", strings(notes.clone()));
    assert!(!publishes_none_of(lake.path(), "remark", &[]), "redacted, then published");
    let published = crate::sql(lake.path(), Zone::Deid, "select remark from t");
    assert_eq!(published.len(), notes.len());
    for (i, row) in published.iter().enumerate() {
        assert!(piguard::classify::detectors::ip_spans(&row[0]).is_empty(), "an address was published: {}", row[0]);
        assert!(!row[0].contains(&format!("用户{i}@")), "an e-mail was published: {}", row[0]);
    }
}

#[test]
fn erasure_finds_a_subject_in_a_float_column_and_in_a_counterparty_hashed_in_its_own_domain() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let raw = lake.join("raw/messages");
    std::fs::create_dir_all(&raw).unwrap();
    let n = 200;
    let from: ArrayRef = Arc::new(arrow::array::Float64Array::from((0..n).map(|i| 100_000_000.0 + (i % 50) as f64).collect::<Vec<_>>()));
    let to: ArrayRef = Arc::new(Int64Array::from((0..n).map(|i| 100_000_000 + (i * 7 + 1) % 50).collect::<Vec<_>>()));
    let body = strings((0..n).map(|i| format!("message {i}")).collect());
    write_parquet(&raw.join("part-0.parquet"), vec![("from_id", from), ("to_id", to), ("body", body)]);
    let pipeline = lake.join("p.toml");
    std::fs::write(
        &pipeline,
        "[[dataset]]\nname = \"messages\"\nsubject = \"from_id\"\ndefault_action = \"auto\"\ncolumns.body = \"drop\"\n\
         columns.to_id = { action = \"hash\", domain = \"peer\" }\n",
    )
    .unwrap();
    crate::run_ok(lake, &pipeline);
    let involving = |zone: Zone, sql: &str| crate::count(lake, zone, sql);
    let subject = "100000007";
    let raw_sql = format!("select count(*) from raw.messages where from_id = {subject} or to_id = {subject}");
    assert!(involving(Zone::Raw, &raw_sql) > 0);
    let deid_before = involving(Zone::Deid, "select count(*) from messages");

    let out = piguard_in(lake, Some(KEY), &["erase", "--subject", subject, "--today", &today().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).0.contains("removed"), "{}", text(&out).0);
    assert_eq!(involving(Zone::Raw, &raw_sql), 0, "the subject's rows are gone from the raw zone, as sender and as recipient");
    let deid_after = involving(Zone::Deid, "select count(*) from messages");
    let expected = (0..n).filter(|i| i % 50 == 7 || (i * 7 + 1) % 50 == 7).count() as u64;
    assert_eq!(deid_before - deid_after, expected, "and from the de-identified zone");
}

#[test]
fn a_fifo_or_predictable_key_is_refused_and_the_date_is_utcs() {
    let lake = one_column_lake("note", strings(vec!["ok".to_string(); 10]));
    let pipeline = lake.path().join("p.toml");
    let dry_run = |configure: &dyn Fn(&mut std::process::Command)| {
        let mut cmd = crate::command(Some(lake.path()), None, &["run", pipeline.to_str().unwrap(), "--dry-run"]);
        configure(&mut cmd);
        let mut child = cmd.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("piguard hung on its key");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let fifo = lake.path().join("key.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (code, stderr) = dry_run(&|c| {
        c.env("PIGUARD_KEY_FILE", &fifo);
    });
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");

    let zeros = lake.path().join("zero.key");
    std::fs::write(&zeros, [0u8; 64]).unwrap();
    for (var, value) in [("PIGUARD_KEY_FILE", zeros.to_str().unwrap().to_string()), ("PIGUARD_KEY", "ab".repeat(32))] {
        let (code, stderr) = dry_run(&|c| {
            c.env(var, &value);
        });
        assert_eq!(code, Some(2), "{var}: {stderr}");
        assert!(stderr.contains("too predictable"), "{var}: {stderr}");
        assert!(!stderr.contains(&value) || var == "PIGUARD_KEY_FILE", "the key is never printed");
    }
    let (code, stderr) = dry_run(&|c| {
        c.env("PIGUARD_KEY", KEY);
    });
    assert_eq!(code, Some(0), "{stderr}");

    // Fourteen hours ahead of UTC, tomorrow's date is not the system date.
    let tomorrow = (today() + Days::new(1)).to_string();
    let mut purge = crate::command(Some(lake.path()), Some(KEY), &["purge", "--today", &tomorrow]);
    let out = purge.env("TZ", "UTC-14").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("later than the system date"), "{}", text(&out).1);
}

#[test]
fn symlinks_in_the_lake_are_refused_before_anything_is_deleted_or_rewritten() {
    let lake = crate::retention::LOGS_RUN.copy();
    let outside = tempfile::tempdir().unwrap();
    let partition = std::fs::read_dir(lake.path().join("raw/browsing_logs")).unwrap().next().unwrap().unwrap().path();
    let file = std::fs::read_dir(&partition).unwrap().next().unwrap().unwrap().path();
    let target = outside.path().join("moved.parquet");
    std::fs::copy(&file, &target).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&target, &file).unwrap();
    let before = std::fs::read(&target).unwrap();
    for args in [vec!["purge", "--today", "2026-11-23"], vec!["erase", "--subject", "100000002", "--today", "2026-11-23"]] {
        let out = piguard_in(lake.path(), Some(KEY), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out).1);
        assert!(text(&out).1.contains("is a symbolic link") && text(&out).1.contains(&file.display().to_string()), "{}", text(&out).1);
    }
    assert!(std::fs::symlink_metadata(&file).unwrap().file_type().is_symlink(), "the link is left as it was");
    assert_eq!(std::fs::read(&target).unwrap(), before, "and so is its target");

    // A lock file linked elsewhere is never opened: the lock is the records' directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::remove_file(&file).unwrap();
    std::fs::copy(&target, &file).unwrap();
    let shared = outside.path().join("shared.conf");
    std::fs::write(&shared, b"x").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lock = lake.path().join("_piguard/writer.lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&shared, &lock).unwrap();
    let out = piguard_in(lake.path(), Some(KEY), &["purge", "--today", "2026-11-23", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let out = piguard_in(lake.path(), Some(KEY), &["purge", "--today", "2026-11-23"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777, 0o644, "the link's target is untouched");
}

#[test]
fn an_erasure_is_never_done_while_files_readers_skip_may_hold_the_subject() {
    let lake = one_column_lake("note", strings((0..50).map(|i| format!("note {i}")).collect()));
    crate::run_ok(lake.path(), &lake.path().join("p.toml"));
    let raw = lake.path().join("raw/t");
    std::fs::create_dir_all(raw.join("_staging")).unwrap();
    for copy in ["_staging/part-0.parquet", "part-0.parquet.bak", ".part-1.parquet", "dump"] {
        std::fs::copy(raw.join("part-0.parquet"), raw.join(copy)).unwrap();
    }
    std::fs::write(raw.join("_SUCCESS"), b"").unwrap();
    let out = piguard_in(lake.path(), Some(KEY), &["erase", "--subject", "100000003", "--today", &today().to_string()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("incomplete"), "{stdout}");
    for copy in ["_staging/part-0.parquet", "part-0.parquet.bak", ".part-1.parquet", "dump"] {
        assert!(stdout.contains(&raw.join(copy).display().to_string()), "{copy} is listed as left: {stdout}");
    }
    assert!(!stdout.contains("_SUCCESS"), "an empty marker holds no rows: {stdout}");
}

#[test]
fn verify_finds_nothing_to_call_clean_in_files_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("export.bak"), b"13800138000,13800138001\n").unwrap();
    let out = crate::piguard(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(!text(&out).1.contains("13800138000"), "{}", text(&out).1);
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("t")).unwrap();
    let out = crate::piguard(&["verify", empty.path().join("t").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
}

/// A value with a valid check character: `stem` followed by the first of `checks` that `valid` accepts.
fn with_check(stem: &str, checks: &str, valid: fn(&str) -> bool) -> String {
    checks.chars().map(|c| format!("{stem}{c}")).find(|v| valid(v)).unwrap()
}

#[test]
fn encoded_regional_and_repeated_identifiers_are_not_published() {
    use piguard::classify::detectors::{is_hk_id, is_tw_id};
    let hex = |v: String| v.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let base64 = |v: String| {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = v.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, x)| acc | u32::from(*x) << (16 - 8 * i));
            for i in 0..4 {
                out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        out
    };
    let reversed = |v: String| v.chars().rev().collect::<String>();
    type Make = Box<dyn Fn(usize) -> String>;
    let cases: Vec<(&str, &str, Make)> = vec![
        ("hex phones", "c1", Box::new(move |i| hex(phone(i)))),
        ("base64 phones", "c1", Box::new(move |i| base64(phone(i)))),
        ("reversed phones", "c1", Box::new(move |i| reversed(phone(i)))),
        ("reversed ids", "c1", Box::new(move |i| reversed(id_number(i)))),
        ("passports", "c1", Box::new(|i| format!("E{:08}", 10_000_000 + i * 7919))),
        ("Taiwan ids", "c1", Box::new(|i| with_check(&format!("A{}", 12_345_600 + i), "0123456789", is_tw_id))),
        ("Hong Kong ids", "hkid", Box::new(|i| with_check(&format!("A{:06}", 123_400 + i), "0123456789A", is_hk_id))),
        ("bare MACs", "c1", Box::new(|i| format!("00a0c9{:06x}", 0x14e2f0 + i))),
        ("Cisco MACs", "c1", Box::new(|i| format!("00a0.c914.{:04x}", 0x4e20 + i))),
        ("second halves of ids", "id_back", Box::new(|i| id_number(i)[6..].to_string())),
        ("plates", "plate_no", Box::new(|i| format!("京A{:05}", 10_000 + i * 37))),
        ("plates, unnamed", "c1", Box::new(|i| format!("粤B{:05}", 20_000 + i * 41))),
    ];
    for (what, c, make) in cases {
        // Thirty people, each in ten rows: the values repeat.
        let raw: Vec<String> = (0..300).map(|row| make(row % 30)).collect();
        let lake = one_column_lake(c, strings(raw.clone()));
        if publishes_none_of(lake.path(), c, &[]) {
            continue;
        }
        let published = crate::sql(lake.path(), Zone::Deid, &format!("select \"{c}\" from t"));
        assert!(published.iter().all(|r| !raw.contains(&r[0])), "{what}: published as they were, e.g. {}", raw[0]);
    }
}

#[test]
fn addresses_said_in_chat_are_redacted() {
    let said = |i: usize| match i % 4 {
        0 => format!("我住在阳光小区{}单元50{}，来玩", i % 9 + 1, i % 10),
        1 => format!("我家在朝阳门外大街甲{}号", i % 90 + 1),
        2 => format!("Come over to {} Infinite Loop, Cupertino", i % 90 + 1),
        _ => "好的，明天见".to_string(),
    };
    let messages: Vec<String> = (0..300).map(said).collect();
    let lake = one_column_lake("content", strings(messages));
    assert!(!publishes_none_of(lake.path(), "content", &[]), "redacted, then published");
    for row in crate::sql(lake.path(), Zone::Deid, "select content from t") {
        for address in ["单元50", "大街甲", "Infinite Loop"] {
            assert!(!row[0].contains(address), "an address was published: {}", row[0]);
        }
    }
}

#[test]
fn a_time_column_of_two_types_across_partitions_is_refused_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    for (dt, when) in [
        ("2026-11-01", Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![1_761_955_200_000_000i64; 5])) as ArrayRef),
        ("2026-11-02", strings(vec!["2026-11-02 10:00:00".to_string(); 5])),
    ] {
        let part = dir.path().join("raw/t").join(format!("dt={dt}"));
        std::fs::create_dir_all(&part).unwrap();
        let users: ArrayRef = Arc::new(Int64Array::from((0..5).map(|i| 100_000_000 + i).collect::<Vec<_>>()));
        write_parquet(&part.join("part-0.parquet"), vec![("user_id", users), ("event_time", when)]);
    }
    let pipeline = dir.path().join("p.toml");
    std::fs::write(&pipeline, "[[dataset]]\nname = \"t\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\n").unwrap();
    let out = piguard_in(dir.path(), Some(KEY), &["run", pipeline.to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("column `event_time` is Timestamp") && stderr.contains("but Utf8 in") && stderr.contains("dt=2026-11-02"),
        "{stderr}"
    );
    assert!(!dir.path().join("deid").exists(), "nothing was published");
}
