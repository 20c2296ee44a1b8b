//! `piguard sample-data`: the bundled demo lake is exactly what the generator makes.

use std::path::{Path, PathBuf};

use crate::{bundled_lake, piguard, text};

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn bundled_lake_is_reproducible_from_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let out = piguard(&["sample-data", dir.path().to_str().unwrap(), "--rows", "500"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let fresh = dir.path().join("raw");
    let bundled = bundled_lake().join("raw");
    let names = files(&fresh);
    assert_eq!(names, files(&bundled));
    for name in &names {
        assert!(
            std::fs::read(fresh.join(name)).unwrap() == std::fs::read(bundled.join(name)).unwrap(),
            "{} differs from the generator's output",
            name.display()
        );
    }
}

#[test]
fn existing_raw_zone_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("raw/users")).unwrap();
    std::fs::write(dir.path().join("raw/users/keep.csv"), "a\n1\n").unwrap();
    let out = piguard(&["sample-data", dir.path().to_str().unwrap(), "--rows", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("already exists"));
    assert!(dir.path().join("raw/users/keep.csv").exists());
}
