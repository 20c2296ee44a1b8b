//! Sampling a dataset: up to N rows spread over its files, every column rendered as strings
//! for the value detectors. Reading stops at each file's quota, so memory is bounded by the
//! sample size, not the dataset size.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::compute::{can_cast_types, cast, concat};
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{DataFile, DatasetSource, FileFormat, LakeError};

/// One column of a sample.
#[derive(Debug, Clone)]
pub struct SampledColumn {
    /// The column name as stored.
    pub name: String,
    /// Its type as the file declares it (`Utf8` for CSV).
    pub data_type: String,
    /// Sampled values rendered as strings; empty when the type has no string form (nested
    /// types, binary), in which case only the name can be classified.
    pub values: StringArray,
}

/// A sample of a dataset.
#[derive(Debug, Clone)]
pub struct DatasetSample {
    /// Rows read.
    pub rows: usize,
    /// Columns in first-seen order.
    pub columns: Vec<SampledColumn>,
}

/// Accumulates string chunks per column in first-seen order.
#[derive(Default)]
struct Columns {
    columns: Vec<(String, String, Vec<ArrayRef>)>,
}

impl Columns {
    fn push(&mut self, name: &str, data_type: &DataType, chunk: Option<ArrayRef>) {
        let i = match self.columns.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                self.columns
                    .push((name.to_string(), data_type.to_string(), Vec::new()));
                self.columns.len() - 1
            }
        };
        if let Some(chunk) = chunk {
            self.columns[i].2.push(chunk);
        }
    }

    fn finish(self, rows: usize) -> DatasetSample {
        let columns = self
            .columns
            .into_iter()
            .map(|(name, data_type, chunks)| {
                let refs: Vec<&dyn Array> = chunks.iter().map(|c| c.as_ref()).collect();
                let values = if refs.is_empty() {
                    StringArray::from(Vec::<Option<&str>>::new())
                } else {
                    let joined = concat(&refs).expect("chunks are all Utf8");
                    joined
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .expect("chunks are all Utf8")
                        .clone()
                };
                SampledColumn {
                    name,
                    data_type,
                    values,
                }
            })
            .collect();
        DatasetSample { rows, columns }
    }
}

/// Reads up to `max_rows` rows of `dataset`, spread evenly over its files.
pub fn sample_dataset(dataset: &DatasetSource, max_rows: usize) -> Result<DatasetSample, LakeError> {
    let max_rows = max_rows.max(1);
    // With more files than rows, read an evenly spaced subset of files, one row quota each.
    let step = dataset.files.len().div_ceil(max_rows).max(1);
    let chosen: Vec<&DataFile> = dataset.files.iter().step_by(step).collect();
    let quota = max_rows.div_ceil(chosen.len().max(1));
    let mut columns = Columns::default();
    let mut rows = 0;
    for file in chosen {
        let want = quota.min(max_rows - rows);
        if want == 0 {
            break;
        }
        if std::fs::metadata(&file.path)
            .map_err(|cause| LakeError::Io {
                path: file.path.clone(),
                cause,
            })?
            .len()
            == 0
        {
            return Err(LakeError::EmptyFile {
                path: file.path.clone(),
            });
        }
        rows += match file.format {
            FileFormat::Parquet => read_parquet(&file.path, want, &mut columns)?,
            FileFormat::Csv => read_csv(&file.path, want, &mut columns)?,
            FileFormat::Json => read_json(&file.path, want, &mut columns)?,
        };
    }
    Ok(columns.finish(rows))
}

fn as_strings(array: &ArrayRef) -> Option<ArrayRef> {
    if array.data_type() == &DataType::Utf8 {
        return Some(array.clone());
    }
    if !can_cast_types(array.data_type(), &DataType::Utf8) || array.data_type().is_nested() {
        return None;
    }
    cast(array, &DataType::Utf8).ok()
}

