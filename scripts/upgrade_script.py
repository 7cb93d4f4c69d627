#!/usr/bin/env python3
"""Assemble an upgrade script: the generated CREATE FUNCTION blocks of new Rust functions (taken
from `cargo pgrx schema` output), then whole SQL files of the new version, in load order.

  scripts/upgrade_script.py GENERATED.sql --functions _profile _map_schema \
      --files sql/discovery.sql sql/mapping.sql > sql/eai--0.1.0--0.2.0.sql

scripts/check_upgrades.sh then proves that the upgrade gives the same schema as a fresh install.
"""
import argparse
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("generated")
ap.add_argument("--functions", nargs="*", default=[])
ap.add_argument("--files", nargs="*", default=[])
ap.add_argument("--title", default="")
args = ap.parse_args()
text = open(args.generated).read()
out = [f"-- {args.title}".rstrip(), "-- Assembled by scripts/upgrade_script.py; checked by scripts/check_upgrades.sh.", ""]
for name in args.functions:
    m = re.search(r'CREATE\s+FUNCTION "%s"\(.*?AS \'MODULE_PATHNAME\', \'%s_wrapper\';' % (re.escape(name), re.escape(name)), text, re.S)
    if not m:
        sys.exit(f"no generated function {name}")
    out += [m.group(0), ""]
for f in args.files:
    out += [f"-- {f}", open(f).read().rstrip(), ""]
print("\n".join(out))
