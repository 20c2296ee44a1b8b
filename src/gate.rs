//! The write that judges what it writes: `run` streams a partition (or a batch of small ones)
//! through one plan, [`GatedWriteExec`], which writes the de-identified rows to Parquet, one
//! file per scan task and partition, and feeds the leak gate from the same stream: the value
//! judges of the columns that may hold PI, and a [`FingerprintSample`] of the kept values and
//! of the raw values the plan protects (hidden columns of the projection, so the kernels see
//! every raw value once). Each task returns one row per file it wrote, with the file's Delta
//! statistics, and its judgements and sample; the client decides from them. Nothing is
//! published here: the files are invisible until a commit names them.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, ListArray, ListBuilder, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result, ScalarValue};
use datafusion::datasource::listing::{FileRange, ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder, TaskContext};
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::{Accumulator, Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties, execute_stream_partitioned,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::classify::{Classifier, Rules};
use crate::lake::{self, TMP_PREFIX, files, store};
use crate::leak::{ColumnJudge, FingerprintSample, Judgement, identifier_fingerprints};
use crate::plan::{ColumnPlan, DatasetPlan, Step, deid_parquet_options};
use crate::risk::TextLength;
use crate::risk::counted::ClassCounter;
use crate::risk::subjects::{SubjectKeyRuns, SubjectKeyWriter};

/// The hidden column telling which partition of a batch a row belongs to (an index into
/// [`GateSpec::out_dirs`]).
pub const PARTITION_TAG: &str = "__piguard_partition";

/// The hidden column holding the fingerprints of protected raw column `i` of [`GateSpec::protected`].
pub fn raw_fingerprint_column(i: usize) -> String {
    format!("{RAW_FINGERPRINTS}{i}")
}

const RAW_FINGERPRINTS: &str = "__piguard_raw_fp_";

/// Whether `column` is one of a gated write's hidden columns, never written.
fn is_hidden(column: &str) -> bool {
    column == PARTITION_TAG || column.starts_with(RAW_FINGERPRINTS)
}

/// The columns of a gated write's input (`schema`) that are written: all but the hidden ones.
pub fn written_schema(schema: &Schema) -> Schema {
    Schema::new(schema.fields().iter().filter(|f| !is_hidden(f.name())).cloned().collect::<Vec<_>>())
}

/// What a gated write needs to know, on whichever process runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateSpec {
    /// The dataset's plan: which columns are kept, protected or pseudonyms, and how files are written.
    pub plan: DatasetPlan,
    /// Where each partition's files go (a directory or a URL), by partition tag.
    pub out_dirs: Vec<String>,
    /// The run writing, part of every file's name.
    pub run_id: String,
    /// The protected raw columns fingerprinted in the hidden columns, in order.
    pub protected: Vec<(String, Category)>,
    /// The classifier's override rule files (the builtin rules are in every binary).
    pub overrides: Vec<(String, String)>,
    /// Where each task keeps the subject keys of the rows it writes, for the risk gate's
    /// proof that every record is a subject of its own (a local run whose subject is published).
    #[serde(default)]
    pub subject_keys: Option<String>,
    /// Whether each task counts its records by class over the plan's class groupings, for the
    /// risk gate ([`ClassCounter`]).
    #[serde(default)]
    pub count_classes: bool,
    /// The columns whose characters and values each task sums, for the risk gate's mean
    /// lengths ([`TextLength`]), in order.
    #[serde(default)]
    pub text_columns: Vec<String>,
}

impl GateSpec {
    /// The columns written as they are, whose values are compared with raw identifiers.
    fn kept(&self) -> Vec<String> {
        self.plan.kept_columns()
    }

    /// The columns whose every value is judged by the value detectors: all but those kept with
    /// a reason and those whose kernel cannot output PI: pseudonyms (HMAC digests) and numbers or
    /// times rounded by a generalization (checking them took a seventh of a run).
    fn judged(&self) -> Vec<String> {
        let cannot_hold_pi = |c: &&ColumnPlan| match &c.step {
            Step::Hash { .. } | Step::Drop => true,
            Step::Generalize { generalization } => generalization.yields_only_coarse_numbers(),
            _ => c.reason.is_some(),
        };
        self.plan.columns.iter().filter(|c| !cannot_hold_pi(c)).map(|c| c.name.clone()).collect()
    }

    /// Whether `column` gets min/max statistics: not pseudonyms, whose random digests prune nothing.
    fn has_statistics(&self, column: &str) -> bool {
        !self.plan.columns.iter().any(|c| c.name == column && matches!(c.step, Step::Hash { .. }))
    }
}

