//! Class sizes counted by the write itself. The quasi-identifiers a plan settles (by category)
//! are known before any value is measured, so each task of a gated write counts its records
//! by their values as it writes them ([`ClassCounter`]), and the client merges the tasks'
//! counts ([`CountedClasses`]). Where measuring adds no quasi-identifier, records are what a
//! class counts (no subject is published, or every record is a subject of its own) and the
//! counts cover every record published, the risk gate takes its class sizes, its small classes
//! and the sizes after suppression from them instead of aggregating the table read back. A
//! table of more classes than [`CLASS_CAPACITY`] is counted by the aggregates, as before: the
//! counts stay small where they are used, since a table of that many classes is rarely
//! de-identified anyway.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt64Array};
use arrow::compute::{is_not_null, or};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::row::{RowConverter, SortField};

use super::{ClassSizes, SmallClasses};
use crate::value_map::{ValueMap, value_map};

/// The most classes a task, and the merge of all tasks, counts before giving up: a few MiB
/// each (a class is its values in the row format and a count).
#[cfg(not(test))]
pub const CLASS_CAPACITY: usize = 1 << 16;
#[cfg(test)]
pub const CLASS_CAPACITY: usize = 64;

/// The column of a task's counts that holds each class's records.
const RECORDS: &str = "__piguard_records";

/// Classes by their quasi-identifier values in the row format, with their records; `None`
/// once they outgrew [`CLASS_CAPACITY`].
type Counts = Option<ValueMap<Box<[u8]>, u64>>;

/// Adds `n` records of class `key` to `counts`, and drops them all past the capacity.
fn add(counts: &mut Counts, key: &[u8], n: u64) {
    let Some(map) = counts else { return };
    if let Some(records) = map.get_mut(key) {
        *records += n;
    } else if map.len() == CLASS_CAPACITY {
        *counts = None;
    } else {
        map.insert(key.into(), n);
    }
}

/// One write task's records counted by class, over the input columns at `columns`.
pub struct ClassCounter {
    columns: Vec<usize>,
    fields: Vec<Field>,
    converter: RowConverter,
    counts: Counts,
}

impl ClassCounter {
    /// Counts the classes over the batch columns at `columns`, of the types of `schema`'s fields.
    pub fn new(schema: &Schema, columns: Vec<usize>) -> Result<Self, ArrowError> {
        let fields: Vec<Field> = columns.iter().map(|i| schema.field(*i).clone().with_nullable(true)).collect();
        let converter = RowConverter::new(fields.iter().map(|f| SortField::new(f.data_type().clone())).collect())?;
        Ok(ClassCounter { columns, fields, converter, counts: Some(value_map()) })
    }

    /// Counts `batch`'s records.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        if self.counts.is_none() {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self.columns.iter().map(|i| batch.column(*i).clone()).collect();
        let rows = self.converter.convert_columns(&columns)?;
        for row in rows.iter() {
            add(&mut self.counts, row.data(), 1);
        }
        Ok(())
    }

    /// The counts, as Arrow IPC: one row a class, its values and its records; `None` when the
    /// task met more classes than it counts.
    pub fn finish(self) -> Result<Option<Vec<u8>>, ArrowError> {
        let Some(counts) = self.counts else { return Ok(None) };
        let parser = self.converter.parser();
        let mut columns = self.converter.convert_rows(counts.keys().map(|k| parser.parse(k)))?;
        columns.push(Arc::new(UInt64Array::from_iter_values(counts.values().copied())));
        let mut fields = self.fields;
        fields.push(Field::new(RECORDS, DataType::UInt64, false));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema())?;
        writer.write(&batch)?;
        writer.finish()?;
        drop(writer);
        Ok(Some(bytes))
    }
}

/// The class counts of every task of a dataset's writes, merged.
pub struct CountedClasses {
    qis: Vec<String>,
    /// The row format of the quasi-identifiers' types, once a task's counts arrived.
    converter: Option<RowConverter>,
    counts: Counts,
    /// Records with every quasi-identifier null: they match nothing known.
    unmatched: u64,
    /// Records counted, `unmatched` included.
    records: u64,
}

