//! Classifier benchmarks: values per second per detector, one column's classification, a
//! whole scan of the demo lake, and the sizing target of 100 datasets x 10,000 sampled rows.
//!
//! Run with `cargo bench --bench classify`. Figures are best read as ratios between groups
//! of the same run; the machines are shared.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use piguard::classify::detectors::Detector;
use piguard::classify::{Classifier, Rules};
use piguard::inventory::{ScanOptions, scan};
use piguard::lake::{discover, sample_dataset};
use piguard::sample_data::{SampleOptions, generate};

/// A sample of `source`, read on a runtime of its own.
fn sample(source: &piguard::lake::DatasetSource, rows: usize) -> piguard::lake::DatasetSample {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime starts");
    runtime.block_on(sample_dataset(source, rows)).expect("the bundled lake is readable")
}

/// Every string column of the bundled demo lake: realistic matches and non-matches.
fn demo_values() -> Vec<String> {
    let raw = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lake/raw");
    let mut values = Vec::new();
    for source in discover(&raw).datasets.into_iter().flatten() {
        let sample = sample(&source, 2_000);
        for col in sample.columns {
            values.extend(col.values.iter().flatten().map(str::to_owned));
        }
    }
    values
}

fn detectors(c: &mut Criterion) {
    let values = demo_values();
    let mut group = c.benchmark_group("detector");
    group.throughput(Throughput::Elements(values.len() as u64));
    for d in Detector::ALL {
        group.bench_with_input(BenchmarkId::from_parameter(d.name()), &values, |b, values| {
            b.iter(|| values.iter().filter(|v| d.matches(black_box(v))).count())
        });
    }
    group.finish();
}

fn classify_column(c: &mut Criterion) {
    let classifier = Classifier::new(Rules::builtin());
    let raw = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lake/raw");
    let users = discover(&raw.join("users")).datasets.remove(0).expect("users");
    let sample = sample(&users, 10_000);
    let mut group = c.benchmark_group("classify_column");
    for name in ["sfzh", "xm", "jtzz", "register_time"] {
        let col = sample.columns.iter().find(|c| c.name == name).expect("column");
        let values: &StringArray = &col.values;
        group.throughput(Throughput::Elements(values.len() as u64));
        group.bench_function(name, |b| b.iter(|| classifier.classify(black_box(name), values)));
    }
    group.finish();
}

/// A directory of `count` datasets, hard links to a generated lake's datasets in turn.
fn many_datasets(root: &Path, count: usize) -> PathBuf {
    generate(root, &SampleOptions { users: 10_000, ..Default::default() }).expect("generated");
    let sources: Vec<PathBuf> = discover(root).datasets.into_iter().flatten().map(|s| s.path).collect();
    let many = root.join("many");
    for i in 0..count {
        link_tree(&sources[i % sources.len()], &many.join(format!("dataset_{i:03}")));
    }
    many
}

fn link_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            link_tree(&entry.path(), &target);
        } else {
            std::fs::hard_link(entry.path(), target).expect("hard link");
        }
    }
}

fn whole_scans(c: &mut Criterion) {
    let classifier = Classifier::new(Rules::builtin());
    let options = ScanOptions::default();
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);

    let demo = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lake/raw")];
    group.bench_function("demo_lake", |b| b.iter(|| scan(&demo, &classifier, &options)));

    let dir = tempfile::tempdir().expect("tempdir");
    let many = vec![many_datasets(dir.path(), 100)];
    let rows: usize = scan(&many, &classifier, &options).inventory.datasets.iter().map(|d| d.rows_sampled).sum();
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("100_datasets_x_10000_rows", |b| b.iter(|| scan(&many, &classifier, &options)));
    group.finish();
}

criterion_group!(benches, detectors, classify_column, whole_scans);
criterion_main!(benches);
