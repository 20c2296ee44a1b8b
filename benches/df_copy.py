#!/usr/bin/env python3
"""The end-to-end benchmark's DataFusion copy (examples/df_copy.rs) through DataFusion's Python
bindings, for machines where building the example in release (with every dev-dependency) takes
too long: read Parquet, write one Parquet file with zstd (level 3; level 1, piguard's codec,
with --deid-codec), on every core.

Usage: df_copy.py INPUT.parquet OUTPUT.parquet [--deid-codec]
"""
import os
import sys

from datafusion import SessionConfig, SessionContext

args = sys.argv[1:]
if len(args) not in (2, 3) or (len(args) == 3 and args[2] != "--deid-codec"):
    sys.exit(__doc__)
level = 1 if "--deid-codec" in args else 3
ctx = SessionContext(SessionConfig().with_target_partitions(os.cpu_count()))
ctx.read_parquet(args[0]).write_parquet(args[1], compression="zstd", compression_level=level)
