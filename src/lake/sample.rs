//! Sampling a dataset: up to N rows spread over its files, read through the one reader
//! ([`super::read`]) that `run` uses, every column rendered as strings for the value
//! detectors. Reading stops at each file's quota, so memory is bounded by the sample size,
//! not the dataset size.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder, UInt64Array};
use arrow::compute::{can_cast_types, cast, concat};
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use datafusion::physical_plan::ExecutionPlanProperties;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use super::read::{read_error, read_files};
use super::{DataFile, DatasetSource, FileFormat, LakeError};

/// One column of a sample.
#[derive(Debug, Clone)]
pub struct SampledColumn {
    /// The column name as stored.
    pub name: String,
    /// Its type as read (`Utf8` for CSV), string views reported as plain strings.
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
                self.columns.push((name.to_string(), reported_type(data_type), Vec::new()));
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
                    joined.as_any().downcast_ref::<StringArray>().expect("chunks are all Utf8").clone()
                };
                SampledColumn { name, data_type, values }
            })
            .collect();
        DatasetSample { rows, columns }
    }
}

/// Reads up to `max_rows` rows of `dataset`, spread evenly over its files.
pub async fn sample_dataset(dataset: &DatasetSource, max_rows: usize) -> Result<DatasetSample, LakeError> {
    let max_rows = max_rows.max(1);
    // With more files than rows, read an evenly spaced subset of files, one row quota each.
    let step = dataset.files.len().div_ceil(max_rows).max(1);
    let chosen: Vec<DataFile> = dataset.files.iter().step_by(step).cloned().collect();
    for file in &chosen {
        let len = super::files::meta(&file.path).map_err(|cause| LakeError::Io { path: file.path.clone(), cause })?.len;
        if len == 0 {
            return Err(LakeError::EmptyFile { path: file.path.clone() });
        }
    }
    let quota = max_rows.div_ceil(chosen.len().max(1));
    // One plan over the files with one partition each, rather than a plan per file: planning
    // dominated the sample of a dataset with hundreds of small partitions.
    let mut config = SessionConfig::new()
        .with_target_partitions(chosen.len().max(1))
        .with_repartition_file_scans(false)
        // Batches of one file's quota: no more rows are decoded than are wanted.
        .with_batch_size(quota.clamp(1, 8192));
    // A sample prunes nothing, so statistics would only be read to be ignored.
    config.options_mut().execution.collect_statistics = false;
    // Each partition reads its own file: with DataFusion's default, an idle partition takes
    // over its siblings' files, so which file's rows made the sample depended on timing (the
    // same lake gave other samples, and other inventories, from one scan to the next).
    config.options_mut().execution.enable_file_stream_work_stealing = false;
    let ctx = super::context(config);
    let mut columns = Columns::default();
    let mut rows = 0;
    for format in [FileFormat::Parquet, FileFormat::Csv, FileFormat::Json] {
        let files: Vec<DataFile> = chosen.iter().filter(|f| f.format == format).cloned().collect();
        if files.is_empty() {
            continue;
        }
        match sample_files(&ctx, &files, quota, max_rows - rows, &mut columns).await {
            Ok(n) => rows += n,
            // Read alone, the file at fault names itself.
            Err(e) => {
                for file in &files {
                    sample_files(&ctx, std::slice::from_ref(file), quota, quota, &mut Columns::default()).await?;
                }
                return Err(e);
            }
        }
    }
    Ok(columns.finish(rows))
}

