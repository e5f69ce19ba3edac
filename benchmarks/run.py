"""Run the benchmarks and print one table: ``python benchmarks/run.py [NAME ...] [--quick]``.

Results also land in ``benchmarks/results/latest.json`` for the README table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import Row, print_table  # noqa: E402

BENCHMARKS = ["import_time", "catalogue", "pipelines", "features", "serving", "predlog",
              "drift", "scrape", "oip", "auth", "mlflow_compat", "ray_pipelines",
              "remote_load", "soak", "catalogue_scale"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: {BENCHMARKS})")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; expected one of {', '.join(BENCHMARKS)}")
    rows: list[Row] = []
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.main(quick=args.quick))
    print_table(rows)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