/// The schema of what a gated write returns: one row per file written.
fn summary_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("partition", DataType::UInt32, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("stats", DataType::Utf8, false),
        // The task's findings, fingerprints, subject keys, class counts and text lengths, on
        // the first row of each task (the judgements always).
        Field::new("judgements", DataType::Utf8, true),
        Field::new("fingerprints", DataType::Binary, true),
        Field::new("subject_keys", DataType::Utf8, true),
        Field::new("classes", DataType::new_list(DataType::Binary, true), true),
        Field::new("text_lengths", DataType::Utf8, true),
    ]))
}

/// The logical node of a gated write over `input` (the projection, with its hidden columns).
#[derive(Debug, Clone)]
pub struct GatedWrite {
    input: LogicalPlan,
    spec: Arc<GateSpec>,
    /// The spec as JSON: what the node is compared, hashed and encoded by.
    encoded: String,
    schema: DFSchemaRef,
}

impl GatedWrite {
    /// The write of `input` as `spec` says.
    pub fn new(input: LogicalPlan, spec: GateSpec) -> Result<Self> {
        let encoded = serde_json::to_string(&spec).map_err(|e| DataFusionError::Internal(format!("encoding a gated write: {e}")))?;
        Ok(GatedWrite { input, spec: Arc::new(spec), encoded, schema: Arc::new(DFSchema::try_from(summary_schema())?) })
    }

    /// The node decoded from [`GatedWrite::encoded`] bytes, over `input`.
    pub fn decode(bytes: &[u8], input: LogicalPlan) -> Result<Self> {
        let spec = serde_json::from_slice(bytes).map_err(|e| DataFusionError::Internal(format!("decoding a gated write: {e}")))?;
        GatedWrite::new(input, spec)
    }

    /// The node's spec as bytes, to travel to a scheduler.
    pub fn encoded(&self) -> &[u8] {
        self.encoded.as_bytes()
    }
}

impl PartialEq for GatedWrite {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded && self.input == other.input
    }
}
impl Eq for GatedWrite {}
impl PartialOrd for GatedWrite {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.encoded.partial_cmp(&other.encoded)
    }
}
impl Hash for GatedWrite {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.encoded.hash(state);
        self.input.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for GatedWrite {
    fn name(&self) -> &str {
        "GatedWrite"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GatedWrite: dataset={}, partitions={}", self.spec.plan.name, self.spec.out_dirs.len())
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Internal("a gated write has one input".into()))?;
        Ok(GatedWrite { input, ..self.clone() })
    }
}

/// Runs `df` (a projection with the hidden columns) through a gated write, where `df`'s
/// session runs its plans, and returns what each task wrote and found.
pub async fn write(df: DataFrame, spec: GateSpec) -> Result<GateOutcome> {
    let protected = spec.protected.len();
    let kept = spec.kept().len();
    let texts = spec.text_columns.len();
    let (state, input) = df.into_parts();
    let node = GatedWrite::new(input, spec)?;
    let plan = LogicalPlan::Extension(Extension { node: Arc::new(node) });
    let df = DataFrame::new(state, plan);
    let context = Arc::new(df.task_ctx());
    let physical = df.create_physical_plan().await?;
    let physical = match context.session_config().options().execution.enable_file_stream_work_stealing {
        true => in_pieces(physical, SCAN_PIECE)?,
        false => physical,
    };
    // Every task runs to its end, even when another fails: none is left writing a file
    // nobody will delete.
    let tasks: Vec<_> = execute_stream_partitioned(physical, context)?
        .into_iter()
        .map(|stream| tokio::spawn(futures::TryStreamExt::try_collect::<Vec<RecordBatch>>(stream)))
        .collect();
    let mut batches = Vec::new();
    let mut failed = None;
    for task in tasks {
        match task.await {
            Ok(Ok(done)) => batches.extend(done),
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => failed = failed.or(Some(DataFusionError::Execution(format!("a write task stopped: {e}")))),
        }
    }
    let outcome = GateOutcome::from_batches(&batches, protected, kept, texts)?;
    match failed {
        None => Ok(outcome),
        Some(e) => {
            for f in &outcome.files {
                let _ = files::delete(&f.path);
            }
            Err(e)
        }
    }
}

/// The most a write task reads of a Parquet file at a time (a row group or two): the scan's
/// ranges are cut into pieces of this size, so that a task left without work takes the pieces
/// of another's range that nobody has begun (DataFusion's work stealing), and the tasks end
/// together. Cut by bytes alone, a partition splits where its row groups fall: 9 and 8 of the
/// benchmark's 17, the last of them small, and one core idled for the last 13 % of the write.
const SCAN_PIECE: i64 = 16 << 20;

