//! A de-identified table's latest version as a table a cluster can ship: its Parquet files
//! with their partition values, read as the Delta table reads them. (delta-rs's own scan has
//! no codec that sends it to executors.)

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::lake::delta::{AsOf, LakeTable};
use crate::lake::{Lake, Zone, store};

/// One data file: where it is in its store, its size, and its partition's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SnapshotFile {
    path: String,
    size: u64,
    partition: Vec<String>,
}

/// What a plan carries for the table: the store and the files (the schema travels apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFiles {
    store: String,
    partition_columns: Vec<String>,
    files: Vec<SnapshotFile>,
}

/// A table version's files, as a plain Parquet scan.
#[derive(Debug)]
pub struct SnapshotTable {
    files: SnapshotFiles,
    schema: SchemaRef,
}

/// The store (`file://`, `s3://bucket`) and the key of the lake file `path`.
fn located(path: &Path) -> Result<(String, String)> {
    match store::url_of(path) {
        Some(url) => {
            let after_scheme = url.find("://").map_or(0, |i| i + 3);
            let (bucket, key) = url[after_scheme..].split_once('/').unwrap_or((&url[after_scheme..], ""));
            Ok((format!("{}{bucket}", &url[..after_scheme]), key.to_string()))
        }
        None => {
            let absolute = std::fs::canonicalize(path).map_err(|e| DataFusionError::Execution(format!("{}: {e}", path.display())))?;
            Ok(("file://".to_string(), absolute.display().to_string().trim_start_matches('/').to_string()))
        }
    }
}

impl SnapshotTable {
    /// The latest version of the table at `table`, `None` when there is none.
    async fn latest(ctx: &SessionContext, table: &LakeTable) -> Result<Option<SnapshotTable>> {
        let failed = |e: crate::lake::delta::TableError| DataFusionError::Execution(e.to_string());
        let mut files = Vec::new();
        let mut store = None;
        for f in table.files().map_err(failed)? {
            let (in_store, path) = located(&f.path)?;
            store.get_or_insert(in_store);
            // Hive-style directories, `dt=2026-01-01/`, in the order of the partition columns.
            let values = Path::new(&f.partition).iter().filter_map(|c| c.to_str()?.split_once('=').map(|(_, v)| v.to_string()));
            files.push(SnapshotFile { path, size: f.size, partition: values.collect() });
        }
        let Some(store) = store else { return Ok(None) };
        let partition_columns = table.partition_columns().map_err(failed)?;
        let schema = table.provider(ctx).await.map_err(failed)?.schema();
        Ok(Some(SnapshotTable { files: SnapshotFiles { store, partition_columns, files }, schema }))
    }

    /// The table as a plan carries it.
    pub fn files(&self) -> &SnapshotFiles {
        &self.files
    }

    /// The table a plan carried, with its schema.
    pub fn from_plan(files: SnapshotFiles, schema: SchemaRef) -> Self {
        SnapshotTable { files, schema }
    }
}

#[async_trait::async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Base
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partitioned = |c: &str| self.files.partition_columns.iter().any(|p| p == c);
        let file_fields: Vec<_> = self.schema.fields().iter().filter(|f| !partitioned(f.name())).cloned().collect();
        let partition_fields: Vec<_> = self
            .files
            .partition_columns
            .iter()
            .map(|c| self.schema.field_with_name(c).map(|f| Arc::new(f.clone())))
            .collect::<std::result::Result<_, _>>()?;
        let table_schema =
            TableSchema::builder(Arc::new(Schema::new(file_fields))).with_table_partition_cols(partition_fields.clone()).build();
        let mut files = Vec::new();
        for f in &self.files.files {
            let values =
                f.partition.iter().zip(&partition_fields).map(|(v, field)| ScalarValue::try_from_string(v.clone(), field.data_type()));
            files.push(PartitionedFile::new(f.path.clone(), f.size).with_partition_values(values.collect::<Result<_>>()?));
        }
        let groups = state.config().target_partitions().max(1);
        let chunk = files.len().div_ceil(groups).max(1);
        let file_groups: Vec<FileGroup> = files.chunks(chunk).map(|c| FileGroup::new(c.to_vec())).collect();
        // The scan's columns are the files' then the partition columns; the table's may be in
        // another order, which the projection restores.
        let order: Vec<usize> =
            table_schema.table_schema().fields().iter().map(|f| self.schema.index_of(f.name())).collect::<std::result::Result<_, _>>()?;
        let wanted = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let projection = Some(wanted.iter().map(|i| order.iter().position(|o| o == i).expect("every column is scanned")).collect());
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(&self.files.store)?, Arc::new(ParquetSource::new(table_schema)))
            .with_file_groups(file_groups)
            .with_projection_indices(projection)?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// A session on `engine` (a cluster's) with the latest version of every de-identified
/// dataset of `lake` as a table, for exports' aggregations.
pub async fn deid_session(engine: &SessionContext, lake: &Lake) -> Result<SessionContext> {
    for name in lake.dataset_names(Zone::Deid) {
        let table = LakeTable::open(lake, &name, AsOf::Latest).await.map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let Some(table) = table else { continue };
        if let Some(snapshot) = SnapshotTable::latest(engine, &table).await? {
            engine.register_table(name.as_str(), Arc::new(snapshot))?;
        }
    }
    Ok(engine.clone())
}
