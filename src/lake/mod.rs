//! The lake: where it is (a directory, or a prefix of an object store: [`store`]), its
//! files wherever they are ([`files`]), its zones and bookkeeping paths ([`Lake`]), finding
//! datasets (files, dataset directories, hive partitions, a lake's raw zone), sampling their
//! rows, and the writer lock.

mod cache;
pub mod delta;
pub mod files;
mod lock;
mod loose;
pub mod read;
pub mod sample;
pub mod store;
pub mod tables;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use lock::{LEASE_TTL, LakeLock, LockError};
pub use loose::SkippedFile;
pub use read::read_files;
pub use sample::{DatasetSample, SampledColumn, sample_dataset};
pub use store::StoreError;
pub use tables::{bounded_context, context, runtime_env, session};

/// A file format piguard reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Parquet,
    Csv,
    Json,
}

impl FileFormat {
    /// The format a file name implies, if any.
    pub fn of(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "parq" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "json" | "jsonl" | "ndjson" => Some(FileFormat::Json),
            _ => None,
        }
    }

    /// The id used in reports.
    pub fn id(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }
}

/// Why data could not be found or read. Every variant names the file; none holds a value.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
    #[error("{path}: empty file")]
    EmptyFile { path: PathBuf },
    #[error("{path}: no readable data files (.parquet, .csv, .json, .jsonl) found")]
    NothingReadable { path: PathBuf },
    #[error("{path}: unsupported file type (expected .parquet, .csv, .json or .jsonl)")]
    Unsupported { path: PathBuf },
    #[error("{path}: not a readable Parquet file (truncated or corrupt?): {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{path}: line {line}: {message}")]
    Csv { path: PathBuf, line: u64, message: String },
    #[error("{path}: line {line}, column {column}: not valid UTF-8 (if the file is GBK-encoded, convert it: iconv -f GBK -t UTF-8)")]
    NotUtf8 { path: PathBuf, line: u64, column: String },
    #[error("{path}: not readable as JSON lines or a JSON array of objects: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: {problem}")]
    Columns { path: PathBuf, problem: String },
    #[error("{dir}: the name of `{name}` is not valid UTF-8: rename it (piguard never skips a file it cannot name)")]
    UndecodableName { dir: PathBuf, name: String },
    #[error(transparent)]
    Table(#[from] delta::TableError),
}

/// One data file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// How to read it.
    pub format: FileFormat,
}

/// A dataset: one file, or a directory of files (hive partitions included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSource {
    /// The dataset's name: the directory name, or the file stem.
    pub name: String,
    /// The file or directory it was found at.
    pub path: PathBuf,
    /// Its files, sorted by path.
    pub files: Vec<DataFile>,
    /// Hive partition keys (`dt` in `dt=2026-01-01/`), outermost first.
    pub partition_columns: Vec<String>,
}

impl DatasetSource {
    /// A dataset of one file, named by its stem.
    pub fn file(file: DataFile) -> DatasetSource {
        DatasetSource { name: file_stem(&file.path), path: file.path.clone(), files: vec![file], partition_columns: Vec::new() }
    }

    /// Its files grouped by partition directory, relative to the dataset (`""` for none).
    pub fn partitions(&self) -> std::collections::BTreeMap<String, Vec<DataFile>> {
        let mut groups: std::collections::BTreeMap<String, Vec<DataFile>> = Default::default();
        for f in &self.files {
            let rel =
                f.path.parent().and_then(|p| p.strip_prefix(&self.path).ok()).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            groups.entry(rel).or_default().push(f.clone());
        }
        groups
    }

    /// The format of most of its files.
    pub fn format(&self) -> FileFormat {
        let count = |f| self.files.iter().filter(|d| d.format == f).count();
        [FileFormat::Parquet, FileFormat::Csv, FileFormat::Json].into_iter().max_by_key(|f| count(*f)).unwrap_or(FileFormat::Parquet)
    }
}

/// What a path given on the command line turned out to hold.
#[derive(Debug)]
pub struct Discovery {
    /// The lake root, when the path was a lake (it has a `raw/` zone).
    pub lake_root: Option<PathBuf>,
    /// Datasets found, or the error that kept one from being found.
    pub datasets: Vec<Result<DatasetSource, (String, PathBuf, LakeError)>>,
    /// Loose files that are no table, with the reason.
    pub skipped: Vec<SkippedFile>,
}