/// `plan` with the byte range every Parquet scan in it reads of each file cut into pieces of
/// about `piece` bytes, each partition keeping its own.
fn in_pieces(plan: Arc<dyn ExecutionPlan>, piece: i64) -> Result<Arc<dyn ExecutionPlan>> {
    let cut = |node: Arc<dyn ExecutionPlan>| {
        let Some(config) = node.downcast_ref::<DataSourceExec>().and_then(|s| s.data_source().downcast_ref::<FileScanConfig>()) else {
            return Ok(Transformed::no(node));
        };
        if config.file_source().file_type() != "parquet" {
            return Ok(Transformed::no(node));
        }
        let groups = config.file_groups.iter().map(|g| FileGroup::new(g.files().iter().flat_map(|f| pieces(f, piece)).collect())).collect();
        let config = FileScanConfigBuilder::from(config.clone()).with_file_groups(groups).build();
        Ok(Transformed::yes(DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>))
    };
    plan.transform_down(cut).map(|t| t.data)
}

/// `file`'s range (or the whole file) as consecutive ranges of about `piece` bytes. A row group
/// is read by the range its first page lies in, so each is still read once.
fn pieces(file: &PartitionedFile, piece: i64) -> Vec<PartitionedFile> {
    let (start, end) = file.range.as_ref().map_or((0, file.object_meta.size as i64), |r| (r.start, r.end));
    let n = ((end - start) / piece).max(1);
    (0..n)
        .map(|i| {
            let mut piece = file.clone();
            piece.range = Some(FileRange { start: start + (end - start) * i / n, end: start + (end - start) * (i + 1) / n });
            piece
        })
        .collect()
}

/// A file a gated write wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenFile {
    /// Its partition tag.
    pub partition: usize,
    pub path: PathBuf,
    pub rows: u64,
    /// Its Delta statistics (JSON).
    pub stats: String,
}

/// What a gated write did, every task's results merged.
#[derive(Debug, Default)]
pub struct GateOutcome {
    pub files: Vec<WrittenFile>,
    /// The first finding of each judged column, by column.
    pub judgements: BTreeMap<String, Judgement>,
    /// The fingerprints of every task.
    pub sample: FingerprintSample,
    /// The subject keys each task kept, where the spec asked for them.
    pub subject_keys: Vec<SubjectKeyRuns>,
    /// Each task's class counts by grouping ([`ClassCounter::finish`]), none where it counted none.
    pub classes: Vec<Vec<Option<Vec<u8>>>>,
    /// The [`GateSpec::text_columns`] summed over every task, in order.
    pub text_lengths: Vec<TextLength>,
}

impl GateOutcome {
    fn from_batches(batches: &[RecordBatch], protected: usize, kept: usize, texts: usize) -> Result<Self> {
        let malformed = |what: &str| DataFusionError::Internal(format!("a gated write returned {what}"));
        let mut outcome = GateOutcome {
            sample: FingerprintSample::new(protected, kept),
            text_lengths: vec![TextLength::default(); texts],
            ..GateOutcome::default()
        };
        for batch in batches {
            let partitions = batch.column(0).as_primitive::<UInt32Type>();
            let (paths, stats, judgements) =
                (batch.column(1).as_string::<i32>(), batch.column(3).as_string::<i32>(), batch.column(4).as_string::<i32>());
            let rows = batch.column(2).as_primitive::<UInt64Type>();
            let samples = batch.column(5).as_binary::<i32>();
            let keys = batch.column(6).as_string::<i32>();
            let classes = batch.column(7).as_list::<i32>();
            let lengths = batch.column(8).as_string::<i32>();
            for i in 0..batch.num_rows() {
                outcome.files.push(WrittenFile {
                    partition: partitions.value(i) as usize,
                    path: PathBuf::from(paths.value(i)),
                    rows: rows.value(i),
                    stats: stats.value(i).to_string(),
                });
                if judgements.is_valid(i) {
                    let parts = match classes.is_valid(i) {
                        true => classes.value(i).as_binary::<i32>().iter().map(|p| p.map(<[u8]>::to_vec)).collect(),
                        false => Vec::new(),
                    };
                    outcome.classes.push(parts);
                    let found: Vec<(String, Judgement)> =
                        serde_json::from_str(judgements.value(i)).map_err(|_| malformed("unreadable judgements"))?;
                    for (column, j) in found {
                        outcome.judgements.entry(column).or_insert(j);
                    }
                }
                if lengths.is_valid(i) {
                    let counted: Vec<TextLength> =
                        serde_json::from_str(lengths.value(i)).map_err(|_| malformed("unreadable text lengths"))?;
                    if counted.len() != texts {
                        return Err(malformed("text lengths of other columns"));
                    }
                    outcome.text_lengths.iter_mut().zip(counted).for_each(|(mine, theirs)| mine.merge(theirs));
                }
                if samples.is_valid(i) {
                    outcome.sample.merge(FingerprintSample::from_bytes(samples.value(i)).ok_or_else(|| malformed("an unreadable sample"))?);
                }
                if keys.is_valid(i) {
                    outcome.subject_keys.push(serde_json::from_str(keys.value(i)).map_err(|_| malformed("unreadable subject keys"))?);
                }
            }
        }
        Ok(outcome)
    }
}

