//! Delta Lake tables in the lake. The de-identified zone's datasets are tables piguard writes:
//! one table per dataset, its files laid out by partition
//! (`dt=2026-01-01/part-00000-<run>.parquet`), each file's provenance (what it was made from,
//! how many rows) in its `add` action's tags. A raw dataset may be a table other engines
//! write: piguard reads its latest version, and erasure and purge change it by commits too.
//!
//! Every change of a table is one commit: a run replacing partitions, an erasure rewriting
//! files, a purge removing them. A commit is a conditional create of the next log entry, so a
//! writer that dies before it leaves only files no version references (readers never see
//! them), and one that dies after it has published whole. Files a commit removes stay on disk
//! for `query --as-of` until [`LakeTable::vacuum`] deletes them; erasure and purge vacuum at
//! once, because what they remove must be physically gone, not only absent from the latest
//! version.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, MetadataExt, Remove, StructType};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::table::config::TableProperty;
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use deltalake_core::DeltaResult;
use deltalake_core::logstore::{LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories};

use super::{DataFile, DatasetSource, FileFormat, Lake, Zone, dir_name, files, store};

/// Tag: the fingerprint of the inputs and plan a file was made from.
const TAG_FINGERPRINT: &str = "piguard.fingerprint";
/// Tag: the rows the file holds.
const TAG_ROWS: &str = "piguard.rows";
/// Tag: the run that wrote it.
const TAG_RUN: &str = "piguard.run_id";

/// Why a de-identified table could not be read or changed. Names the table, never a value.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{table}: {message}")]
    Delta { table: PathBuf, message: String },
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{table}: version {version} can no longer be read: a later purge or erasure deleted its files")]
    Vacuumed { table: PathBuf, version: u64 },
    #[error("{table}: the Delta table uses {feature}, which piguard cannot read file by file; rewrite the table without it")]
    Unsupported { table: PathBuf, feature: &'static str },
}

/// Which unreferenced files a vacuum deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vacuum {
    /// Every file the latest version does not reference: for tables piguard alone writes
    /// (the de-identified zone), where that also clears what a killed writer left.
    Unreferenced,
    /// Only files a commit removed: for tables other engines write (a raw zone), whose
    /// writers' files in flight are not yet referenced either.
    Removed,
}

/// Which version of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOf {
    /// The latest commit.
    #[default]
    Latest,
    /// The table as commit `N` left it.
    Version(u64),
    /// The latest commit at or before this time.
    Time(chrono::DateTime<chrono::Utc>),
}

impl std::str::FromStr for AsOf {
    type Err = String;

    /// A version number, or an RFC 3339 time (`2026-11-30T12:00:00Z`).
    fn from_str(s: &str) -> Result<AsOf, String> {
        if let Ok(v) = s.parse::<u64>() {
            return Ok(AsOf::Version(v));
        }
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| AsOf::Time(t.to_utc()))
            .map_err(|_| format!("`{s}` is neither a table version (0, 1, …) nor an RFC 3339 time (2026-11-30T12:00:00Z)"))
    }
}

/// One data file of a table's current version.
#[derive(Debug, Clone)]
pub struct TableFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its partition directory within the table (`""` for none).
    pub partition: String,
    /// Rows it holds, as its writer recorded.
    pub rows: Option<u64>,
    /// Its size in bytes.
    pub size: u64,
    /// What it was made from, as its writer recorded.
    pub fingerprint: Option<String>,
    /// The action that removes it from the table.
    remove: Remove,
}

/// What a change of a table is, as its log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableOperation {
    /// A run replaced these partitions.
    Run { run_id: String, partitions: Vec<String> },
    /// An erasure removed a subject's rows.
    Erase { request_id: String },
    /// A purge removed partitions past their retention.
    Purge { purge_id: String },
}

/// The commit-info field naming the run, purge or erasure that made a commit.
const COMMIT_BY: &str = "piguardId";