/// Whether a directory entry is bookkeeping rather than data (`_SUCCESS`, `.tmp-…`, `_piguard`).
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The visible entries of `dir`, sorted; a name that is not UTF-8 is an error, unless it is
/// bookkeeping by its first byte (any other could be data).
fn read_dir_sorted(dir: &Path) -> Result<Vec<files::DirEntry>, LakeError> {
    let entries = files::list_dir(dir).map_err(|cause| LakeError::Io { path: dir.to_path_buf(), cause })?;
    let mut visible = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.path.file_name().unwrap_or_default();
        match name.to_str() {
            Some(name) if is_hidden(name) => {}
            Some(_) => visible.push(entry),
            None if name.as_encoded_bytes().first().is_some_and(|b| *b == b'.' || *b == b'_') => {}
            None => return Err(LakeError::UndecodableName { dir: dir.to_path_buf(), name: name.to_string_lossy().into_owned() }),
        }
    }
    Ok(visible)
}

fn partition_key(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_str()?;
    let (key, _) = name.split_once('=')?;
    (!key.is_empty()).then(|| key.to_string())
}

/// Collects the data files of a dataset directory, descending into `key=value` directories.
fn collect_files(dir: &Path, files: &mut Vec<DataFile>, keys: &mut Vec<String>, depth: usize) -> Result<(), LakeError> {
    for entry in read_dir_sorted(dir)? {
        if entry.is_dir {
            if let Some(key) = partition_key(&entry.path) {
                if keys.len() <= depth {
                    keys.push(key);
                }
                collect_files(&entry.path, files, keys, depth + 1)?;
            }
        } else if let Some(format) = FileFormat::of(&entry.path) {
            files.push(DataFile { path: entry.path, format });
        }
    }
    Ok(())
}

/// The name of a dataset found at `path`: a directory's name, or a file's stem.
fn dataset_name(path: &Path) -> String {
    if files::is_dir(path) { dir_name(path) } else { file_stem(path) }
}

/// A directory's name.
fn dir_name(dir: &Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A file's name without its extension.
fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The dataset at directory `dir`: a Delta table's latest version, or the data files found.
fn dataset_at(dir: &Path) -> Result<DatasetSource, LakeError> {
    if delta::is_table(dir) {
        return delta::latest_source_blocking(dir)?.ok_or_else(|| LakeError::NothingReadable { path: dir.to_path_buf() });
    }
    listed_at(dir)
}

/// Every data file under directory `dir`, whatever a Delta log there references.
fn listed_at(dir: &Path) -> Result<DatasetSource, LakeError> {
    let mut files = Vec::new();
    let mut keys = Vec::new();
    collect_files(dir, &mut files, &mut keys, 0)?;
    if files.is_empty() {
        return Err(LakeError::NothingReadable { path: dir.to_path_buf() });
    }
    Ok(DatasetSource { name: dir_name(dir), path: dir.to_path_buf(), files, partition_columns: keys })
}

/// Finds the datasets at `path`: a data file; a dataset directory (hive partitions, or loose
/// files with the same columns); a directory of dataset directories and of loose files that
/// are different tables (one dataset each); or a lake, whose datasets are those of its `raw/`
/// zone, where every loose file is a dataset; or a Delta table, at its latest version. Loose
/// files that are no table are skipped.
pub fn discover(path: &Path) -> Discovery {
    let failed =
        |e: LakeError| Discovery { lake_root: None, datasets: vec![Err((dataset_name(path), path.to_path_buf(), e))], skipped: Vec::new() };
    // A directory is asked for first: on an object store that is one listing, while asking
    // for an object at a prefix's key can cost a server's error and its retries.
    let is_dir = files::is_dir(path);
    if !is_dir && files::is_file(path) {
        return match FileFormat::of(path) {
            Some(format) => Discovery {
                lake_root: None,
                datasets: vec![Ok(DatasetSource::file(DataFile { path: path.to_path_buf(), format }))],
                skipped: Vec::new(),
            },
            None => failed(LakeError::Unsupported { path: path.to_path_buf() }),
        };
    }
    if !is_dir {
        return failed(LakeError::NotFound { path: path.to_path_buf() });
    }
    // A Delta table is the files its latest version holds, not every file in its directory.
    if delta::is_table(path) {
        return match dataset_at(path) {
            Ok(source) => Discovery { lake_root: None, datasets: vec![Ok(source)], skipped: Vec::new() },
            Err(e) => failed(e),
        };
    }
    let raw = path.join("raw");
    let (lake_root, parent) = if files::is_dir(&raw) { (Some(path.to_path_buf()), raw) } else { (None, path.to_path_buf()) };
    let zone_level = lake_root.is_some();
    let result = read_dir_sorted(&parent).and_then(|entries| {
        if entries.iter().any(|e| e.is_dir && partition_key(&e.path).is_some()) {
            return Ok((vec![dataset_at(&parent)], Vec::new()));
        }
        let children: Vec<&PathBuf> = entries.iter().filter(|e| e.is_dir).map(|e| &e.path).collect();
        let files: Vec<DataFile> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .filter_map(|e| FileFormat::of(&e.path).map(|format| DataFile { path: e.path.clone(), format }))
            .collect();
        if children.is_empty() && files.is_empty() {
            return Err(LakeError::NothingReadable { path: parent.clone() });
        }
        let (tables, skipped) = loose::tables(&parent, files, !zone_level && children.is_empty());
        let mut found: Vec<Result<DatasetSource, LakeError>> = children.iter().map(|c| dataset_at(c)).collect();
        found.extend(tables.into_iter().map(Ok));
        Ok((found, skipped))
    });
    match result {
        Ok((found, skipped)) => Discovery {
            lake_root,
            datasets: found
                .into_iter()
                .map(|r| r.map_err(|e| (dataset_name(error_path(&e, path)), error_path(&e, path).to_path_buf(), e)))
                .collect(),
            skipped,
        },
        Err(e) => Discovery { lake_root, ..failed(e) },
    }
}

/// The path an error is about, for naming the dataset that failed.
fn error_path<'a>(e: &'a LakeError, fallback: &'a Path) -> &'a Path {
    match e {
        LakeError::NothingReadable { path } | LakeError::Io { path, .. } => path,
        _ => fallback,
    }
}

/// The prefix of every temporary piguard writes: hidden from readers, removed after a kill.
pub const TMP_PREFIX: &str = ".tmp-";

/// A zone of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// Landing data with real PI: restricted.
    Raw,
    /// De-identified datasets, for analysts.
    Deid,
    /// Aggregates for third parties, one directory per export run.
    Export,
}

