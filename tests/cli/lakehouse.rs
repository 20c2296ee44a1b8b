//! The de-identified zone as Delta Lake tables: one version per dataset per run, read by
//! any Delta reader, time travel for audits, and erasure that leaves no version holding the
//! subject.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use parquet::file::reader::{FileReader, SerializedFileReader};
use piguard::lake::Zone;
use serde_json::Value;

use crate::{KEY, command, demo_lake, demo_pipeline, text, visible_parquet_files, walk};

fn run(lake: &Path, extra: &[&str]) -> Value {
    let pipeline = demo_pipeline();
    let mut args = vec!["run", pipeline.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = command(Some(lake), Some(KEY), &args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let manifest = text(&out)
        .0
        .lines()
        .find_map(|l| l.split("manifest ").nth(1))
        .map(str::trim)
        .map(PathBuf::from)
        .expect("the run names its manifest");
    serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap()
}

fn table_version(manifest: &Value, dataset: &str) -> Option<u64> {
    let d = manifest["datasets"].as_array().unwrap().iter().find(|d| d["name"] == dataset).unwrap();
    d["table_version"].as_u64()
}

fn query(lake: &Path, sql: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["query", sql, "--format", "csv"];
    args.extend_from_slice(extra);
    let out = command(Some(lake), None, &args).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

fn data_files_on_disk(dir: &Path) -> BTreeSet<PathBuf> {
    walk(dir).into_iter().filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect()
}

/// Every value of `column` in the Parquet files given.
fn values_in(files: impl IntoIterator<Item = PathBuf>, column: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = cast(batch.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
            let col = col.as_string::<i32>();
            out.extend((0..col.len()).filter(|i| !col.is_null(*i)).map(|i| col.value(i).to_string()));
        }
    }
    out
}

#[test]
fn each_run_commits_one_version_per_dataset_that_an_outside_delta_reader_reads() {
    let lake = demo_lake();
    let first = run(lake.path(), &[]);
    assert_eq!(table_version(&first, "users"), Some(0));
    assert_eq!(table_version(&first, "browsing_logs"), Some(0), "every partition, one commit");
    let users = lake.path().join("deid/users");

    // An outside reader: delta-rs's DataFusion provider, with nothing of piguard's.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let count = |dir: &Path| {
        runtime.block_on(async {
            let url = url::Url::from_directory_path(dir).unwrap();
            let table = deltalake_core::open_table(url).await.unwrap();
            let ctx = SessionContext::new();
            table.update_datafusion_session(&ctx.state()).unwrap();
            ctx.register_table("t", table.table_provider().await.unwrap()).unwrap();
            let batches = ctx.sql("select count(*) from t").await.unwrap().collect().await.unwrap();
            batches[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0)
        })
    };
    assert_eq!(count(&users), 500);
    assert_eq!(
        count(&lake.path().join("deid/browsing_logs")) as u64,
        crate::count(lake.path(), Zone::Raw, "select count(*) from raw.browsing_logs")
    );

    // piguard's Parquet settings survive: zstd, and a bloom filter on the subject column.
    let file = visible_parquet_files(&users).pop().unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    let row_group = reader.metadata().row_group(0);
    let subject = row_group.columns().iter().find(|c| c.column_path().string() == "user_id").unwrap();
    assert!(matches!(subject.compression(), parquet::basic::Compression::ZSTD(_)));
    assert!(subject.bloom_filter_offset().is_some(), "bloom filter on the subject column");
    // Files local suppression amended keep theirs, in every row group.
    let locations = first["datasets"].as_array().unwrap().iter().find(|d| d["name"] == "locations").unwrap();
    assert!(locations["risk"]["suppressed"].as_u64().unwrap() > 0, "{locations}");
    assert_eq!(
        count(&lake.path().join("deid/locations")) as u64,
        crate::count(lake.path(), Zone::Raw, "select count(*) from raw.locations"),
        "the outside reader reads the amended files whole"
    );
    for file in visible_parquet_files(&lake.path().join("deid/locations")) {
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        for group in reader.metadata().row_groups() {
            let subject = group.columns().iter().find(|c| c.column_path().string() == "user_id").unwrap();
            assert!(subject.bloom_filter_offset().is_some(), "{}", file.display());
        }
    }

    // Nothing changed: no new version. Forced: one more, and the old one stays readable.
    assert_eq!(table_version(&run(lake.path(), &[]), "users"), None);
    assert_eq!(std::fs::read_dir(users.join("_delta_log")).unwrap().count(), 1);
    let forced = run(lake.path(), &["--force"]);
    assert_eq!(table_version(&forced, "users"), Some(1));
    assert_eq!(data_files_on_disk(&users).len(), 2, "version 0's file is kept for --as-of");
    for as_of in [&[][..], &["--as-of", "0"], &["--as-of", "1"]] {
        let (code, stdout, stderr) = query(lake.path(), "select count(*) as n from users", as_of);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(stdout.lines().nth(1), Some("500"), "{as_of:?}");
    }
    let (code, _, stderr) = query(lake.path(), "select count(*) from users", &["--as-of", "7"]);
    assert_eq!(code, Some(2));
    // Tables are opened by name, so the first without a version 7 is named.
    assert!(stderr.contains("deid/browsing_logs"), "the error names the table: {stderr}");
    let (code, _, stderr) = query(lake.path(), "select 1", &["--as-of", "yesterday"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}

#[test]
fn erasure_leaves_the_subject_in_no_version_on_disk() {
    let lake = crate::DEMO_RUN.copy();
    run(lake.path(), &["--force"]);
    let users = lake.path().join("deid/users");
    let before = values_in(data_files_on_disk(&users), "user_id");

    let out = command(Some(lake.path()), Some(KEY), &["erase", "--subject", "100000002", "--reason", "account closed"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out).1);

    // Every file left on disk is one the latest version holds: older versions are vacuumed.
    let on_disk = data_files_on_disk(&users);
    assert_eq!(on_disk, visible_parquet_files(&users).into_iter().collect::<BTreeSet<_>>());
    let after = values_in(on_disk, "user_id");
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(gone.len(), 1, "exactly the subject's pseudonym is gone");
    assert_eq!(after.len(), 499);
    // The versions that held the subject cannot be read back.
    let (code, _, stderr) = query(lake.path(), "select count(*) from users", &["--as-of", "0"]);
    assert_eq!(code, Some(2), "version 0 is gone");
    assert!(stderr.contains("version 0 can no longer be read"), "{stderr}");

    // The audit log records the version the erasure committed.
    let log = std::fs::read_to_string(lake.path().join("_piguard/audit.jsonl")).unwrap();
    let erase: Value = log.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["action"] == "erase").unwrap();
    let version = erase["table_versions"]["deid/users"][0].as_u64().expect("the users table's version");
    assert!(version >= 2, "after the two runs' versions: {version}");
}

/// Replaces raw dataset `name` by a Delta table of the same rows, written by delta-rs (as
/// another engine would: its own file names), partitioned by `partition` if given.
fn to_delta_table(runtime: &tokio::runtime::Runtime, dir: &Path, partition: Option<&str>) {
    runtime.block_on(async {
        // Plain string types, as other engines write them.
        let config = datafusion::prelude::SessionConfig::new().set_bool("datafusion.execution.parquet.schema_force_view_types", false);
        let ctx = SessionContext::new_with_config(config);
        let mut options = datafusion::prelude::ParquetReadOptions::default();
        let cols = partition.map(|p| vec![(p.to_string(), DataType::Utf8)]).unwrap_or_default();
        options = options.table_partition_cols(cols);
        let batches = ctx.read_parquet(format!("{}/", dir.display()), options).await.unwrap().collect().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let table = deltalake_core::DeltaTableBuilder::from_url(url::Url::from_directory_path(dir).unwrap()).unwrap().build().unwrap();
        let write = table.write(batches);
        match partition {
            Some(p) => write.with_partition_columns([p]).await.unwrap(),
            None => write.await.unwrap(),
        };
    });
}

fn raw_count(lake: &Path, sql: &str) -> String {
    crate::sql(lake, Zone::Raw, sql)[0][0].clone()
}

#[test]
fn a_raw_dataset_that_is_a_delta_table_is_read_at_its_latest_version_and_erased_and_purged_by_commits() {
    let lake = demo_lake();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let raw_users = lake.path().join("raw/users");
    let raw_logs = lake.path().join("raw/browsing_logs");
    to_delta_table(&runtime, &raw_users, None);
    to_delta_table(&runtime, &raw_logs, Some("dt"));
    // A second version without the last day: its files stay on disk, and must not be read.
    runtime.block_on(async {
        let table = deltalake_core::open_table(url::Url::from_directory_path(&raw_logs).unwrap()).await.unwrap();
        table.delete().with_predicate("dt = '2026-10-31'").await.unwrap();
    });
    assert!(raw_logs.join("dt=2026-10-31").read_dir().unwrap().next().is_some(), "the removed day's files are still on disk");
    let logs = raw_count(lake.path(), "select count(*) from raw.browsing_logs");
    assert_eq!(raw_count(lake.path(), "select count(*) from raw.browsing_logs where dt = '2026-10-31'"), "0");

    // scan and run read the latest version only.
    let scan = command(Some(lake.path()), None, &["scan", lake.path().to_str().unwrap(), "--format", "json"]).output().unwrap();
    assert_eq!(scan.status.code(), Some(0), "{}", text(&scan).1);
    run(lake.path(), &[]);
    let (_, stdout, stderr) =
        query(lake.path(), "select count(*) as n, count(*) filter (where dt = '2026-10-31') as last_day from browsing_logs", &[]);
    assert_eq!(stdout.lines().nth(1), Some(format!("{logs},0").as_str()), "{stderr}");

    // Erasure rewrites the raw table by a commit and deletes the replaced files.
    let subject = "100000002";
    let before = values_in(data_files_on_disk(&raw_users), "user_id");
    assert!(before.contains(subject));
    let out = command(Some(lake.path()), Some(KEY), &["erase", "--subject", subject, "--reason", "account closed"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out).1);
    let after = values_in(data_files_on_disk(&raw_users), "user_id");
    assert!(!after.contains(subject), "no file of the raw table holds the subject");
    assert_eq!(after.len(), before.len() - 1);
    assert_eq!(raw_count(lake.path(), "select count(*) from raw.users"), "499");
    let log = std::fs::read_to_string(lake.path().join("_piguard/audit.jsonl")).unwrap();
    let events: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let erase = events.iter().find(|e| e["action"] == "erase").unwrap();
    assert!(erase["table_versions"]["raw/users"][0].as_u64().is_some(), "{erase}");
    assert!(erase["table_versions"]["deid/users"][0].as_u64().is_some(), "{erase}");

    // Purge removes the expired days from the raw table by a commit, then their files.
    let out = command(Some(lake.path()), Some(KEY), &["purge", "--pipeline", demo_pipeline().to_str().unwrap(), "--today", "2026-11-30"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out).1);
    let oldest_kept = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap() - chrono::Days::new(365);
    for f in data_files_on_disk(&raw_logs) {
        let day = f.parent().unwrap().file_name().unwrap().to_str().unwrap().trim_start_matches("dt=").to_string();
        let day = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap();
        assert!(day >= oldest_kept, "{} is past its time", f.display());
    }
    let oldest = raw_count(lake.path(), "select min(dt) from raw.browsing_logs");
    assert!(oldest.as_str() >= oldest_kept.to_string().as_str(), "{oldest}");
    let log = std::fs::read_to_string(lake.path().join("_piguard/audit.jsonl")).unwrap();
    let purge: Value = log.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["action"] == "purge").unwrap();
    assert!(purge["table_versions"]["raw/browsing_logs"][0].as_u64().is_some(), "{purge}");
}

/// The add actions of the latest commit of the table at `dir` that adds files.
pub(crate) fn last_adds(dir: &Path) -> Vec<Value> {
    let mut commits: Vec<PathBuf> =
        walk(&dir.join("_delta_log")).into_iter().filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    commits.sort();
    commits
        .iter()
        .rev()
        .map(|c| {
            let text = std::fs::read_to_string(c).unwrap();
            text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()?.get("add").cloned()).collect::<Vec<_>>()
        })
        .find(|adds| !adds.is_empty())
        .unwrap_or_default()
}

