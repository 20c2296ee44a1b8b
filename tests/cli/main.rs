//! Integration tests that run the `piguard` binary as a user would. One test binary, one
//! module per command, so the crate is linked once.

mod attacks;
mod bad_input;
#[cfg(feature = "cluster")]
mod cluster;
mod corpus;
mod export;
mod hardening;
mod lakehouse;
mod query;
mod records;
mod retention;
mod risk;
mod run;
mod s3;
mod sample_data;
mod scan;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use chrono::{Datelike, NaiveDate};
use piguard::classify::{Classifier, Rules};
use piguard::cluster::Engine;
use piguard::inventory::DEFAULT_SAMPLE_ROWS;
use piguard::lake::delta::AsOf;
use piguard::lake::{Lake, Zone};
use piguard::run::{RunError, RunOptions, RunReport};
use piguard::sealed::AuditKey;
use piguard::transform::PseudonymKey;

/// The bundled demo lake.
pub fn bundled_lake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lake")
}

/// The demo pipeline.
pub fn demo_pipeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml")
}

/// The key the tests run with.
pub const KEY: &str = "integration-test-key-0123456789abcdef";
/// A separate audit key, for tests that rotate the pseudonym key.
pub const AUDIT_KEY: &str = "integration-audit-key-0123456789abcdef";
/// A second key, for tests that need another.
pub const OTHER_KEY: &str = "another-integration-key-0123456789abcdef";

/// `piguard ARGS` with none of the `PIGUARD_*` variables of the environment: `lake` as
/// `PIGUARD_LAKE` and `key` as `PIGUARD_KEY` where given.
pub fn command(lake: Option<&Path>, key: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_piguard"));
    cmd.args(args);
    for var in ["PIGUARD_LAKE", "PIGUARD_KEY", "PIGUARD_KEY_FILE", "PIGUARD_AUDIT_KEY", "PIGUARD_AUDIT_KEY_FILE", "PIGUARD_PIPELINE"] {
        cmd.env_remove(var);
    }
    if let Some(lake) = lake {
        cmd.env("PIGUARD_LAKE", lake);
    }
    if let Some(key) = key {
        cmd.env("PIGUARD_KEY", key);
    }
    cmd
}

/// Runs `piguard` with `args`, no lake and no key from the environment.
pub fn piguard(args: &[&str]) -> Output {
    piguard_with_key(None, args)
}

/// Runs `piguard` with `args` and `key`, no lake from the environment.
pub fn piguard_with_key(key: Option<&str>, args: &[&str]) -> Output {
    command(None, key, args).output().expect("the piguard binary runs")
}

/// Runs `piguard` with `args` on `lake` (as `PIGUARD_LAKE`) with `key`.
pub fn piguard_in(lake: &Path, key: Option<&str>, args: &[&str]) -> Output {
    command(Some(lake), key, args).output().expect("the piguard binary runs")
}

/// Stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the bundled raw zone in a fresh lake directory, its browsing logs thinned to
/// the days the tests look at (see [`thin_logs`]).
pub fn demo_lake() -> tempfile::TempDir {
    DEMO_RAW.copy()
}

/// The bundled raw zone, its browsing logs thinned: what [`demo_lake`] copies.
pub static DEMO_RAW: Fixture = Fixture::new(|dir| {
    copy_tree(&bundled_lake().join("raw"), &dir.join("raw"));
    thin_logs(dir);
});

/// A copy of the whole bundled raw zone (457 daily browsing-log partitions), for the slow suite.
pub fn full_demo_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&bundled_lake().join("raw"), &dir.path().join("raw"));
    dir
}

/// The demo lake's datasets.
pub const DEMO_DATASETS: [&str; 8] =
    ["users", "orders", "payments", "device_info", "locations", "browsing_logs", "chat_messages", "consents"];

/// The days around the legal floors and `max_days` the retention tests count to (180, 181,
/// 200 and 365 days before their `--today`s, on this year's and last year's demo lakes).
const FLOOR_DAYS: [&str; 8] =
    ["2026-05-27", "2026-05-26", "2026-05-07", "2025-11-23", "2025-05-27", "2025-08-05", "2025-07-19", "2025-11-30"];