/// Plans [`GatedWrite`] nodes (and everything else as DataFusion does).
#[derive(Debug, Default)]
pub struct GatePlanner {
    /// The classifier of this process's run, reused when a spec names the same rules.
    classifier: Option<Arc<Classifier>>,
}

impl GatePlanner {
    /// A planner reusing `classifier` for specs made with its rules.
    pub fn with_classifier(classifier: Arc<Classifier>) -> Self {
        GatePlanner { classifier: Some(classifier) }
    }
}

/// `held` when `spec` was made with its rules, else the classifier `spec` names.
fn reused_or_built(held: Option<&Arc<Classifier>>, spec: &GateSpec) -> Result<Arc<Classifier>> {
    match held {
        Some(c) if c.rules().override_texts == spec.overrides => Ok(c.clone()),
        _ => classifier_of(spec),
    }
}

/// The classifier `spec` was made with.
fn classifier_of(spec: &GateSpec) -> Result<Arc<Classifier>> {
    let rules = Rules::with_overrides(spec.overrides.clone()).map_err(|e| DataFusionError::Plan(e.to_string()))?;
    Ok(Arc::new(Classifier::new(rules)))
}

#[async_trait]
impl QueryPlanner for GatePlanner {
    async fn create_physical_plan(&self, logical_plan: &LogicalPlan, session: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        let planner =
            DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(GateExtensionPlanner { classifier: self.classifier.clone() })]);
        planner.create_physical_plan(logical_plan, session).await
    }
}

struct GateExtensionPlanner {
    classifier: Option<Arc<Classifier>>,
}

#[async_trait]
impl ExtensionPlanner for GateExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<GatedWrite>() else { return Ok(None) };
        let classifier = reused_or_built(self.classifier.as_ref(), &write.spec)?;
        Ok(Some(Arc::new(GatedWriteExec::new(physical_inputs[0].clone(), write.spec.clone(), classifier))))
    }
}

/// `ctx` with gated writes planned (its classifier reused for them).
pub fn session(ctx: &SessionContext, classifier: Arc<Classifier>) -> SessionContext {
    let state =
        SessionStateBuilder::new_from_existing(ctx.state()).with_query_planner(Arc::new(GatePlanner::with_classifier(classifier))).build();
    SessionContext::new_with_state(state)
}

/// The physical gated write: each input partition (a scan task) is written and judged by
/// itself, in parallel, with no exchange between them.
#[derive(Debug)]
pub struct GatedWriteExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<GateSpec>,
    classifier: Arc<Classifier>,
    properties: Arc<PlanProperties>,
}

impl GatedWriteExec {
    fn new(input: Arc<dyn ExecutionPlan>, spec: Arc<GateSpec>, classifier: Arc<Classifier>) -> Self {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(summary_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        GatedWriteExec { input, spec, classifier, properties: Arc::new(properties) }
    }

    /// The exec decoded from [`GatedWriteExec::encoded`] bytes over `input`, with the classifier
    /// its spec names.
    pub fn decode(bytes: &[u8], input: Arc<dyn ExecutionPlan>) -> Result<Self> {
        let spec: GateSpec =
            serde_json::from_slice(bytes).map_err(|e| DataFusionError::Internal(format!("decoding a gated write: {e}")))?;
        let classifier = classifier_of(&spec)?;
        Ok(GatedWriteExec::new(input, Arc::new(spec), classifier))
    }

    /// The exec's spec as bytes, to travel to an executor.
    pub fn encoded(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self.spec.as_ref()).map_err(|e| DataFusionError::Internal(format!("encoding a gated write: {e}")))
    }
}

impl DisplayAs for GatedWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GatedWriteExec: dataset={}", self.spec.plan.name)
    }
}

impl ExecutionPlan for GatedWriteExec {
    fn name(&self) -> &'static str {
        "GatedWriteExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| DataFusionError::Internal("a gated write has one input".into()))?;
        Ok(Arc::new(GatedWriteExec::new(input, self.spec.clone(), self.classifier.clone())))
    }
    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context.clone())?;
        let task = TaskWrite::new(&self.spec, &self.classifier, &input.schema(), partition, context)?;
        let result = futures::stream::once(task.run(input));
        Ok(Box::pin(RecordBatchStreamAdapter::new(summary_schema(), result)))
    }
}