#[test]
fn partitions_are_written_by_parallel_tasks_with_statistics_and_small_ones_share_a_plan() {
    let lake = demo_lake();
    // The users' raw rows in three files: one partition that several scan tasks read.
    let raw = lake.path().join("raw/users");
    let original = raw.join("part-00000.parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&original).unwrap()).unwrap();
    let schema = reader.schema().clone();
    let batches: Vec<_> = reader.with_batch_size(170).build().unwrap().map(|b| b.unwrap()).collect();
    std::fs::remove_file(&original).unwrap();
    for (i, batch) in batches.iter().enumerate() {
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(raw.join(format!("part-{i:05}.parquet"))).unwrap(),
            schema.clone(),
            None,
        )
        .unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }
    assert_eq!(batches.len(), 3);
    let manifest = run(lake.path(), &[]);

    let users = lake.path().join("deid/users");
    let adds = last_adds(&users);
    let tasks = std::thread::available_parallelism().map_or(1, |n| n.get()).min(3);
    assert!((tasks.min(2)..=3).contains(&adds.len()), "one file per scan task: {} files for {tasks} tasks", adds.len());
    let paths: BTreeSet<&str> = adds.iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), adds.len(), "file names are unique per task");
    let stats: Vec<Value> = adds.iter().map(|a| serde_json::from_str(a["stats"].as_str().unwrap()).unwrap()).collect();
    assert_eq!(stats.iter().map(|s| s["numRecords"].as_u64().unwrap()).sum::<u64>(), 500);
    for (s, add) in stats.iter().zip(&adds) {
        let file = users.join(add["path"].as_str().unwrap());
        let genders = values_in([file.clone()], "xb");
        assert_eq!(s["minValues"]["xb"].as_str(), genders.first().map(String::as_str), "{s}");
        assert_eq!(s["maxValues"]["xb"].as_str(), genders.last().map(String::as_str), "{s}");
        assert_eq!(s["nullCount"]["xb"], 0, "{s}");
        // A pseudonym's min and max span every digest and prune nothing: none are kept.
        assert!(s["minValues"].get("user_id").is_none() && s["nullCount"].get("user_id").is_none(), "{s}");
        assert!(add["tags"]["piguard.fingerprint"].is_string(), "each file is tagged with its partition's inputs: {add}");
    }
    // The statistics are read by readers: a pruned query still counts every user.
    let (code, stdout, stderr) = query(lake.path(), "select count(*) as n from users where xb >= ''", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().nth(1), Some("500"));

    // The browsing logs' daily partitions share one plan, each still in its own directory.
    let logs = manifest["datasets"].as_array().unwrap().iter().find(|d| d["name"] == "browsing_logs").unwrap();
    let days = logs["partitions"].as_array().unwrap();
    assert!(days.len() > 1 && logs["write_plans"] == 1, "{} partitions, {} plans", days.len(), logs["write_plans"]);
    for day in days {
        let files = day["files"].as_array().unwrap();
        assert!(!files.is_empty() && files.iter().all(|f| f.as_str().unwrap().contains(day["partition"].as_str().unwrap())), "{day}");
    }

    // A partition is unchanged only when every file of it is: all of users' are skipped.
    let again = run(lake.path(), &[]);
    let users_again = again["datasets"].as_array().unwrap().iter().find(|d| d["name"] == "users").unwrap();
    assert_eq!(users_again["partitions"][0]["status"], "unchanged", "{users_again}");
    assert_eq!(users_again["partitions"][0]["files"].as_array().unwrap().len(), adds.len());
}