/// Thins the daily browsing-log partitions of the lake at `lake` from 457 to about 50: the
/// 1st and 15th of each month, the days on either side of [`FLOOR_DAYS`], and the last three
/// days. What a test proves about partitions around a floor needs those, not every day.
pub fn thin_logs(lake: &Path) {
    let logs = lake.join("raw/browsing_logs");
    let mut days: Vec<(NaiveDate, PathBuf)> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let day = p.file_name()?.to_str()?.strip_prefix("dt=")?.parse().ok()?;
            Some((day, p))
        })
        .collect();
    days.sort();
    let last = days.last().map(|(d, _)| *d).unwrap();
    let floors: Vec<NaiveDate> = FLOOR_DAYS.iter().map(|d| d.parse().unwrap()).collect();
    for (day, dir) in &days {
        let near_floor = floors.iter().any(|f| (*day - *f).num_days().abs() <= 1);
        let keep = matches!(day.day(), 1 | 15) || near_floor || (last - *day).num_days() < 3;
        if !keep {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}

/// The (thinned) demo lake after a run of the demo pipeline.
pub static DEMO_RUN: Fixture = Fixture::new(|dir| {
    copy_tree(DEMO_RAW.path(), dir);
    run_ok(dir, &demo_pipeline());
});

/// A copy of the bundled raw zone with the last `days` days of browsing logs only (the whole
/// zone has 457 daily partitions; a run of two weeks writes 35 partitions in all).
pub fn recent_demo_lake(days: usize) -> tempfile::TempDir {
    let lake = full_demo_lake();
    let logs = lake.path().join("raw/browsing_logs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for old in &dirs[..dirs.len() - days] {
        std::fs::remove_dir_all(old).unwrap();
    }
    lake
}

/// A lake built once per test binary, the first time a test asks for it, and copied for
/// each test: tests change their lake, and most start from the same one.
pub struct Fixture {
    built: OnceLock<PathBuf>,
    build: fn(&Path),
}

impl Fixture {
    /// A fixture `build` makes in an empty directory.
    pub const fn new(build: fn(&Path)) -> Fixture {
        Fixture { built: OnceLock::new(), build }
    }

    /// Where the fixture is, for reading only: tests change copies.
    pub fn path(&self) -> &Path {
        self.built.get_or_init(|| {
            let dir = fixture_root().join(format!("{}", FIXTURES_BUILT.fetch_add(1, Ordering::Relaxed)));
            std::fs::create_dir_all(&dir).unwrap();
            (self.build)(&dir);
            dir
        })
    }

    /// A fresh copy of the fixture.
    pub fn copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().unwrap();
        copy_tree(self.path(), copy.path());
        copy
    }
}

static FIXTURES_BUILT: AtomicUsize = AtomicUsize::new(0);

/// Where this process keeps its fixtures: `fixtures/<pid>` in Cargo's temporary directory for
/// the tests, with those of processes no longer running removed (statics are never dropped,
/// so a fixture cannot clean up after itself).
fn fixture_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let all = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
        if let Ok(entries) = std::fs::read_dir(&all) {
            for e in entries.flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if !Path::new("/proc").join(&pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        all.join(std::process::id().to_string())
    })
}

/// The runtime of every in-process call.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap())
}

/// [`KEY`] as the library takes it.
pub fn key() -> PseudonymKey {
    PseudonymKey::from_bytes(KEY.as_bytes().to_vec(), "the tests' key").unwrap()
}

/// `piguard run PIPELINE --lake LAKE` with [`KEY`], in this process: for tests about what a
/// run leaves, not about the command line.
pub fn run_in_process(lake: &Path, pipeline: &Path) -> Result<RunReport, RunError> {
    let options = RunOptions {
        lake: Lake::at(lake),
        pipeline: pipeline.to_path_buf(),
        dry_run: false,
        force: false,
        sample_rows: DEFAULT_SAMPLE_ROWS,
        engine: Engine::Local,
    };
    let key = key();
    let classifier = Classifier::new(Rules::builtin());
    runtime().block_on(piguard::run::run(&options, &key, &AuditKey::derived(&key), &classifier, &mut |_| {}))
}

/// [`run_in_process`], which must succeed.
pub fn run_ok(lake: &Path, pipeline: &Path) -> RunReport {
    run_in_process(lake, pipeline).unwrap_or_else(|e| panic!("run {}: {e}", pipeline.display()))
}

/// The rows of `sql` over `zone` of the lake at `lake` (raw datasets as `raw.<name>`), every
/// value as text and NULL as an empty string: the tests' own look at the data, in this
/// process and unaudited.
pub fn sql(lake: &Path, zone: Zone, sql: &str) -> Vec<Vec<String>> {
    runtime().block_on(async {
        let ctx = piguard::lake::session(&Lake::at(lake), zone, Some(key()), AsOf::Latest).await.unwrap();
        let batches = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut rows = Vec::new();
        for batch in batches {
            let columns: Vec<_> = batch.columns().iter().map(|c| arrow::compute::cast(c, &DataType::Utf8).unwrap()).collect();
            for i in 0..batch.num_rows() {
                rows.push(
                    columns.iter().map(|c| if c.is_null(i) { String::new() } else { c.as_string::<i32>().value(i).to_string() }).collect(),
                );
            }
        }
        rows
    })
}

/// The one number `sql` over `zone` returns.
pub fn count(lake: &Path, zone: Zone, query: &str) -> u64 {
    sql(lake, zone, query)[0][0].parse().unwrap()
}

/// Every file under `dir`, at any depth.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The Parquet files under `dir` a reader sees, sorted: in a Delta table (a directory with a
/// `_delta_log`) only those its latest version holds, elsewhere every visible one.
pub fn visible_parquet_files(dir: &Path) -> Vec<PathBuf> {
    if dir.join("_delta_log").is_dir() {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let table = runtime.block_on(piguard::lake::delta::LakeTable::open_at(dir.to_path_buf(), Default::default())).unwrap();
        return table.map(|t| t.files().unwrap().into_iter().map(|f| f.path).collect()).unwrap_or_default();
    }
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if p.is_dir() {
            out.extend(visible_parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Writes one batch of `columns` to a Parquet file.
pub fn write_parquet(path: &Path, columns: Vec<(&str, arrow::array::ArrayRef)>) {
    let fields: Vec<arrow::datatypes::Field> =
        columns.iter().map(|(n, a)| arrow::datatypes::Field::new(*n, a.data_type().clone(), true)).collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect()).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}