fn read_parquet(path: &Path, want: usize, columns: &mut Columns) -> Result<usize, LakeError> {
    let err = |e: &dyn std::fmt::Display| LakeError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(|cause| LakeError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(&e))?
        .with_limit(want)
        .with_batch_size(want.min(8192))
        .build()
        .map_err(|e| err(&e))?;
    let mut rows = 0;
    let mut seen_schema = false;
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        rows += batch.num_rows();
        seen_schema = true;
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            columns.push(field.name(), field.data_type(), as_strings(array));
        }
    }
    if !seen_schema {
        // No rows: still report the columns, classified by name.
        let file = File::open(path).map_err(|cause| LakeError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(&e))?;
        for field in builder.schema().fields() {
            columns.push(field.name(), field.data_type(), None);
        }
    }
    Ok(rows)
}

fn read_csv(path: &Path, want: usize, columns: &mut Columns) -> Result<usize, LakeError> {
    let file = File::open(path).map_err(|cause| LakeError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("row has {len} fields, the header has {expected_len} (ragged CSV)"),
            csv::ErrorKind::Io(io) => io.to_string(),
            _ => "malformed CSV".to_string(),
        };
        LakeError::Csv {
            path: path.to_path_buf(),
            line,
            message,
        }
    };
    let headers = reader.byte_headers().map_err(csv_err)?.clone();
    let mut names = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = std::str::from_utf8(h).map_err(|_| LakeError::NotUtf8 {
            path: path.to_path_buf(),
            line: 1,
            column: format!("#{}", i + 1),
        })?;
        names.push(name.trim().to_string());
    }
    let mut builders: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while rows < want && reader.read_byte_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| p.line());
        for (i, field) in record.iter().enumerate() {
            let value = std::str::from_utf8(field).map_err(|_| LakeError::NotUtf8 {
                path: path.to_path_buf(),
                line,
                column: names[i].clone(),
            })?;
            if value.is_empty() {
                builders[i].append_null();
            } else {
                builders[i].append_value(value);
            }
        }
        rows += 1;
    }
    for (name, mut b) in names.iter().zip(builders) {
        columns.push(name, &DataType::Utf8, Some(Arc::new(b.finish())));
    }
    Ok(rows)
}

/// The type a JSON column's values suggest.
#[derive(Clone, Copy, PartialEq)]
enum JsonType {
    Unknown,
    Int,
    Float,
    Bool,
    Str,
    Nested,
    Mixed,
}

impl JsonType {
    fn of(v: &serde_json::Value) -> JsonType {
        use serde_json::Value;
        match v {
            Value::Null => JsonType::Unknown,
            Value::Bool(_) => JsonType::Bool,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Int,
            Value::Number(_) => JsonType::Float,
            Value::String(_) => JsonType::Str,
            Value::Array(_) | Value::Object(_) => JsonType::Nested,
        }
    }

    fn merge(self, other: JsonType) -> JsonType {
        match (self, other) {
            (a, JsonType::Unknown) => a,
            (JsonType::Unknown, b) => b,
            (a, b) if a == b => a,
            (JsonType::Int, JsonType::Float) | (JsonType::Float, JsonType::Int) => JsonType::Float,
            _ => JsonType::Mixed,
        }
    }

    fn arrow(self) -> DataType {
        match self {
            JsonType::Int => DataType::Int64,
            JsonType::Float => DataType::Float64,
            JsonType::Bool => DataType::Boolean,
            _ => DataType::Utf8,
        }
    }
}

