//! Whether every record of a table is a subject of its own, and how many distinct subjects
//! each class holds, proved from the write: each task of a local gated write keeps the subject
//! key ([`crate::leak::subject_keys`]) of every row it writes, beside the hash of the row's
//! class over the quasi-identifiers ([`super::counted::class_hash`]), in sorted runs of a
//! scratch file, and the risk gate merges the runs of every task in subject order. Stopping at
//! the first subject seen twice, the merge replaces a distinct count over the table read back
//! (3.4 s and the run's peak memory at 20 M rows); taken to its end, it counts the subjects of
//! each class too large for the write's own counts to size ([`subjects_by_class`]), which
//! replaces the aggregate over the table by class and subject. The keys are computed where the
//! values already are, a run is sorted in memory of its own, and the merge holds one buffer a
//! run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Rows a task sorts in memory before it writes them as a run (8 MiB; fewer in tests, so
/// that theirs have several runs).
#[cfg(not(test))]
const RUN_KEYS: usize = 1 << 19;
#[cfg(test)]
const RUN_KEYS: usize = 1 << 10;

/// Bytes a row takes in a run: its subject key, then its class hash.
const ROW_BYTES: u64 = 16;

/// The key a row whose subject is null takes in a run: the table's aggregate counts a null
/// subject as one subject of its class, and so does the merge. A subject whose key it is
/// would be counted with them, as any two subjects of one key are: a smaller class, never a
/// larger one.
const NULL_SUBJECT: u64 = 0;

/// What one task wrote of its subject keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectKeyRuns {
    /// The scratch file of the task's runs.
    pub path: PathBuf,
    /// The rows of each run, in the file's order.
    pub runs: Vec<u64>,
    /// Rows whose subject was null (in the runs as [`NULL_SUBJECT`]): they could be anyone.
    pub nulls: u64,
    /// Whether every key was written with its row's class hash.
    pub classed: bool,
}

impl SubjectKeyRuns {
    /// Rows accounted for, null subjects' included.
    pub fn rows(&self) -> u64 {
        self.runs.iter().sum::<u64>()
    }
}

/// A task's subject keys being written: sorted runs of [`RUN_KEYS`] appended to one file,
/// each row as its subject key and its class hash, so that runs sort by subject first.
pub struct SubjectKeyWriter {
    file: BufWriter<File>,
    written: SubjectKeyRuns,
    pending: Vec<u128>,
}

impl SubjectKeyWriter {
    /// Starts the scratch file at `path` (its directory is made).
    pub fn create(path: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let written = SubjectKeyRuns { path: path.to_path_buf(), runs: Vec::new(), nulls: 0, classed: true };
        Ok(SubjectKeyWriter { file, written, pending: Vec::new() })
    }

    /// Adds the keys of a batch's rows (null for a null subject), with the hash of each row's
    /// class where the task knows it (the runs are otherwise not classed).
    pub fn push(&mut self, keys: impl IntoIterator<Item = Option<u64>>, classes: Option<&[u64]>) -> io::Result<()> {
        self.written.classed &= classes.is_some();
        for (i, key) in keys.into_iter().enumerate() {
            let class = classes.map_or(0, |c| c[i]);
            self.written.nulls += u64::from(key.is_none());
            self.pending.push(u128::from(key.unwrap_or(NULL_SUBJECT)) << 64 | u128::from(class));
            if self.pending.len() == RUN_KEYS {
                self.flush_run()?;
            }
        }
        Ok(())
    }

    fn flush_run(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.pending.sort_unstable();
        for row in &self.pending {
            self.file.write_all(&row.to_le_bytes())?;
        }
        self.written.runs.push(self.pending.len() as u64);
        self.pending.clear();
        Ok(())
    }

    /// Writes the last run and closes the file.
    pub fn finish(mut self) -> io::Result<SubjectKeyRuns> {
        self.flush_run()?;
        self.file.flush()?;
        Ok(self.written)
    }
}

/// One run being merged: the bytes after its last row read.
struct RunCursor {
    reader: BufReader<std::io::Take<File>>,
}

