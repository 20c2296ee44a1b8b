//! The labeled evaluation corpus: `scan` is scored against its labels, and fails below the
//! floors. `cargo test corpus -- --nocapture` prints the confusion table.

use piguard::inventory::Inventory;
use piguard::sample_data::corpus::{self, CorpusLabels};

use crate::{piguard, text};

/// Floors of the accuracy benchmark (the targets of issue 11).
const MIN_COLUMN_ACCURACY: f64 = 0.97;

#[test]
fn scan_meets_the_accuracy_floors_on_the_labeled_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_arg = lake.to_str().unwrap();
    let out = piguard(&["sample-data", lake_arg, "--corpus", "--rows", "300"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = piguard(&["scan", lake_arg, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let inventory: Inventory =
        serde_json::from_slice(&std::fs::read(lake.join("_piguard/inventory.json")).unwrap()).unwrap();
    let markdown = text(&piguard(&["scan", lake_arg, "--format", "markdown"])).0;
    assert!(markdown.contains("## Columns that need a decision") && markdown.contains("legacy_export_2019.c5"), "the opaque id is listed");
    let labels = CorpusLabels::read(&lake.join(corpus::LABELS_FILE)).unwrap();
    let accuracy = corpus::evaluate(&inventory, &labels);
    println!("{accuracy}");
    assert_eq!(accuracy.missing, 0, "every table is read");
    assert!(accuracy.column_accuracy() >= MIN_COLUMN_ACCURACY, "{accuracy}");
    assert_eq!(accuracy.pi_found, accuracy.pi, "every PI column is found\n{accuracy}");
    assert_eq!(accuracy.non_pi_flagged, 0, "no decoy is flagged\n{accuracy}");
}
