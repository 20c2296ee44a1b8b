use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

use super::*;
use crate::risk::subjects::{SubjectKeyRuns, SubjectKeyWriter, distinct_subjects};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

/// The subject a row of the tests' tables has where it is null: counted by hand as any
/// other, it is one subject of each class, as the aggregates count a null subject.
const NULL_UID: i64 = -1;

/// A table of `rows` (a, b, subject), nulls where `None` (and [`NULL_UID`]).
fn table(rows: &[(Option<&str>, Option<i64>, i64)]) -> (SessionContext, DataFrame) {
    let a: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()));
    let b: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()));
    let s: ArrayRef = Arc::new(Int64Array::from(rows.iter().map(|r| (r.2 != NULL_UID).then_some(r.2)).collect::<Vec<_>>()));
    let batch = RecordBatch::try_from_iter([("a", a), ("b", b), ("uid", s)]).unwrap();
    let ctx = SessionContext::new();
    let df = ctx.read_batch(batch).unwrap();
    (ctx, df)
}

/// The class sizes of `rows` over (a, b), counted by hand.
fn brute_force(rows: &[(Option<&str>, Option<i64>, i64)], by_subject: bool) -> ClassSizes {
    type Subjects = (BTreeSet<i64>, u64);
    let mut classes: HashMap<(Option<&str>, Option<i64>), Subjects> = HashMap::new();
    let mut unmatched = 0;
    for &(a, b, s) in rows {
        if a.is_none() && b.is_none() {
            unmatched += 1;
            continue;
        }
        let e = classes.entry((a, b)).or_default();
        e.0.insert(s);
        e.1 += 1;
    }
    let mut by: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (subjects, n) in classes.values() {
        let f = if by_subject { subjects.len() as u64 } else { *n };
        let e = by.entry(f).or_default();
        e.0 += 1;
        e.1 += n;
    }
    ClassSizes { sizes: by.into_iter().map(|(f, (c, r))| (f, c, r)).collect(), unmatched }
}

fn qis() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

/// Up to 300 rows of (a, b, subject): few values of each, some null.
fn rows() -> impl Strategy<Value = Vec<(Option<&'static str>, Option<i64>, i64)>> {
    let a = proptest::option::weighted(0.9, prop::sample::select(vec!["x", "y", "z", "w"]));
    proptest::collection::vec((a, proptest::option::weighted(0.9, 0i64..6), 0i64..40), 1..300)
}

/// [`rows`] with a few subjects null ([`NULL_UID`]).
fn rows_with_null_subjects() -> impl Strategy<Value = Vec<(Option<&'static str>, Option<i64>, i64)>> {
    (rows(), proptest::collection::vec(0usize..300, 0..3)).prop_map(|(mut rows, nulls)| {
        let len = rows.len();
        for i in nulls {
            rows[i % len].2 = NULL_UID;
        }
        rows
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// k, the histogram and R_a, R_b, R_c equal a count by hand, by subject and by record.
    #[test]
    fn class_sizes_equal_a_brute_force_count(
        rows in rows(),
        k in prop::sample::select(vec![3u64, 5, 20]),
    ) {
        let (_ctx, df) = table(&rows);
        for by_subject in [true, false] {
            let subject = by_subject.then_some("uid");
            let got = runtime().block_on(class_sizes(&df, &qis(), subject)).unwrap();
            let want = brute_force(&rows, by_subject);
            prop_assert_eq!(&got, &want);
            let figures = got.figures(k);
            prop_assert_eq!(figures.k, want.sizes.first().map_or(0, |s| s.0));
            prop_assert_eq!(figures.histogram.iter().map(|b| b.records).sum::<u64>(), want.records());
            let records = want.records() as f64;
            if records > 0.0 {
                let theta: f64 = want.sizes.iter().map(|&(f, _, r)| r as f64 / f as f64).sum();
                prop_assert!((figures.r_c - theta / records).abs() < 1e-12);
                prop_assert!((figures.r_a - want.records_below(k) as f64 / records).abs() < 1e-12);
                prop_assert!((figures.r_b - 1.0 / figures.k as f64).abs() < 1e-12);
            }
        }
    }
}

fn method(sharing: Sharing, max_suppressed: f64) -> Method {
    Method { sharing, max_suppressed, subject: Some("uid".into()), per_record: None, text_lengths: None, published: None }
}

fn measured(name: &str, data_type: &str) -> ColumnPrior {
    ColumnPrior { name: name.into(), data_type: data_type.into(), category: Category::None, step: None, prior: Prior::Measure }
}

fn settled(name: &str, role: Role) -> ColumnPrior {
    ColumnPrior {
        name: name.into(),
        data_type: "Int64".into(),
        category: Category::None,
        step: None,
        prior: Prior::Settled(role, "given".into()),
    }
}

/// 100 subjects: `a` one of 4 frequent values, `b` unique per subject but for the last.
fn population(unique_b: usize) -> Vec<(Option<&'static str>, Option<i64>, i64)> {
    let values = ["x", "y", "z", "w"];
    (0..100).map(|i| (Some(values[i as usize % 4]), Some(if (i as usize) < unique_b { i } else { 1000 }), i)).collect()
}

#[test]
fn a_column_that_singles_out_records_is_measured_a_quasi_identifier_and_refused() {
    let rows = population(1);
    let (_ctx, df) = table(&rows);
    let priors = [measured("a", "Utf8"), measured("b", "Int64"), settled("uid", Role::Pseudonym)];
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Public, 0.0), &[])).unwrap();
    // One record of 100 unique on `b` is 1 %, not above the share that makes a QI.
    assert_eq!(e.quasi_identifiers, Vec::<String>::new(), "{e:?}");
    assert_eq!(e.level, Level(3));

    let rows = population(2);
    let (_ctx, df) = table(&rows);
    let mut e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Public, 0.0), &[])).unwrap();
    runtime().block_on(explain(&df, &mut e)).unwrap();
    assert_eq!(e.quasi_identifiers, ["b"]);
    assert_eq!((e.level, e.figures.k, e.figures.records), (Level(2), 1, 100));
    assert!((e.figures.r_a - 0.02).abs() < 1e-12, "{:?}", e.figures);
    let text = report::refusal("people", &e);
    assert!(text.contains("level 2") && text.contains("b (measured: 2.0%") && text.contains("max_suppressed = 0.02"), "{text}");

    // A direct identifier is level 1 whatever the figures.
    let priors = [settled("a", Role::DirectIdentifier), settled("uid", Role::Pseudonym)];
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Enclave, 0.0), &[])).unwrap();
    assert_eq!(e.level, Level(1));
    assert!(report::refusal("people", &e).contains("columns.a = \"hash\""));
}