/// Reads up to `quota` rows from each of `files` (one format), `budget` in all, into
/// `columns`; returns the rows read.
async fn sample_files(
    ctx: &SessionContext,
    files: &[DataFile],
    quota: usize,
    budget: usize,
    columns: &mut Columns,
) -> Result<usize, LakeError> {
    let df = read_files(ctx, files).await?;
    // Every column is reported, even of files without rows (classified by name).
    for field in df.schema().fields() {
        columns.push(field.name(), field.data_type(), None);
    }
    let failed = |e| read_error(&files[0], &e);
    let plan = df.create_physical_plan().await.map_err(failed)?;
    // Files are opened a few at a time: reading a small file is mostly waiting for the I/O
    // threads, which overlaps. Each file's share is fixed up front, so the sample does not
    // depend on which file answers first.
    let wants: Vec<usize> =
        (0..plan.output_partitioning().partition_count()).map(|i| quota.min(budget.saturating_sub(i * quota))).collect();
    let read = |(partition, want): (usize, usize)| {
        let plan = plan.clone();
        let task = ctx.task_ctx();
        async move {
            let mut batches = Vec::new();
            if want == 0 {
                return Ok(batches);
            }
            let mut stream = plan.execute(partition, task)?;
            let mut taken = 0;
            while taken < want
                && let Some(batch) = stream.next().await
            {
                let batch = batch?;
                let batch = batch.slice(0, batch.num_rows().min(want - taken));
                taken += batch.num_rows();
                batches.push(batch);
            }
            Ok::<_, datafusion::error::DataFusionError>(batches)
        }
    };
    let mut parts = futures::stream::iter(wants.into_iter().enumerate()).map(read).buffered(OPEN_FILES);
    let mut rows = 0;
    while let Some(batches) = parts.next().await {
        for batch in batches.map_err(failed)? {
            rows += batch.num_rows();
            for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
                columns.push(field.name(), field.data_type(), as_strings(array));
            }
        }
    }
    Ok(rows)
}

/// Files of a sample read at once.
const OPEN_FILES: usize = 16;

/// The type a column is reported with: string and binary views as their plain types, which
/// is how a reader of the inventory thinks of them.
pub(crate) fn reported_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8View => DataType::Utf8.to_string(),
        DataType::BinaryView => DataType::Binary.to_string(),
        other => other.to_string(),
    }
}

/// The array rendered as strings, when its type has a string form.
pub(crate) fn as_strings(array: &ArrayRef) -> Option<ArrayRef> {
    if array.data_type() == &DataType::Utf8 {
        return Some(array.clone());
    }
    if array.data_type().is_floating() {
        return Some(floats_as_text(array));
    }
    if !can_cast_types(array.data_type(), &DataType::Utf8) || array.data_type().is_nested() {
        return None;
    }
    cast(array, &DataType::Utf8).ok()
}