/// A Parquet file being written: locally under a temporary name ([`TMP_PREFIX`]: hidden from
/// readers, removed by the next run after a kill) renamed when whole; on an object store an
/// upload that appears whole when completed.
struct ParquetSink {
    path: PathBuf,
    staged: Option<PathBuf>,
    writer: AsyncArrowWriter<Box<dyn AsyncFileWriter>>,
}

impl ParquetSink {
    async fn create(path: &Path, runtime: &RuntimeEnv, schema: SchemaRef, properties: WriterProperties) -> Result<Self> {
        let mut staged = None;
        let sink: Box<dyn AsyncFileWriter> = match store::url_of(path) {
            Some(url) => {
                let url = ListingTableUrl::parse(url)?;
                let store = runtime.object_store(url.object_store())?;
                Box::new(object_store::buffered::BufWriter::new(store, url.prefix().clone()))
            }
            None => {
                let failed = |e: std::io::Error| DataFusionError::Execution(format!("{}: {e}", path.display()));
                let dir = path.parent().expect("a file is in a directory");
                std::fs::create_dir_all(dir).map_err(failed)?;
                let name = path.file_name().expect("a file has a name").to_string_lossy();
                let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
                let file = tokio::fs::File::create(&tmp).await.map_err(failed)?;
                staged = Some(tmp);
                Box::new(file)
            }
        };
        let writer = AsyncArrowWriter::try_new(sink, schema, Some(properties))?;
        Ok(ParquetSink { path: path.to_path_buf(), staged, writer })
    }

    /// Completes the file and returns its path.
    async fn finish(mut self) -> Result<PathBuf> {
        self.writer.finish().await?;
        if let Some(staged) = &self.staged {
            std::fs::rename(staged, &self.path).map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.path.display())))?;
        }
        Ok(self.path)
    }

    /// Drops the file unfinished: nothing of it remains (an upload never completed is not stored).
    fn abandon(self) {
        let ParquetSink { path, staged, writer } = self;
        drop(writer);
        let _ = files::delete(staged.as_ref().unwrap_or(&path));
    }
}

/// Longest text kept as a min or max statistic: longer ones prune little and would need
/// truncating with care.
const STAT_MAX_CHARS: usize = 64;

/// A column's nulls so far, and its min and max where they are kept.
type ColumnStatistics = (u64, Option<(MinAccumulator, MaxAccumulator)>);

/// One file a task is writing, with its statistics so far.
struct FileWrite {
    sink: ParquetSink,
    rows: u64,
    /// Per written column: nulls, and min/max where the column has statistics.
    columns: Vec<ColumnStatistics>,
}

/// One task of a gated write: its files (one per partition it meets), judges and sample.
struct TaskWrite {
    spec: Arc<GateSpec>,
    context: Arc<TaskContext>,
    task: usize,
    /// The input's columns written, by index.
    written: Vec<usize>,
    written_schema: SchemaRef,
    properties: WriterProperties,
    tag: usize,
    raw: Vec<usize>,
    kept: Vec<Option<usize>>,
    /// Judged columns: input index, name, judge.
    judges: Vec<(usize, String, ColumnJudge)>,
    sample: FingerprintSample,
    files: BTreeMap<u32, FileWrite>,
    /// The subject column's input index and its keys so far, where the spec asks for them.
    subject: Option<(usize, Option<SubjectKeyWriter>)>,
    /// The records counted by class, where the spec asks for it.
    classes: Option<ClassCounter>,
    /// The spec's text columns by input index (none where a projection lacks one: its rows
    /// are null there), with their lengths so far.
    texts: Vec<(Option<usize>, TextLength)>,
}

impl TaskWrite {
    fn new(spec: &Arc<GateSpec>, classifier: &Arc<Classifier>, schema: &SchemaRef, task: usize, context: Arc<TaskContext>) -> Result<Self> {
        let index =
            |name: &str| schema.index_of(name).map_err(|_| DataFusionError::Internal(format!("a gated write's input lacks {name}")));
        let written: Vec<usize> = schema.fields().iter().enumerate().filter(|(_, f)| !is_hidden(f.name())).map(|(i, _)| i).collect();
        let written_schema = Arc::new(schema.project(&written)?);
        let properties = writer_properties(&spec.plan)?;
        let raw = (0..spec.protected.len()).map(|i| index(&raw_fingerprint_column(i))).collect::<Result<Vec<_>>>()?;
        let kept: Vec<Option<usize>> = spec.kept().iter().map(|c| schema.index_of(c).ok()).collect();
        let judges = spec
            .judged()
            .into_iter()
            .filter_map(|c| {
                let i = schema.index_of(&c).ok()?;
                Some((i, c.clone(), ColumnJudge::new(classifier.clone(), c, lake::sample::reported_type(schema.field(i).data_type()))))
            })
            .collect();
        // A grouping whose columns a projection lacks (a partition of another schema) is not
        // counted: the risk gate then counts the table.
        let index_of =
            |g: &Vec<String>| g.iter().map(|c| schema.index_of(c).ok()).collect::<Option<Vec<usize>>>().filter(|g| !g.is_empty());
        let groupings = spec.plan.class_groupings().iter().map(index_of).collect();
        let classes = match spec.count_classes {
            // Subjects are counted where the task keeps their keys.
            true => Some(ClassCounter::new(schema, groupings, spec.subject_keys.as_ref().and(spec.plan.class_subject_cap()))?),
            false => None,
        };
        Ok(TaskWrite {
            spec: spec.clone(),
            context,
            task,
            written,
            written_schema,
            properties,
            tag: index(PARTITION_TAG)?,
            sample: FingerprintSample::new(raw.len(), kept.len()),
            raw,
            kept,
            judges,
            files: BTreeMap::new(),
            subject: spec.subject_keys.as_ref().and(spec.plan.subject.as_deref()).and_then(|s| schema.index_of(s).ok()).map(|i| (i, None)),
            classes,
            texts: spec.text_columns.iter().map(|c| (schema.index_of(c).ok(), TextLength::default())).collect(),
        })
    }

