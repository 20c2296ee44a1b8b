//! How piguard's functions cross a Ballista cluster: a plan names each function and carries
//! what it was planned with, never the key. The pseudonym function carries only the key's
//! id; a process decodes it with its own key, and refuses a plan made with another.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};

use super::snapshot::{SnapshotFiles, SnapshotTable};
use crate::gate::{GatedWrite, GatedWriteExec};
use crate::leak::FingerprintUdf;
use crate::transform::udf::{GeneralizeUdf, HashUdf, MaskUdf, RedactUdf};
use crate::transform::{Generalization, PseudonymKey};

/// What a plan carries for one piguard function.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "function", rename_all = "snake_case")]
enum Definition {
    Hash { key_id: String },
    Mask,
    Generalize { planned: Option<Generalization> },
    Redact,
    Fingerprint,
    SubjectKey,
}

/// What starts the bytes of a gated write, among the nodes Ballista's codec encodes.
const GATED_WRITE: &[u8] = b"piguard-gated-write:";

/// The piguard functions of one process: with the key on an executor, without it on a
/// scheduler (which plans and never runs them) or a client (which only encodes).
#[derive(Debug, Clone, Default)]
pub struct Functions {
    key: Option<PseudonymKey>,
}

impl Functions {
    /// The functions of a process holding `key`.
    pub fn with_key(key: PseudonymKey) -> Self {
        Functions { key: Some(key) }
    }

    fn encode(&self, udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        let inner = udf.inner();
        let definition = if let Some(h) = inner.downcast_ref::<HashUdf>() {
            Definition::Hash { key_id: h.key_id().to_string() }
        } else if let Some(g) = inner.downcast_ref::<GeneralizeUdf>() {
            Definition::Generalize { planned: g.planned_generalization() }
        } else if inner.downcast_ref::<MaskUdf>().is_some() {
            Definition::Mask
        } else if inner.downcast_ref::<RedactUdf>().is_some() {
            Definition::Redact
        } else if let Some(f) = inner.downcast_ref::<FingerprintUdf>() {
            if f.is_subject_keys() { Definition::SubjectKey } else { Definition::Fingerprint }
        } else {
            return Ok(());
        };
        serde_json::to_writer(buf, &definition).map_err(|e| DataFusionError::Internal(format!("encoding {}: {e}", udf.name())))
    }

    fn decode(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        let definition: Definition = serde_json::from_slice(buf)
            .map_err(|_| DataFusionError::NotImplemented(format!("no function named {name} travels in a piguard plan")))?;
        let udf = match definition {
            // Refused when run rather than when decoded: a task that fails to run reports
            // why to the client, one that fails to decode only that it was rejected.
            Definition::Hash { key_id } => match &self.key {
                Some(key) if key.id() == key_id => ScalarUDF::new_from_impl(HashUdf::new(key.clone())),
                Some(key) => {
                    let refusal = super::key_refusal(&key.id(), &key_id);
                    ScalarUDF::new_from_impl(HashUdf::refusing(key_id, refusal))
                }
                None => {
                    let refusal =
                        format!("this process holds no key (the plan names key id {key_id}): it plans pseudonyms and never makes them");
                    ScalarUDF::new_from_impl(HashUdf::refusing(key_id, refusal))
                }
            },
            Definition::Generalize { planned: Some(g) } => ScalarUDF::new_from_impl(GeneralizeUdf::planned(g)),
            Definition::Generalize { planned: None } => ScalarUDF::new_from_impl(GeneralizeUdf::default()),
            Definition::Mask => ScalarUDF::new_from_impl(MaskUdf::default()),
            Definition::Redact => ScalarUDF::new_from_impl(RedactUdf::default()),
            Definition::Fingerprint => ScalarUDF::new_from_impl(FingerprintUdf::default()),
            Definition::SubjectKey => ScalarUDF::new_from_impl(FingerprintUdf::subject_keys()),
        };
        Ok(Arc::new(udf))
    }
}

/// Ballista's logical codec (file formats, its own nodes) with piguard's functions.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
    functions: Functions,
}

impl LogicalCodec {
    /// The codec of a process with `functions`.
    pub fn new(functions: Functions) -> Self {
        LogicalCodec { inner: BallistaLogicalExtensionCodec::default(), functions }
    }
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        match (buf.strip_prefix(GATED_WRITE), inputs) {
            (Some(spec), [input]) => Ok(Extension { node: Arc::new(GatedWrite::decode(spec, input.clone())?) }),
            _ => self.inner.try_decode(buf, inputs, ctx),
        }
    }
    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match node.node.as_any().downcast_ref::<GatedWrite>() {
            Some(write) => {
                buf.extend_from_slice(GATED_WRITE);
                buf.extend_from_slice(write.encoded());
                Ok(())
            }
            None => self.inner.try_encode(node, buf),
        }
    }
    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match serde_json::from_slice::<SnapshotFiles>(buf) {
            Ok(files) => Ok(Arc::new(SnapshotTable::from_plan(files, schema))),
            Err(_) => self.inner.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }
    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        match node.downcast_ref::<SnapshotTable>() {
            Some(table) => {
                serde_json::to_writer(buf, table.files()).map_err(|e| DataFusionError::Internal(format!("encoding table {table_ref}: {e}")))
            }
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }
    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }
    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.functions.decode(name, buf)
    }
    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.functions.encode(node, buf)
    }
}

/// Ballista's physical codec (shuffles, its own nodes) with piguard's functions.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
    functions: Functions,
}

