//! Class sizes counted by the write itself. What the risk gate groups records by is mostly
//! known before any value is measured: the quasi-identifiers a plan settles by category, and
//! each column it measures, alone. So each task of a gated write counts its records by those
//! groupings as it writes them ([`ClassCounter`]), and the client merges the tasks' counts
//! ([`CountedClasses`]). Where records are what a class counts (no subject is published, or
//! every record is a subject of its own) and a grouping's counts hold every record published,
//! the gate takes from them a measured column's share of rare values, the class sizes, the
//! small classes and the sizes after suppression, instead of aggregating the table read back.
//! Counts live within [`COUNT_BUDGET`] bytes a task (and a merge): past it, the grouping that
//! holds the most gives its counts up, and the gate aggregates over the table for it, as before.

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

/// The bytes a task's counts, or a merge's, may hold over all groupings: a class costs its
/// values in the row format and [`CLASS_OVERHEAD`].
#[cfg(not(test))]
pub const COUNT_BUDGET: usize = 8 << 20;
#[cfg(test)]
pub const COUNT_BUDGET: usize = 64 << 10;

/// What a class costs beyond its values: its slot in the map and its allocation.
pub const CLASS_OVERHEAD: usize = 48;

/// The column of a task's counts that holds each class's records.
const RECORDS: &str = "__piguard_records";

/// One grouping's classes, by their values in the row format, with their records.
struct Counts {
    classes: ValueMap<Box<[u8]>, u64>,
    bytes: usize,
}

/// The counts of several groupings within [`COUNT_BUDGET`]; `None` for a grouping given up.
struct Budgeted {
    counts: Vec<Option<Counts>>,
    used: usize,
}

impl Budgeted {
    fn new(live: impl Iterator<Item = bool>) -> Self {
        Budgeted { counts: live.map(|l| l.then(|| Counts { classes: value_map(), bytes: 0 })).collect(), used: 0 }
    }

    fn live(&self, grouping: usize) -> bool {
        self.counts[grouping].is_some()
    }

    /// Adds `n` records of class `key` to `grouping`; past the budget, the grouping that holds
    /// the most is given up.
    fn add(&mut self, grouping: usize, key: &[u8], n: u64) {
        let Some(counts) = &mut self.counts[grouping] else { return };
        if let Some(records) = counts.classes.get_mut(key) {
            *records += n;
            return;
        }
        let cost = key.len() + CLASS_OVERHEAD;
        counts.classes.insert(key.into(), n);
        counts.bytes += cost;
        self.used += cost;
        while self.used > COUNT_BUDGET {
            let largest = self.counts.iter().enumerate().filter_map(|(i, c)| Some((c.as_ref()?.bytes, i))).max();
            let Some((bytes, i)) = largest else { break };
            self.used -= bytes;
            self.counts[i] = None;
        }
    }
}

/// What a task counts over one grouping: the input columns, their fields, their row format.
struct TaskGrouping {
    columns: Vec<usize>,
    fields: Vec<Field>,
    converter: RowConverter,
}

/// One write task's records counted by class over each grouping of input columns.
pub struct ClassCounter {
    groupings: Vec<Option<TaskGrouping>>,
    counts: Budgeted,
}

impl ClassCounter {
    /// Counts the classes over each grouping of `schema`'s columns (by index), none over those
    /// that are `None`.
    pub fn new(schema: &Schema, groupings: Vec<Option<Vec<usize>>>) -> Result<Self, ArrowError> {
        let groupings = groupings
            .into_iter()
            .map(|g| {
                g.map(|columns| {
                    let fields: Vec<Field> = columns.iter().map(|i| schema.field(*i).clone().with_nullable(true)).collect();
                    let converter = RowConverter::new(fields.iter().map(|f| SortField::new(f.data_type().clone())).collect())?;
                    Ok(TaskGrouping { columns, fields, converter })
                })
                .transpose()
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        let counts = Budgeted::new(groupings.iter().map(Option::is_some));
        Ok(ClassCounter { groupings, counts })
    }

    /// Counts `batch`'s records.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        for (g, grouping) in self.groupings.iter().enumerate() {
            let Some(grouping) = grouping.as_ref().filter(|_| self.counts.live(g)) else { continue };
            let columns: Vec<ArrayRef> = grouping.columns.iter().map(|i| batch.column(*i).clone()).collect();
            let rows = grouping.converter.convert_columns(&columns)?;
            for row in rows.iter() {
                self.counts.add(g, row.data(), 1);
            }
        }
        Ok(())
    }

    /// Each grouping's counts as Arrow IPC (one row a class: its values and its records), in
    /// order; `None` where the task did not count them all.
    pub fn finish(self) -> Result<Vec<Option<Vec<u8>>>, ArrowError> {
        let mut parts = Vec::new();
        for (grouping, counts) in self.groupings.into_iter().zip(self.counts.counts) {
            let (Some(grouping), Some(counts)) = (grouping, counts) else {
                parts.push(None);
                continue;
            };
            let parser = grouping.converter.parser();
            let mut columns = grouping.converter.convert_rows(counts.classes.keys().map(|k| parser.parse(k)))?;
            columns.push(Arc::new(UInt64Array::from_iter_values(counts.classes.values().copied())));
            let mut fields = grouping.fields;
            fields.push(Field::new(RECORDS, DataType::UInt64, false));
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
            let mut bytes = Vec::new();
            let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema())?;
            writer.write(&batch)?;
            writer.finish()?;
            drop(writer);
            parts.push(Some(bytes));
        }
        Ok(parts)
    }
}