    async fn run(mut self, mut input: SendableRecordBatchStream) -> Result<RecordBatch> {
        let streamed = async {
            while let Some(batch) = input.next().await {
                self.push(batch?).await?;
            }
            Ok(())
        };
        match streamed.await {
            Ok(()) => self.finish().await,
            Err(e) => {
                // Never committed, so never seen; deleted now rather than by the next run.
                for file in std::mem::take(&mut self.files).into_values() {
                    file.sink.abandon();
                }
                Err(e)
            }
        }
    }

    async fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for (j, &i) in self.raw.iter().enumerate() {
            self.sample.add_raw(j, batch.column(i).as_primitive::<UInt64Type>());
        }
        for (j, i) in self.kept.iter().enumerate() {
            if let Some(i) = i {
                self.sample.add_kept(j, &identifier_fingerprints(batch.column(*i)));
            }
        }
        for (i, _, judge) in &mut self.judges {
            judge.push(batch.column(*i));
        }
        let subjects = self.subject_keys(&batch)?;
        let classes = match &mut self.classes {
            Some(classes) => classes.push(&batch, subjects.as_ref())?,
            None => None,
        };
        if let (Some(subjects), Some((_, Some(keys)))) = (&subjects, &mut self.subject) {
            keys.push(subjects.iter(), classes.as_deref()).map_err(subject_keys_failed)?;
        }
        for (i, length) in &mut self.texts {
            if let Some(i) = i {
                length.add(batch.column(*i))?;
            }
        }
        let tags = batch.column(self.tag).as_primitive::<UInt32Type>();
        let first = tags.value(0);
        if tags.values().iter().all(|t| *t == first) {
            return self.write(first, &batch).await;
        }
        let distinct: std::collections::BTreeSet<u32> = tags.values().iter().copied().collect();
        for tag in distinct {
            let mask = arrow::compute::kernels::cmp::eq(tags, &UInt32Array::new_scalar(tag))?;
            self.write(tag, &filter_record_batch(&batch, &mask)?).await?;
        }
        Ok(())
    }

    async fn write(&mut self, tag: u32, batch: &RecordBatch) -> Result<()> {
        let columns: Vec<ArrayRef> = self.written.iter().map(|i| batch.column(*i).clone()).collect();
        let batch = RecordBatch::try_new(self.written_schema.clone(), columns)?;
        if !self.files.contains_key(&tag) {
            let file = self.open(tag).await?;
            self.files.insert(tag, file);
        }
        let file = self.files.get_mut(&tag).expect("opened");
        file.rows += batch.num_rows() as u64;
        for (array, (nulls, bounds)) in batch.columns().iter().zip(&mut file.columns) {
            *nulls += array.null_count() as u64;
            if let Some((min, max)) = bounds {
                min.update_batch(std::slice::from_ref(array))?;
                max.update_batch(std::slice::from_ref(array))?;
            }
        }
        file.sink.writer.write(&batch).await?;
        Ok(())
    }

    /// The subject keys of `batch`'s rows, to be kept in a scratch file opened on the first
    /// batch (with each row's class). A subject of a type with no text keeps none: the risk
    /// gate then counts them itself.
    fn subject_keys(&mut self, batch: &RecordBatch) -> Result<Option<UInt64Array>> {
        let Some((i, keys)) = &mut self.subject else { return Ok(None) };
        let Some(computed) = crate::leak::subject_keys(batch.column(*i)) else {
            self.subject = None;
            return Ok(None);
        };
        if keys.is_none() {
            let dir = self.spec.subject_keys.as_deref().unwrap_or_default();
            let path = Path::new(dir).join(format!("task-{:05}-{:016x}.keys", self.task, attempt_id()?));
            *keys = Some(SubjectKeyWriter::create(&path).map_err(subject_keys_failed)?);
        }
        Ok(Some(computed))
    }

    /// Opens the file of partition `tag`, named uniquely for this task attempt.
    async fn open(&mut self, tag: u32) -> Result<FileWrite> {
        let dir = self.spec.out_dirs.get(tag as usize).ok_or_else(|| DataFusionError::Internal(format!("no partition {tag}")))?;
        let name = format!("part-{:05}-{}-{:016x}.parquet", self.task, self.spec.run_id, attempt_id()?);
        let path = Path::new(dir).join(&name);
        let sink = ParquetSink::create(&path, &self.context.runtime_env(), self.written_schema.clone(), self.properties.clone()).await?;
        let columns = self
            .written_schema
            .fields()
            .iter()
            .map(|f| {
                let bounds = (self.spec.has_statistics(f.name()) && bounded(f.data_type()))
                    .then(|| Ok::<_, DataFusionError>((MinAccumulator::try_new(f.data_type())?, MaxAccumulator::try_new(f.data_type())?)))
                    .transpose()?;
                Ok((0, bounds))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FileWrite { sink, rows: 0, columns })
    }

    async fn finish(mut self) -> Result<RecordBatch> {
        let (mut tags, mut paths, mut rows, mut stats) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (tag, file) in std::mem::take(&mut self.files) {
            let FileWrite { sink, rows: n, mut columns } = file;
            let path = sink.finish().await?;
            stats.push(statistics(&self.spec, &self.written_schema, n, &mut columns)?);
            tags.push(tag);
            paths.push(path.display().to_string());
            rows.push(n);
        }
        let judgements: Vec<(String, Judgement)> =
            self.judges.iter_mut().filter_map(|(_, name, judge)| Some((name.clone(), judge.finish()?))).collect();
        let judgements = serde_json::to_string(&judgements).map_err(|e| DataFusionError::Internal(e.to_string()))?;
        let sample = self.sample.to_bytes();
        let keys = match self.subject.take().and_then(|(_, keys)| keys) {
            Some(keys) => {
                let runs = keys.finish().map_err(subject_keys_failed)?;
                Some(serde_json::to_string(&runs).map_err(|e| DataFusionError::Internal(e.to_string()))?)
            }
            None => None,
        };
        let classes = self.classes.take().map(ClassCounter::finish).transpose()?;
        let lengths: Vec<TextLength> = self.texts.iter().map(|(_, length)| *length).collect();
        let lengths = serde_json::to_string(&lengths).map_err(|e| DataFusionError::Internal(e.to_string()))?;
        let on_first = |n: usize| (0..n).map(|i| i == 0);
        let n = tags.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(tags)),
            Arc::new(StringArray::from(paths)),
            Arc::new(UInt64Array::from(rows)),
            Arc::new(StringArray::from(stats)),
            Arc::new(on_first(n).map(|f| f.then_some(judgements.as_str())).collect::<StringArray>()),
            Arc::new(on_first(n).map(|f| f.then_some(sample.as_slice())).collect::<BinaryArray>()),
            Arc::new(on_first(n).map(|f| keys.as_deref().filter(|_| f)).collect::<StringArray>()),
            Arc::new(classes_column(n, classes)),
            Arc::new(on_first(n).map(|f| f.then_some(lengths.as_str())).collect::<StringArray>()),
        ];
        Ok(RecordBatch::try_new(summary_schema(), columns)?)
    }
}