#[test]
fn tables_are_checkpointed_every_few_versions() {
    let lake = demo_lake();
    // The users alone: eleven runs of them.
    let demo = std::fs::read_to_string(demo_pipeline()).unwrap();
    let users = demo.split("\n[[dataset]]").find(|d| d.contains("name = \"users\"")).unwrap();
    let pipeline = lake.path().join("users.toml");
    std::fs::write(&pipeline, format!("[[dataset]]{users}")).unwrap();
    let force = || {
        let out = command(Some(lake.path()), Some(KEY), &["run", pipeline.to_str().unwrap(), "--force"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    };
    let log = lake.path().join("deid/users/_delta_log");
    // Versions 0 to N - 2, then N - 1: its checkpoint holds N versions.
    let n = piguard::lake::delta::CHECKPOINT_VERSIONS;
    let checkpoints = || {
        std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("checkpoint.parquet"))
            .count()
    };
    for _ in 0..n - 1 {
        force();
    }
    assert_eq!(checkpoints(), 0);
    force();
    let checkpoint = log.join(format!("{:020}.checkpoint.parquet", n - 1));
    assert!(checkpoint.exists(), "{:?}", std::fs::read_dir(&log).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>());
    let (code, stdout, stderr) = query(lake.path(), "select count(*) as n from users", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().nth(1), Some("500"));
}
