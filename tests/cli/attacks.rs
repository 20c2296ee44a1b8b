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
    let variants: Vec<(&str, Box<dyn Fn(i64) -> ArrayRef>, bool)> = vec![
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