/// JSON lines, or one JSON array of objects (which has to be parsed whole).
fn read_json(path: &Path, want: usize, columns: &mut Columns) -> Result<usize, LakeError> {
    let io = |cause| LakeError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let first = loop {
        let buf = reader.fill_buf().map_err(io)?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    let json_err = |line: u64, e: &dyn std::fmt::Display| LakeError::Json {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    };
    let mut records: Vec<(u64, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    match first {
        None => return Err(LakeError::EmptyFile { path: path.to_path_buf() }),
        Some(b'[') => {
            let mut text = String::new();
            reader.read_to_string(&mut text).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => LakeError::NotUtf8 {
                    path: path.to_path_buf(),
                    line: 0,
                    column: "(array)".into(),
                },
                _ => io(e),
            })?;
            let items: Vec<serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| json_err(e.line() as u64, &e))?;
            for item in items.into_iter().take(want) {
                match item {
                    serde_json::Value::Object(map) => records.push((0, map)),
                    _ => return Err(json_err(0, &"array element is not a JSON object")),
                }
            }
        }
        Some(_) => {
            let mut line_no = 0u64;
            let mut line = String::new();
            while records.len() < want {
                line.clear();
                line_no += 1;
                let n = reader.read_line(&mut line).map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData => LakeError::NotUtf8 {
                        path: path.to_path_buf(),
                        line: line_no,
                        column: "(line)".into(),
                    },
                    _ => io(e),
                })?;
                if n == 0 {
                    break;
                }
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str(&line).map_err(|e| json_err(line_no, &e))? {
                    serde_json::Value::Object(map) => records.push((line_no, map)),
                    _ => return Err(json_err(line_no, &"expected a JSON object")),
                }
            }
        }
    }
    let mut names: Vec<String> = Vec::new();
    for (_, map) in &records {
        for key in map.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    for name in &names {
        let mut kind = JsonType::Unknown;
        let mut b = StringBuilder::new();
        for (_, map) in &records {
            match map.get(name) {
                None | Some(serde_json::Value::Null) => b.append_null(),
                Some(v) => {
                    kind = kind.merge(JsonType::of(v));
                    match v {
                        serde_json::Value::String(s) => b.append_value(s),
                        other => b.append_value(other.to_string()),
                    }
                }
            }
        }
        columns.push(name, &kind.arrow(), Some(Arc::new(b.finish())));
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::discover;

    fn one(path: &Path) -> DatasetSource {
        discover(path).datasets.remove(0).unwrap()
    }

    #[test]
    fn csv_and_json_lines_are_sampled_as_strings() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("people.csv");
        std::fs::write(&csv, "xm,sjhm\n张三,13812345678\n李四,\n").unwrap();
        let s = sample_dataset(&one(&csv), 10).unwrap();
        assert_eq!(s.rows, 2);
        assert_eq!(s.columns[1].name, "sjhm");
        assert_eq!(s.columns[1].values.value(0), "13812345678");
        assert!(s.columns[1].values.is_null(1));

        let json = dir.path().join("events.jsonl");
        std::fs::write(&json, "{\"uid\": 1, \"lat\": 39.9}\n\n{\"uid\": 2, \"tags\": [1]}\n").unwrap();
        let s = sample_dataset(&one(&json), 10).unwrap();
        assert_eq!(s.rows, 2);
        let uid = s.columns.iter().find(|c| c.name == "uid").unwrap();
        assert_eq!(uid.data_type, "Int64");
        assert_eq!(uid.values.value(1), "2");
    }

    #[test]
    fn bad_input_errors_name_the_file_and_place_but_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let ragged = dir.path().join("ragged.csv");
        std::fs::write(&ragged, "a,b\n1,2\n13812345678,2,3\n").unwrap();
        let e = sample_dataset(&one(&ragged), 10).unwrap_err().to_string();
        assert!(e.contains("ragged.csv") && e.contains("line 3"), "{e}");
        assert!(!e.contains("13812345678"), "{e}");

        let gbk = dir.path().join("gbk.csv");
        std::fs::write(&gbk, b"name\n\xd5\xc5\xc8\xfd\n").unwrap();
        let e = sample_dataset(&one(&gbk), 10).unwrap_err().to_string();
        assert!(e.contains("gbk.csv") && e.contains("UTF-8") && e.contains("name"), "{e}");

        let empty = dir.path().join("empty.parquet");
        std::fs::write(&empty, b"").unwrap();
        let e = sample_dataset(&one(&empty), 10).unwrap_err().to_string();
        assert!(e.contains("empty.parquet") && e.contains("empty file"), "{e}");

        let truncated = dir.path().join("t.parquet");
        std::fs::write(&truncated, b"PAR1\0\0\0\0garbage").unwrap();
        let e = sample_dataset(&one(&truncated), 10).unwrap_err().to_string();
        assert!(e.contains("t.parquet") && e.contains("Parquet"), "{e}");

        let bad_json = dir.path().join("bad.jsonl");
        std::fs::write(&bad_json, "{\"a\": 1}\n{\"a\": \"13812345678\"\n").unwrap();
        let e = sample_dataset(&one(&bad_json), 10).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl") && e.contains("line 2"), "{e}");
        assert!(!e.contains("13812345678"), "{e}");
    }
}
