//! The risk gate (GB/T 42460): what a run publishes is measured, whatever the classifier
//! called its columns, and `piguard risk` measures any table.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use piguard::lake::{Lake, Zone};
use piguard::plan::Manifest;

use crate::{DEMO_DATASETS, DEMO_RUN, KEY, count, piguard, piguard_in, sql, text, write_parquet};

/// The evaluations recorded by the newest run manifest of the lake at `lake`.
fn last_manifest(lake: &Path) -> Manifest {
    let lake = Lake::at(lake);
    let run = lake.run_ids().pop().expect("a run");
    let path = lake.manifest_path(&run);
    Manifest::parse(&path, &std::fs::read(&path).unwrap()).unwrap()
}

/// A raw members file in `dir`: `ids` (null where `None`) beside their `genders`.
fn write_members(dir: &Path, ids: impl IntoIterator<Item = Option<i64>>, genders: impl IntoIterator<Item = &'static str>) {
    std::fs::create_dir_all(dir).unwrap();
    let ids: ArrayRef = Arc::new(ids.into_iter().collect::<Int64Array>());
    let gender: ArrayRef = Arc::new(genders.into_iter().map(Some).collect::<StringArray>());
    write_parquet(&dir.join("part-0.parquet"), vec![("user_id", ids), ("gender", gender)]);
}