impl TableOperation {
    /// The run, purge or erasure id, recorded in the commit's info ([`COMMIT_BY`]).
    fn properties(&self) -> CommitProperties {
        let id = match self {
            TableOperation::Run { run_id, .. } => run_id,
            TableOperation::Erase { request_id } => request_id,
            TableOperation::Purge { purge_id } => purge_id,
        };
        CommitProperties::default().with_metadata([(COMMIT_BY.to_string(), serde_json::Value::String(id.clone()))])
    }

    fn delta(&self) -> DeltaOperation {
        match self {
            TableOperation::Run { partitions, .. } => DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: None,
                predicate: Some(format!("piguard partitions {}", partitions.join(", "))),
            },
            TableOperation::Erase { request_id } => DeltaOperation::Delete { predicate: Some(format!("piguard erasure {request_id}")) },
            TableOperation::Purge { purge_id } => DeltaOperation::Delete { predicate: Some(format!("piguard purge {purge_id}")) },
        }
    }
}

/// A Delta table of the lake, loaded at a version.
pub struct LakeTable {
    /// Its directory (its URL, on object storage), for naming it and its files.
    root: PathBuf,
    table: DeltaTable,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable").field("root", &self.root).field("version", &self.version()).finish()
    }
}

/// The URL of the table at `root` (a directory, or a URL), ending in `/`.
fn table_url(root: &Path) -> Result<Url, TableError> {
    let failed = |message: String| TableError::Delta { table: root.to_path_buf(), message };
    if let Some(url) = store::url_of(root) {
        return Url::parse(&format!("{}/", url.trim_end_matches('/'))).map_err(|e| failed(e.to_string()));
    }
    let abs = std::path::absolute(root).map_err(|cause| TableError::Io { path: root.to_path_buf(), cause })?;
    Url::from_directory_path(&abs).map_err(|()| failed("not an absolute path".into()))
}

/// A builder of the table at `root`, on the store the lake's other files are read through.
fn builder(root: &Path) -> Result<DeltaTableBuilder, TableError> {
    let url = table_url(root)?;
    let builder = DeltaTableBuilder::from_url(url.clone()).map_err(delta_err(root))?;
    if url.scheme() == "file" {
        return Ok(builder);
    }
    register_log_store(&url);
    let store = store::store_for(&url).map_err(|e| TableError::Delta { table: root.to_path_buf(), message: e.message })?;
    Ok(builder.with_storage_backend(store, url))
}

impl LakeTable {
    /// Dataset `name`'s table as of `as_of`; `None` when no run has committed it.
    pub async fn open(lake: &Lake, name: &str, as_of: AsOf) -> Result<Option<LakeTable>, TableError> {
        LakeTable::open_at(lake.dataset_dir(Zone::Deid, name), as_of).await
    }

    /// The table at directory `root` as of `as_of`; `None` when `root` holds no Delta table.
    pub async fn open_at(root: PathBuf, as_of: AsOf) -> Result<Option<LakeTable>, TableError> {
        if !is_table(&root) {
            return Ok(None);
        }
        LakeTable::load(builder(&root)?, root, as_of).await
    }

    async fn load(builder: DeltaTableBuilder, root: PathBuf, as_of: AsOf) -> Result<Option<LakeTable>, TableError> {
        let builder = match as_of {
            AsOf::Latest => builder,
            AsOf::Version(v) => builder.with_version(v),
            AsOf::Time(t) => builder.with_timestamp(t),
        };
        match builder.load().await {
            Ok(table) => {
                let table = LakeTable { root, table };
                // A past version whose files a vacuum deleted would fail mid-read, or, where
                // its statistics answer the query, not at all: it is refused whole.
                if as_of != AsOf::Latest {
                    for f in table.files()? {
                        if !files::is_file(&f.path) {
                            let version = table.version();
                            return Err(TableError::Vacuumed { table: table.root, version });
                        }
                    }
                }
                Ok(Some(table))
            }
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(delta_err(&root)(e)),
        }
    }

    /// The version loaded.
    pub fn version(&self) -> u64 {
        self.table.version().unwrap_or_default()
    }