impl RunCursor {
    fn next(&mut self) -> io::Result<Option<u128>> {
        let mut bytes = [0u8; ROW_BYTES as usize];
        match self.reader.read_exact(&mut bytes) {
            Ok(()) => Ok(Some(u128::from_le_bytes(bytes))),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The rows of every run of `tasks`, merged in order: by subject key, then class hash.
struct Merged {
    cursors: Vec<RunCursor>,
    heap: BinaryHeap<Reverse<(u128, usize)>>,
}

impl Merged {
    fn open(tasks: &[SubjectKeyRuns]) -> io::Result<Self> {
        let mut cursors = Vec::new();
        for t in tasks {
            let mut offset = 0;
            for &n in &t.runs {
                let mut file = File::open(&t.path)?;
                file.seek(SeekFrom::Start(offset))?;
                cursors.push(RunCursor { reader: BufReader::with_capacity(1 << 16, file.take(n * ROW_BYTES)) });
                offset += n * ROW_BYTES;
            }
        }
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(row) = c.next()? {
                heap.push(Reverse((row, i)));
            }
        }
        Ok(Merged { cursors, heap })
    }

    /// The next row as (subject key, class hash).
    fn next(&mut self) -> io::Result<Option<(u64, u64)>> {
        let Some(Reverse((row, i))) = self.heap.pop() else { return Ok(None) };
        if let Some(next) = self.cursors[i].next()? {
            self.heap.push(Reverse((next, i)));
        }
        Ok(Some(((row >> 64) as u64, row as u64)))
    }
}

/// Whether every key of `tasks` is different and no subject is null: the merge of their
/// sorted runs stops at the first key seen twice.
pub fn every_subject_distinct(tasks: &[SubjectKeyRuns]) -> io::Result<bool> {
    if tasks.iter().any(|t| t.nulls > 0) {
        return Ok(false);
    }
    let mut merged = Merged::open(tasks)?;
    let mut last = None;
    while let Some((subject, _)) = merged.next()? {
        if last == Some(subject) {
            return Ok(false);
        }
        last = Some(subject);
    }
    Ok(true)
}

/// The distinct subjects of the rows of `tasks`, null ones as one (as the aggregate over the
/// table counts them): the size of the one class every record is in where no column is a
/// quasi-identifier.
pub fn distinct_subjects(tasks: &[SubjectKeyRuns]) -> io::Result<u64> {
    let mut merged = Merged::open(tasks)?;
    let (mut last, mut distinct) = (None, 0);
    while let Some((subject, _)) = merged.next()? {
        distinct += u64::from(last != Some(subject));
        last = Some(subject);
    }
    Ok(distinct)
}

/// A class's distinct subjects and its records, as the merge counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubjectCount {
    pub subjects: u64,
    pub records: u64,
}

/// The distinct subjects and the records of each class `wanted`, by class hash, over the runs
/// of `tasks` (null subjects as one subject of each class they are in); `None` where a task
/// wrote a row without its class. The merge meets a (subject, class) pair's rows one after
/// another, so a class counts a subject once; memory is one count a class wanted.
pub fn subjects_by_class(
    tasks: &[SubjectKeyRuns],
    wanted: impl IntoIterator<Item = u64>,
) -> io::Result<Option<HashMap<u64, SubjectCount>>> {
    if tasks.iter().any(|t| !t.classed) {
        return Ok(None);
    }
    let mut counts: HashMap<u64, SubjectCount> = wanted.into_iter().map(|class| (class, SubjectCount::default())).collect();
    let mut merged = Merged::open(tasks)?;
    let mut last = None;
    while let Some(pair) = merged.next()? {
        if let Some(count) = counts.get_mut(&pair.1) {
            count.records += 1;
            count.subjects += u64::from(last != Some(pair));
        }
        last = Some(pair);
    }
    Ok(Some(counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs of a task that met `rows` (subject, class), in batches as a task meets them;
    /// without the classes where `classed` is false.
    fn written(dir: &Path, task: usize, rows: &[(Option<u64>, u64)], classed: bool) -> SubjectKeyRuns {
        let mut w = SubjectKeyWriter::create(&dir.join(format!("task-{task}"))).unwrap();
        for batch in rows.chunks(1000) {
            let classes: Vec<u64> = batch.iter().map(|(_, c)| *c).collect();
            w.push(batch.iter().map(|(s, _)| *s), classed.then_some(classes.as_slice())).unwrap();
        }
        w.finish().unwrap()
    }

    fn keys(keys: &[Option<u64>]) -> Vec<(Option<u64>, u64)> {
        keys.iter().map(|k| (*k, 0)).collect()
    }

    #[test]
    fn keys_are_distinct_across_every_run_of_every_task_until_one_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let spread = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Two runs in the first task, one in the second.
        let first: Vec<Option<u64>> = (0..RUN_KEYS as u64 + 10).map(|i| Some(spread(i))).collect();
        let second: Vec<Option<u64>> = (RUN_KEYS as u64 + 10..RUN_KEYS as u64 + 5000).map(|i| Some(spread(i))).collect();
        let tasks = [written(dir.path(), 0, &keys(&first), true), written(dir.path(), 1, &keys(&second), false)];
        assert_eq!(tasks[0].runs, vec![RUN_KEYS as u64, 10]);
        assert_eq!((tasks[0].classed, tasks[1].classed), (true, false));
        assert_eq!(tasks[0].rows() + tasks[1].rows(), RUN_KEYS as u64 + 5000);
        assert!(every_subject_distinct(&tasks).unwrap());

        // A key of the first task's second run again in the other task, in another class.
        let mut repeated = keys(&second);
        repeated[4000] = (first[RUN_KEYS + 3], 9);
        assert!(!every_subject_distinct(&[tasks[0].clone(), written(dir.path(), 2, &repeated, true)]).unwrap());
        // Twice within one run.
        let twice = keys(&[Some(7), Some(3), Some(7)]);
        assert!(!every_subject_distinct(&[written(dir.path(), 3, &twice, true)]).unwrap());
        // A null subject could be anyone.
        let null = written(dir.path(), 4, &keys(&[Some(1), None]), true);
        assert_eq!((null.nulls, null.rows()), (1, 2));
        assert!(!every_subject_distinct(&[null]).unwrap());
        assert!(every_subject_distinct(&[written(dir.path(), 5, &[], true)]).unwrap());
    }

    #[test]
    fn each_class_counts_its_distinct_subjects_and_its_records_across_runs_and_tasks() {
        let dir = tempfile::tempdir().unwrap();
        // Subject i has 1 + i % 4 records: its first in class i % 7, the rest in i % 5 + 100;
        // one in 13 is null, one subject of each class it is in. Cut into tasks so that a
        // subject's records fall in several runs.
        let subject = |i: u64| (!i.is_multiple_of(13)).then(|| i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let rows: Vec<(Option<u64>, u64)> =
            (0..3000u64).flat_map(|i| (0..=i % 4).map(move |r| (subject(i), if r == 0 { i % 7 } else { i % 5 + 100 }))).collect();
        let mut by_hand: HashMap<u64, (std::collections::HashSet<Option<u64>>, u64)> = HashMap::new();
        for (s, c) in &rows {
            let e = by_hand.entry(*c).or_default();
            e.0.insert(*s);
            e.1 += 1;
        }
        let (a, b) = rows.split_at(rows.len() / 3);
        let tasks = [written(dir.path(), 0, b, true), written(dir.path(), 1, a, true)];
        assert!(tasks[0].runs.len() > 1);
        let wanted = [0, 3, 6, 100, 104, 55];
        let counted = subjects_by_class(&tasks, wanted).unwrap().expect("classed");
        assert_eq!(counted.len(), wanted.len());
        for class in wanted {
            let (subjects, records) = by_hand.get(&class).map_or((0, 0), |(s, r)| (s.len() as u64, *r));
            assert_eq!(counted[&class], SubjectCount { subjects, records }, "class {class}");
        }
        assert!(counted[&100].records > counted[&100].subjects);

        assert_eq!(tasks.iter().map(|t| t.nulls).sum::<u64>(), rows.iter().filter(|(s, _)| s.is_none()).count() as u64);

        // A task that did not say every row's class counts nothing.
        let unclassed = written(dir.path(), 2, a, false);
        assert_eq!(subjects_by_class(&[tasks[0].clone(), unclassed], wanted).unwrap(), None);
    }
}
