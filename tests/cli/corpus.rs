//! The labeled evaluation corpus: `scan` is scored against its labels, and fails below the
//! floors. `cargo test corpus -- --nocapture` prints the confusion table.

use piguard::category::{Action, Category};
use piguard::inventory::Inventory;
use piguard::sample_data::corpus::{self, CorpusLabels};

use crate::{piguard, text};

/// Floors on both corpora: of column accuracy, and of non-PI columns flagged (one per 40).
const MIN_COLUMN_ACCURACY: f64 = 0.95;
const MAX_FLAGGED_PER_NON_PI: f64 = 1.0 / 40.0;

/// Writes a corpus (`tuning` or `public`), scans it and scores the inventory.
fn score(corpus: &str) -> (corpus::Accuracy, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap();
    let out = piguard(&["sample-data", lake_arg, "--corpus", corpus, "--rows", "300"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = piguard(&["scan", lake_arg, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let inventory: Inventory = serde_json::from_slice(&std::fs::read(lake.join("_piguard/inventory.json")).unwrap()).unwrap();
    let labels = CorpusLabels::read(&lake.join(corpus::LABELS_FILE)).unwrap();
    (corpus::evaluate(&inventory, &labels), lake, dir)
}

fn assert_floors(name: &str, accuracy: &corpus::Accuracy) {
    println!("== {name} corpus ==\n{accuracy}");
    assert_eq!(accuracy.missing, 0, "every table is read");
    assert!(accuracy.column_accuracy() >= MIN_COLUMN_ACCURACY, "{name}: {accuracy}");
    assert_eq!(accuracy.sensitive_found, accuracy.sensitive, "{name}: every sensitive PI column is found\n{accuracy}");
    let allowed = (accuracy.non_pi as f64 * MAX_FLAGGED_PER_NON_PI).floor() as usize;
    assert!(accuracy.non_pi_flagged <= allowed, "{name}: at most {allowed} non-PI columns flagged\n{accuracy}");
}

#[test]
fn scan_meets_the_accuracy_floors_on_the_tuning_corpus() {
    let (accuracy, lake, _dir) = score("tuning");
    assert_floors("tuning", &accuracy);
    // The corpus rules are tuned on holds stricter figures: every PI column found, no decoy flagged.
    assert_eq!(accuracy.pi_found, accuracy.pi, "every PI column is found\n{accuracy}");
    assert_eq!(accuracy.non_pi_flagged, 0, "no decoy is flagged\n{accuracy}");
    let markdown = text(&piguard(&["scan", lake.to_str().unwrap(), "--format", "markdown"])).0;
    assert!(markdown.contains("## Columns that need a decision") && markdown.contains("legacy_export_2019.c5"), "the opaque id is listed");
}

/// The public sample schemas (Chinook, Sakila, Northwind, AdventureWorks, TPC-DS, Chinese
/// shop schemas and government data elements), which no rule was tuned on.
#[test]
fn scan_meets_the_accuracy_floors_on_the_public_schema_corpus() {
    let (accuracy, _lake, _dir) = score("public");
    assert_floors("public-schema", &accuracy);
}

/// Every value of every column of `source`, as text.
fn values(source: &piguard::lake::DatasetSource) -> Vec<(String, Vec<String>)> {
    use arrow::array::Array;
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let batches = piguard::lake::read_files(&ctx, &source.files).await.unwrap().collect().await.unwrap();
        let schema = batches[0].schema();
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut out = Vec::new();
                for b in &batches {
                    let col = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8).unwrap();
                    let col = col.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
                    out.extend((0..col.len()).filter(|r| col.is_valid(*r)).map(|r| col.value(r).trim().to_string()));
                }
                (f.name().clone(), out)
            })
            .collect()
    })
}

#[test]
fn an_auto_run_over_the_corpus_publishes_no_raw_pi_value() {
    use piguard::lake::{Lake, Zone};
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    let lake_arg = lake_dir.to_str().unwrap();
    assert!(piguard(&["sample-data", lake_arg, "--corpus", "tuning", "--rows", "200"]).status.success());
    let out = piguard(&["scan", lake_arg, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let inventory: Inventory = serde_json::from_slice(&out.stdout).unwrap();

    // What a user writes after reading the inventory: every dataset on `auto`, and a reason
    // for each PI column the inventory suggests keeping (general PI such as gender; amounts).
    let mut pipeline = String::new();
    let mut reasons = 0;
    for d in &inventory.datasets {
        pipeline.push_str(&format!("[[dataset]]\nname = \"{}\"\ndefault_action = \"auto\"\n", d.name));
        for c in d.columns.iter().filter(|c| c.category != Category::None && c.suggested_action == Action::Keep) {
            assert!(matches!(c.category, Category::Gender | Category::Transaction), "{}.{} is {}", d.name, c.name, c.category);
            pipeline.push_str(&format!("columns.{:?} = {{ action = \"keep\", reason = \"aggregate dimension\" }}\n", c.name));
            reasons += 1;
        }
        pipeline.push('\n');
    }
    assert!(reasons > 10);
    let p = dir.path().join("corpus.toml");
    std::fs::write(&p, pipeline).unwrap();
    let out = crate::piguard_with_key(Some(crate::KEY), &["run", p.to_str().unwrap(), "--lake", lake_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);

    // Every published value against the raw values of every labeled column that points to a person.
    let labels = CorpusLabels::read(&lake_dir.join(corpus::LABELS_FILE)).unwrap();
    let lake = Lake::at(&lake_dir);
    let mut leaks = Vec::new();
    for (table, columns) in &labels.tables {
        let raw = values(&lake.dataset(Zone::Raw, table).unwrap().unwrap());
        let protected: std::collections::HashSet<&str> = raw
            .iter()
            .filter(|(c, _)| columns.get(c).is_some_and(|l| l.pinpoints_a_person()))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
            .filter(|v| v.chars().count() >= 4)
            .collect();
        let deid = values(&lake.dataset(Zone::Deid, table).unwrap().unwrap());
        for (column, published) in &deid {
            let verbatim = published.iter().filter(|v| protected.contains(v.as_str())).count();
            if verbatim > 0 {
                leaks.push(format!("{table}.{column}: {verbatim} raw PI values"));
            }
        }
    }
    assert!(leaks.is_empty(), "verbatim leaks: {leaks:?}");
}