    /// The table's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data files of the loaded version, by path. Refused for tables whose files do not
    /// hold their rows as written: deleted rows marked in deletion vectors would be read
    /// back, and mapped column names would not match.
    pub fn files(&self) -> Result<Vec<TableFile>, TableError> {
        let snapshot = self.table.snapshot().map_err(delta_err(&self.root))?;
        let unsupported = |feature| TableError::Unsupported { table: self.root.clone(), feature };
        let mapping = snapshot.metadata().configuration().get("delta.columnMapping.mode");
        if mapping.is_some_and(|m| !m.eq_ignore_ascii_case("none")) {
            return Err(unsupported("column mapping"));
        }
        let mut files = Vec::new();
        for view in snapshot.log_data().iter() {
            // Tags are read only through the add action.
            #[allow(deprecated)]
            let add = view.add_action();
            if add.deletion_vector.is_some() {
                return Err(unsupported("deletion vectors"));
            }
            files.push({
                let tag = |k: &str| add.tags.as_ref().and_then(|t| t.get(k).cloned().flatten());
                let rel = percent_decode(&add.path);
                let partition = Path::new(&rel).parent().map(|p| p.display().to_string()).unwrap_or_default();
                TableFile {
                    path: self.root.join(&rel),
                    partition,
                    rows: tag(TAG_ROWS).and_then(|r| r.parse().ok()),
                    size: u64::try_from(add.size).unwrap_or_default(),
                    fingerprint: tag(TAG_FINGERPRINT),
                    remove: view.remove_action(true),
                }
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The loaded version as a dataset for piguard's readers (`None` when it holds no file).
    pub fn source(&self, name: &str) -> Result<Option<DatasetSource>, TableError> {
        let files: Vec<DataFile> = self.files()?.into_iter().map(|f| DataFile { path: f.path, format: FileFormat::Parquet }).collect();
        let partition_columns = self.partition_columns()?;
        Ok((!files.is_empty()).then(|| DatasetSource { name: name.to_string(), path: self.root.clone(), files, partition_columns }))
    }

    /// The loaded version's partition columns, in the order of its directories.
    pub fn partition_columns(&self) -> Result<Vec<String>, TableError> {
        let snapshot = self.table.snapshot().map_err(delta_err(&self.root))?;
        Ok(snapshot.metadata().partition_columns().to_vec())
    }

    /// The loaded version as a DataFusion table (what outside engines read, too).
    pub async fn provider(&self, ctx: &SessionContext) -> Result<Arc<dyn TableProvider>, TableError> {
        let failed = delta_err(&self.root);
        self.table.update_datafusion_session(&ctx.state()).map_err(&failed)?;
        self.table.table_provider().await.map_err(|e| TableError::Delta { table: self.root.clone(), message: e.to_string() })
    }

    /// Deletes the files the latest version does not reference (which, `scope` says), with
    /// no retention window: older versions can no longer be read afterwards. Returns how
    /// many files were deleted.
    pub async fn vacuum(self, scope: Vacuum) -> Result<usize, TableError> {
        let failed = delta_err(&self.root);
        let mode = match scope {
            Vacuum::Unreferenced => VacuumMode::Full,
            Vacuum::Removed => VacuumMode::Lite,
        };
        let (_, metrics) = self
            .table
            .vacuum()
            .with_mode(mode)
            .with_retention_period(chrono::Duration::zero())
            .with_enforce_retention_duration(false)
            .await
            .map_err(&failed)?;
        if store::is_local(&self.root) {
            remove_empty_dirs(&self.root).map_err(|cause| TableError::Io { path: self.root.clone(), cause })?;
        }
        Ok(metrics.files_deleted.len())
    }
}

/// delta-rs commits to a table on an object store with its default log store once it knows
/// the scheme: each commit a conditional create (`If-None-Match: *`) of the next log entry,
/// which S3 and the S3-compatible stores honour, so two writers of one version cannot both
/// succeed.
fn register_log_store(url: &Url) {
    let scheme = Url::parse(&format!("{}://", url.scheme())).expect("a scheme makes a URL");
    let factories = logstore_factories();
    if !factories.contains_key(&scheme) {
        factories.insert(scheme, Arc::new(ConditionalPutLogStores));
    }
}

struct ConditionalPutLogStores;

impl LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed: ObjectStoreRef,
        root: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed, root, location, options))
    }
}