/// The summary's class counts for a task's `files` rows: its counts by grouping on the first.
fn classes_column(files: usize, classes: Option<Vec<Option<Vec<u8>>>>) -> ListArray {
    let mut column = ListBuilder::new(BinaryBuilder::new());
    for i in 0..files {
        match classes.as_ref().filter(|_| i == 0) {
            Some(parts) => {
                for part in parts {
                    column.values().append_option(part.as_deref());
                }
                column.append(true);
            }
            None => column.append_null(),
        }
    }
    column.finish()
}

/// A random number naming what one attempt of a task writes, so that a retried task's files
/// never overwrite its first attempt's.
fn attempt_id() -> Result<u64> {
    getrandom::u64().map_err(|e| DataFusionError::Execution(format!("no random file name: {e}")))
}

fn subject_keys_failed(e: std::io::Error) -> DataFusionError {
    DataFusionError::Execution(format!("subject keys: {e}"))
}

/// The Parquet writer's settings for `plan`'s files ([`deid_parquet_options`]); the writer
/// embeds the Arrow schema itself.
pub fn writer_properties(plan: &DatasetPlan) -> Result<WriterProperties> {
    let mut options = deid_parquet_options(plan);
    options.global.skip_arrow_metadata = true;
    Ok(WriterPropertiesBuilder::try_from(&options)?.build())
}