impl CountedClasses {
    /// No counts yet, of the classes over `qis`.
    pub fn new(qis: Vec<String>) -> Self {
        CountedClasses { qis, converter: None, counts: Some(value_map()), unmatched: 0, records: 0 }
    }

    /// Adds a task's counts ([`ClassCounter::finish`]); `None` (a task that did not count
    /// them all) leaves none usable.
    pub fn merge(&mut self, part: Option<&[u8]>) -> Result<(), ArrowError> {
        let Some(part) = part else {
            self.counts = None;
            return Ok(());
        };
        for batch in StreamReader::try_new(Cursor::new(part), None)? {
            let batch = batch?;
            let n = batch.num_columns().checked_sub(1).filter(|n| *n == self.qis.len());
            let Some(n) = n else { return Err(ArrowError::InvalidArgumentError("class counts of other columns".into())) };
            let records = batch.column(n).as_primitive_opt::<UInt64Type>();
            let Some(records) = records else { return Err(ArrowError::InvalidArgumentError("class counts without records".into())) };
            let values = &batch.columns()[..n];
            if self.converter.is_none() {
                self.converter = Some(RowConverter::new(values.iter().map(|v| SortField::new(v.data_type().clone())).collect())?);
            }
            let rows = self.converter.as_ref().expect("made").convert_columns(values)?;
            let matched = any_set(values, batch.num_rows())?;
            for (i, row) in rows.iter().enumerate() {
                let n = records.value(i);
                self.records += n;
                match matched.value(i) {
                    true => add(&mut self.counts, row.data(), n),
                    false => self.unmatched += n,
                }
            }
        }
        Ok(())
    }

    /// Whether the counts hold every one of `records` records (all that are published).
    pub fn cover(&self, records: u64) -> bool {
        self.counts.is_some() && self.records == records
    }

    /// Whether these are the classes over `qis`.
    pub fn over(&self, qis: &[String]) -> bool {
        self.qis == qis
    }

    /// The class sizes, counting records.
    pub fn sizes(&self) -> ClassSizes {
        self.sizes_where(|_| true, self.unmatched)
    }

    /// The class sizes once the records of classes smaller than `k` have had every
    /// quasi-identifier nulled.
    pub fn sizes_after_suppression(&self, k: u64) -> ClassSizes {
        let small: u64 = self.classes().filter(|n| *n < k).sum();
        self.sizes_where(|n| n >= k, self.unmatched + small)
    }

    /// The classes smaller than `k`, by their values.
    pub fn smaller_than(&self, k: u64) -> Result<SmallClasses, ArrowError> {
        let (Some(converter), Some(counts)) = (&self.converter, &self.counts) else {
            return Err(ArrowError::InvalidArgumentError("no classes were counted".into()));
        };
        let parser = converter.parser();
        let small = counts.iter().filter(|(_, n)| **n < k).map(|(key, _)| parser.parse(key));
        Ok(SmallClasses { qis: self.qis.clone(), values: converter.convert_rows(small)? })
    }

    fn classes(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().flat_map(|c| c.values().copied())
    }

    fn sizes_where(&self, keep: impl Fn(u64) -> bool, unmatched: u64) -> ClassSizes {
        let mut by: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for n in self.classes().filter(|n| keep(*n)) {
            let e = by.entry(n).or_default();
            e.0 += 1;
            e.1 += n;
        }
        ClassSizes { sizes: by.into_iter().map(|(f, (c, r))| (f, c, r)).collect(), unmatched }
    }
}

/// Which of `rows` records have any of `columns` set (all of them, with no column).
fn any_set(columns: &[ArrayRef], rows: usize) -> Result<BooleanArray, ArrowError> {
    if columns.is_empty() || columns.iter().any(|c| c.null_count() == 0) {
        return Ok(BooleanArray::from(vec![true; rows]));
    }
    columns.iter().try_fold(BooleanArray::from(vec![false; rows]), |set, c| or(&set, &is_not_null(c)?))
}
