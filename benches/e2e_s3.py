#!/usr/bin/env python3
"""End-to-end benchmark of piguard on a lake in an S3-compatible store (run through
`benches/e2e.sh s3`).

The data and the job of benches/e2e.py, stored twice: in a local lake, and in a lake in an
s3s-fs server (the S3 protocol: signed requests, listings, multipart uploads, conditional
puts) running as a separate process on 127.0.0.1. Timed in the same run, in rounds:

  run_local    `piguard run` on the local lake: the baseline
  run_s3       `piguard run` on s3://bench/lake-N (reads, writes and commits over HTTP)
  scan_local   `piguard scan` of the local lake
  scan_s3      `piguard scan` of the lake on the server

The median wall time, rows per second and piguard's peak RSS (the server's memory is its own)
are reported at ROWS and at 10x ROWS, with the S3 figures as ratios to the local ones.
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from e2e import generated, parser, report, sizes, timed_rounds  # noqa: E402

ACCESS_KEY = "piguard-bench-access"
SECRET_KEY = "piguard-bench-secret-0123456789"
BUCKET = "bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, root):
    port = free_port()
    os.makedirs(os.path.join(root, BUCKET), exist_ok=True)
    server = subprocess.Popen(
        [binary, root, str(port), ACCESS_KEY, SECRET_KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("the S3 server did not start")


def bench(args, rows, work, server_root, env):
    name = f"lake-{rows}"
    local = os.path.join(work, name)
    src = generated(local, rows, args.records_per_subject)
    # The server keeps each object as a file named by its key, and its ETag beside it: landing
    # both is what an upload would leave (without the ETag, s3s-fs hashes the whole object on
    # every request). Everything piguard reads and writes goes over HTTP.
    remote_dir = os.path.join(server_root, BUCKET, name)
    os.makedirs(os.path.join(remote_dir, "raw", "events"), exist_ok=True)
    key = f"{name}/raw/events/part-0.parquet"
    shutil.copy(src, os.path.join(server_root, BUCKET, key))
    with open(src, "rb") as f:
        e_tag = hashlib.file_digest(f, "md5").hexdigest()
    b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")  # noqa: E731
    with open(os.path.join(server_root, f".bucket-{b64(BUCKET)}.object-{b64(key)}.internal.json"), "w") as f:
        json.dump({"e_tag": e_tag}, f)
    remote = f"s3://{BUCKET}/{name}"

    def clean():
        for lake in (local, remote_dir):
            for zone in ("deid", "_piguard"):
                shutil.rmtree(os.path.join(lake, zone), ignore_errors=True)

    jobs = {
        "run_local": [args.piguard, "run", args.pipeline, "--lake", local],
        "run_s3": [args.piguard, "run", args.pipeline, "--lake", remote],
        "scan_local": [args.piguard, "scan", local],
        "scan_s3": [args.piguard, "scan", remote],
    }
    result = {"rows": rows, "input_mib": os.path.getsize(src) / 2**20}
    result.update(timed_rounds(jobs, rows, args.repeat, env, clean))
    for kind in ("run", "scan"):
        result[f"{kind}_s3_vs_local"] = result[f"{kind}_s3"]["seconds"] / result[f"{kind}_local"]["seconds"]
        print(f"  {kind} on S3 / on local disk = {result[f'{kind}_s3_vs_local']:.2f}x")
    # The run on the server wrote a Delta table every row of which a reader sees.
    clean()
    subprocess.run(jobs["run_s3"], env=env, check=True, capture_output=True)
    out = subprocess.run([args.piguard, "query", "--lake", remote, "--format", "csv", "select count(*) from events"], env=env, check=True, capture_output=True, text=True)
    seen = int(out.stdout.splitlines()[1])
    if seen != rows:
        sys.exit(f"the table on S3 holds {seen} rows, expected {rows}")
    print(f"  query on S3 sees all {seen:,} rows")
    clean()
    return result


def main():
    p = parser(__doc__)
    p.add_argument("--s3-server", required=True, help="examples/s3_server.rs, built")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="piguard-e2e-s3-") as work:
        server_root = os.path.join(work, "s3")
        server, endpoint = start_server(args.s3_server, server_root)
        env = dict(
            os.environ,
            PIGUARD_KEY="benchmark-key-0123456789abcdef0123456789",
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_REGION="us-east-1",
            AWS_ALLOW_HTTP="true",
        )
        try:
            results = []
            for i, rows in enumerate(sizes(args)):
                args.repeat = args.repeat if i == 0 else 1
                print(f"{rows:,} rows on {os.cpu_count()} cores:", flush=True)
                results.append(bench(args, rows, work, server_root, env))
        finally:
            server.kill()
    report(results, "run_s3", args)


if __name__ == "__main__":
    main()
