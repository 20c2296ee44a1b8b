//! Class sizes counted by the write itself. What the risk gate groups records by is mostly
//! known before any value is measured: the quasi-identifiers a plan settles by category, and
//! each column it measures, alone. So each task of a gated write counts its records by those
//! groupings as it writes them ([`ClassCounter`]), and the client merges the tasks' counts
//! ([`CountedClasses`]). Where records are what a class counts (no subject is published, or
//! every record is a subject of its own) and a grouping's counts hold every record published,
//! the gate takes from them a measured column's share of rare values, the class sizes, the
//! small classes and the sizes after suppression, instead of aggregating the table read back.
//! Where a subject is published and its records may be several, a class counts its distinct
//! subjects: each class keeps them as the write meets them ([`Subjects`]), up to the smallest
//! class the sharing model allows. That tells every class too small, so a measured column's
//! share of rare values, the small classes and what suppression leaves come from the write
//! too; the class sizes themselves where no class reached it, or where the merge of the
//! write's subject keys counted the subjects of those that did ([`CountedClasses::size_beyond_cap`]).
//! Counts live within [`COUNT_BUDGET`] bytes a task (and a merge): past it, the grouping that
//! holds the most gives its counts up, and the gate aggregates over the table for it, as before.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::io::{self, Cursor};
use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListBuilder, RecordBatch, UInt64Array, UInt64Builder};
use arrow::compute::{is_not_null, or};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::row::{RowConverter, SortField};

use super::subjects::{SubjectKeyRuns, subjects_by_class};
use super::{ClassSizes, SmallClasses};
use crate::value_map::{ValueMap, value_map};

/// The bytes a task's counts, or a merge's, may hold over all groupings: a class costs its
/// values in the row format and [`CLASS_OVERHEAD`].
#[cfg(not(test))]
pub const COUNT_BUDGET: usize = 8 << 20;
#[cfg(test)]
pub const COUNT_BUDGET: usize = 64 << 10;

/// What a class costs beyond its values and subjects: its slot in the map (the key's box, the
/// records, the subjects' vector and their full count) and its allocation.
pub const CLASS_OVERHEAD: usize = 88;

/// The grouping whose classes a task's subject-key runs name by [`class_hash`]: the
/// quasi-identifiers the plan settles, first of its class groupings.
const QUASI_IDENTIFIERS: usize = 0;

/// The hash by which a task's subject-key runs name the class of a row, from its values in the
/// row format: the same in every task and the merge. The merge of the runs counts the records
/// of two classes of one hash together, which the write's own counts tell apart, so a
/// collision costs the aggregate over the table, never a size.
pub fn class_hash(row: &[u8]) -> u64 {
    foldhash::quality::FixedState::with_seed(u64::from_be_bytes(*b"\0PIGUARD")).hash_one(row)
}

/// The column of a task's counts that holds each class's records.
const RECORDS: &str = "__piguard_records";

/// The column of a task's counts that holds each class's subjects (a null one for records
/// whose subject is null), where it counted them.
const SUBJECTS: &str = "__piguard_subjects";

/// A class's distinct subjects, by their keys ([`crate::leak::subject_keys`]), kept until there
/// are `cap` of them: then the class is at least that large, which is all the gate asks of it.
/// Records whose subject is null count as one subject, as the table's aggregate counts them.
#[derive(Debug, Default, Clone)]
struct Subjects {
    keys: Vec<u64>,
    null: bool,
}

impl Subjects {
    /// The distinct subjects, up to the cap.
    fn len(&self) -> u64 {
        self.keys.len() as u64 + u64::from(self.null)
    }

    /// Adds the subjects `keys` while fewer than `cap` are kept; the bytes they took.
    fn add(&mut self, keys: impl IntoIterator<Item = Option<u64>>, cap: u64) -> usize {
        let before = self.keys.len();
        for key in keys {
            if self.len() >= cap {
                break;
            }
            match key {
                None => self.null = true,
                Some(k) if !self.keys.contains(&k) => self.keys.push(k),
                Some(_) => {}
            }
        }
        (self.keys.len() - before) * size_of::<u64>()
    }
}