/// Vacuums the table at `root` as its latest version stands (see [`LakeTable::vacuum`]);
/// nothing when there is no table.
pub async fn vacuum_latest(root: PathBuf, scope: Vacuum) -> Result<usize, TableError> {
    match LakeTable::open_at(root, AsOf::Latest).await? {
        Some(table) => table.vacuum(scope).await,
        None => Ok(0),
    }
}

/// How a table in `zone` is vacuumed: piguard alone writes the de-identified zone; other
/// engines may be writing a raw table.
pub fn vacuum_scope(zone: Zone) -> Vacuum {
    match zone {
        Zone::Deid => Vacuum::Unreferenced,
        _ => Vacuum::Removed,
    }
}

/// One commit in a table's log, as `audit verify` checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCommit {
    pub version: u64,
    /// Its log file.
    pub path: PathBuf,
    /// Whether it adds or removes files or changes the table's metadata (a vacuum's commits
    /// record only that it ran).
    pub changes_data: bool,
    /// The run, purge or erasure id piguard's commits record in their info.
    pub piguard_id: Option<String>,
}

/// The commits in the log of the table at `root` whose JSON files are still there (a
/// checkpoint may have let older ones be cleaned up), oldest first; none when it is no table.
pub fn log_commits(root: &Path) -> std::io::Result<Vec<LogCommit>> {
    let log = root.join("_delta_log");
    let entries = match files::list_dir(&log) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut commits = Vec::new();
    for entry in entries.into_iter().filter(|e| !e.is_dir) {
        let name = entry.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Some(version) = name.strip_suffix(".json").filter(|v| v.len() == 20).and_then(|v| v.parse::<u64>().ok()) else { continue };
        let text = files::read(&entry.path)?;
        let mut changes_data = false;
        let mut piguard_id = None;
        for line in text.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            // An unreadable action is counted as a change: it cannot be shown to be none.
            let Ok(serde_json::Value::Object(action)) = serde_json::from_slice::<serde_json::Value>(line) else {
                changes_data = true;
                continue;
            };
            for (kind, body) in &action {
                match kind.as_str() {
                    "commitInfo" => piguard_id = body.get(COMMIT_BY).and_then(|p| p.as_str()).map(str::to_string),
                    _ => changes_data = true,
                }
            }
        }
        commits.push(LogCommit { version, path: entry.path, changes_data, piguard_id });
    }
    Ok(commits)
}

/// Whether directory `dir` is a Delta table.
pub fn is_table(dir: &Path) -> bool {
    files::is_dir(&dir.join("_delta_log"))
}

/// The latest version of the table at `dir` as a dataset, for callers that are not async.
pub fn latest_source_blocking(dir: &Path) -> Result<Option<DatasetSource>, TableError> {
    let (dir, name) = (dir.to_path_buf(), dir_name(dir));
    store::block_on(async move {
        match LakeTable::open_at(dir, AsOf::Latest).await? {
            Some(table) => table.source(&name),
            None => Ok(None),
        }
    })
}