/// `piguard risk` over the members table the lake at `lake` publishes, counting its subjects
/// under public sharing: the dataset's report.
fn published_members_risk(lake: &Path) -> serde_json::Value {
    let table = lake.join("deid/members");
    let out = piguard(&["risk", table.to_str().unwrap(), "--sharing", "public", "--subject", "user_id"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["datasets"][0].clone()
}

/// 100 members: 99 of them men or women, one whose gender value no one else has.
fn members_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw/members");
    std::fs::create_dir_all(&raw).unwrap();
    let ids: ArrayRef = Arc::new(Int64Array::from((0..100).map(|i| 7_000_000 + i).collect::<Vec<_>>()));
    let gender: ArrayRef =
        Arc::new(StringArray::from((0..100).map(|i| if i == 42 { "未说明" } else { ["男", "女"][i % 2] }).collect::<Vec<_>>()));
    let tier: ArrayRef = Arc::new(StringArray::from((0..100).map(|i| ["gold", "silver", "bronze"][i % 3]).collect::<Vec<_>>()));
    write_parquet(&raw.join("part-0.parquet"), vec![("user_id", ids), ("gender", gender), ("tier", tier)]);
    dir
}

fn members_pipeline(lake: &Path, extra: &str) -> String {
    let p = lake.join("members.toml");
    std::fs::write(
        &p,
        format!(
            "[[dataset]]\nname = \"members\"\nsubject = \"user_id\"\ndefault_action = \"auto\"\nsharing = \"public\"\n{extra}columns.gender = {{ action = \"keep\", reason = \"aggregate dimension\" }}\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn one_unique_record_is_refused_at_level_2_under_public_and_suppressed_when_allowed() {
    let dir = members_lake();
    let lake = dir.path();
    let pipeline = members_pipeline(lake, "");
    let out = piguard_in(lake, Some(KEY), &["run", &pipeline]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for expected in [
        "dataset members: GB/T 42460 level 2",
        "gender (category gender)",
        "k = 1",
        "R_a = 1.0%",
        "sharing public",
        "max_suppressed = 0.01",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    assert!(!stderr.contains("未说明"), "no value in the refusal: {stderr}");
    assert!(!lake.join("deid/members/_delta_log").exists(), "nothing is published");

    // Allowed to suppress 1 %, the lone record's gender is nulled and the rest published.
    let pipeline = members_pipeline(lake, "max_suppressed = 0.01\n");
    let out = piguard_in(lake, Some(KEY), &["run", &pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members"), 100);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE gender IS NULL"), 1);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE gender = '未说明'"), 0);
    let risk = last_manifest(lake).datasets[0].risk.clone().expect("evaluated");
    assert_eq!((risk.level.0, risk.suppressed, risk.figures.k, risk.figures.unmatched), (3, 1, 49, 1));
    assert_eq!(risk.quasi_identifiers, ["gender"]);
    // Every member once, and gender a quasi-identifier by its category: the write counted the
    // classes, and `piguard risk` below counts the same from the table.
    assert!(risk.classes_from_write, "{risk:?}");
    let audit = std::fs::read_to_string(lake.join("_piguard/audit.jsonl")).unwrap();
    assert!(audit.contains("\"risk\":{\"members\":{") && audit.contains("\"suppressed\":1"), "figures in the audit log");
    // The manifest names the files published, and their statistics count the null.
    let files: Vec<String> = last_manifest(lake).datasets[0].partitions.iter().flat_map(|p| p.files.clone()).collect();
    assert!(!files.is_empty() && files.iter().all(|f| Path::new(f).exists()), "{files:?}");
    let adds = crate::lakehouse::last_adds(&lake.join("deid/members"));
    let nulls: u64 = adds
        .iter()
        .map(|a| serde_json::from_str::<serde_json::Value>(a["stats"].as_str().unwrap()).unwrap()["nullCount"]["gender"].as_u64().unwrap())
        .sum();
    assert_eq!(nulls, 1, "{adds:?}");

    // `piguard risk` measures what was published the same way.
    let report = published_members_risk(lake);
    assert_eq!((report["level"].as_u64(), report["figures"]["k"].as_u64()), (Some(3), Some(49)), "{report}");
}

#[test]
fn a_subject_of_several_records_alone_in_its_class_is_suppressed_whole_by_what_the_write_counted() {
    // Every member twice: the lone gender value is one subject's, in two records.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let genders = (0..200).map(|i| if i % 100 == 42 { "未说明" } else { ["男", "女"][i % 2] });
    write_members(&lake.join("raw/members"), (0..200).map(|i| Some(7_000_000 + i % 100)), genders);
    let pipeline = members_pipeline(lake, "max_suppressed = 0.01\n");
    let out = piguard_in(lake, Some(KEY), &["run", &pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE gender IS NULL"), 2);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE gender = '未说明'"), 0);
    let risk = last_manifest(lake).datasets[0].risk.clone().expect("evaluated");
    assert!(!risk.subject_per_record && risk.counted_subject() == Some("user_id"), "{risk:?}");
    // Classes of 49 and 50 members, 98 and 100 records; the lone member's two records match
    // nothing. The write kept 20 members of each class (public), and the merge of its subject keys
    // counted the rest: nothing was counted over the table.
    assert_eq!((risk.level.0, risk.suppressed, risk.figures.k, risk.figures.records, risk.figures.unmatched), (3, 2, 49, 198, 2));
    assert!(risk.classes_from_write, "{risk:?}");

    // `piguard risk` counts the same from the table.
    let report = published_members_risk(lake);
    assert_eq!((report["level"].as_u64(), report["figures"]["k"].as_u64()), (Some(3), Some(49)), "{report}");
}

#[test]
fn records_of_no_subject_count_as_one_subject_of_each_class_as_the_write_counted_them() {
    // Members twice each, beside 30 records with no member (a null id: visitors not signed in).
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let ids = (0..230).map(|i| (i < 200).then_some(7_000_000 + i % 100));
    write_members(&lake.join("raw/members"), ids, (0..230).map(|i| ["男", "女"][i % 2]));
    let pipeline = members_pipeline(lake, "");
    let out = piguard_in(lake, Some(KEY), &["run", &pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE user_id IS NULL"), 30);
    // 50 members of each gender, and the null ids one subject more of each: classes of 51,
    // beyond the 20 the write kept of each, sized by the merge of its subject keys.
    let risk = last_manifest(lake).datasets[0].risk.clone().expect("evaluated");
    assert!(risk.classes_from_write && !risk.subject_per_record, "{risk:?}");
    assert_eq!((risk.level.0, risk.figures.k, risk.figures.classes, risk.figures.records), (3, 51, 2, 230), "{risk:?}");

    // `piguard risk` counts the same from the table.
    let report = published_members_risk(lake);
    assert_eq!(report["figures"]["k"].as_u64(), Some(51), "{report}");
}

/// Members of two days: `unsaid` of each day's have a gender value nobody else has.
fn write_members_day(lake: &Path, day: &str, first_id: i64, unsaid: usize) {
    let n = 60 + unsaid;
    let genders = (0..n).map(|i| if i >= 60 { "未说明" } else { ["男", "女"][i % 2] });
    write_members(&lake.join(format!("raw/members/dt={day}")), (0..n as i64).map(|i| Some(first_id + i)), genders);
}

#[test]
fn a_small_class_left_in_a_partition_an_earlier_run_wrote_is_refused_not_counted_as_suppressed() {
    // 10 + 15 members share a gender value: one class of 25, above public's 20.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    write_members_day(lake, "2026-01-01", 1_000, 10);
    write_members_day(lake, "2026-01-02", 2_000, 15);
    let pipeline = members_pipeline(lake, "max_suppressed = 0.1\n");
    let out = piguard_in(lake, Some(KEY), &["run", &pipeline]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE gender = '未说明'"), 25);

    // The second day loses its 15: the class is the first day's 10, in a file this run keeps.
    // Suppression may only null what the run writes, so the table is refused as it stands.
    write_members_day(lake, "2026-01-02", 2_000, 0);
    let out = piguard_in(lake, Some(KEY), &["run", &pipeline]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("level 2"), "{stderr}");
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members"), 145, "the first run's table is still the one published");
    assert_eq!(count(lake, Zone::Deid, "SELECT count(*) FROM members WHERE gender = '未说明'"), 25);
}

#[test]
fn whether_every_record_is_a_subject_of_its_own_is_proved_by_the_write_as_the_table_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let pipeline = members_pipeline(lake, "");
    let run = |args: &[&str]| {
        let mut all = vec!["run", pipeline.as_str()];
        all.extend_from_slice(args);
        let out = piguard_in(lake, Some(KEY), &all);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
        let scratch = crate::walk(&lake.join("_piguard"));
        assert!(scratch.iter().all(|f| !f.starts_with(lake.join("_piguard/scratch"))), "scratch left: {scratch:?}");
        last_manifest(lake).datasets[0].risk.clone().expect("evaluated")
    };
    // Two days of members, each once: each day's file keeps its rows' subject keys, and the
    // merge of both finds every key once.
    write_members_day(lake, "2026-01-01", 1_000, 0);
    write_members_day(lake, "2026-01-02", 2_000, 0);
    let risk = run(&[]);
    assert!(risk.subject_per_record && risk.counted_subject().is_none(), "{risk:?}");
    // Records are then what a class counts, and the write counted them by gender.
    assert!(risk.classes_from_write, "{risk:?}");

    // Member 1059 of the first day again in the second: the merge meets the key twice.
    write_members_day(lake, "2026-01-02", 1_059, 0);
    let risk = run(&["--force"]);
    assert!(!risk.subject_per_record && risk.counted_subject() == Some("user_id"), "{risk:?}");
    // Each gender's 60 members, beyond the 20 the write kept of each class, are counted by
    // the merge of its subject keys, taken to its end (1059 is in both classes).
    assert!(risk.classes_from_write, "{risk:?}");
    assert_eq!((risk.figures.k, risk.figures.classes, risk.figures.records), (60, 2, 120), "{risk:?}");
    // Written alone beside a day kept from the run before, the table is counted instead, alike.
    write_members_day(lake, "2026-01-02", 1_058, 0);
    let risk = run(&[]);
    assert!(last_manifest(lake).datasets[0].partitions.iter().any(|p| p.status == piguard::plan::manifest::PartitionStatus::Unchanged));
    assert!(!risk.subject_per_record && !risk.classes_from_write, "{risk:?}");
    write_members_day(lake, "2026-01-02", 2_000, 0);
    // The first day is kept again: the table, counted, finds every member once.
    let risk = run(&[]);
    assert!(risk.subject_per_record && !risk.classes_from_write, "{risk:?}");
}

/// Raw rows of a table nobody here wrote: names, login names and street addresses under
/// column names no rule knows, beside an amount and a status.
fn ledger_lake() -> tempfile::TempDir {
    // Names no name list holds, as a classifier meets them in a country it was not built for.
    let first = ["Oluwaseun", "Tavita", "Ngozika", "Siosaia", "Anahera", "Tupou", "Nkechinyere", "Mahina", "Adaeze", "Keolani"];
    let last = ["Fifita", "Okonkwo", "Tuilagi", "Nwachukwu", "Kealamakia", "Faleolo", "Ezeonwuka", "Taufahema", "Onwuachi", "Kahananui"];
    let streets = ["Maple", "Harbor", "Juniper", "Orchard", "Willow"];
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw/ledger");
    std::fs::create_dir_all(&raw).unwrap();
    let n = 200;
    let party: ArrayRef =
        Arc::new(StringArray::from((0..n).map(|i| format!("{} {}", first[i % 10], last[(i / 10) % 10])).collect::<Vec<_>>()));
    let loc: ArrayRef = Arc::new(StringArray::from(
        (0..n).map(|i| format!("{} {} Lane, Apt {}", 100 + i * 7, streets[i % 5], 1 + i % 9)).collect::<Vec<_>>(),
    ));
    let amount: ArrayRef = Arc::new(Float64Array::from((0..n).map(|i| (i % 4) as f64 * 25.0).collect::<Vec<_>>()));
    let status: ArrayRef = Arc::new(StringArray::from((0..n).map(|i| ["open", "settled"][i % 2]).collect::<Vec<_>>()));
    let login: ArrayRef = Arc::new(StringArray::from(
        (0..n).map(|i| format!("{}_{}{}", first[i % 10].to_lowercase(), last[(i / 10) % 10].to_lowercase(), i % 7)).collect::<Vec<_>>(),
    ));
    write_parquet(&raw.join("part-0.parquet"), vec![("party_a", party), ("login", login), ("loc", loc), ("amt", amount), ("st", status)]);
    dir
}

#[test]
fn names_and_addresses_under_unknown_column_names_are_stopped_by_measurement() {
    let dir = ledger_lake();
    let lake = dir.path();
    let raw: Vec<Vec<String>> = sql(lake, Zone::Raw, "SELECT party_a, login, loc FROM raw.ledger");
    let amounts = "columns.amt = { action = \"keep\", reason = \"amounts\" }\n";

    // The names no rule claims, kept as they are: the gate measures them and refuses to
    // publish. (The classifier calls the logins identifiers and the addresses addresses.)
    let pipeline = lake.join("keep.toml");
    let keep =
        format!("[[dataset]]\nname = \"ledger\"\ncolumns.party_a = \"keep\"\ncolumns.login = \"hash\"\ncolumns.loc = \"drop\"\n{amounts}");
    std::fs::write(&pipeline, keep).unwrap();
    let out = piguard_in(lake, Some(KEY), &["run", pipeline.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("level 2") && stderr.contains("party_a (measured: 100.0% of records"), "{stderr}");
    assert!(stderr.contains("columns.party_a = \"hash\""), "the fix, as it is written: {stderr}");
    assert!(!raw.iter().flatten().any(|v| stderr.contains(v.as_str())), "no value in the refusal");
    assert!(!lake.join("deid/ledger/_delta_log").exists());

    // On `auto`, the measurement makes the names and logins pseudonyms, the address is not
    // published, and the frequent columns are kept.
    std::fs::write(&pipeline, format!("[[dataset]]\nname = \"ledger\"\ndefault_action = \"auto\"\n{amounts}")).unwrap();
    let out = piguard_in(lake, Some(KEY), &["run", pipeline.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let published = sql(lake, Zone::Deid, "SELECT * FROM ledger");
    assert_eq!(published.len(), 200);
    let raw_values: std::collections::HashSet<&String> = raw.iter().flatten().collect();
    assert!(!published.iter().flatten().any(|v| raw_values.contains(v)), "no raw name, login or address is published");
    let plan = last_manifest(lake).datasets[0].planned.plan.clone();
    let party = plan.columns.iter().find(|c| c.name == "party_a").unwrap();
    assert!(matches!(party.step, piguard::plan::Step::Hash { .. }), "{party:?}");
    assert!(party.measured.as_deref().is_some_and(|m| m.contains("of 200 sampled values")), "{party:?}");
    let st = plan.columns.iter().find(|c| c.name == "st").unwrap();
    assert_eq!(st.step, piguard::plan::Step::Keep, "frequent values are kept");
}

#[test]
fn the_demo_publishes_at_level_3_or_better_and_its_inventory_carries_the_report() {
    let lake = DEMO_RUN.copy();
    let manifest = last_manifest(lake.path());
    for name in DEMO_DATASETS {
        let d = manifest.datasets.iter().find(|d| d.planned.name() == name).unwrap();
        let risk = d.risk.as_ref().unwrap_or_else(|| panic!("{name} evaluated"));
        assert!(risk.level.0 >= 3, "{name}: {risk:?}");
        // Each written whole by the run: its classes are sized from what the write counted
        // (the classes themselves, the merge of its subject keys, or, where no column is a
        // quasi-identifier, one class of every record and subject), not over the table.
        assert!(risk.classes_from_write, "{name}: {risk:?}");
    }
    // Payments: no quasi-identifier, several payments a user. `piguard risk` counts the table's
    // one class as the run did.
    let payments = manifest.datasets.iter().find(|d| d.planned.name() == "payments").and_then(|d| d.risk.clone()).unwrap();
    assert!(payments.quasi_identifiers.is_empty() && !payments.subject_per_record, "{payments:?}");
    let table = lake.path().join("deid/payments");
    let out = piguard(&["risk", table.to_str().unwrap(), "--sharing", payments.sharing.id(), "--subject", "user_id"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let figures = &report["datasets"][0]["figures"];
    assert_eq!(
        (figures["k"].as_u64(), figures["records"].as_u64()),
        (Some(payments.figures.k), Some(payments.figures.records)),
        "{report}"
    );
    let users = lake.path().join("deid/users");
    let out = piguard(&["risk", users.to_str().unwrap(), "--format", "markdown"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("## users — level 3") && stdout.contains("### Conclusion"), "{stdout}");

    let html = lake.path().join("inventory.html");
    let out = piguard(&["scan", lake.path().to_str().unwrap(), "--format", "html", "--output", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("De-identification effect 去标识化效果评估") && html.contains("id=\"risk-users\""), "the §6.6 section");
}

#[test]
fn risk_of_a_csv_with_named_quasi_identifiers_counts_classes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    // Classes over (zip, band): (100, a) × 3, (100, b) × 2, (200, a) × 1.
    std::fs::write(&csv, "zip,band,note\n100,a,x\n100,a,y\n100,a,z\n100,b,x\n100,b,x\n200,a,x\n").unwrap();
    let out = piguard(&["risk", csv.to_str().unwrap(), "--qi", "zip,band", "--sharing", "enclave"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["datasets"][0];
    assert_eq!(d["quasi_identifiers"], serde_json::json!(["zip", "band"]));
    assert_eq!(d["figures"]["k"], 1);
    assert_eq!(d["figures"]["classes"], 3);
    let bins: Vec<u64> = d["figures"]["histogram"].as_array().unwrap().iter().map(|b| b["classes"].as_u64().unwrap()).collect();
    assert_eq!(bins, [1, 1, 1, 0, 0, 0]);
    // Under enclave (τ = 1/3) the classes of 1 and 2 records are at risk: 3 of 6.
    assert_eq!(d["figures"]["r_a"], 0.5);
    assert_eq!(d["level"], 2);
    let out = piguard(&["risk", csv.to_str().unwrap(), "--qi", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no column `nope`"), "{}", text(&out).1);
}

#[test]
fn measured_text_is_free_text_by_its_mean_length_in_characters_over_every_partition() {
    // Two days of notes, each its own (a quasi-identifier unless it is free text), of 50
    // Chinese characters on the first day and `second` on the other: a mean of 37.5
    // characters (112.5 bytes) is short of free text; one of 42.5 is free text. The write
    // counts the lengths, on every task of both days.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let day = |d: u32, chars: usize| {
        let seasons = ["春", "夏", "秋", "冬", "山", "水", "风", "云"];
        let note = |i: usize| {
            let unique: String = (0..4).map(|k| seasons[(i >> (3 * k)) & 7]).collect();
            format!("{unique}{}", "今天天气很好".chars().cycle().take(chars - 4).collect::<String>())
        };
        let ids: ArrayRef = Arc::new(Int64Array::from((0..200).map(|i| 9_000_000 + 1000 * i64::from(d) + i).collect::<Vec<_>>()));
        let notes: ArrayRef = Arc::new(StringArray::from((0..200).map(|i| note(i + 200 * d as usize)).collect::<Vec<_>>()));
        let raw = lake.join(format!("raw/notes/dt=2026-01-0{d}"));
        std::fs::create_dir_all(&raw).unwrap();
        write_parquet(&raw.join("part-0.parquet"), vec![("user_id", ids), ("note", notes)]);
    };
    let pipeline = lake.join("notes.toml");
    std::fs::write(
        &pipeline,
        "[[dataset]]\nname = \"notes\"\nsubject = \"user_id\"\ncolumns.user_id = \"hash\"\ncolumns.note = \"keep\"\n",
    )
    .unwrap();
    let run = || piguard_in(lake, Some(KEY), &["run", pipeline.to_str().unwrap()]);
    day(1, 50);
    day(2, 25);
    let out = run();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "measured, the notes single every record out: {stderr}");
    assert!(stderr.contains("GB/T 42460 level 2") && stderr.contains("note"), "{stderr}");
    day(2, 35);
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let risk = last_manifest(lake).datasets[0].risk.clone().expect("evaluated");
    let note = risk.columns.iter().find(|c| c.name == "note").unwrap();
    assert_eq!(note.role, piguard::risk::Role::SensitiveAttribute, "{note:?}");
    assert!(note.why.contains("free text"), "{note:?}");
}
