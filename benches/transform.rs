//! De-identification kernel throughput: values per second for each transform over one Arrow
//! array, against a plain Utf8 cast of the same array as the baseline.
//!
//! Run with `cargo bench --bench transform`.

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, StringViewArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use piguard::category::Category;
use piguard::leak::identifier_fingerprints;
use piguard::transform::{
    Generalization, PseudonymKey, Pseudonymizer, RedactStyle, TimeGrain, generalize, hash_array, mask_array, redact_array,
};

const N: usize = 100_000;

fn kernels(c: &mut Criterion) {
    let phones: ArrayRef = Arc::new(StringArray::from_iter_values((0..N).map(|i| format!("138{:08}", i * 7919 % 100_000_000))));
    // DataFusion reads Parquet strings as views; the kernels take them as they come.
    let phone_views: ArrayRef = Arc::new(StringViewArray::from_iter_values((0..N).map(|i| format!("138{:08}", i * 7919 % 100_000_000))));
    let names: ArrayRef = Arc::new(StringViewArray::from_iter_values((0..N).map(|i| ["张伟", "欧阳娜娜", "王芳"][i % 3])));
    let emails: ArrayRef = Arc::new(StringViewArray::from_iter_values((0..N).map(|i| format!("user{i}@example.com"))));
    let texts: ArrayRef = Arc::new(StringArray::from_iter_values((0..N).map(|i| {
        if i % 4 == 0 {
            format!("你好，我的手机号是138{:08}，到了请打电话", i)
        } else {
            "好的，明天下午三点见，谢谢！".to_string()
        }
    })));
    let lats: ArrayRef = Arc::new(Float64Array::from_iter_values((0..N).map(|i| 39.9 + (i % 1000) as f64 / 1e5)));
    let user_ids: ArrayRef = Arc::new(Int64Array::from_iter_values((0..N as i64).map(|i| 100_000_000 + i)));
    let times: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from_iter_values((0..N).map(|i| 1_767_225_600_000_000 + i as i64 * 1_000_000)));
    let key = PseudonymKey::from_bytes(vec![7; 32], "bench").expect("32 bytes");
    let p = Pseudonymizer::new(&key, "phone");

    let mut g = c.benchmark_group("kernel");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("baseline_cast_utf8", |b| b.iter(|| cast(black_box(&lats), &DataType::Utf8).expect("castable")));
    g.bench_function("hash_phone", |b| b.iter(|| hash_array(&p, Category::Phone, black_box(&phones)).expect("hashes")));
    g.bench_function("hash_phone_view", |b| b.iter(|| hash_array(&p, Category::Phone, black_box(&phone_views)).expect("hashes")));
    g.bench_function("mask_name_view", |b| b.iter(|| mask_array(Category::Name, None, black_box(&names)).expect("masks")));
    g.bench_function("mask_email_view", |b| b.iter(|| mask_array(Category::Email, None, black_box(&emails)).expect("masks")));
    g.bench_function("mask_phone", |b| b.iter(|| mask_array(Category::Phone, None, black_box(&phones)).expect("masks")));
    g.bench_function("generalize_grid", |b| b.iter(|| generalize(black_box(&lats), Generalization::Grid { size: 0.01 }).expect("grid")));
    g.bench_function("generalize_hour", |b| {
        b.iter(|| generalize(black_box(&times), Generalization::Time { grain: TimeGrain::Hour }).expect("hour"))
    });
    // The leak gate's fingerprints of raw identifiers, taken of every protected value a run reads.
    g.bench_function("fingerprint_phone_view", |b| b.iter(|| identifier_fingerprints(black_box(&phone_views))));
    g.bench_function("fingerprint_email_view", |b| b.iter(|| identifier_fingerprints(black_box(&emails))));
    g.bench_function("fingerprint_lat", |b| b.iter(|| identifier_fingerprints(black_box(&lats))));
    g.bench_function("fingerprint_user_id", |b| b.iter(|| identifier_fingerprints(black_box(&user_ids))));
    g.bench_function("redact_text", |b| b.iter(|| redact_array(RedactStyle::Mask, black_box(&texts)).expect("redacts")));
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
