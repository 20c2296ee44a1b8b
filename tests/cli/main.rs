//! Integration tests that run the `piguard` binary as a user would. One test binary, one
//! module per command, so the crate is linked once.

mod bad_input;
#[cfg(feature = "cluster")]
mod cluster;
mod corpus;
mod export;
mod hardening;
mod lakehouse;
mod query;
mod retention;
mod run;
mod s3;
mod sample_data;
mod scan;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// A copy of the bundled raw zone in a fresh lake directory.
pub fn demo_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&bundled_lake().join("raw"), &dir.path().join("raw"));
    dir
}

/// The demo lake's datasets.
pub const DEMO_DATASETS: [&str; 8] =
    ["users", "orders", "payments", "device_info", "locations", "browsing_logs", "chat_messages", "consents"];

/// A copy of the bundled raw zone with the last `days` days of browsing logs only (the whole
/// zone has 457 daily partitions; a run of two weeks writes 35 partitions in all).
pub fn recent_demo_lake(days: usize) -> tempfile::TempDir {
    let lake = demo_lake();
    let logs = lake.path().join("raw/browsing_logs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for old in &dirs[..dirs.len() - days] {
        std::fs::remove_dir_all(old).unwrap();
    }
    lake
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