/// `sizes` once the quasi-identifiers of the records in classes smaller than `k` are nulled:
/// what suppression should leave, those records being in no class.
fn without_below(sizes: &ClassSizes, k: u64) -> ClassSizes {
    ClassSizes {
        sizes: sizes.sizes.iter().copied().filter(|(f, _, _)| *f >= k).collect(),
        unmatched: sizes.unmatched + sizes.records_below(k),
    }
}

#[test]
fn one_unique_record_is_refused_under_public_and_suppressed_when_allowed() {
    // 99 records in classes of 33 subjects, and one alone.
    let mut rows: Vec<(Option<&str>, Option<i64>, i64)> = (0..99).map(|i| (Some(["x", "y", "z"][i % 3]), Some(1), i as i64)).collect();
    rows.push((Some("q"), Some(1), 99));
    let (_ctx, df) = table(&rows);
    let priors = [settled("a", Role::QuasiIdentifier), settled("uid", Role::Pseudonym)];
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Public, 0.0), &[])).unwrap();
    assert_eq!((e.level, e.figures.k, e.figures.r_b), (Level(2), 1, 1.0));
    assert!(!e.suppression_suffices());

    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Public, 0.01), &[])).unwrap();
    assert!(e.suppression_suffices());
    assert_eq!(e.figures.at_risk, 1);

    let sizes = runtime().block_on(class_sizes(&df, &e.quasi_identifiers, Some("uid"))).unwrap();
    let after = e.after_suppression(without_below(&sizes, 20), e.figures.at_risk);
    assert_eq!((after.level, after.suppressed, after.figures.k, after.figures.unmatched), (Level(3), 1, 33, 1));
}

/// `rows` (a, b, uid) written to `root/dt=2026-01-01/part.parquet` (over whatever was there) in
/// row groups of 10, its columns `nullable` or required, with `root` read as the dataset it is
/// part of.
fn written(root: &std::path::Path, rows: &[(Option<&str>, Option<i64>, i64)], nullable: bool) -> (std::path::PathBuf, DataFrame) {
    let (_ctx, df) = table(rows);
    let batches = runtime().block_on(df.collect()).unwrap();
    let fields = batches[0].schema().fields().iter().map(|f| f.as_ref().clone().with_nullable(nullable)).collect::<Vec<_>>();
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let batches: Vec<RecordBatch> =
        batches.into_iter().map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap()).collect();
    let path = root.join("dt=2026-01-01").join("part.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Bloom filters on the subject, as the de-identified zone has.
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(10))
        .set_column_bloom_filter_enabled("uid".into(), true)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batches[0].schema(), Some(props)).unwrap();
    for b in &batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    let file = crate::lake::DataFile { path: path.clone(), format: crate::lake::FileFormat::Parquet };
    let view = runtime().block_on(crate::lake::read::read_dataset(&SessionContext::new(), root, &[file])).unwrap();
    (path, view)
}

