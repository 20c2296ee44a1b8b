//! DataFusion sessions over the lake, and the lake's zones as DataFusion tables, for
//! `query` and `export`: every de-identified dataset its Delta table (the latest version, or
//! one `--as-of`), every export its published run, the raw zone as `raw.<dataset>` (hive
//! partitions as columns) only when asked for.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::DataType;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::delta::{AsOf, LakeTable, TableError};
use super::store::LakeStores;
use super::{Lake, Zone, discover, store};
use crate::transform::{PseudonymKey, udf};

/// The runtime environment every session shares: the lake's stores, and one cache of the
/// Parquet footers read (checked against each file's size and time), so that a file sampled
/// for planning, read by `run` and read again by the leak gate has its footer fetched once
/// (on an object store, a request saved each time). Listings are not cached: the lake
/// changes under a command that writes it.
static RUNTIME_ENV: LazyLock<Arc<RuntimeEnv>> = LazyLock::new(|| {
    RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(LakeStores::default()))
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()
        .expect("a runtime environment with default limits builds")
});

/// A session with `config` that reads and writes the lake wherever it is: every session
/// piguard makes is one of these.
pub fn context(config: SessionConfig) -> SessionContext {
    SessionContext::new_with_config_rt(config, runtime_env())
}

/// A session like [`context`]'s whose operators hold at most `memory` bytes between them and
/// spill the rest to the temporary directory: for aggregates whose groups grow with the rows
/// (the risk gate's count of distinct subjects), which would otherwise hold every key.
pub fn bounded_context(config: SessionConfig, memory: usize) -> SessionContext {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(RUNTIME_ENV.object_store_registry.clone())
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .with_memory_pool(Arc::new(FairSpillPool::new(memory)))
        .build_arc()
        .expect("a runtime environment with a memory pool builds");
    SessionContext::new_with_config_rt(config, runtime)
}

/// The runtime environment every session shares, a cluster's processes included.
pub fn runtime_env() -> Arc<RuntimeEnv> {
    RUNTIME_ENV.clone()
}

/// Registers a directory of Parquet files (hive partitions included) as `name` (a name, never
/// parsed: a lake file named `a.b` is the table `"a.b"`, not table `b` of schema `a`).
async fn register_dir(ctx: &SessionContext, name: TableReference, dir: &Path) -> Result<(), DataFusionError> {
    // A raw dataset that is a Delta table is read as one: its latest version, never the files
    // its writers removed.
    if super::delta::is_table(dir) {
        return register_table(ctx, name, LakeTable::open_at(dir.to_path_buf(), AsOf::Latest).await).await;
    }
    let found = discover(dir);
    // A table with a Parquet file it cannot read is an error naming the file, never a table
    // without it (other files, such as an export's report.json, are not part of the table).
    let unreadable = |message: String| DataFusionError::Execution(message);
    if let Some(s) = found.skipped.iter().find(|s| s.path.ends_with(".parquet")) {
        return Err(unreadable(format!("{}: {}", s.path, s.reason)));
    }
    let source = match found.datasets.first() {
        Some(Ok(source)) => source,
        // A dataset whose partitions were all purged.
        None | Some(Err((_, _, super::LakeError::NothingReadable { .. }))) => return Ok(()),
        Some(Err((_, _, e))) => return Err(unreadable(e.to_string())),
    };
    for f in source.files.iter().filter(|f| f.format == super::FileFormat::Parquet) {
        super::read::parquet_columns(&f.path).map_err(|e| unreadable(e.to_string()))?;
    }
    let partition_cols: Vec<(String, DataType)> = source.partition_columns.iter().map(|c| (c.clone(), DataType::Utf8)).collect();
    // A URL lists everything under it (the extension picks the Parquet files); a local path
    // takes a glob.
    let url = match store::url_of(dir) {
        Some(url) => ListingTableUrl::parse(format!("{url}/"))?,
        None => ListingTableUrl::parse(format!("{}/*.parquet", std::fs::canonicalize(dir)?.display()))?,
    };
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet").with_table_partition_cols(partition_cols);
    let config = ListingTableConfig::new(url).with_listing_options(options).infer_schema(&ctx.state()).await?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Registers an opened Delta table as `name` (nothing when there was no table).
async fn register_table(
    ctx: &SessionContext,
    name: TableReference,
    opened: Result<Option<LakeTable>, TableError>,
) -> Result<(), DataFusionError> {
    let failed = |e: TableError| DataFusionError::Execution(e.to_string());
    if let Some(table) = opened.map_err(failed)? {
        ctx.register_table(name, table.provider(ctx).await.map_err(failed)?)?;
    }
    Ok(())
}

/// A session with the `piguard_*` functions (`piguard_hash` only with a key) and the tables
/// of `zone`: for [`Zone::Deid`] the de-identified datasets and the exports, for
/// [`Zone::Export`] the exports only, for [`Zone::Raw`] the raw datasets as `raw.<name>`.
/// De-identified tables are read as of `as_of`.
pub async fn session(lake: &Lake, zone: Zone, key: Option<PseudonymKey>, as_of: AsOf) -> Result<SessionContext, DataFusionError> {
    let ctx = context(SessionConfig::new());
    udf::register(&ctx, key);
    if zone == Zone::Raw {
        let catalog = ctx.catalog("datafusion").ok_or_else(|| DataFusionError::Plan("no default catalog".into()))?;
        catalog.register_schema("raw", Arc::new(MemorySchemaProvider::new()))?;
        for name in lake.dataset_names(Zone::Raw) {
            register_dir(&ctx, TableReference::partial("raw", name.as_str()), &lake.dataset_dir(Zone::Raw, &name)).await?;
        }
        return Ok(ctx);
    }
    if zone == Zone::Deid {
        for name in lake.dataset_names(Zone::Deid) {
            // A directory without a committed table holds nothing any version published.
            register_table(&ctx, TableReference::bare(name.as_str()), LakeTable::open(lake, &name, as_of).await).await?;
        }
    }
    for name in lake.dataset_names(Zone::Export) {
        let Some(published) = lake.published_export(&name) else { continue };
        register_dir(&ctx, TableReference::bare(name.as_str()), &lake.dataset_dir(Zone::Export, &name).join(published)).await?;
    }
    Ok(ctx)
}