impl Zone {
    /// The zone's directory name under the lake root.
    pub fn dir(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Deid => "deid",
            Zone::Export => "export",
        }
    }
}

/// A lake: its root, its zones and the bookkeeping piguard keeps under `_piguard/`. Every
/// command reaches the lake's files through this type; the lake is a local directory or a
/// prefix of an object store, which only [`files`] tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lake {
    /// The local directory, or the root's URL (`s3://bucket/prefix`).
    root: PathBuf,
}

impl Lake {
    /// The lake at local directory `root` (which may not exist yet).
    pub fn at(root: impl Into<PathBuf>) -> Lake {
        Lake { root: root.into() }
    }

    /// The lake at `location`: `s3://bucket/prefix` (credentials and endpoint from `AWS_*`,
    /// see [`store::store_for`]), or a local directory.
    pub fn open(location: &str) -> Result<Lake, StoreError> {
        if store::url_of(Path::new(location)).is_none() {
            return Ok(Lake::at(location));
        }
        let root = PathBuf::from(location.trim_end_matches('/'));
        // Reached once now, so that a bad location or configuration fails before anything runs.
        store::object_of(&root)?;
        Ok(Lake { root })
    }

    /// Whether the lake is on the local file system.
    pub fn is_local(&self) -> bool {
        store::is_local(&self.root)
    }

    /// The lake's root directory (its URL, on object storage).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the root holds any zone.
    pub fn exists(&self) -> bool {
        [Zone::Raw, Zone::Deid, Zone::Export].iter().any(|z| files::is_dir(&self.zone(*z)))
    }

    /// A zone's directory.
    pub fn zone(&self, zone: Zone) -> PathBuf {
        self.root.join(zone.dir())
    }

    /// The directory of dataset (or export) `name` in `zone`.
    pub fn dataset_dir(&self, zone: Zone, name: &str) -> PathBuf {
        self.zone(zone).join(name)
    }