/// Deletes the data files a killed writer left in dataset `name`'s table directory: files no
/// version references, written after the latest commit (or, with no table yet, every data
/// file there), and the temporaries of files it had not finished. Files earlier commits
/// removed are kept for `--as-of`. Callers hold the lake's lock, so no writer is working.
/// Returns how many were deleted.
pub fn remove_uncommitted(lake: &Lake, name: &str, table: Option<&LakeTable>) -> Result<usize, TableError> {
    let root = lake.dataset_dir(Zone::Deid, name);
    let (referenced, committed_at) = match table {
        Some(t) => {
            let snapshot = t.table.snapshot().map_err(delta_err(&root))?;
            let referenced: std::collections::HashSet<PathBuf> = t.files()?.into_iter().map(|f| f.path).collect();
            (referenced, snapshot.version_timestamp(t.version()).unwrap_or(i64::MAX))
        }
        None => (Default::default(), i64::MIN),
    };
    let stored = files::walk(&root).map_err(|cause| TableError::Io { path: root.clone(), cause })?;
    let mut removed = 0;
    for (path, meta) in stored {
        let rel = path.strip_prefix(&root).unwrap_or(&path);
        let hidden = |n: &str| n.starts_with('_') || n.starts_with('.');
        let in_hidden_dir = rel.parent().into_iter().flat_map(Path::components).any(|c| c.as_os_str().to_str().is_some_and(hidden));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // A file a killed run was writing: never whole, never committed.
        if !in_hidden_dir && name.starts_with(super::TMP_PREFIX) {
            files::delete(&path).map_err(|cause| TableError::Io { path: path.clone(), cause })?;
            removed += 1;
            continue;
        }
        if in_hidden_dir || hidden(name) || FileFormat::of(&path) != Some(FileFormat::Parquet) || referenced.contains(&path) {
            continue;
        }
        let modified = meta.modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        if modified > committed_at {
            files::delete(&path).map_err(|cause| TableError::Io { path: path.clone(), cause })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A dataset found by listing a directory, narrowed to the files its latest version holds
/// when the directory is a Delta table (`None` when that version holds none); any other
/// dataset as found.
pub async fn current(source: DatasetSource) -> Result<Option<DatasetSource>, TableError> {
    match LakeTable::open_at(source.path.clone(), AsOf::Latest).await? {
        Some(table) => table.source(&source.name),
        None => Ok(Some(source)),
    }
}

/// Versions between checkpoints of a table piguard creates: a reader (and every `run`, `purge`
/// and `erase`) replays at most this many commits after the last checkpoint, not the whole log.
pub const CHECKPOINT_VERSIONS: u64 = 10;

/// Add actions and removals for one table, committed as one version.
#[derive(Debug, Default)]
pub struct TableCommit {
    adds: Vec<Add>,
    removes: Vec<Remove>,
    schema: Option<Arc<Schema>>,
    partition_columns: Vec<String>,
}

impl TableCommit {
    /// Adds `file` (inside the table's directory `root`, its partition given by its
    /// directories), holding `rows` (with Delta `stats`, when known, else their count),
    /// written by `run_id` from inputs with `fingerprint`.
    pub fn add(
        &mut self,
        root: &Path,
        file: &Path,
        rows: u64,
        stats: Option<&str>,
        fingerprint: Option<&str>,
        run_id: &str,
    ) -> Result<(), TableError> {
        let io = |cause| TableError::Io { path: file.to_path_buf(), cause };
        // Durable before any version can reference it: a power cut after the commit must not
        // leave the log naming a truncated file.
        files::sync_file(file).map_err(io)?;
        let meta = files::meta(file).map_err(io)?;
        let modified = meta.modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let rel = file
            .strip_prefix(root)
            .map_err(|_| TableError::Delta { table: root.to_path_buf(), message: format!("{} is outside the table", file.display()) })?;
        if self.schema.is_none() {
            let reader = files::open(file).map_err(io)?;
            let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(reader)
                .map_err(|e| TableError::Delta { table: file.to_path_buf(), message: e.to_string() })?;
            self.schema = Some(builder.schema().clone());
        }
        let partition_values = super::read::partition_values(rel);
        if self.partition_columns.is_empty() {
            self.partition_columns = partition_values.iter().map(|(k, _)| k.clone()).collect();
        }
        let mut tags = vec![(TAG_ROWS, rows.to_string()), (TAG_RUN, run_id.to_string())];
        tags.extend(fingerprint.map(|f| (TAG_FINGERPRINT, f.to_string())));
        self.adds.push(Add {
            path: rel.display().to_string(),
            partition_values: partition_values.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            size: meta.len as i64,
            modification_time: modified,
            data_change: true,
            stats: Some(stats.map_or_else(|| serde_json::json!({ "numRecords": rows }).to_string(), str::to_string)),
            tags: Some(tags.into_iter().map(|(k, v)| (k.to_string(), Some(v))).collect()),
            ..Default::default()
        });
        Ok(())
    }

    /// Removes `file` from the table.
    pub fn remove(&mut self, file: &TableFile) {
        self.removes.push(file.remove.clone());
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.removes.is_empty()
    }

    /// Commits the changes to `table` as one version (creating a table at `root` when `table`
    /// is `None`), and returns the version.
    pub async fn commit(self, root: &Path, table: Option<&LakeTable>, operation: &TableOperation) -> Result<u64, TableError> {
        let root = root.to_path_buf();
        let failed = delta_err(&root);
        let schema = match &self.schema {
            Some(s) => Some(delta_schema(s, &self.partition_columns).map_err(&failed)?),
            None => None,
        };
        let mut actions: Vec<Action> = self.removes.into_iter().map(Action::Remove).collect();
        actions.extend(self.adds.into_iter().map(Action::Add));
        let Some(table) = table else {
            let schema =
                schema.ok_or_else(|| TableError::Delta { table: root.clone(), message: "a new table needs a data file".into() })?;
            files::create_dir_all(&root).map_err(|cause| TableError::Io { path: root.clone(), cause })?;
            let created = CreateBuilder::new()
                .with_location(table_url(&root)?.to_string())
                .with_log_store(builder(&root)?.build().map_err(&failed)?.log_store())
                .with_table_name(dir_name(&root))
                .with_columns(schema.fields().cloned())
                .with_partition_columns(self.partition_columns)
                .with_configuration_property(TableProperty::CheckpointInterval, Some(CHECKPOINT_VERSIONS.to_string()))
                .with_actions(actions)
                .with_commit_properties(operation.properties())
                .await
                .map_err(&failed)?;
            return Ok(created.version().unwrap_or_default());
        };
        let snapshot = table.table.snapshot().map_err(&failed)?;
        if let Some(schema) = schema.filter(|s| *s != *snapshot.schema()) {
            // A changed plan (a column dropped, another kept) changes the table's schema.
            actions.push(Action::Metadata(snapshot.metadata().clone().with_schema(&schema).map_err(|e| failed(e.into()))?));
        }
        let committed = CommitBuilder::from(operation.properties())
            .with_actions(actions)
            .build(Some(snapshot), table.table.log_store(), operation.delta())
            .await
            .map_err(&failed)?;
        Ok(committed.version())
    }
}

/// The Delta schema of files piguard wrote, with `partition_columns` (strings, as hive
/// directories are read): view types read as their plain kinds, and times as microseconds
/// (Delta's only timestamp unit).
fn delta_schema(arrow: &Schema, partition_columns: &[String]) -> Result<StructType, DeltaTableError> {
    let plain = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone().or_else(|| Some("UTC".into()))),
        other => other.clone(),
    };
    let mut fields: Vec<Field> = arrow.fields().iter().map(|f| Field::new(f.name(), plain(f.data_type()), true)).collect();
    for c in partition_columns.iter().filter(|c| arrow.field_with_name(c).is_err()) {
        fields.push(Field::new(c, DataType::Utf8, true));
    }
    (&Schema::new(fields)).try_into_kernel().map_err(DeltaTableError::from)
}

/// Removes the partition directories a vacuum emptied (never the log).
fn remove_empty_dirs(dir: &Path) -> std::io::Result<bool> {
    let mut empty = true;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('_') || n.starts_with('.'));
        if path.is_dir() && !hidden && remove_empty_dirs(&path)? {
            std::fs::remove_dir(&path)?;
        } else {
            empty = false;
        }
    }
    Ok(empty)
}

fn delta_err(root: &Path) -> impl Fn(DeltaTableError) -> TableError + '_ {
    move |e| TableError::Delta { table: root.to_path_buf(), message: e.to_string() }
}

/// Decodes the `%XX` escapes of a Delta path (partition values such as `dt=2026-01-01` may be
/// escaped by other writers).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
