//! Whether every record of a table is a subject of its own, proved from the write: each task
//! of a local gated write keeps the subject key ([`crate::leak::subject_keys`]) of every row
//! it writes, in sorted runs of a scratch file, and the risk gate merges the runs of every
//! task, stopping at the first key seen twice. That replaces a distinct count over the table
//! read back (3.4 s and the run's peak memory at 20 M rows): the keys are computed where the
//! values already are, a run is sorted in memory of its own, and the merge holds one buffer a run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Keys a task sorts in memory before it writes them as a run (8 MiB; fewer in tests, so
/// that theirs have several runs).
#[cfg(not(test))]
const RUN_KEYS: usize = 1 << 20;
#[cfg(test)]
const RUN_KEYS: usize = 1 << 10;

/// What one task wrote of its subject keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectKeyRuns {
    /// The scratch file of the task's runs.
    pub path: PathBuf,
    /// The keys of each run, in the file's order.
    pub runs: Vec<u64>,
    /// Rows whose subject was null: they could be anyone.
    pub nulls: u64,
}

impl SubjectKeyRuns {
    /// Rows accounted for: keys and nulls.
    pub fn rows(&self) -> u64 {
        self.runs.iter().sum::<u64>() + self.nulls
    }
}

/// A task's subject keys being written: sorted runs of [`RUN_KEYS`] appended to one file.
pub struct SubjectKeyWriter {
    file: BufWriter<File>,
    written: SubjectKeyRuns,
    pending: Vec<u64>,
}

impl SubjectKeyWriter {
    /// Starts the scratch file at `path` (its directory is made).
    pub fn create(path: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        Ok(SubjectKeyWriter { file, written: SubjectKeyRuns { path: path.to_path_buf(), runs: Vec::new(), nulls: 0 }, pending: Vec::new() })
    }

    /// Adds the keys of a batch's rows (null for a null subject).
    pub fn push(&mut self, keys: impl IntoIterator<Item = Option<u64>>) -> io::Result<()> {
        for key in keys {
            match key {
                Some(k) => self.pending.push(k),
                None => self.written.nulls += 1,
            }
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
        for k in &self.pending {
            self.file.write_all(&k.to_le_bytes())?;
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

/// One run being merged: its next key and the bytes after it.
struct RunCursor {
    reader: BufReader<std::io::Take<File>>,
}

impl RunCursor {
    fn next(&mut self) -> io::Result<Option<u64>> {
        let mut bytes = [0u8; 8];
        match self.reader.read_exact(&mut bytes) {
            Ok(()) => Ok(Some(u64::from_le_bytes(bytes))),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether every key of `tasks` is different and no subject is null: the merge of their
/// sorted runs stops at the first key seen twice.
pub fn every_subject_distinct(tasks: &[SubjectKeyRuns]) -> io::Result<bool> {
    if tasks.iter().any(|t| t.nulls > 0) {
        return Ok(false);
    }
    let mut cursors = Vec::new();
    for t in tasks {
        let mut offset = 0;
        for &n in &t.runs {
            let mut file = File::open(&t.path)?;
            file.seek(SeekFrom::Start(offset))?;
            cursors.push(RunCursor { reader: BufReader::with_capacity(1 << 16, file.take(n * 8)) });
            offset += n * 8;
        }
    }
    let mut heap = BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        if let Some(k) = c.next()? {
            heap.push(Reverse((k, i)));
        }
    }
    let mut last = None;
    while let Some(Reverse((k, i))) = heap.pop() {
        if last == Some(k) {
            return Ok(false);
        }
        last = Some(k);
        if let Some(next) = cursors[i].next()? {
            heap.push(Reverse((next, i)));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(dir: &Path, task: usize, keys: &[Option<u64>]) -> SubjectKeyRuns {
        let mut w = SubjectKeyWriter::create(&dir.join(format!("task-{task}"))).unwrap();
        // In batches, as a task meets them.
        for batch in keys.chunks(1000) {
            w.push(batch.iter().copied()).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn keys_are_distinct_across_every_run_of_every_task_until_one_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let spread = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Two runs in the first task, one in the second.
        let first: Vec<Option<u64>> = (0..RUN_KEYS as u64 + 10).map(|i| Some(spread(i))).collect();
        let second: Vec<Option<u64>> = (RUN_KEYS as u64 + 10..RUN_KEYS as u64 + 5000).map(|i| Some(spread(i))).collect();
        let tasks = [written(dir.path(), 0, &first), written(dir.path(), 1, &second)];
        assert_eq!(tasks[0].runs, vec![RUN_KEYS as u64, 10]);
        assert_eq!(tasks[0].rows() + tasks[1].rows(), RUN_KEYS as u64 + 5000);
        assert!(every_subject_distinct(&tasks).unwrap());

        // A key of the first task's second run again in the other task.
        let mut repeated = second.clone();
        repeated[4000] = first[RUN_KEYS + 3];
        assert!(!every_subject_distinct(&[tasks[0].clone(), written(dir.path(), 2, &repeated)]).unwrap());
        // Twice within one run.
        let twice = [Some(7), Some(3), Some(7)];
        assert!(!every_subject_distinct(&[written(dir.path(), 3, &twice)]).unwrap());
        // A null subject could be anyone.
        let null = written(dir.path(), 4, &[Some(1), None]);
        assert_eq!((null.nulls, null.rows()), (1, 2));
        assert!(!every_subject_distinct(&[null]).unwrap());
        assert!(every_subject_distinct(&[written(dir.path(), 5, &[])]).unwrap());
    }
}