/// Whether min/max statistics of this type are kept: numbers, text and dates, as Delta writes
/// them in JSON and its readers compare them.
fn bounded(data_type: &DataType) -> bool {
    data_type.is_integer()
        || data_type.is_floating()
        || matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Date32)
}

/// A min or max as Delta's statistics write it; `None` for what they cannot hold exactly.
fn stat_value(v: ScalarValue) -> Option<serde_json::Value> {
    use serde_json::json;
    Some(match v {
        ScalarValue::Int8(Some(x)) => json!(x),
        ScalarValue::Int16(Some(x)) => json!(x),
        ScalarValue::Int32(Some(x)) => json!(x),
        ScalarValue::Int64(Some(x)) => json!(x),
        ScalarValue::UInt8(Some(x)) => json!(x),
        ScalarValue::UInt16(Some(x)) => json!(x),
        ScalarValue::UInt32(Some(x)) => json!(x),
        ScalarValue::UInt64(Some(x)) => json!(x),
        ScalarValue::Float32(Some(x)) if x.is_finite() => json!(x),
        ScalarValue::Float64(Some(x)) if x.is_finite() => json!(x),
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))
            if s.chars().count() <= STAT_MAX_CHARS =>
        {
            json!(s)
        }
        ScalarValue::Date32(Some(d)) => json!(chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)?.format("%Y-%m-%d").to_string()),
        _ => return None,
    })
}

/// Delta statistics `stats` once `nulled` values (per column) were set to null: min and max
/// still bound what is left.
pub fn with_nulls(stats: &str, nulled: &[(String, u64)]) -> Option<String> {
    let mut stats: serde_json::Value = serde_json::from_str(stats).ok()?;
    if let Some(counts) = stats.get_mut("nullCount").and_then(serde_json::Value::as_object_mut) {
        for (column, n) in nulled {
            if let Some(count) = counts.get_mut(column) {
                *count = (count.as_u64().unwrap_or_default() + n).into();
            }
        }
    }
    Some(stats.to_string())
}

/// A file's Delta statistics: its records, and per column but pseudonyms its nulls and, for
/// the types that keep them, its min and max.
fn statistics(spec: &GateSpec, schema: &SchemaRef, rows: u64, columns: &mut [ColumnStatistics]) -> Result<String> {
    let (mut mins, mut maxes, mut nulls) = (serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new());
    for (field, (null_count, bounds)) in schema.fields().iter().zip(columns) {
        if !spec.has_statistics(field.name()) {
            continue;
        }
        nulls.insert(field.name().clone(), (*null_count).into());
        let Some((min, max)) = bounds else { continue };
        if let (Some(lo), Some(hi)) = (stat_value(min.evaluate()?), stat_value(max.evaluate()?)) {
            mins.insert(field.name().clone(), lo);
            maxes.insert(field.name().clone(), hi);
        }
    }
    let stats = serde_json::json!({ "numRecords": rows, "minValues": mins, "maxValues": maxes, "nullCount": nulls });
    Ok(stats.to_string())
}

#[cfg(test)]
mod tests {
    use datafusion::physical_plan::collect_partitioned;
    use datafusion::prelude::{ParquetReadOptions, SessionConfig};

    use super::*;

    #[test]
    fn a_scan_cut_into_pieces_reads_every_row_once_in_the_same_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.parquet");
        let ids = arrow::array::Int64Array::from_iter_values(0..10_000);
        let batch = RecordBatch::try_from_iter([("id", Arc::new(ids) as ArrayRef)]).unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(700)).build();
        let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2).with_repartition_file_min_size(0));
        let (rows, pieces) = runtime.block_on(async {
            let df = ctx.read_parquet(path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
            let plan = df.create_physical_plan().await.unwrap();
            let cut = in_pieces(plan.clone(), 4 << 10).unwrap();
            assert_eq!(cut.properties().output_partitioning().partition_count(), plan.properties().output_partitioning().partition_count());
            let scan = cut.downcast_ref::<DataSourceExec>().unwrap().data_source().downcast_ref::<FileScanConfig>().unwrap();
            let pieces: usize = scan.file_groups.iter().map(|g| g.len()).sum();
            let batches = collect_partitioned(cut, ctx.task_ctx()).await.unwrap();
            let rows: Vec<i64> = batches
                .iter()
                .flatten()
                .flat_map(|b| b.column(0).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec())
                .collect();
            (rows, pieces)
        });
        assert!(pieces > 4, "{pieces} pieces");
        let mut rows = rows;
        rows.sort_unstable();
        assert_eq!(rows, (0..10_000).collect::<Vec<_>>());
    }
}
