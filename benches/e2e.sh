#!/usr/bin/env bash
# End-to-end benchmark: DataFusion plain copy vs `piguard run` vs the same job in DuckDB SQL,
# on generated data (2,000,000 rows, then 10x). Installs DuckDB into a virtualenv.
# With `s3`: `piguard run` and `scan` on a lake in an S3 server (examples/s3_server.rs, the
# s3s-fs server the tests run, as a process of its own) against the same lake on local disk.
# With `cluster`: `piguard run` on a local Ballista cluster (a scheduler with one, then two
# executors, each a process) against the local engine, on the same lake (benches/e2e_cluster.py).
# With `risk`: `piguard risk` against pyCANON (k-anonymity, from PyPI) on the same 1,000,000-row
# table: the same k and histogram of class sizes, and both times (benches/risk_pycanon.py).
# Usage: benches/e2e.sh [s3|cluster|risk] [ROWS]   (results are printed and written to target-dir/e2e[_s3|_cluster|_risk].json)
# RECORDS_PER_SUBJECT=10 gives each user ten records (a log of events) instead of one.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/piguard-target}"
venv="$CARGO_TARGET_DIR/e2e-venv"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'duckdb>=1.1'
fi
if [[ "${1:-}" == risk ]]; then
    "$venv/bin/python" -c 'import pycanon' 2>/dev/null || "$venv/bin/pip" install --quiet 'pycanon>=1.3'
    cargo build --release --locked --bin piguard
    exec "$venv/bin/python" benches/risk_pycanon.py --piguard "$CARGO_TARGET_DIR/release/piguard" \
        --rows "${2:-1000000}" --out "$CARGO_TARGET_DIR/e2e_risk.json"
fi
if [[ "${1:-}" == cluster ]]; then
    cargo build --release --locked --features cluster --bin piguard
    exec "$venv/bin/python" benches/e2e_cluster.py --piguard "$CARGO_TARGET_DIR/release/piguard" \
        --rows "${2:-2000000}" --records-per-subject "${RECORDS_PER_SUBJECT:-1}" --out "$CARGO_TARGET_DIR/e2e_cluster.json"
fi
if [[ "${1:-}" == s3 ]]; then
    cargo build --release --locked --bin piguard --example s3_server
    exec "$venv/bin/python" benches/e2e_s3.py \
        --piguard "$CARGO_TARGET_DIR/release/piguard" --s3-server "$CARGO_TARGET_DIR/release/examples/s3_server" \
        --rows "${2:-2000000}" --records-per-subject "${RECORDS_PER_SUBJECT:-1}" --out "$CARGO_TARGET_DIR/e2e_s3.json"
fi
# With DF_COPY=python the baseline copy is DataFusion's Python bindings (benches/df_copy.py, the
# same DataFusion major) instead of examples/df_copy.rs, whose release build with every
# dev-dependency takes half an hour on 2 cores.
if [[ "${DF_COPY:-example}" == python ]]; then
    "$venv/bin/python" -c 'import datafusion, deltalake' 2>/dev/null || "$venv/bin/pip" install --quiet 'datafusion>=55,<56' 'deltalake>=1.1'
    cargo build --release --locked --bin piguard
    export PATH="$venv/bin:$PATH"
    exec "$venv/bin/python" benches/e2e.py --piguard "$CARGO_TARGET_DIR/release/piguard" --df-copy benches/df_copy.py \
        --rows "${1:-2000000}" --records-per-subject "${RECORDS_PER_SUBJECT:-1}" --out "$CARGO_TARGET_DIR/e2e.json"
fi
# delta-rs's Python reader, to read the de-identified Delta table as an outside engine.
"$venv/bin/python" -c 'import deltalake' 2>/dev/null || "$venv/bin/pip" install --quiet 'deltalake>=1.1'
cargo build --release --locked --bin piguard --example df_copy
exec "$venv/bin/python" benches/e2e.py \
    --piguard "$CARGO_TARGET_DIR/release/piguard" \
    --df-copy "$CARGO_TARGET_DIR/release/examples/df_copy" \
    --rows "${1:-2000000}" --records-per-subject "${RECORDS_PER_SUBJECT:-1}" --out "$CARGO_TARGET_DIR/e2e.json"