/// Each column chunk of a Parquet file, by row group: where it lies and its compressed bytes.
fn chunks(path: &std::path::Path) -> Vec<Vec<(u64, bytes::Bytes)>> {
    use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file.try_clone().unwrap()).unwrap();
    let groups = reader.metadata().row_groups().iter();
    groups
        .map(|g| {
            g.columns()
                .iter()
                .map(|c| {
                    let (at, len) = c.byte_range();
                    (at, file.get_bytes(at, len as usize).unwrap())
                })
                .collect()
        })
        .collect()
}

/// Whether the bloom filter of column `column` in every row group of `path` holds its values.
fn bloom_filters_hold(path: &std::path::Path, column: usize) -> bool {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file.try_clone().unwrap()).unwrap();
    let values = read(path).column(column).as_primitive::<arrow::datatypes::Int64Type>().clone();
    let mut at = 0;
    reader.metadata().row_groups().iter().all(|g| {
        let filter = parquet::bloom_filter::Sbbf::read_from_column_chunk(g.column(column), &file).unwrap();
        let rows = g.num_rows() as usize;
        at += rows;
        filter.is_some_and(|f| (at - rows..at).all(|i| f.check(&values.value(i))))
    })
}

/// A Parquet file's rows, read with its page index.
fn read(path: &std::path::Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let options =
        parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
fn suppression_nulls_small_classes_in_place_and_leaves_every_other_chunk_where_it_was() {
    // 99 records in classes of 33 subjects, and one alone in the sixth row group of ten.
    let mut rows: Vec<(Option<&str>, Option<i64>, i64)> = (0..100).map(|i| (Some(["x", "y", "z"][i % 3]), Some(1), i as i64)).collect();
    rows[57].0 = Some("q");
    let dir = tempfile::tempdir().unwrap();
    let (path, view) = written(dir.path(), &rows, true);
    let priors = [settled("a", Role::QuasiIdentifier), settled("uid", Role::Pseudonym)];
    let e = runtime().block_on(evaluate(&view, &priors, &method(Sharing::Public, 0.01), &[])).unwrap();
    assert!(e.suppression_suffices());
    let evaluated = runtime().block_on(class_sizes(&view, &e.quasi_identifiers, Some("uid"))).unwrap();
    let small = runtime().block_on(small_classes(&view, &e)).unwrap();
    let props = || parquet::file::properties::WriterProperties::builder().build();
    let (bytes, before, c0) = (std::fs::read(&path).unwrap(), read(&path), chunks(&path));
    let done = suppress::suppress_file(dir.path(), &path, &small, props()).unwrap();
    assert_eq!(done, suppress::Suppressed { records: 1, nulled: vec![("a".into(), 1)] });

    // The lone record's `a` is null and every other value as it was.
    let after = read(&path);
    assert_eq!(after.num_rows(), 100);
    let (a0, a1) = (before.column(0).as_string::<i32>(), after.column(0).as_string::<i32>());
    for i in 0..100 {
        assert_eq!(a1.is_null(i), i == 57, "row {i}");
        if i != 57 {
            assert_eq!(a0.value(i), a1.value(i));
        }
    }
    assert_eq!(before.columns()[1..], after.columns()[1..]);
    // Amended, not rewritten: the file begins with every byte it had, and only the chunk of `a`
    // in the sixth row group lies elsewhere, after them. The bloom filters are still found.
    let amended = std::fs::read(&path).unwrap();
    assert!(amended.len() > bytes.len() && amended[..bytes.len()] == bytes[..]);
    let c1 = chunks(&path);
    assert_eq!(c1.len(), 10);
    for (g, (x, y)) in c0.iter().zip(&c1).enumerate() {
        for (c, (x, y)) in x.iter().zip(y).enumerate() {
            assert_eq!(x == y, (g, c) != (5, 0), "row group {g}, column {c}");
            assert_eq!(y.0 >= bytes.len() as u64, (g, c) == (5, 0), "row group {g}, column {c}");
        }
    }
    assert!(bloom_filters_hold(&path, 2));
    let out = crate::lake::DataFile { path: path.clone(), format: crate::lake::FileFormat::Parquet };
    let suppressed = runtime().block_on(crate::lake::read::read_dataset(&SessionContext::new(), dir.path(), &[out])).unwrap();
    let sizes = runtime().block_on(class_sizes(&suppressed, &e.quasi_identifiers, Some("uid"))).unwrap();
    assert_eq!(sizes, ClassSizes { sizes: vec![(33, 3, 99)], unmatched: 1 });
    assert_eq!(without_below(&evaluated, 20), sizes);
    // Other readers find the same: Parquet's own reader, row by row, with the page index.
    let rows_read = {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;
        let options = parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build();
        let reader = SerializedFileReader::new_with_options(std::fs::File::open(&path).unwrap(), options).unwrap();
        reader.get_row_iter(None).unwrap().map(Result::unwrap).filter(|r| r.get_string(0).is_err()).count()
    };
    assert_eq!(rows_read, 1);

    // A file without a record of a small class is left alone.
    let (path, _) = written(dir.path(), &rows[..50], true);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(suppress::suppress_file(dir.path(), &path, &small, props()).unwrap(), suppress::Suppressed::default());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // A partition key among the quasi-identifiers is matched against the file's directory.
    let (path, _) = written(dir.path(), &rows, true);
    let class = |dt: &str| SmallClasses {
        qis: vec!["dt".into(), "a".into()],
        values: vec![Arc::new(StringArray::from(vec![dt])) as ArrayRef, Arc::new(StringArray::from(vec!["q"]))],
    };
    assert_eq!(suppress::suppress_file(dir.path(), &path, &class("2026-01-02"), props()).unwrap().records, 0);
    assert_eq!(suppress::suppress_file(dir.path(), &path, &class("2026-01-01"), props()).unwrap().records, 1);
    // Quasi-identifiers in another order than the file's columns.
    let (path, _) = written(dir.path(), &rows, true);
    let reversed = SmallClasses {
        qis: vec!["b".into(), "a".into()],
        values: vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef, Arc::new(StringArray::from(vec!["q"]))],
    };
    let done = suppress::suppress_file(dir.path(), &path, &reversed, props()).unwrap();
    assert_eq!(done, suppress::Suppressed { records: 1, nulled: vec![("b".into(), 1), ("a".into(), 1)] });
    let after = read(&path);
    assert_eq!((after.column(0).null_count(), after.column(1).null_count(), after.column(1).is_null(57)), (1, 1, true));

    // A required quasi-identifier becomes optional: the file is written again, its other
    // chunks copied with their bloom filters.
    let (path, _) = written(dir.path(), &rows, false);
    let before = read(&path);
    assert_eq!(suppress::suppress_file(dir.path(), &path, &small, props()).unwrap().records, 1);
    let after = read(&path);
    assert!(after.schema().field(0).is_nullable() && !after.schema().field(2).is_nullable());
    assert_eq!((after.column(0).null_count(), after.column(0).is_null(57)), (1, true));
    assert_eq!(before.columns()[1..], after.columns()[1..]);
    assert!(bloom_filters_hold(&path, 2));
}

