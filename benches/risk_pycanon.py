"""`piguard risk` against pyCANON (k-anonymity, PyPI) on the same table.

Writes a CSV of ROWS people (age, zip code, gender, a diagnosis), then measures the
equivalence classes over (age, zip, gender) with both, in the same rounds:
- pyCANON: pandas reads the CSV, then `k_anonymity` and `get_equiv_class` (the class sizes);
- piguard: `piguard risk FILE --qi age,zip,gender --format json`, a process that reads the file.
It checks that k and the histogram of class sizes agree, and prints both times and their ratio.
Usage: python benches/risk_pycanon.py --piguard target/release/piguard [--rows 1000000]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import pandas as pd
from pycanon import anonymity
from pycanon.anonymity.utils.aux_anonymity import get_equiv_class

QIS = ["age", "zip", "gender"]
BINS = [(1, 1), (2, 2), (3, 4), (5, 9), (10, 19), (20, None)]


def generate(path, rows, seed=7):
    rng = random.Random(seed)
    zips = [f"{100000 + 37 * i}" for i in range(400)]
    diagnoses = ["flu", "asthma", "diabetes", "none", "fracture"]
    with open(path, "w") as f:
        f.write("age,zip,gender,diagnosis\n")
        for _ in range(rows):
            # Skewed ages and zip codes, so that some classes are small.
            age = min(95, int(rng.expovariate(1 / 25)) + 18)
            z = zips[min(399, int(rng.expovariate(1 / 60)))]
            f.write(f"{age},{z},{rng.choice('FM')},{rng.choice(diagnoses)}\n")


def histogram(sizes):
    return [sum(1 for s in sizes if s >= lo and (hi is None or s <= hi)) for lo, hi in BINS]


def pycanon_run(path):
    started = time.perf_counter()
    # Text, as piguard reads CSV: ages and zip codes group by their digits either way.
    df = pd.read_csv(path, dtype=str)
    k = anonymity.k_anonymity(df, QIS)
    sizes = [len(c) for c in get_equiv_class(df, QIS)]
    return time.perf_counter() - started, k, histogram(sizes), len(sizes)


def piguard_run(binary, path):
    started = time.perf_counter()
    out = subprocess.run([binary, "risk", path, "--qi", ",".join(QIS), "--format", "json"], capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if out.returncode not in (0, 1):
        sys.exit(f"piguard risk failed ({out.returncode}): {out.stderr.decode()}")
    d = json.loads(out.stdout)["datasets"][0]
    f = d["figures"]
    return elapsed, f["k"], [b["classes"] for b in f["histogram"]], f["classes"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--piguard", required=True)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "people.csv")
        generate(path, args.rows)
        times = {"pycanon": [], "piguard": []}
        results = {}
        for _ in range(args.rounds):
            for name, run in (("pycanon", lambda: pycanon_run(path)), ("piguard", lambda: piguard_run(args.piguard, path))):
                elapsed, k, hist, classes = run()
                times[name].append(elapsed)
                results[name] = {"k": k, "histogram": hist, "classes": classes}
    agree = results["pycanon"] == results["piguard"]
    median = {n: statistics.median(t) for n, t in times.items()}
    report = {
        "rows": args.rows,
        "quasi_identifiers": QIS,
        "results": results,
        "agree": agree,
        "median_seconds": median,
        "pycanon_over_piguard": median["pycanon"] / median["piguard"],
    }
    print(json.dumps(report, indent=2))
    print(
        f"{args.rows} rows: k {results['piguard']['k']} (pyCANON {results['pycanon']['k']}), "
        f"{results['piguard']['classes']} classes, histogram {'equal' if agree else 'DIFFERENT'}; "
        f"piguard {median['piguard']:.2f} s, pyCANON {median['pycanon']:.2f} s "
        f"({report['pycanon_over_piguard']:.2f}x)"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
