//! A folder of loose files that are different tables (an export drop, as people keep them):
//! each file whose columns differ from its neighbours' is a dataset of its own, and a file
//! that is no table (a JSON document that is not records) is skipped with the reason.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::read::csv_header;
use super::{DataFile, DatasetSource, FileFormat, dir_name, file_stem, files};

/// A file that was not read as a table, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// The column names of a file, or why it is not a table. Reads only its header, footer or
/// first record.
fn columns_of(file: &DataFile) -> Result<Vec<String>, String> {
    match file.format {
        FileFormat::Parquet => super::read::parquet_columns(&file.path).map_err(|e| e.to_string()),
        FileFormat::Csv => csv_header(&file.path).map_err(|e| e.to_string()),
        FileFormat::Json => json_columns(&file.path),
    }
}

fn json_columns(path: &Path) -> Result<Vec<String>, String> {
    let not_records = || "a JSON document, not records (one object per line, or an array of objects)".to_string();
    let f = files::open(path).map_err(|e| e.to_string())?;
    let first = BufReader::new(f).lines().map_while(Result::ok).find(|l| !l.trim().is_empty()).ok_or_else(|| "empty file".to_string())?;
    let first = first.trim();
    let record = if first.starts_with('[') {
        let text = String::from_utf8(files::read(path).map_err(|e| e.to_string())?).map_err(|_| not_records())?;
        let array: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|_| not_records())?;
        array.into_iter().next().ok_or_else(not_records)?
    } else {
        serde_json::from_str(first).map_err(|_| not_records())?
    };
    match record {
        serde_json::Value::Object(map) => Ok(map.keys().cloned().collect()),
        _ => Err(not_records()),
    }
}

/// The datasets among loose `files` of one directory: one per file, unless `may_merge` and
/// every file has the same format and columns (parts of one table). Files that are no table
/// are skipped.
pub(super) fn tables(dir: &Path, files: Vec<DataFile>, may_merge: bool) -> (Vec<DatasetSource>, Vec<SkippedFile>) {
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    for file in files {
        match columns_of(&file) {
            Ok(columns) => tables.push((file, columns)),
            Err(reason) => skipped.push(SkippedFile { path: file.path.display().to_string(), reason }),
        }
    }
    let one_table = tables.windows(2).all(|w| w[0].0.format == w[1].0.format && w[0].1 == w[1].1);
    if may_merge && one_table && !tables.is_empty() {
        let files = tables.into_iter().map(|(f, _)| f).collect();
        let source = DatasetSource { name: dir_name(dir), path: dir.to_path_buf(), files, partition_columns: Vec::new() };
        return (vec![source], skipped);
    }
    (tables.into_iter().map(|(file, _)| DatasetSource::file(file)).collect(), skipped)
}

/// The loose data file of `dir` whose stem is `name`, if any.
pub(super) fn file_named(dir: &Path, name: &str) -> Option<PathBuf> {
    files::list_dir(dir)
        .ok()?
        .into_iter()
        .find(|e| !e.is_dir && FileFormat::of(&e.path).is_some() && file_stem(&e.path) == name)
        .map(|e| e.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> DataFile {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        DataFile { format: FileFormat::of(&path).unwrap(), path }
    }

    #[test]
    fn different_tables_are_datasets_and_documents_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            file(dir.path(), "customers.csv", "id,name\n1,a\n"),
            file(dir.path(), "orders.jsonl", "{\"order_no\":\"1\"}\n"),
            file(dir.path(), "config.json", "{\n  \"version\": 1\n}\n"),
            file(dir.path(), "list.json", "[1, 2]"),
        ];
        let (tables, skipped) = tables(dir.path(), files, true);
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["customers", "orders"]);
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().all(|s| s.reason.contains("not records")), "{skipped:?}");
    }

    #[test]
    fn parts_of_one_table_stay_one_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![file(dir.path(), "part-0.csv", "id,name\n1,a\n"), file(dir.path(), "part-1.csv", "id,name\n2,b\n")];
        let (one, _) = tables(dir.path(), files.clone(), true);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].files.len(), 2);
        let (zone, _) = tables(dir.path(), files, false);
        assert_eq!(zone.len(), 2, "in a zone, every loose file is a dataset");
        assert_eq!(file_named(dir.path(), "part-1").unwrap(), dir.path().join("part-1.csv"));
    }
}