    /// The dataset `name` in `zone`: `None` when it has no data files there (never written,
    /// or every partition purged), an error when it cannot be read.
    pub fn dataset(&self, zone: Zone, name: &str) -> Result<Option<DatasetSource>, LakeError> {
        let dir = self.dataset_dir(zone, name);
        if !files::is_dir(&dir) {
            // A loose file of the zone (`raw/customers.csv`) is a dataset of its own.
            return Ok(loose::file_named(&self.zone(zone), name)
                .and_then(|path| FileFormat::of(&path).map(|format| DatasetSource::file(DataFile { path, format }))));
        }
        match dataset_at(&dir) {
            Ok(source) => Ok(Some(source)),
            Err(LakeError::NothingReadable { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every data file stored under dataset `name` of `zone`, a Delta table's unreferenced
    /// files too (`None` when there is none): what is on disk, for deleting it.
    pub fn stored_files(&self, zone: Zone, name: &str) -> Result<Option<DatasetSource>, LakeError> {
        match listed_at(&self.dataset_dir(zone, name)) {
            Ok(source) => Ok(Some(source)),
            Err(LakeError::NothingReadable { .. }) => Ok(None),
            Err(LakeError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names of the datasets (or exports) in `zone`, sorted.
    pub fn dataset_names(&self, zone: Zone) -> Vec<String> {
        subdir_names(&self.zone(zone))
    }

    /// The runs of export `name`, oldest first (run ids sort by time), published or not.
    pub fn export_runs(&self, name: &str) -> Vec<String> {
        subdir_names(&self.dataset_dir(Zone::Export, name))
    }

    /// Where export `name` records its published run (`export/NAME/_latest`, holding the run
    /// id): on an object store a run's files appear one by one, so readers follow this
    /// pointer, written after the last of them.
    pub fn export_pointer(&self, name: &str) -> PathBuf {
        self.dataset_dir(Zone::Export, name).join(EXPORT_POINTER)
    }

    /// The published run of export `name`: the one its pointer names, or, in a lake exported
    /// to before pointers were written, the latest run directory (a local run appears whole).
    pub fn published_export(&self, name: &str) -> Option<String> {
        match files::read(&self.export_pointer(name)) {
            Ok(id) => String::from_utf8(id).ok().map(|id| id.trim().to_string()),
            Err(_) if self.is_local() => self.export_runs(name).pop(),
            Err(_) => None,
        }
    }

    /// `_piguard/`: inventory, manifests, audit log, erasure ledger, lock.
    pub fn meta_dir(&self) -> PathBuf {
        self.root.join("_piguard")
    }

    /// The latest inventory (`_piguard/inventory.json`).
    pub fn inventory_path(&self) -> PathBuf {
        self.meta_dir().join("inventory.json")
    }

    /// The audit log: `_piguard/audit.jsonl`, or on an object store the folder
    /// `_piguard/audit/` of one object per entry.
    pub fn audit_path(&self) -> PathBuf {
        self.sealed_log_path("audit")
    }

    /// The erasure ledger: `_piguard/erasure.jsonl`, or on an object store the folder
    /// `_piguard/erasure/` of one object per record.
    pub fn ledger_path(&self) -> PathBuf {
        self.sealed_log_path("erasure")
    }

    fn sealed_log_path(&self, name: &str) -> PathBuf {
        match self.is_local() {
            true => self.meta_dir().join(format!("{name}.jsonl")),
            false => self.meta_dir().join(name),
        }
    }

    /// Where run `run_id`'s manifest is.
    pub fn manifest_path(&self, run_id: &str) -> PathBuf {
        self.meta_dir().join("runs").join(run_id).join("manifest.json")
    }

    /// The runs that wrote a manifest, oldest first (run ids sort by time).
    pub fn run_ids(&self) -> Vec<String> {
        let runs = self.meta_dir().join("runs");
        let mut ids: Vec<String> = files::walk(&runs)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(path, _)| {
                let id = path.parent()?.file_name()?.to_str()?.to_string();
                (path.file_name()? == "manifest.json" && path.parent()?.parent()? == runs && !is_hidden(&id)).then_some(id)
            })
            .collect();
        ids.sort();
        ids
    }

    /// Takes the writer lock (locally `_piguard/` itself; on an object store the lease
    /// `_piguard/writer.lock`), or says who holds it.
    pub fn lock(&self) -> Result<LakeLock, LockError> {
        LakeLock::acquire(&self.meta_dir().join("writer.lock"))
    }
}

/// The name of an export's pointer to its published run.
pub const EXPORT_POINTER: &str = "_latest";

/// The visible subdirectories of `dir`, by name (none when `dir` is missing).
fn subdir_names(dir: &Path) -> Vec<String> {
    read_dir_sorted(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.is_dir)
        .filter_map(|e| e.path.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect()
}

/// Removes the temporaries (files and directories named `prefix…`, e.g. [`TMP_PREFIX`]) a
/// killed process left under local directory `dir`; an object store has none, since nothing
/// is staged there to be renamed. Callers hold the [`LakeLock`], so none is being written.
pub fn remove_temporaries(dir: &Path, prefix: &str) -> std::io::Result<()> {
    if !store::is_local(dir) || !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let temporary = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix));
        match (path.is_dir(), temporary) {
            (true, true) => std::fs::remove_dir_all(&path)?,
            (true, false) => remove_temporaries(&path, prefix)?,
            (false, true) => std::fs::remove_file(&path)?,
            (false, false) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use files::tests::memory_bucket;

    fn touch(p: &Path) {
        files::write_atomic(p, b"x").unwrap();
    }

    #[test]
    fn discovers_lakes_dataset_dirs_partitions_and_files() {
        let dir = tempfile::tempdir().unwrap();
        for root in [dir.path().to_path_buf(), memory_bucket("discover")] {
            let lake = root.join("lake");
            touch(&lake.join("raw/users/part-0.parquet"));
            touch(&lake.join("raw/logs/dt=2026-01-01/a.parquet"));
            touch(&lake.join("raw/logs/dt=2026-01-02/b.parquet"));
            touch(&lake.join("raw/logs/dt=2026-01-02/_SUCCESS"));
            touch(&lake.join("raw/logs/dt=2026-01-02/.tmp-123.parquet"));
            touch(&lake.join("raw/empty/notes.txt"));

            let d = discover(&lake);
            assert_eq!(d.lake_root.as_deref(), Some(lake.as_path()));
            let ok: Vec<&DatasetSource> = d.datasets.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(ok.len(), 2, "{root:?}");
            let logs = ok.iter().find(|s| s.name == "logs").unwrap();
            assert_eq!(logs.files.len(), 2);
            assert_eq!(logs.files[1].path, lake.join("raw/logs/dt=2026-01-02/b.parquet"));
            assert_eq!(logs.partition_columns, ["dt"]);
            let failed: Vec<_> = d.datasets.iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].0, "empty");

            let one = discover(&lake.join("raw/logs"));
            assert!(one.lake_root.is_none());
            assert_eq!(one.datasets.len(), 1);

            let file = discover(&lake.join("raw/users/part-0.parquet"));
            assert_eq!(file.datasets[0].as_ref().unwrap().name, "part-0");

            assert!(matches!(discover(&root.join("missing")).datasets[0], Err((_, _, LakeError::NotFound { .. }))));
        }
    }

    #[test]
    fn a_lake_names_its_zones_bookkeeping_and_runs() {
        let dir = tempfile::tempdir().unwrap();
        for root in [dir.path().to_path_buf(), memory_bucket("names")] {
            let lake = Lake::at(&root);
            assert!(!lake.exists());
            touch(&lake.dataset_dir(Zone::Deid, "users").join("part-00000.parquet"));
            touch(&lake.dataset_dir(Zone::Deid, ".tmp-x").join("part-00000.parquet"));
            touch(&lake.dataset_dir(Zone::Export, "ads").join("20260102T000000Z-0001/ads.csv"));
            touch(&lake.dataset_dir(Zone::Export, "ads").join("20260101T000000Z-0001/ads.csv"));
            touch(&lake.dataset_dir(Zone::Export, "ads").join(".tmp-20260103T000000Z-0001/ads.csv"));
            touch(&lake.manifest_path("20260101T000000Z-0002"));
            touch(&lake.meta_dir().join("runs/20260102T000000Z-0003/notes.txt"));
            assert!(lake.exists());
            assert_eq!(lake.dataset_names(Zone::Deid), ["users"]);
            assert_eq!(lake.export_runs("ads"), ["20260101T000000Z-0001", "20260102T000000Z-0001"], "oldest first, staging hidden");
            assert_eq!(lake.published_export("ads").is_some(), lake.is_local(), "without a pointer, only a local run is whole");
            files::write_atomic(&lake.export_pointer("ads"), b"20260101T000000Z-0001").unwrap();
            assert_eq!(lake.published_export("ads").as_deref(), Some("20260101T000000Z-0001"));
            assert_eq!(lake.run_ids(), ["20260101T000000Z-0002"], "only runs that wrote a manifest");
            assert!(lake.dataset(Zone::Deid, "users").unwrap().is_some());
            assert!(lake.dataset(Zone::Raw, "users").unwrap().is_none());
            let _held = lake.lock().unwrap();
            if lake.is_local() {
                std::fs::create_dir_all(lake.dataset_dir(Zone::Raw, "purged")).unwrap();
                assert!(lake.dataset(Zone::Raw, "purged").unwrap().is_none(), "a dataset whose partitions were all purged");
                assert!(matches!(lake.lock(), Err(LockError::Busy { .. })));
                // Deleting a lock file frees nothing: the records' directory is the lock.
                let _ = std::fs::remove_file(lake.meta_dir().join("writer.lock"));
                assert!(matches!(lake.lock(), Err(LockError::Busy { .. })), "a second writer after the lock file was deleted");
            } else {
                assert!(matches!(lake.lock(), Err(LockError::Leased { .. })));
            }
        }
    }
}