/// One class: its records, and its subjects where they are counted; all of them where the
/// class reached the cap and the merge of the subject keys counted them.
#[derive(Debug, Default)]
struct Class {
    records: u64,
    subjects: Subjects,
    all_subjects: Option<NonZeroU64>,
}

/// One grouping's classes, by their values in the row format.
struct Counts {
    classes: ValueMap<Box<[u8]>, Class>,
    bytes: usize,
}

/// The counts of several groupings within [`COUNT_BUDGET`]; `None` for a grouping given up.
/// `cap` bounds the subjects a class keeps, where subjects are counted.
struct Budgeted {
    counts: Vec<Option<Counts>>,
    used: usize,
    cap: Option<u64>,
}

impl Budgeted {
    fn new(live: impl Iterator<Item = bool>, cap: Option<u64>) -> Self {
        Budgeted { counts: live.map(|l| l.then(|| Counts { classes: value_map(), bytes: 0 })).collect(), used: 0, cap }
    }

    fn live(&self, grouping: usize) -> bool {
        self.counts[grouping].is_some()
    }

    /// Adds `n` records of class `key` to `grouping`, with `subjects` where they are counted;
    /// past the budget, the grouping that holds the most is given up.
    fn add(&mut self, grouping: usize, key: &[u8], n: u64, subjects: impl IntoIterator<Item = Option<u64>>) {
        let Some(counts) = &mut self.counts[grouping] else { return };
        let cap = self.cap.unwrap_or(0);
        let cost = match counts.classes.get_mut(key) {
            Some(class) => {
                class.records += n;
                class.subjects.add(subjects, cap)
            }
            None => {
                let mut class = Class { records: n, ..Class::default() };
                let kept = class.subjects.add(subjects, cap);
                counts.classes.insert(key.into(), class);
                key.len() + CLASS_OVERHEAD + kept
            }
        };
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
    /// that are `None`; with the subjects of each class, up to `cap`, where there is one.
    pub fn new(schema: &Schema, groupings: Vec<Option<Vec<usize>>>, cap: Option<u64>) -> Result<Self, ArrowError> {
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
        let counts = Budgeted::new(groupings.iter().map(Option::is_some), cap);
        Ok(ClassCounter { groupings, counts })
    }

    /// Counts `batch`'s records, with their `subjects` (each row's key, null for a null
    /// subject). Without them the task counts no more subjects, nor reports any. With them it
    /// returns each row's [`class_hash`] over the quasi-identifiers, while they are counted.
    pub fn push(&mut self, batch: &RecordBatch, subjects: Option<&UInt64Array>) -> Result<Option<Vec<u64>>, ArrowError> {
        if subjects.is_none() {
            self.counts.cap = None;
        }
        let mut hashes = None;
        for (g, grouping) in self.groupings.iter().enumerate() {
            let Some(grouping) = grouping.as_ref().filter(|_| self.counts.live(g)) else { continue };
            let columns: Vec<ArrayRef> = grouping.columns.iter().map(|i| batch.column(*i).clone()).collect();
            let rows = grouping.converter.convert_columns(&columns)?;
            if g == QUASI_IDENTIFIERS && subjects.is_some() {
                hashes = Some(rows.iter().map(|row| class_hash(row.data())).collect());
            }
            for (i, row) in rows.iter().enumerate() {
                let subject = subjects.map(|s| s.is_valid(i).then(|| s.value(i)));
                self.counts.add(g, row.data(), 1, subject);
            }
        }
        Ok(hashes)
    }

    /// Each grouping's counts as Arrow IPC (one row a class: its values, its records and, where
    /// counted, its subjects), in order; `None` where the task did not count them all.
    pub fn finish(self) -> Result<Vec<Option<Vec<u8>>>, ArrowError> {
        let with_subjects = self.counts.cap.is_some();
        let mut parts = Vec::new();
        for (grouping, counts) in self.groupings.into_iter().zip(self.counts.counts) {
            let (Some(grouping), Some(counts)) = (grouping, counts) else {
                parts.push(None);
                continue;
            };
            let parser = grouping.converter.parser();
            let mut columns = grouping.converter.convert_rows(counts.classes.keys().map(|k| parser.parse(k)))?;
            columns.push(Arc::new(UInt64Array::from_iter_values(counts.classes.values().map(|c| c.records))));
            let mut fields = grouping.fields;
            fields.push(Field::new(RECORDS, DataType::UInt64, false));
            if with_subjects {
                let mut subjects = ListBuilder::new(UInt64Builder::new());
                for class in counts.classes.values() {
                    subjects.values().extend(class.subjects.keys.iter().map(|k| Some(*k)));
                    if class.subjects.null {
                        subjects.values().append_null();
                    }
                    subjects.append(true);
                }
                let subjects = subjects.finish();
                fields.push(Field::new(SUBJECTS, subjects.data_type().clone(), false));
                columns.push(Arc::new(subjects));
            }
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
    /// Whether every task counted the subjects of its classes.
    subjects: bool,
}

/// The class counts of every task of a dataset's writes, merged, by grouping.
pub struct CountedClasses {
    groupings: Vec<MergedGrouping>,
    counts: Budgeted,
}

impl CountedClasses {
    /// No counts yet, over each grouping of columns (none over an empty one); with the
    /// subjects of each class, up to `cap`, where the tasks count them.
    pub fn new(groupings: Vec<Vec<String>>, cap: Option<u64>) -> Self {
        let counts = Budgeted::new(groupings.iter().map(|g| !g.is_empty()), cap);
        let grouping = |columns| MergedGrouping { columns, converter: None, unmatched: 0, records: 0, subjects: cap.is_some() };
        CountedClasses { groupings: groupings.into_iter().map(grouping).collect(), counts }
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
            if batch.num_columns() != n + 1 && batch.num_columns() != n + 2 {
                return Err(malformed("of other columns"));
            }
            let records = batch.column(n).as_primitive_opt::<UInt64Type>().ok_or_else(|| malformed("without records"))?;
            let subjects = match batch.columns().get(n + 1) {
                Some(s) => Some(s.as_list_opt::<i32>().ok_or_else(|| malformed("with subjects of another type"))?),
                None => None,
            };
            grouping.subjects &= subjects.is_some();
            let subjects_counted = grouping.subjects;
            let values = &batch.columns()[..n];
            if grouping.converter.is_none() {
                grouping.converter = Some(RowConverter::new(values.iter().map(|v| SortField::new(v.data_type().clone())).collect())?);
            }
            let rows = grouping.converter.as_ref().expect("made").convert_columns(values)?;
            let matched = any_set(values, batch.num_rows())?;
            for (i, row) in rows.iter().enumerate() {
                let (grouping, n) = (&mut self.groupings[g], records.value(i));
                grouping.records += n;
                if !matched.value(i) {
                    grouping.unmatched += n;
                    continue;
                }
                let keys = subjects.filter(|_| subjects_counted).map(|s| s.value(i));
                let keys = keys.as_ref().and_then(|k| k.as_primitive_opt::<UInt64Type>());
                self.counts.add(g, row.data(), n, keys.into_iter().flatten());
            }
        }
        Ok(())
    }

    /// The classes over the quasi-identifiers whose subjects reached the cap, by [`class_hash`],
    /// with their records: those the merge of the write's subject keys must size. `None` where
    /// they are not counted by subjects.
    fn beyond_cap(&self) -> Option<HashMap<u64, u64>> {
        let (grouping, counts) = (self.groupings.get(QUASI_IDENTIFIERS)?, self.counts.counts.get(QUASI_IDENTIFIERS)?.as_ref()?);
        let cap = self.counts.cap.filter(|_| grouping.subjects)?;
        Some(counts.classes.iter().filter(|(_, c)| c.subjects.len() >= cap).map(|(key, c)| (class_hash(key), c.records)).collect())
    }

    /// Sizes the classes over the quasi-identifiers whose subjects reached the cap by their
    /// distinct subjects, as the merge of the write tasks' subject-key `runs` counts them: all
    /// or none, and none where the merge counted a class's records otherwise than the write
    /// (two classes of one hash, whose records it counts together).
    pub fn size_beyond_cap(&mut self, runs: &[SubjectKeyRuns]) -> io::Result<()> {
        let Some(beyond) = self.beyond_cap().filter(|b| !b.is_empty()) else { return Ok(()) };
        let Some(counted) = subjects_by_class(runs, beyond.keys().copied())? else { return Ok(()) };
        let (Some(cap), Some(Some(counts))) = (self.counts.cap, self.counts.counts.get_mut(QUASI_IDENTIFIERS)) else { return Ok(()) };
        let agree = beyond.iter().all(|(hash, records)| counted.get(hash).is_some_and(|n| n.records == *records && n.subjects >= cap));
        if agree {
            for (key, class) in counts.classes.iter_mut().filter(|(_, c)| c.subjects.len() >= cap) {
                class.all_subjects = NonZeroU64::new(counted[&class_hash(key)].subjects);
            }
        }
        Ok(())
    }

    /// The groupings whose counts hold every one of `records` records (all that are published),
    /// sized by their distinct subjects where `by_subjects` (those whose tasks all counted
    /// them), by their records otherwise.
    pub fn covering(&self, records: u64, by_subjects: bool) -> Vec<Classes<'_>> {
        let cap = self.counts.cap.unwrap_or(0);
        self.groupings
            .iter()
            .zip(&self.counts.counts)
            .filter_map(|(grouping, counts)| Some(Classes { grouping, counts: counts.as_ref()?, cap: by_subjects.then_some(cap) }))
            .filter(|c| c.grouping.records == records && (!by_subjects || c.grouping.subjects))
            .collect()
    }
}

/// One grouping's merged class counts.
#[derive(Clone, Copy)]
pub struct Classes<'a> {
    grouping: &'a MergedGrouping,
    counts: &'a Counts,
    /// Where classes are sized by their subjects: the most each kept.
    cap: Option<u64>,
}