/// One grouping of the merged counts: its columns, their row format once a task's counts
/// arrived, and the records counted.
struct MergedGrouping {
    columns: Vec<String>,
    converter: Option<RowConverter>,
    /// Records with every column of the grouping null: they match nothing known.
    unmatched: u64,
    /// Records counted, `unmatched` included.
    records: u64,
}

/// The class counts of every task of a dataset's writes, merged, by grouping.
pub struct CountedClasses {
    groupings: Vec<MergedGrouping>,
    counts: Budgeted,
}

impl CountedClasses {
    /// No counts yet, over each grouping of columns (none over an empty one).
    pub fn new(groupings: Vec<Vec<String>>) -> Self {
        let counts = Budgeted::new(groupings.iter().map(|g| !g.is_empty()));
        let groupings =
            groupings.into_iter().map(|columns| MergedGrouping { columns, converter: None, unmatched: 0, records: 0 }).collect();
        CountedClasses { groupings, counts }
    }

    /// The groupings, in order.
    pub fn groupings(&self) -> impl Iterator<Item = &[String]> {
        self.groupings.iter().map(|g| g.columns.as_slice())
    }

    /// Adds a task's counts ([`ClassCounter::finish`]), by grouping; a grouping the task did
    /// not count in full (`None`, or missing) is left with no counts.
    pub fn merge(&mut self, parts: &[Option<Vec<u8>>]) -> Result<(), ArrowError> {
        for g in 0..self.groupings.len() {
            match parts.get(g).and_then(Option::as_deref) {
                Some(part) if self.counts.live(g) => self.merge_grouping(g, part)?,
                _ => self.counts.counts[g] = None,
            }
        }
        Ok(())
    }

    fn merge_grouping(&mut self, g: usize, part: &[u8]) -> Result<(), ArrowError> {
        let malformed = |what: &str| ArrowError::InvalidArgumentError(format!("class counts {what}"));
        for batch in StreamReader::try_new(Cursor::new(part), None)? {
            let batch = batch?;
            let grouping = &mut self.groupings[g];
            let n = grouping.columns.len();
            if batch.num_columns() != n + 1 {
                return Err(malformed("of other columns"));
            }
            let records = batch.column(n).as_primitive_opt::<UInt64Type>().ok_or_else(|| malformed("without records"))?;
            let values = &batch.columns()[..n];
            if grouping.converter.is_none() {
                grouping.converter = Some(RowConverter::new(values.iter().map(|v| SortField::new(v.data_type().clone())).collect())?);
            }
            let rows = grouping.converter.as_ref().expect("made").convert_columns(values)?;
            let matched = any_set(values, batch.num_rows())?;
            for (i, row) in rows.iter().enumerate() {
                let (grouping, n) = (&mut self.groupings[g], records.value(i));
                grouping.records += n;
                match matched.value(i) {
                    true => self.counts.add(g, row.data(), n),
                    false => grouping.unmatched += n,
                }
            }
        }
        Ok(())
    }

    /// The groupings whose counts hold every one of `records` records (all that are published).
    pub fn covering(&self, records: u64) -> Vec<Classes<'_>> {
        self.groupings
            .iter()
            .zip(&self.counts.counts)
            .filter_map(|(grouping, counts)| Some(Classes { grouping, counts: counts.as_ref()? }))
            .filter(|c| c.grouping.records == records)
            .collect()
    }
}

/// One grouping's merged class counts.
#[derive(Clone, Copy)]
pub struct Classes<'a> {
    grouping: &'a MergedGrouping,
    counts: &'a Counts,
}

impl Classes<'_> {
    /// Whether these are the classes over `columns`.
    pub fn over(&self, columns: &[String]) -> bool {
        self.grouping.columns == columns
    }

    /// The class sizes, counting records.
    pub fn sizes(&self) -> ClassSizes {
        self.sizes_where(|_| true, self.grouping.unmatched)
    }

    /// The class sizes once the records of classes smaller than `k` have had every column of
    /// the grouping nulled.
    pub fn sizes_after_suppression(&self, k: u64) -> ClassSizes {
        let small: u64 = self.records().filter(|n| *n < k).sum();
        self.sizes_where(|n| n >= k, self.grouping.unmatched + small)
    }

    /// The classes smaller than `k`, by their values.
    pub fn smaller_than(&self, k: u64) -> Result<SmallClasses, ArrowError> {
        let converter =
            self.grouping.converter.as_ref().ok_or_else(|| ArrowError::InvalidArgumentError("no classes were counted".into()))?;
        let parser = converter.parser();
        let small = self.counts.classes.iter().filter(|(_, n)| **n < k).map(|(key, _)| parser.parse(key));
        Ok(SmallClasses { qis: self.grouping.columns.clone(), values: converter.convert_rows(small)? })
    }

    /// Each class's records.
    fn records(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.classes.values().copied()
    }

    fn sizes_where(&self, keep: impl Fn(u64) -> bool, unmatched: u64) -> ClassSizes {
        let mut by: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for n in self.records().filter(|n| keep(*n)) {
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