impl PhysicalCodec {
    /// The codec of a process with `functions`.
    pub fn new(functions: Functions) -> Self {
        PhysicalCodec { inner: BallistaPhysicalExtensionCodec::default(), functions }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (buf.strip_prefix(GATED_WRITE), inputs) {
            (Some(spec), [input]) => Ok(Arc::new(GatedWriteExec::decode(spec, input.clone())?)),
            _ => self.inner.try_decode(buf, inputs, ctx, proto_converter),
        }
    }
    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        match node.downcast_ref::<GatedWriteExec>() {
            Some(write) => {
                buf.extend_from_slice(GATED_WRITE);
                buf.extend_from_slice(&write.encoded()?);
                Ok(())
            }
            None => self.inner.try_encode(node, buf, proto_converter),
        }
    }
    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.functions.decode(name, buf)
    }
    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.functions.encode(node, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::TimeGrain;

    fn key(byte: u8) -> PseudonymKey {
        PseudonymKey::from_bytes(vec![byte; 32], "test").unwrap()
    }

    fn encoded(udf: impl datafusion::logical_expr::ScalarUDFImpl + 'static) -> Vec<u8> {
        let mut buf = Vec::new();
        Functions::default().encode(&ScalarUDF::new_from_impl(udf), &mut buf).unwrap();
        buf
    }

    #[test]
    fn the_key_never_travels_only_its_id() {
        let k = key(7);
        let secret = k.clone();
        let buf = encoded(HashUdf::new(k));
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains(&secret.id()), "{text}");
        assert!(!buf.windows(8).any(|w| w == [7u8; 8]), "the key's bytes are in the plan");
        // An executor with the same key runs it; one with another key refuses; a scheduler
        // plans with it and cannot run it.
        let hashed = |functions: Functions| {
            let udf = functions.decode("piguard_hash", &buf).unwrap();
            assert_eq!(udf.inner().downcast_ref::<HashUdf>().unwrap().key_id(), secret.id());
            let ctx = datafusion::prelude::SessionContext::new();
            ctx.register_udf(udf.as_ref().clone());
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime
                .block_on(async { ctx.sql("select piguard_hash('13812345678', 'phone')").await?.collect().await })
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert_eq!(hashed(Functions::with_key(secret.clone())), Ok(()));
        let err = hashed(Functions::with_key(key(8))).unwrap_err();
        assert!(err.contains("refused") && err.contains(&key(8).id()) && err.contains(&secret.id()), "{err}");
        assert!(!err.contains("13812345678"), "{err}");
        assert!(hashed(Functions::default()).unwrap_err().contains("holds no key"));
    }

    #[test]
    fn a_gated_write_travels_with_its_plan_and_the_runs_classifier_overrides() {
        use datafusion::logical_expr::LogicalPlanBuilder;
        use datafusion::physical_plan::empty::EmptyExec;
        let overrides = vec![(
            "rules/shoe.toml".to_string(),
            "[[category]]\nid = \"phone\"\nlabel_zh = \"电话\"\nsensitivity = \"general\"\naction = \"mask\"\nkeywords = [\"hotline\"]\n"
                .to_string(),
        )];
        let plan = crate::plan::DatasetPlan {
            name: "users".into(),
            subject: Some("user_id".into()),
            columns: Vec::new(),
            partition_columns: Vec::new(),
            sharing: Default::default(),
            max_suppressed: 0.0,
        };
        let spec = crate::gate::GateSpec {
            plan,
            out_dirs: vec!["/lake/deid/users".into()],
            run_id: "r1".into(),
            protected: vec![("phone".into(), crate::category::Category::Phone)],
            overrides: overrides.clone(),
            subject_keys: Some("/lake/_piguard/scratch/r1/users".into()),
            count_classes: true,
            text_columns: vec!["note".into()],
        };
        let input = LogicalPlanBuilder::empty(false).build().unwrap();
        let node = Extension { node: Arc::new(GatedWrite::new(input.clone(), spec).unwrap()) };
        let codec = LogicalCodec::default();
        let mut buf = Vec::new();
        codec.try_encode(&node, &mut buf).unwrap();
        let ctx = datafusion::prelude::SessionContext::new();
        let decoded = codec.try_decode(&buf, &[input], &ctx.task_ctx()).unwrap();
        assert_eq!(decoded.node.as_any().downcast_ref::<GatedWrite>(), node.node.as_any().downcast_ref::<GatedWrite>());
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("hotline") && text.contains("/lake/deid/users"), "{text}");

        // An executor rebuilds the classifier the client planned with, from its rules.
        let physical = PhysicalCodec::default();
        let exec = GatedWriteExec::decode(&buf[GATED_WRITE.len()..], Arc::new(EmptyExec::new(Arc::new(arrow::datatypes::Schema::empty()))))
            .unwrap();
        let mut again = Vec::new();
        let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
        physical.try_encode(Arc::new(exec), &mut again, &converter).unwrap();
        assert_eq!(again, buf, "the same bytes travel to executors");
    }

    #[test]
    fn a_planned_generalization_travels_with_the_function() {
        let g = Generalization::Time { grain: TimeGrain::Month };
        let decoded = Functions::default().decode("piguard_generalize", &encoded(GeneralizeUdf::planned(g))).unwrap();
        assert_eq!(decoded.inner().downcast_ref::<GeneralizeUdf>().unwrap().planned_generalization(), Some(g));
        let stateless = [
            ("piguard_mask", encoded(MaskUdf::default())),
            ("piguard_redact", encoded(RedactUdf::default())),
            ("piguard_fingerprint", encoded(FingerprintUdf::default())),
            ("piguard_subject_key", encoded(FingerprintUdf::subject_keys())),
        ];
        for (name, buf) in stateless {
            assert_eq!(Functions::default().decode(name, &buf).unwrap().name(), name);
        }
        assert!(Functions::default().decode("upper", b"").is_err());
    }
}