#[test]
fn free_text_is_not_measured_as_a_quasi_identifier() {
    let long = "a long message that says much more than forty characters, each one unique";
    let messages: Vec<String> = (0..50).map(|i| format!("{long} {i}")).collect();
    let rows: Vec<(Option<&str>, Option<i64>, i64)> =
        messages.iter().enumerate().map(|(i, m)| (Some(m.as_str()), Some(i as i64), i as i64)).collect();
    let (_ctx, df) = table(&rows);
    let priors = [measured("a", "Utf8"), settled("uid", Role::Pseudonym)];
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Controlled, 0.0), &[])).unwrap();
    assert_eq!(e.columns[0].role, Role::SensitiveAttribute, "{e:?}");
    assert_eq!(e.level, Level(3));

    // Without a pseudonym or a quasi-identifier nothing identifies anyone: level 4.
    let priors = [measured("a", "Utf8")];
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Controlled, 0.0), &[])).unwrap();
    assert_eq!((e.level, e.quasi_identifiers.len()), (Level(4), 0));
}

#[test]
fn a_value_one_subject_repeats_singles_them_out_however_many_records_hold_it() {
    // 60 records: 10 subjects with 6 records each, `a` shared by all of a subject's records
    // and by no one else's; counted by records every class has 6, by subjects 1.
    let values = ["p", "q", "r", "s", "t", "u", "v", "w", "x", "y"];
    let rows: Vec<(Option<&str>, Option<i64>, i64)> = (0..60).map(|i| (Some(values[i / 6]), Some(1), (i / 6) as i64)).collect();
    let (_ctx, df) = table(&rows);
    let priors = [measured("a", "Utf8"), settled("uid", Role::Pseudonym)];
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Controlled, 0.0), &[])).unwrap();
    assert!(!e.subject_per_record);
    assert_eq!((e.quasi_identifiers.as_slice(), e.level, e.figures.k), (["a".to_string()].as_slice(), Level(2), 1), "{e:?}");

    // One record a subject: records are counted, with the same figures.
    let rows: Vec<(Option<&str>, Option<i64>, i64)> = (0..60).map(|i| (Some(values[i / 6]), Some(1), i as i64)).collect();
    let (_ctx, df) = table(&rows);
    let e = runtime().block_on(evaluate(&df, &priors, &method(Sharing::Controlled, 0.0), &[])).unwrap();
    assert!(e.subject_per_record);
    assert_eq!((e.quasi_identifiers.len(), e.level, e.figures.k), (0, Level(3), 60), "{e:?}");
}

