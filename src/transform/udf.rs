//! The kernels as DataFusion scalar UDFs, so pipelines and analysts' SQL share one
//! implementation:
//!
//! - `piguard_hash(value, domain [, category])` — keyed pseudonym (needs the key);
//! - `piguard_mask(value, category [, keep_first, keep_last])`;
//! - `piguard_generalize(value, spec)` — spec as in [`Generalization::parse`];
//! - `piguard_redact(text [, 'mask' | 'tag'])`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

use super::{
    Generalization, MaskSpec, PseudonymKey, Pseudonymizer, RedactStyle, TransformError, generalize, hash_array, mask_array, redact_array,
};
use crate::category::Category;

fn exec(e: TransformError) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

/// The string value of literal argument `i`, from a planned call.
fn literal_str<'a>(scalars: &'a [Option<&'a ScalarValue>], i: usize, what: &str, f: &str) -> Result<Option<&'a str>> {
    match scalars.get(i) {
        None => Ok(None),
        Some(Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)))) => Ok(Some(s)),
        Some(_) => plan_err!("{f}: argument {} ({what}) must be a string literal", i + 1),
    }
}

/// The string value of scalar argument `i` at execution.
fn arg_str(args: &[ColumnarValue], i: usize, what: &str, f: &str) -> Result<Option<String>> {
    match args.get(i) {
        None => Ok(None),
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)))) => {
            Ok(Some(s.clone()))
        }
        Some(_) => exec_err!("{f}: argument {} ({what}) must be a string literal", i + 1),
    }
}

fn arg_usize(args: &[ColumnarValue], i: usize, what: &str, f: &str) -> Result<Option<usize>> {
    match args.get(i) {
        None => Ok(None),
        Some(ColumnarValue::Scalar(v)) => match v.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(n)) if n >= 0 => Ok(Some(n as usize)),
            _ => exec_err!("{f}: argument {} ({what}) must be a non-negative integer literal", i + 1),
        },
        Some(_) => exec_err!("{f}: argument {} ({what}) must be a literal", i + 1),
    }
}

fn category(name: Option<&str>, f: &str) -> Result<Option<Category>> {
    name.map(|n| {
        serde_json::from_value::<Category>(serde_json::Value::String(n.to_string()))
            .map_err(|_| DataFusionError::Plan(format!("{f}: unknown PI category `{n}`")))
    })
    .transpose()
}

fn value_array(args: &ScalarFunctionArgs) -> Result<ArrayRef> {
    args.args[0].to_array(args.number_rows)
}

fn utf8_field(name: &str) -> FieldRef {
    Arc::new(Field::new(name, DataType::Utf8, true))
}

/// `piguard_hash(value, domain [, category])`.
#[derive(Debug)]
pub struct HashUdf {
    /// The key, or why this process must not make pseudonyms with the plan's key: it holds
    /// none (a cluster's scheduler plans and never runs), or another (an executor refuses).
    key: std::result::Result<PseudonymKey, String>,
    key_id: String,
    signature: Signature,
}

impl HashUdf {
    /// The UDF, holding the key.
    pub fn new(key: PseudonymKey) -> Self {
        let key_id = key.id();
        HashUdf { key: Ok(key), key_id, signature: Signature::variadic_any(Volatility::Immutable) }
    }

    /// The UDF of a plan made with key `key_id`, in a process that must not run it: it plans
    /// as the keyed one does, and fails with `refusal` when it would make a pseudonym.
    pub fn refusing(key_id: String, refusal: String) -> Self {
        HashUdf { key: Err(refusal), key_id, signature: Signature::variadic_any(Volatility::Immutable) }
    }

    /// The id of the key its pseudonyms are made with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl PartialEq for HashUdf {
    fn eq(&self, other: &Self) -> bool {
        self.key_id == other.key_id
    }
}
impl Eq for HashUdf {}
impl Hash for HashUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_id.hash(state);
    }
}

