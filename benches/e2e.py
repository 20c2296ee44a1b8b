#!/usr/bin/env python3
"""End-to-end benchmark of `piguard run` (run through benches/e2e.sh).

Generates ROWS rows (user_id, phone, id_card, name, email, imei, lat, lon, amount,
event_time, page_url) with DuckDB, then times, in the same run and on the same files:

  df_copy        plain DataFusion parquet -> parquet copy with its default writer settings
                 (zstd level 3): the baseline
  df_copy_deid_codec  the same copy written with piguard's codec (zstd level 1): shows how
                 much of piguard's time its transforms take, apart from the codec choice
  piguard        `piguard run benches/e2e_pipeline.toml` (keyed HMAC, masks, generalization,
                 classification, the leak gate and the risk gate included; the risk gate's
                 own time, from the run's manifest, is reported as a share of the run)
  duckdb_copy    plain DuckDB copy
  duckdb_job     the same job in DuckDB SQL (unkeyed sha256: DuckDB has no HMAC)

Each is run --repeat times, in rounds; the median wall time and the peak RSS are reported, and the
whole set is repeated at 10x the rows to show memory stays flat. Figures are ratios against
the baseline measured in the same run, since the machines are shared.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GENERATE = """
COPY (SELECT
  100000000 + i % {subjects} AS user_id,
  '1' || (3 + i % 7)::VARCHAR || lpad((hash(i) % 1000000000)::VARCHAR, 9, '0') AS phone,
  '110105' || strftime(DATE '1960-01-01' + INTERVAL (i % 16000) DAY, '%Y%m%d')
      || lpad((i % 1000)::VARCHAR, 3, '0') || 'X' AS id_card,
  ['张', '王', '李', '刘', '陈', '欧阳'][1 + i % 6] || ['伟', '芳', '娜娜', '敏', '静'][1 + (i // 6) % 5] AS name,
  'user' || i::VARCHAR || '@example.com' AS email,
  '86' || lpad((hash(i * 3) % 10000000000000)::VARCHAR, 13, '0') AS imei,
  39.9 + ((hash(i * 5) % 200000)::DOUBLE - 100000) / 1000000 AS lat,
  116.4 + ((hash(i * 7) % 200000)::DOUBLE - 100000) / 1000000 AS lon,
  round((hash(i * 11) % 100000)::DOUBLE / 100, 2) AS amount,
  TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS event_time,
  'https://m.shop.example.cn/item/' || (i % 100000)::VARCHAR || '?spm=a' || (i % 977)::VARCHAR AS page_url
FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet, COMPRESSION zstd);
"""

DUCKDB_JOB = """
COPY (SELECT
  sha256('account_id' || chr(31) || user_id::VARCHAR) AS user_id,
  sha256('phone' || chr(31) || phone) AS phone,
  sha256('device_id' || chr(31) || imei) AS imei,
  left(id_card, 6) || repeat('*', length(id_card) - 10) || right(id_card, 4) AS id_card,
  left(name, 1) || repeat('*', length(name) - 1) AS name,
  left(email, 1) || repeat('*', strpos(email, '@') - 2) || substr(email, strpos(email, '@')) AS email,
  floor(lat / 0.01) * 0.01 AS lat,
  floor(lon / 0.01) * 0.01 AS lon,
  amount,
  date_trunc('hour', event_time) AS event_time,
  page_url
FROM read_parquet('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd);
"""

DUCKDB_COPY = "COPY (SELECT * FROM read_parquet('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd);"


def measure(cmd, env=None, before=None):
    """Wall seconds and peak RSS (MiB) of one child process."""
    if before:
        before()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024


def duckdb_cmd(sql):
    return [sys.executable, "-c", f"import duckdb; duckdb.sql('SET enable_progress_bar = false'); duckdb.sql({sql!r})"]


def generated(lake, rows, records_per_subject=1):
    """LAKE/raw/events/part-0.parquet, `rows` rows generated with DuckDB unless already there,
    each user (the pipeline's subject) in `records_per_subject` of them."""
    src = os.path.join(lake, "raw", "events", "part-0.parquet")
    os.makedirs(os.path.dirname(src), exist_ok=True)
    if not os.path.exists(src):
        print(f"generating {rows:,} rows ...", flush=True)
        subjects = max(rows // records_per_subject, 1)
        subprocess.run(duckdb_cmd(GENERATE.format(rows=rows, subjects=subjects, path=src)), check=True)
    return src


def timed_rounds(jobs, rows, repeat, env, before):
    """Runs every job in turn, `repeat` rounds, so that a slow spell on the shared machine hits
    all alike; per job, the median wall time, the peak RSS and the rows per second, printed."""
    runs = {name: [] for name in jobs}
    for _ in range(repeat):
        for name, cmd in jobs.items():
            runs[name].append(measure(cmd, env, before))
    width = max(map(len, jobs))
    result = {}
    for name, measured in runs.items():
        seconds = statistics.median(r[0] for r in measured)
        result[name] = {"seconds": seconds, "peak_rss_mib": max(r[1] for r in measured), "rows_per_second": rows / seconds}
        print(f"  {name:<{width}} {seconds:7.2f} s  {rows / seconds / 1e6:6.2f} M rows/s  peak RSS {result[name]['peak_rss_mib']:6.0f} MiB", flush=True)
    return result


def bench(args, rows, work):
    lake = os.path.join(work, f"lake-{rows}-{args.records_per_subject}")
    src = generated(lake, rows, args.records_per_subject)
    out = os.path.join(work, "out.parquet")
    env = dict(os.environ, PIGUARD_KEY="benchmark-key-0123456789abcdef0123456789")

    def clean():
        shutil.rmtree(os.path.join(lake, "deid"), ignore_errors=True)
        if os.path.exists(out):
            os.remove(out)

    jobs = {
        "df_copy": [args.df_copy, src, out],
        "df_copy_deid_codec": [args.df_copy, src, out, "--deid-codec"],
        "piguard": [args.piguard, "run", args.pipeline, "--lake", lake, "--force"],
        "duckdb_copy": duckdb_cmd(DUCKDB_COPY.format(src=src, dst=out)),
        "duckdb_job": duckdb_cmd(DUCKDB_JOB.format(src=src, dst=out)),
    }
    result = {"rows": rows, "input_mib": os.path.getsize(src) / 2**20}
    result.update(timed_rounds(jobs, rows, args.repeat, env, clean))
    base = result["df_copy"]["seconds"]
    result["piguard_vs_df_copy"] = result["piguard"]["seconds"] / base
    result["piguard_vs_df_copy_deid_codec"] = result["piguard"]["seconds"] / result["df_copy_deid_codec"]["seconds"]
    result["duckdb_job_vs_piguard"] = result["duckdb_job"]["seconds"] / result["piguard"]["seconds"]
    print(f"  piguard / DataFusion copy = {result['piguard_vs_df_copy']:.2f}x   (target <= 1.3)")
    print(f"  piguard / same copy at piguard's codec = {result['piguard_vs_df_copy_deid_codec']:.2f}x")
    print(f"  DuckDB job / piguard      = {result['duckdb_job_vs_piguard']:.2f}x   (target >= 2.5)")
    result["risk_gate"] = risk_gate_cost(lake, result["piguard"]["seconds"])
    result["outside_reader"] = outside_reader(args, env, lake, rows)
    clean()
    return result


def risk_gate_cost(lake, run_seconds):
    """The risk gate's evaluation in the last run, as its manifest records it, and its share
    of the run's median time."""
    runs = os.path.join(lake, "_piguard", "runs")
    latest = max(os.listdir(runs))
    with open(os.path.join(runs, latest, "manifest.json")) as f:
        manifest = json.load(f)
    risk = manifest["datasets"][0]["risk"]
    share = risk["seconds"] / run_seconds
    print(f"  risk gate: {risk['seconds']:.2f} s, {share:.1%} of the run (target <= 10%); level {risk['level']}, "
          f"QIs {', '.join(risk['quasi_identifiers'])}, k = {risk['figures']['k']}")
    return {"seconds": risk["seconds"], "share_of_run": share, "level": risk["level"], "k": risk["figures"]["k"]}


def outside_reader(args, env, lake, rows):
    """Reads piguard's output as another engine would: the `deltalake` package (delta-rs's
    Python reader, no piguard code) opens the Delta table and must see every row."""
    try:
        import deltalake
    except ImportError:
        print("  outside reader: skipped (no `deltalake` in this venv)")
        return None
    subprocess.run([args.piguard, "run", args.pipeline, "--lake", lake, "--force"], env=env, check=True, capture_output=True)
    table = deltalake.DeltaTable(os.path.join(lake, "deid", "events"))
    seen = table.to_pyarrow_dataset().count_rows()
    if seen != rows:
        sys.exit(f"outside reader: the Delta table holds {seen} rows, expected {rows}")
    print(f"  outside reader: deltalake {deltalake.__version__} reads version {table.version()} ({seen:,} rows)")
    return {"reader": f"deltalake {deltalake.__version__}", "version": table.version(), "rows": seen}


def parser(doc):
    """The options the end-to-end benchmarks share: piguard, the job, the sizes and rounds."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--piguard", required=True)
    p.add_argument("--pipeline", default=os.path.join(os.path.dirname(__file__), "e2e_pipeline.toml"))
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scale", type=int, default=10, help="second size, as a multiple of --rows (0: skip)")
    p.add_argument("--records-per-subject", type=int, default=1, help="records of each user, the pipeline's subject (a log of events: more than 1)")
    p.add_argument("--out")
    return p


def sizes(args):
    """The row counts to benchmark: --rows, then --scale times that."""
    return [args.rows] + ([args.rows * args.scale] if args.scale else [])


def main():
    p = parser(__doc__)
    p.add_argument("--df-copy", required=True)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="piguard-e2e-") as work:
        results = []
        for rows in sizes(args):
            print(f"{rows:,} rows on {os.cpu_count()} cores:", flush=True)
            results.append(bench(args, rows, work))
    report(results, "piguard", args)


def report(results, job, args):
    """Prints how `job`'s peak RSS grew from the first size to the second, and writes the
    results to --out."""
    if len(results) == 2:
        growth = results[1][job]["peak_rss_mib"] / results[0][job]["peak_rss_mib"]
        print(f"{job} peak RSS at {args.scale}x the rows: {growth:.2f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        print(f"results: {args.out}")


if __name__ == "__main__":
    main()