/// `rows` counted by write tasks, cut at `cuts`, each task given its rows in two batches: by
/// (a, b), by a alone and by b alone; with their subjects (`uid`) up to `cap`, where given.
fn counted_by_tasks(rows: &[(Option<&str>, Option<i64>, i64)], cuts: &[usize], cap: Option<u64>) -> CountedClasses {
    counted_with_subject_keys(rows, cuts, cap).0
}

/// As [`counted_by_tasks`], with the subject-key runs each task wrote beside its counts, in
/// the directory returned.
fn counted_with_subject_keys(
    rows: &[(Option<&str>, Option<i64>, i64)],
    cuts: &[usize],
    cap: Option<u64>,
) -> (CountedClasses, Vec<SubjectKeyRuns>, tempfile::TempDir) {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).chain([0, rows.len()]).collect();
    bounds.sort_unstable();
    let mut counted = CountedClasses::new(vec![qis(), vec!["a".into()], vec!["b".into()]], cap);
    let (dir, mut runs) = (tempfile::tempdir().unwrap(), Vec::new());
    for task in bounds.windows(2).filter(|t| t[0] < t[1]) {
        let (_ctx, df) = table(&rows[task[0]..task[1]]);
        let batch = runtime().block_on(df.collect()).unwrap().pop().unwrap();
        let mut counter = counted::ClassCounter::new(&batch.schema(), vec![Some(vec![0, 1]), Some(vec![0]), Some(vec![1])], cap).unwrap();
        let mut keys = SubjectKeyWriter::create(&dir.path().join(format!("task-{}", task[0]))).unwrap();
        let half = batch.num_rows() / 2;
        for part in [batch.slice(0, half), batch.slice(half, batch.num_rows() - half)] {
            let subjects = crate::leak::subject_keys(part.column(2)).unwrap();
            let classes = counter.push(&part, cap.map(|_| &subjects)).unwrap();
            keys.push(subjects.iter(), classes.as_deref()).unwrap();
        }
        counted.merge(&counter.finish().unwrap()).unwrap();
        runs.push(keys.finish().unwrap());
    }
    (counted, runs, dir)
}

/// The groupings of `counted` whose counts hold all `records`.
fn covered(counted: &CountedClasses, records: usize) -> Vec<Vec<String>> {
    let groupings: Vec<Vec<String>> = counted.groupings().map(<[String]>::to_vec).collect();
    groupings.into_iter().filter(|g| counted.covering(records as u64, false).iter().any(|c| c.over(g))).collect()
}

/// `rows` with every record of a `small` class stripped of both quasi-identifiers.
fn suppressed_by_hand<'a>(rows: &[(Option<&'a str>, Option<i64>, i64)], small: &SmallClasses) -> Vec<(Option<&'a str>, Option<i64>, i64)> {
    let values = class_values(small);
    rows.iter()
        .map(|&(a, b, s)| match values.binary_search(&(a.map(str::to_string), b)) {
            Ok(_) => (None, None, s),
            Err(_) => (a, b, s),
        })
        .collect()
}

