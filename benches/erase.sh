#!/usr/bin/env bash
# Erasure cost: a generated lake whose browsing logs hold about 2,000,000 rows in 457 daily
# partitions; one subject is erased (raw and de-identified zones), and the time is compared
# with rewriting the whole dataset (`piguard run --force`) measured in the same run.
# Usage: benches/erase.sh [USERS]   (default 200000 users, about 2M browsing-log rows)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/piguard-target}"
cargo build --release --locked --bin piguard
piguard="$CARGO_TARGET_DIR/release/piguard"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PIGUARD_KEY="erase-benchmark-key-0123456789abcdef" PIGUARD_LAKE="$work/lake"

"$piguard" sample-data "$work/lake" --rows "${1:-200000}" 2>/dev/null
printf '[[dataset]]\nname = "browsing_logs"\nsubject = "user_id"\ndefault_action = "auto"\ncolumns.search_keyword = "drop"\n' > "$work/p.toml"
"$piguard" run "$work/p.toml" 2>/dev/null >/dev/null
rows=$("$piguard" query --format csv "select count(*) from browsing_logs" | tail -n 1)
files=$(find "$work/lake/raw/browsing_logs" "$work/lake/deid/browsing_logs" -name '*.parquet' | wc -l)
subject=$("$piguard" query --format csv --zone raw --reason "erasure benchmark: pick a subject" \
    "select user_id from raw.browsing_logs group by user_id order by count(*) desc, user_id limit 1" | tail -n 1)

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >"$work/out" 2>&1 || [ $? -le 1 ]; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
full=$(seconds "$piguard" run "$work/p.toml" --force)
erase=$(seconds "$piguard" erase --pipeline "$work/p.toml" --subject "$subject" --today 2026-11-23)
echo "browsing_logs: $rows rows in $files Parquet files (raw + deid)"
grep '^erasure' "$work/out" | head -n 1
echo "erase one subject: ${erase}s; full rewrite (run --force): ${full}s; ratio $(echo "scale=3; $erase / $full" | bc)"
