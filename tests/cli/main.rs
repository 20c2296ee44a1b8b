//! Integration tests that run the `piguard` binary as a user would. One test binary, one
//! module per command, so the crate is linked once.

mod bad_input;
mod export;
mod query;
mod retention;
mod run;
mod sample_data;
mod scan;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The bundled demo lake.
pub fn bundled_lake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lake")
}

/// Runs `piguard` with `args`.
pub fn piguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_piguard"))
        .args(args)
        .env_remove("PIGUARD_LAKE")
        .output()
        .expect("the piguard binary runs")
}

/// Stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