impl ScalarUDFImpl for HashUdf {
    fn name(&self) -> &str {
        "piguard_hash"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if !(2..=3).contains(&args.arg_fields.len()) {
            return plan_err!("piguard_hash(value, domain [, category]) takes 2 or 3 arguments");
        }
        literal_str(args.scalar_arguments, 1, "domain", self.name())?;
        category(literal_str(args.scalar_arguments, 2, "category", self.name())?, self.name())?;
        Ok(utf8_field(self.name()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        let domain = arg_str(&args.args, 1, "domain", f)?.unwrap_or_default();
        let cat = category(arg_str(&args.args, 2, "category", f)?.as_deref(), f)?
            .or_else(|| category(Some(&domain), f).ok().flatten())
            .unwrap_or(Category::None);
        let key = self.key.as_ref().map_err(|refusal| DataFusionError::Execution(format!("{f}: {refusal}")))?;
        let p = Pseudonymizer::new(key, &domain);
        Ok(ColumnarValue::Array(hash_array(&p, cat, &value_array(&args)?).map_err(exec)?))
    }
}

/// `piguard_mask(value, category [, keep_first, keep_last])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MaskUdf {
    signature: Signature,
}

impl Default for MaskUdf {
    fn default() -> Self {
        MaskUdf { signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for MaskUdf {
    fn name(&self) -> &str {
        "piguard_mask"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if ![2, 4].contains(&args.arg_fields.len()) {
            return plan_err!("piguard_mask(value, category [, keep_first, keep_last]) takes 2 or 4 arguments");
        }
        category(literal_str(args.scalar_arguments, 1, "category", self.name())?, self.name())?;
        Ok(utf8_field(self.name()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        let cat = category(arg_str(&args.args, 1, "category", f)?.as_deref(), f)?.unwrap_or(Category::None);
        let spec = match (arg_usize(&args.args, 2, "keep_first", f)?, arg_usize(&args.args, 3, "keep_last", f)?) {
            (Some(keep_first), Some(keep_last)) => Some(MaskSpec { keep_first, keep_last }),
            _ => None,
        };
        Ok(ColumnarValue::Array(mask_array(cat, spec, &value_array(&args)?).map_err(exec)?))
    }
}

/// `piguard_generalize(value, spec)` in SQL, with the spec parsed from its literal; or, as
/// a pipeline plans it, `piguard_generalize(value)` with the generalization fixed.
#[derive(Debug)]
pub struct GeneralizeUdf {
    planned: Option<Generalization>,
    signature: Signature,
}

impl Default for GeneralizeUdf {
    fn default() -> Self {
        GeneralizeUdf { planned: None, signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl GeneralizeUdf {
    /// The UDF applying `g`, which a plan has already checked.
    pub fn planned(g: Generalization) -> Self {
        GeneralizeUdf { planned: Some(g), signature: Signature::any(1, Volatility::Immutable) }
    }

    fn generalization(&self, spec: Option<&str>) -> std::result::Result<Generalization, TransformError> {
        match (self.planned, spec) {
            (Some(g), _) => Ok(g),
            (None, Some(spec)) => Generalization::parse(spec),
            (None, None) => Err(TransformError::Invalid("piguard_generalize(value, spec) needs a spec such as 'grid:0.01'".into())),
        }
    }

    /// The generalization fixed by a plan, if any.
    pub fn planned_generalization(&self) -> Option<Generalization> {
        self.planned
    }
}

// Two planned UDFs are the same function only with the same generalization (whose grid and
// bucket sizes are floats, compared by their text form).
impl PartialEq for GeneralizeUdf {
    fn eq(&self, other: &Self) -> bool {
        self.planned.map(|g| g.to_string()) == other.planned.map(|g| g.to_string())
    }
}
impl Eq for GeneralizeUdf {}
impl Hash for GeneralizeUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.planned.map(|g| g.to_string()).hash(state);
    }
}

impl ScalarUDFImpl for GeneralizeUdf {
    fn name(&self) -> &str {
        "piguard_generalize"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("piguard_generalize needs its spec as a literal")
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let spec = match self.planned {
            Some(_) => None,
            None => literal_str(args.scalar_arguments, 1, "spec", self.name())?,
        };
        let g = self.generalization(spec).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(Arc::new(Field::new(self.name(), g.output_type(args.arg_fields[0].data_type()), true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let spec = match self.planned {
            Some(_) => None,
            None => arg_str(&args.args, 1, "spec", self.name())?,
        };
        let g = self.generalization(spec.as_deref()).map_err(exec)?;
        Ok(ColumnarValue::Array(generalize(&value_array(&args)?, g).map_err(exec)?))
    }
}

/// `piguard_redact(text [, 'mask' | 'tag'])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RedactUdf {
    signature: Signature,
}

impl Default for RedactUdf {
    fn default() -> Self {
        RedactUdf { signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

fn redact_style(s: Option<&str>) -> Result<RedactStyle> {
    match s {
        None | Some("mask") => Ok(RedactStyle::Mask),
        Some("tag") => Ok(RedactStyle::Tag),
        Some(other) => plan_err!("piguard_redact: style must be 'mask' or 'tag', not '{other}'"),
    }
}

impl ScalarUDFImpl for RedactUdf {
    fn name(&self) -> &str {
        "piguard_redact"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if !(1..=2).contains(&args.arg_fields.len()) {
            return plan_err!("piguard_redact(text [, style]) takes 1 or 2 arguments");
        }
        redact_style(literal_str(args.scalar_arguments, 1, "style", self.name())?)?;
        Ok(utf8_field(self.name()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let style = redact_style(arg_str(&args.args, 1, "style", self.name())?.as_deref())?;
        Ok(ColumnarValue::Array(redact_array(style, &value_array(&args)?).map_err(exec)?))
    }
}

/// Registers the UDFs in `ctx`; `piguard_hash` only when a key is given.
pub fn register(ctx: &SessionContext, key: Option<PseudonymKey>) {
    if let Some(key) = key {
        ctx.register_udf(ScalarUDF::new_from_impl(HashUdf::new(key)));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(MaskUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(GeneralizeUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(RedactUdf::default()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap()
    }

    async fn one(ctx: &SessionContext, sql: &str) -> Result<String> {
        let batches = ctx.sql(sql).await?.collect().await?;
        let col = arrow::compute::cast(batches[0].column(0), &DataType::Utf8)?;
        Ok(col.as_string::<i32>().value(0).to_string())
    }

    #[test]
    fn sql_and_kernels_agree() {
        runtime().block_on(async {
            let ctx = SessionContext::new();
            let key = PseudonymKey::from_bytes(b"piguard-test-key-0123456789abcdef".to_vec(), "t").unwrap();
            register(&ctx, Some(key));
            assert_eq!(
                one(&ctx, "select piguard_hash('100000001', 'account_id')").await.unwrap(),
                "014e0f109ae5a8d6d8be348866e0d8be1da3c25cb4952d4143e57d44778c489a"
            );
            assert_eq!(
                one(&ctx, "select piguard_hash(' 100000001 ', 'shop_buyers', 'account_id')").await.unwrap(),
                Pseudonymizer::new(&PseudonymKey::from_bytes(b"piguard-test-key-0123456789abcdef".to_vec(), "t").unwrap(), "shop_buyers")
                    .pseudonym("100000001")
            );
            assert_eq!(one(&ctx, "select piguard_mask('13812345678', 'phone')").await.unwrap(), "138****5678");
            assert_eq!(one(&ctx, "select piguard_mask('欧阳娜娜', 'name', 1, 1)").await.unwrap(), "欧**娜");
            assert_eq!(one(&ctx, "select piguard_generalize(39.904211, 'grid:0.01')").await.unwrap(), "39.9");
            assert_eq!(one(&ctx, "select piguard_generalize('36.112.8.77', 'ip')").await.unwrap(), "36.112.8.0/24");
            assert_eq!(one(&ctx, "select piguard_redact('电话13812345678', 'tag')").await.unwrap(), "电话[PHONE]");
            let err = one(&ctx, "select piguard_generalize(1.0, 'grid')").await.unwrap_err().to_string();
            assert!(err.contains("grid:0.01"), "{err}");
            let err = one(&ctx, "select piguard_mask('x', 'shoe_size')").await.unwrap_err().to_string();
            assert!(err.contains("unknown PI category"), "{err}");
        });
    }

    #[test]
    fn hash_is_unavailable_without_a_key() {
        runtime().block_on(async {
            let ctx = SessionContext::new();
            register(&ctx, None);
            assert!(one(&ctx, "select piguard_hash('1', 'account_id')").await.is_err());
        });
    }
}
