//! The lake's zones as DataFusion tables, for `query` and `export`: every de-identified
//! dataset its Delta table (the latest version, or one `--as-of`), every export its latest
//! run, the raw zone as `raw.<dataset>` (hive partitions as columns) only when asked for.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::common::TableReference;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use url::Url;

use super::delta::{AsOf, LakeTable, TableError};
use super::{Lake, Zone, discover};
use crate::transform::{PseudonymKey, udf};

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
    let abs = std::fs::canonicalize(dir)?;
    let url = ListingTableUrl::parse(format!("{}/*.parquet", abs.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols);
    let config = ListingTableConfig::new(url).with_listing_options(options).infer_schema(&ctx.state()).await?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Registers an opened Delta table as `name` (nothing when there was no table).
async fn register_table(ctx: &SessionContext, name: TableReference, opened: Result<Option<LakeTable>, TableError>) -> Result<(), DataFusionError> {
    let failed = |e: TableError| DataFusionError::Execution(e.to_string());
    if let Some(table) = opened.map_err(failed)? {
        ctx.register_table(name, table.provider(ctx).await.map_err(failed)?)?;
    }
    Ok(())
}

/// Registers the Parquet files directly under `url` (a lake on object storage) as `name`.
async fn register_url(ctx: &SessionContext, name: TableReference, url: &Url) -> Result<(), DataFusionError> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(url.as_str())?).with_listing_options(options).infer_schema(&ctx.state()).await?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The visible subdirectories of `rel` (`deid/`, `export/ads/`) in the lake, by name.
async fn names_under(lake: &Lake, rel: &str) -> Result<Vec<String>, DataFusionError> {
    if lake.is_local() {
        return Ok(super::subdir_names(&lake.root().join(rel)));
    }
    let store = lake.store().map_err(|e| DataFusionError::External(e.into()))?;
    store.subdirs(rel).await.map_err(|e| DataFusionError::External(e.into()))
}

/// A session with the `piguard_*` functions (`piguard_hash` only with a key) and the tables
/// of `zone`: for [`Zone::Deid`] the de-identified datasets and the exports, for
/// [`Zone::Export`] the exports only, for [`Zone::Raw`] the raw datasets as `raw.<name>`.
/// De-identified tables are read as of `as_of`.
pub async fn session(lake: &Lake, zone: Zone, key: Option<PseudonymKey>, as_of: AsOf) -> Result<SessionContext, DataFusionError> {
    let ctx = SessionContext::new();
    udf::register(&ctx, key);
    let store = lake.store().map_err(|e| DataFusionError::External(e.into()))?;
    store.register(&ctx);
    if zone == Zone::Raw {
        let catalog = ctx.catalog("datafusion").ok_or_else(|| DataFusionError::Plan("no default catalog".into()))?;
        catalog.register_schema("raw", Arc::new(MemorySchemaProvider::new()))?;
        for name in lake.dataset_names(Zone::Raw) {
            register_dir(&ctx, TableReference::partial("raw", name.as_str()), &lake.dataset_dir(Zone::Raw, &name)).await?;
        }
        return Ok(ctx);
    }
    if zone == Zone::Deid {
        for name in names_under(lake, "deid/").await? {
            // A directory without a committed table holds nothing any version published.
            register_table(&ctx, TableReference::bare(name.as_str()), LakeTable::open(lake, &name, as_of).await).await?;
        }
    }
    for name in names_under(lake, "export/").await? {
        let Some(latest) = names_under(lake, &format!("export/{name}/")).await?.pop() else { continue };
        let table = TableReference::bare(name.as_str());
        if lake.is_local() {
            register_dir(&ctx, table, &lake.dataset_dir(Zone::Export, &name).join(latest)).await?;
        } else {
            register_url(&ctx, table, &store.url_of(&format!("export/{name}/{latest}/"))).await?;
        }
    }
    Ok(ctx)
}