/// Small classes as sorted values.
fn class_values(small: &SmallClasses) -> Vec<(Option<String>, Option<i64>)> {
    let (a, b) = (small.values[0].as_string::<i32>(), small.values[1].as_primitive::<arrow::datatypes::Int64Type>());
    let mut values: Vec<_> =
        (0..a.len()).map(|i| (a.is_valid(i).then(|| a.value(i).to_string()), b.is_valid(i).then(|| b.value(i)))).collect();
    values.sort();
    values
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Classes counted by write tasks over any cut of the records, merged, are those the
    /// aggregates count over the table: the measured columns' rare shares, the class sizes,
    /// the small classes, and the sizes once those are suppressed.
    #[test]
    fn classes_counted_by_write_tasks_are_the_aggregates(
        rows in rows(),
        cuts in proptest::collection::vec(0usize..300, 0..4),
        sharing in prop::sample::select(vec![Sharing::Public, Sharing::Controlled, Sharing::Enclave]),
    ) {
        let counted = counted_by_tasks(&rows, &cuts, None);
        prop_assert_eq!(covered(&counted, rows.len()), vec![qis(), vec!["a".to_string()], vec!["b".to_string()]]);
        prop_assert!(covered(&counted, rows.len() + 1).is_empty());
        prop_assert!(counted.covering(rows.len() as u64, true).is_empty(), "no subjects were counted");
        let counted = counted.covering(rows.len() as u64, false);
        let (_ctx, df) = table(&rows);
        let sizes = runtime().block_on(class_sizes(&df, &qis(), None)).unwrap();
        prop_assert_eq!(&counted[0].sizes(), &sizes);
        prop_assert_eq!(&sizes, &brute_force(&rows, false));

        // Measured, or settled: the same evaluation from the counts as from the aggregates.
        let method = Method { sharing, max_suppressed: 1.0, subject: None, per_record: None, text_lengths: None, published: None };
        for priors in [[measured("a", "Utf8"), measured("b", "Int64")], [settled("a", Role::QuasiIdentifier), settled("b", Role::QuasiIdentifier)]] {
            let e = runtime().block_on(evaluate(&df, &priors, &method, &counted)).unwrap();
            let aggregated = runtime().block_on(evaluate(&df, &priors, &method, &[])).unwrap();
            let from_write = counted.iter().any(|c| e.counted_by(c));
            prop_assert_eq!(from_write, !e.quasi_identifiers.is_empty());
            prop_assert_eq!(&e, &Evaluation { classes_from_write: from_write, ..aggregated });
        }
        let e = runtime().block_on(evaluate(&df, &[settled("a", Role::QuasiIdentifier), settled("b", Role::QuasiIdentifier)], &method, &counted)).unwrap();
        prop_assert!(e.classes_from_write && e.counted_by(&counted[0]));
        let k = sharing.min_class();
        let small = counted[0].smaller_than(k).unwrap();
        prop_assert_eq!(class_values(&small), class_values(&runtime().block_on(small_classes(&df, &e)).unwrap()));
        let suppressed = suppressed_by_hand(&rows, &small);
        prop_assert_eq!(counted[0].sizes().after_suppression(k), brute_force(&suppressed, false));
    }

    /// Classes counted with their subjects (a few up to the sharing model's smallest class) by
    /// write tasks over any cut of the records, merged, tell what the aggregates over the table
    /// tell: every rare share, the records at risk, the small classes and what suppressing them
    /// leaves, and the class sizes themselves, some subjects null or not.
    #[test]
    fn subjects_counted_by_write_tasks_tell_what_the_aggregates_tell(
        rows in rows_with_null_subjects(),
        cuts in proptest::collection::vec(0usize..300, 0..4),
        sharing in prop::sample::select(vec![Sharing::Public, Sharing::Controlled, Sharing::Enclave]),
    ) {
        let k = sharing.min_class();
        let (mut write, runs, _dir) = counted_with_subject_keys(&rows, &cuts, Some(k));
        let (_ctx, df) = table(&rows);
        let by_hand = brute_force(&rows, true);
        let over_a: Vec<_> = rows.iter().map(|&(a, _, s)| (a, None, s)).collect();
        let method = Method { sharing, max_suppressed: 1.0, subject: Some("uid".into()), per_record: Some(false), text_lengths: None, published: None };
        let settled_qis = [settled("a", Role::QuasiIdentifier), settled("b", Role::QuasiIdentifier)];
        // As the write counted them, then with the classes beyond the cap sized by the merge of
        // its subject keys: every size over the quasi-identifiers is then exact (a measured
        // column's classes are not in the runs).
        for sized in [false, true] {
            if sized {
                write.size_beyond_cap(&runs).unwrap();
            }
            let counted = write.covering(rows.len() as u64, true);
            prop_assert_eq!(counted.len(), 3);
            let sizes = counted[0].sizes();
            prop_assert_eq!(sizes.records_below(k), by_hand.records_below(k));
            prop_assert_eq!(counted[0].exact(), sized || by_hand.sizes.iter().all(|(f, _, _)| *f < k));
            if counted[0].exact() {
                prop_assert_eq!(&sizes, &by_hand);
            }
            prop_assert_eq!(counted[1].exact(), brute_force(&over_a, true).sizes.iter().all(|(f, _, _)| *f < k));

            for priors in [[measured("a", "Utf8"), measured("b", "Int64")], settled_qis.clone()] {
                let e = runtime().block_on(evaluate(&df, &priors, &method, &counted)).unwrap();
                let aggregated = runtime().block_on(evaluate(&df, &priors, &method, &[])).unwrap();
                let from_write = counted.iter().any(|c| e.counted_by(c) && c.exact());
                prop_assert_eq!(&e, &Evaluation { classes_from_write: from_write, ..aggregated });
            }
            let e = runtime().block_on(evaluate(&df, &settled_qis, &method, &counted)).unwrap();
            prop_assert!(e.counted_by(&counted[0]));
            prop_assert_eq!(e.classes_from_write, counted[0].exact());
            let small = counted[0].smaller_than(k).unwrap();
            prop_assert_eq!(class_values(&small), class_values(&runtime().block_on(small_classes(&df, &e)).unwrap()));
            let suppressed = suppressed_by_hand(&rows, &small);
            prop_assert_eq!(e.sizes.after_suppression(k), brute_force(&suppressed, true));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Where no column is a quasi-identifier every record is in one class: sized from what the
    /// write counted (its records, and the merge's distinct subjects, null ones as one), the
    /// evaluation is the aggregate's.
    #[test]
    fn one_class_of_every_record_counted_by_the_write_is_the_aggregates(
        rows in rows_with_null_subjects(),
        cuts in proptest::collection::vec(0usize..300, 0..4),
        sharing in prop::sample::select(vec![Sharing::Public, Sharing::Controlled, Sharing::Enclave]),
        by_subject in any::<bool>(),
    ) {
        let (_write, runs, _dir) = counted_with_subject_keys(&rows, &cuts, Some(sharing.min_class()));
        let subjects = distinct_subjects(&runs).unwrap();
        prop_assert_eq!(subjects, rows.iter().map(|r| r.2).collect::<BTreeSet<_>>().len() as u64);
        let (_ctx, df) = table(&rows);
        let no_qis = [settled("a", Role::Other), settled("b", Role::SensitiveAttribute)];
        let aggregates = Method {
            sharing,
            max_suppressed: 0.0,
            subject: by_subject.then(|| "uid".to_string()),
            per_record: Some(false),
            text_lengths: None,
            published: None,
        };
        let aggregated = runtime().block_on(evaluate(&df, &no_qis, &aggregates, &[])).unwrap();
        prop_assert!(!aggregated.classes_from_write);
        let published = Published { records: rows.len() as u64, subjects: Some(subjects) };
        let counted = Method { published: Some(published), ..aggregates.clone() };
        let e = runtime().block_on(evaluate(&df, &no_qis, &counted, &[])).unwrap();
        prop_assert_eq!(&e, &Evaluation { classes_from_write: true, ..aggregated.clone() });
        // Subjects the write did not count leave the class to the aggregate.
        let uncounted = Method { published: Some(Published { subjects: None, ..published }), ..aggregates };
        let e = runtime().block_on(evaluate(&df, &no_qis, &uncounted, &[])).unwrap();
        prop_assert_eq!(e.classes_from_write, !by_subject);
        prop_assert_eq!(&e, &Evaluation { classes_from_write: !by_subject, ..aggregated });
    }
}

#[test]
fn a_class_the_subject_keys_confuse_with_another_is_left_to_the_aggregate() {
    // (x, 1): 30 subjects of two records each; (y, 1): one subject, whose rows the runs name
    // by the hash of (x, 1), as a collision would.
    let mut rows: Vec<(Option<&str>, Option<i64>, i64)> = (0..60).map(|i| (Some("x"), Some(1), i / 2)).collect();
    rows.push((Some("y"), Some(1), 99));
    let (_ctx, df) = table(&rows);
    let batch = runtime().block_on(df.collect()).unwrap().pop().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let count = |confuse: bool| {
        let mut counted = CountedClasses::new(vec![qis()], Some(5));
        let mut counter = counted::ClassCounter::new(&batch.schema(), vec![Some(vec![0, 1])], Some(5)).unwrap();
        let subjects = crate::leak::subject_keys(batch.column(2)).unwrap();
        let mut classes = counter.push(&batch, Some(&subjects)).unwrap().expect("hashed");
        if confuse {
            classes[60] = classes[0];
        }
        let mut keys = SubjectKeyWriter::create(&dir.path().join(format!("{confuse}"))).unwrap();
        keys.push(subjects.iter(), Some(&classes)).unwrap();
        counted.merge(&counter.finish().unwrap()).unwrap();
        counted.size_beyond_cap(&[keys.finish().unwrap()]).unwrap();
        counted
    };
    let sized = count(false);
    let classes = sized.covering(61, true);
    assert!(classes[0].exact());
    assert_eq!(classes[0].sizes(), ClassSizes { sizes: vec![(1, 1, 1), (30, 1, 60)], unmatched: 0 });
    let confused = count(true);
    let classes = confused.covering(61, true);
    assert!(!classes[0].exact());
    assert_eq!(classes[0].sizes(), ClassSizes { sizes: vec![(1, 1, 1), (5, 1, 60)], unmatched: 0 });
}

#[test]
fn past_the_budget_the_grouping_that_holds_the_most_is_given_up_in_a_task_or_in_their_merge() {
    // b distinct in every record, a the same; (a, b) as many classes as b.
    let rows = |n: i64, from: i64| (0..n).map(|i| (Some("x"), Some(from + i), i)).collect::<Vec<_>>();
    let all = || vec![qis(), vec!["a".to_string()], vec!["b".to_string()]];
    let per_class = counted::CLASS_OVERHEAD + 8;
    let fits = (counted::COUNT_BUDGET / per_class / 3) as i64;
    let few = rows(fits, 0);
    assert_eq!(covered(&counted_by_tasks(&few, &[], None), few.len()), all());
    assert_eq!(covered(&counted_by_tasks(&few, &[few.len() / 2], None), few.len()), all());
    // Many more: (a, b) and b give up in the task that meets them; a, of one class, is kept.
    let many = rows(fits * 4, 0);
    assert_eq!(covered(&counted_by_tasks(&many, &[], None), many.len()), [vec!["a".to_string()]]);
    // Each task within its budget, their merge not: (a, b), which holds the most, gives up.
    let halves = rows(fits * 2, 0);
    let cut = counted_by_tasks(&halves, &[halves.len() / 2], None);
    assert_eq!(covered(&cut, halves.len()), [vec!["a".to_string()], vec!["b".to_string()]]);
    // A class repeated is no new class; nor are records with every column null.
    let mut repeated = rows(fits, 0);
    repeated.extend(rows(fits, 0));
    repeated.push((None, None, 0));
    let counted = counted_by_tasks(&repeated, &[7, 100], None);
    assert_eq!(covered(&counted, repeated.len()), all());
    let sizes = counted.covering(repeated.len() as u64, false)[0].sizes();
    assert_eq!(sizes, ClassSizes { sizes: vec![(2, fits as u64, repeated.len() as u64 - 1)], unmatched: 1 });
    // A task that did not count leaves nothing to use.
    let mut counted = counted_by_tasks(&repeated, &[7, 100], None);
    counted.merge(&[]).unwrap();
    assert!(covered(&counted, repeated.len()).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A write's text lengths, summed in parts and over every string layout, have the mean the
    /// profile reads from the table (`avg(character_length(…))`), in characters, nulls aside.
    #[test]
    fn text_lengths_summed_in_parts_are_the_profiles_mean(
        values in proptest::collection::vec(proptest::option::weighted(0.8, "[a-z张伟é😀 ]{0,50}"), 1..60),
        cut in 0usize..60,
    ) {
        let texts: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let numbers: ArrayRef = Arc::new(Int64Array::from(values.iter().map(|v| v.as_ref().map(|v| v.len() as i64 * 1001)).collect::<Vec<_>>()));
        let batch = RecordBatch::try_from_iter([("t", texts.clone()), ("n", numbers.clone())]).unwrap();
        let df = SessionContext::new().read_batch(batch).unwrap();
        let (_, want) = runtime().block_on(profile(&df, None, &["t", "n"], None)).unwrap();
        let cut = cut.min(values.len());
        for layout in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
            let texts = cast(&texts, &layout).unwrap();
            let mut got = [TextLength::default(), TextLength::default()];
            for (length, column) in got.iter_mut().zip([&texts, &numbers]) {
                let mut second = TextLength::default();
                length.add(&column.slice(0, cut)).unwrap();
                second.add(&column.slice(cut, values.len() - cut)).unwrap();
                length.merge(second);
            }
            prop_assert_eq!(got.map(|l| l.mean()).to_vec(), want.clone(), "{}", layout);
        }
    }
}

#[test]
fn text_lengths_the_write_counted_decide_free_text_without_reading_the_table() {
    // Short notes in the table; the write says they averaged 50 characters: only the write
    // was asked.
    let rows: Vec<(Option<&str>, Option<i64>, i64)> = (0..40).map(|i| (Some("ok"), Some(i % 2), i)).collect();
    let (_ctx, df) = table(&rows);
    let priors = [measured("a", "Utf8"), measured("b", "Int64")];
    let lengths = |text_lengths| Method { text_lengths, per_record: Some(true), ..method(Sharing::Controlled, 0.0) };
    let role_of_a = |m: &Method| {
        let e = runtime().block_on(evaluate(&df, &priors, m, &[])).unwrap();
        e.columns.iter().find(|c| c.name == "a").unwrap().role
    };
    assert_eq!(role_of_a(&lengths(Some(vec![50.0]))), Role::SensitiveAttribute);
    assert_eq!(role_of_a(&lengths(None)), Role::Other, "read from the table: 2 characters a value, shared by many");
    assert_eq!(role_of_a(&lengths(Some(Vec::new()))), Role::Other, "lengths of other columns are not taken");
}
