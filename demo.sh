#!/usr/bin/env bash
# The main job on the demo lake: generate it if missing, inventory it, de-identify it, check
# the result, and show what a retention purge would delete today. Usage: ./demo.sh [LAKE]   (default ./lake)
set -euo pipefail
cd "$(dirname "$0")"
lake="${1:-lake}"
# The same features as the tests, so after `cargo test` nothing is compiled again.
piguard() { cargo run --quiet --locked --features cluster -- "$@"; }

if [[ ! -d "$lake/raw" ]]; then
    piguard sample-data "$lake" --rows 500
fi

# A throwaway key for the demo, made once and kept out of git. Real deployments set
# PIGUARD_KEY or PIGUARD_KEY_FILE from their secret store.
if [[ -z "${PIGUARD_KEY:-}" && -z "${PIGUARD_KEY_FILE:-}" ]]; then
    if [[ ! -f .demo-key ]]; then
        (umask 077 && head -c 32 /dev/urandom > .demo-key)
    fi
    export PIGUARD_KEY_FILE="$PWD/.demo-key"
fi

piguard run pipelines/demo.toml --lake "$lake"
# The inventory, with the de-identification effect each published dataset was evaluated at.
piguard scan "$lake" --format html --output "$lake/_piguard/inventory.html"
piguard risk "$lake/deid/users" --format markdown | tail -n 20
piguard verify "$lake/deid" --lake "$lake"
# What retention would delete today (browsing logs past a year, never younger than 180 days).
piguard purge --lake "$lake" --pipeline pipelines/demo.toml --dry-run | tail -n 3
piguard audit verify --lake "$lake"
echo
echo "PI inventory:        $lake/_piguard/inventory.html (and inventory.json)"
echo "de-identified zone:  $lake/deid/"
echo "run manifests:       $lake/_piguard/runs/"
echo "audit log:           $lake/_piguard/audit.jsonl"
