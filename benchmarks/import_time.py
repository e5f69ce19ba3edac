"""How much ``import modelplane`` costs over bare Python (goal: <= 0.15 s; MLflow 5.3 s here).

Runs ``python -c pass`` and ``python -c "import modelplane"`` alternately, many times,
and reports the medians and their difference, so machine noise hits both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

try:
    from benchmarks.common import Row, print_table, row
except ImportError:  # run as a script
    from common import Row, print_table, row  # type: ignore[no-redef]


def _wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main(quick: bool = False) -> list[Row]:
    rounds = 7 if quick else 21
    bare, ours, client = [], [], []
    for _ in range(rounds):
        bare.append(_wall("pass"))
        ours.append(_wall("import modelplane"))
        client.append(_wall("import modelplane as mp; mp.configure"))
    overhead = statistics.median(ours) - statistics.median(bare)
    with_config = statistics.median(client) - statistics.median(bare)
    return [
        row("import", "bare python -c pass", statistics.median(bare), "s"),
        row(
            "import",
            "import modelplane, over bare",
            overhead,
            "s",
            target="<= 0.15",
            ok=overhead <= 0.15,
            note="MLflow 5.3 s here",
        ),
        row("import", "import + first config access, over bare", with_config, "s"),
    ]


if __name__ == "__main__":
    print_table(main())