impl Classes<'_> {
    /// Whether these are the classes over `columns`.
    pub fn over(&self, columns: &[String]) -> bool {
        self.grouping.columns == columns
    }

    /// Whether these are the classes over `columns`, sized as a class is sized where subjects
    /// are counted (`by_subjects`) or records are.
    pub fn serve(&self, by_subjects: bool, columns: &[String]) -> bool {
        self.cap.is_some() == by_subjects && self.over(columns)
    }

    /// Whether [`Classes::sizes`] are every class's size: always for records; for subjects,
    /// where every class that reached the cap was sized beyond it (otherwise its size is only
    /// known to be that large).
    pub fn exact(&self) -> bool {
        self.cap.is_none_or(|cap| self.counts.classes.values().all(|c| c.subjects.len() < cap || c.all_subjects.is_some()))
    }

    /// The class sizes: exact where [`Classes::exact`], and below the cap in any case, so that
    /// the records in classes smaller than the sharing model allows always are.
    pub fn sizes(&self) -> ClassSizes {
        let mut by: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for class in self.counts.classes.values() {
            let e = by.entry(self.size(class)).or_default();
            e.0 += 1;
            e.1 += class.records;
        }
        ClassSizes { sizes: by.into_iter().map(|(f, (c, r))| (f, c, r)).collect(), unmatched: self.grouping.unmatched }
    }

    /// The classes smaller than `k` (at most the cap), by their values.
    pub fn smaller_than(&self, k: u64) -> Result<SmallClasses, ArrowError> {
        let converter =
            self.grouping.converter.as_ref().ok_or_else(|| ArrowError::InvalidArgumentError("no classes were counted".into()))?;
        let parser = converter.parser();
        let small = self.counts.classes.iter().filter(|(_, c)| self.size(c) < k).map(|(key, _)| parser.parse(key));
        Ok(SmallClasses { qis: self.grouping.columns.clone(), values: converter.convert_rows(small)? })
    }

    fn size(&self, class: &Class) -> u64 {
        match self.cap {
            Some(_) => class.all_subjects.map_or(class.subjects.len(), NonZeroU64::get),
            None => class.records,
        }
    }
}

/// Which of `rows` records have any of `columns` set (all of them, with no column).
fn any_set(columns: &[ArrayRef], rows: usize) -> Result<BooleanArray, ArrowError> {
    if columns.is_empty() || columns.iter().any(|c| c.null_count() == 0) {
        return Ok(BooleanArray::from(vec![true; rows]));
    }
    columns.iter().try_fold(BooleanArray::from(vec![false; rows]), |set, c| or(&set, &is_not_null(c)?))
}