/// Largest integral float read as its digits: every integer up to 2^53 is exact.
const EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Floats as text, an integral one as its digits (`13812345678`, not `13812345678.0` or
/// `1.3812345678e10`): phones and ids stored as floats are then read as what they are, by
/// the classifier, the leak gate and pseudonymization alike.
pub fn floats_as_text(array: &ArrayRef) -> ArrayRef {
    let Ok(floats) = cast(array, &DataType::Float64) else { return cast(array, &DataType::Utf8).expect("floats cast to text") };
    let floats = floats.as_primitive::<arrow::datatypes::Float64Type>();
    let mut text = StringBuilder::with_capacity(floats.len(), floats.len() * 8);
    for v in floats {
        match v {
            Some(f) => {
                write_float(f, &mut text);
                text.append_value("");
            }
            None => text.append_null(),
        }
    }
    Arc::new(text.finish())
}

/// Writes float `f` to `out` as [`floats_as_text`] writes it, with no allocation of its own:
/// the shortest digits that read back as `f`, never an exponent. Ryu finds the same digits as
/// `{f}` several times faster, and writes them the same way, except with an exponent, or at a
/// tie between two shortest forms (Ryu rounds it to even, `{f}` up), which needs 16 digits
/// or more: those are left to `{f}`.
pub fn write_float(f: f64, out: &mut impl std::fmt::Write) {
    let written = match f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INTEGER {
        true => out.write_str(itoa::Buffer::new().format(f as i64)),
        false => match ryu::Buffer::new().format(f) {
            shortest if !shortest.contains('e') && significant_digits(shortest) < 16 => out.write_str(shortest),
            _ => write!(out, "{f}"),
        },
    };
    written.expect("text takes any float");
}

/// The significant digits of a number written in decimal.
fn significant_digits(number: &str) -> usize {
    number.bytes().filter(u8::is_ascii_digit).skip_while(|d| *d == b'0').count()
}

/// `f` of the text of each value of `array` as [`as_strings`] renders it (null where the
/// value is null or `f` gives none); `None` for a type with no text. Numbers are written one
/// at a time (floats to one buffer), never to an array of text.
pub(crate) fn map_text(array: &ArrayRef, mut f: impl FnMut(&str) -> Option<u64>) -> Option<UInt64Array> {
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| v.and_then(&mut f)).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(|v| v.and_then(&mut f)).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(|v| v.and_then(&mut f)).collect(),
        t if t.is_floating() => {
            let floats = cast(array, &DataType::Float64).ok()?;
            let mut text = String::new();
            let mut of = |v: f64| {
                text.clear();
                write_float(v, &mut text);
                f(&text)
            };
            floats.as_primitive::<Float64Type>().iter().map(|v| v.and_then(&mut of)).collect()
        }
        t if t.is_signed_integer() => {
            let ints = cast(array, &DataType::Int64).ok()?;
            ints.as_primitive::<Int64Type>().iter().map(|v| v.and_then(|v| f(itoa::Buffer::new().format(v)))).collect()
        }
        t if t.is_unsigned_integer() => {
            let ints = cast(array, &DataType::UInt64).ok()?;
            ints.as_primitive::<UInt64Type>().iter().map(|v| v.and_then(|v| f(itoa::Buffer::new().format(v)))).collect()
        }
        _ => as_strings(array)?.as_string::<i32>().iter().map(|v| v.and_then(&mut f)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::discover;
    use arrow::array::{Float32Array, Float64Array, Int16Array, Int64Array};
    use proptest::prelude::*;
    use std::path::Path;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn one(path: &Path) -> DatasetSource {
        discover(path).datasets.remove(0).unwrap()
    }

    #[test]
    fn csv_and_json_lines_are_sampled_as_strings() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("people.csv");
        std::fs::write(&csv, "xm,sjhm\n张三,13812345678\n李四,\n").unwrap();
        let s = block_on(sample_dataset(&one(&csv), 10)).unwrap();
        assert_eq!(s.rows, 2);
        assert_eq!(s.columns[1].name, "sjhm");
        assert_eq!(s.columns[1].values.value(0), "13812345678");
        assert!(s.columns[1].values.is_null(1));

        let json = dir.path().join("events.jsonl");
        std::fs::write(&json, "{\"uid\": 1, \"lat\": 39.9}\n\n{\"uid\": 2, \"tags\": [1]}\n").unwrap();
        let s = block_on(sample_dataset(&one(&json), 10)).unwrap();
        assert_eq!(s.rows, 2);
        let uid = s.columns.iter().find(|c| c.name == "uid").unwrap();
        assert_eq!(uid.data_type, "Int64");
        assert_eq!(uid.values.value(1), "2");
    }

    #[test]
    fn each_file_gives_its_own_share_whichever_is_read_first() {
        // Five one-row files and a budget of 8 rows: 2 each for the first four, none for the
        // last. A file's reader that runs out of its own rows must not take a sibling's.
        let dir = tempfile::tempdir().unwrap();
        for k in 0..5 {
            let part = dir.path().join(format!("logs/dt=2026-01-0{}", k + 1));
            std::fs::create_dir_all(&part).unwrap();
            std::fs::write(part.join("part-0.csv"), format!("file\n{k}\n")).unwrap();
        }
        for _ in 0..5 {
            let s = block_on(sample_dataset(&one(&dir.path().join("logs")), 8)).unwrap();
            let values: Vec<&str> = (0..s.rows).map(|i| s.columns[0].values.value(i)).collect();
            assert_eq!(values, ["0", "1", "2", "3"]);
        }
    }

    #[test]
    fn bad_input_errors_name_the_file_and_place_but_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let ragged = dir.path().join("ragged.csv");
        std::fs::write(&ragged, "a,b\n1,2\n13812345678,2,3\n").unwrap();
        let e = block_on(sample_dataset(&one(&ragged), 10)).unwrap_err().to_string();
        assert!(e.contains("ragged.csv") && e.contains("line 3"), "{e}");
        assert!(!e.contains("13812345678"), "{e}");

        let gbk = dir.path().join("gbk.csv");
        std::fs::write(&gbk, b"name\n\xd5\xc5\xc8\xfd\n").unwrap();
        let e = block_on(sample_dataset(&one(&gbk), 10)).unwrap_err().to_string();
        assert!(e.contains("gbk.csv") && e.contains("UTF-8") && e.contains("name"), "{e}");

        let empty = dir.path().join("empty.parquet");
        std::fs::write(&empty, b"").unwrap();
        let e = block_on(sample_dataset(&one(&empty), 10)).unwrap_err().to_string();
        assert!(e.contains("empty.parquet") && e.contains("empty file"), "{e}");

        let truncated = dir.path().join("t.parquet");
        std::fs::write(&truncated, b"PAR1\0\0\0\0garbage").unwrap();
        let e = block_on(sample_dataset(&one(&truncated), 10)).unwrap_err().to_string();
        assert!(e.contains("t.parquet") && e.contains("Parquet"), "{e}");

        let bad_json = dir.path().join("bad.jsonl");
        std::fs::write(&bad_json, "{\"a\": 1}\n{\"a\": \"13812345678\"\n").unwrap();
        let e = block_on(sample_dataset(&one(&bad_json), 10)).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl") && e.contains("JSON"), "{e}");
        assert!(!e.contains("13812345678"), "{e}");
    }

    /// The old writing of a float, before Ryu: `{f}`, an integral one as its digits.
    fn displayed(f: f64) -> String {
        if f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INTEGER { format!("{}", f as i64) } else { format!("{f}") }
    }

    proptest! {
        // Pseudonyms of floats and fingerprints of numbers are of this text: it must not change.
        #[test]
        fn floats_are_written_as_display_writes_them(bits in any::<u64>(), n in any::<i64>(), places in 0i32..20) {
            for f in [f64::from_bits(bits), n as f64 / 10f64.powi(places), (n % 100_000_000) as f64 / 10f64.powi(places)] {
                let mut text = String::new();
                write_float(f, &mut text);
                prop_assert_eq!(text, displayed(f));
            }
        }

        #[test]
        fn numbers_are_mapped_as_the_text_they_are_read_as(
            ints in proptest::collection::vec(proptest::option::of(any::<i64>()), 0..16),
            floats in proptest::collection::vec(proptest::option::of(any::<f32>()), 0..16),
        ) {
            let arrays: [ArrayRef; 5] = [
                Arc::new(Int64Array::from(ints.clone())),
                Arc::new(Int16Array::from(ints.iter().map(|v| v.map(|v| v as i16)).collect::<Vec<_>>())),
                Arc::new(UInt64Array::from(ints.iter().map(|v| v.map(|v| v as u64)).collect::<Vec<_>>())),
                Arc::new(Float32Array::from(floats.clone())),
                Arc::new(Float64Array::from(floats.iter().map(|v| v.map(f64::from)).collect::<Vec<_>>())),
            ];
            // Long enough for `f` to tell texts apart, and null for some.
            let f = |v: &str| (!v.len().is_multiple_of(5)).then(|| v.bytes().fold(v.len() as u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b))));
            for array in arrays {
                let text = as_strings(&array).expect("numbers have text");
                let expected: UInt64Array = text.as_string::<i32>().iter().map(|v| v.and_then(f)).collect();
                prop_assert_eq!(map_text(&array, f).expect("numbers have text"), expected, "{}", array.data_type());
            }
        }
    }
}
