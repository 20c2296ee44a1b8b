#!/usr/bin/env python3
"""End-to-end benchmark of `piguard run --engine ballista://…` (run through
`benches/e2e.sh cluster`).

The data and the job of benches/e2e.py, in a local lake every process reaches, run by:

  run_local      `piguard run` in one process: the baseline
  run_cluster_1  on a cluster of one `piguard scheduler` and one `piguard executor`
  run_cluster_2  on a cluster of one scheduler and two executors

Every process runs on this machine, so the cluster's figures are its overhead (planning,
task dispatch, the shuffle to the writing task) and how two executors share the cores, not
a speed-up. Timed in the same run, in rounds; the median wall time, the client's peak RSS and
the executors' are reported at ROWS and at 10x ROWS, as ratios to the local run.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from e2e import generated, parser, report, sizes, timed_rounds  # noqa: E402


def free_ports():
    """A port whose successor is free too (an executor takes both)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


def wait_for(port, proc):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit("a cluster process exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


def start_cluster(piguard, executors, env, work):
    """A scheduler and `executors` executors (their shuffle files under `work`); returns the
    engine URL and the processes."""
    port = free_ports()
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    procs = [subprocess.Popen([piguard, "scheduler", "--bind", f"127.0.0.1:{port}"], **quiet)]
    wait_for(port, procs[0])
    for i in range(executors):
        flight = free_ports()
        work_dir = os.path.join(work, f"executor-{executors}-{i}")
        os.makedirs(work_dir)
        procs.append(subprocess.Popen([piguard, "executor", "--scheduler", f"127.0.0.1:{port}", "--port", str(flight), "--work-dir", work_dir], **quiet))
        wait_for(flight, procs[-1])
    time.sleep(1)
    return f"ballista://127.0.0.1:{port}", procs


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench(args, rows, work, clusters, env):
    lake = os.path.join(work, f"lake-{rows}")
    src = generated(lake, rows, args.records_per_subject)

    def clean():
        for zone in ("deid", "_piguard"):
            shutil.rmtree(os.path.join(lake, zone), ignore_errors=True)

    run = [args.piguard, "run", args.pipeline, "--lake", lake, "--engine"]
    jobs = {"run_local": run + ["local"]}
    jobs.update({f"run_cluster_{n}": run + [url] for n, (url, _) in clusters.items()})
    result = {"rows": rows, "input_mib": os.path.getsize(src) / 2**20}
    # The peak RSS measured is the client's; the executors' is read from /proc below.
    result.update(timed_rounds(jobs, rows, args.repeat, env, clean))
    for n, (_, procs) in clusters.items():
        job = f"run_cluster_{n}"
        result[job]["executor_peak_rss_mib"] = [peak_rss_mib(p.pid) for p in procs[1:]]
        result[f"{job}_vs_local"] = result[job]["seconds"] / result["run_local"]["seconds"]
        print(f"  {job} / local = {result[f'{job}_vs_local']:.2f}x  (executors' peak RSS so far: {', '.join(f'{m:.0f}' for m in result[job]['executor_peak_rss_mib'])} MiB)")
    if "run_cluster_1" in result and "run_cluster_2" in result:
        speedup = result["run_cluster_1"]["seconds"] / result["run_cluster_2"]["seconds"]
        result["speedup_1_to_2_executors"] = speedup
        print(f"  1 -> 2 executors: {speedup:.2f}x the throughput (efficiency {speedup / 2:.0%})")
    # The cluster's table is the local run's, row for row.
    counts = []
    for engine in (jobs["run_local"][-1], jobs["run_cluster_2"][-1]):
        clean()
        subprocess.run(run + [engine], env=env, check=True, capture_output=True)
        query = [args.piguard, "query", "--lake", lake, "--format", "csv", "select count(*), count(distinct user_id), count(distinct phone), max(email) from events"]
        counts.append(subprocess.run(query, env=env, check=True, capture_output=True, text=True).stdout)
    if counts[0] != counts[1]:
        sys.exit(f"the cluster's table differs from the local run's:\n{counts[0]}\n{counts[1]}")
    print("  the cluster's table matches the local run's")
    clean()
    return result


def main():
    args = parser(__doc__).parse_args()
    env = dict(os.environ, PIGUARD_KEY="benchmark-key-0123456789abcdef0123456789")
    with tempfile.TemporaryDirectory(prefix="piguard-e2e-cluster-") as work:
        clusters = {n: start_cluster(args.piguard, n, env, work) for n in (1, 2)}
        try:
            results = []
            for i, rows in enumerate(sizes(args)):
                args.repeat = args.repeat if i == 0 else 1
                print(f"{rows:,} rows on {os.cpu_count()} cores:", flush=True)
                results.append(bench(args, rows, work, clusters, env))
        finally:
            for _, procs in clusters.values():
                for p in procs:
                    p.kill()
                    p.wait()
    report(results, "run_cluster_2", args)


if __name__ == "__main__":
    main()
