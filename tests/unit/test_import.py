"""``import modelplane`` stays light: nothing heavy is imported until it is used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["sqlalchemy", "pydantic", "fastapi", "numpy", "pandas", "pyarrow", "torch",
         "sklearn", "onnxruntime", "alembic", "typer", "rich", "duckdb", "fsspec"]


def test_import_modelplane_loads_no_heavy_module() -> None:
    code = ("import json, sys, modelplane; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lazy_public_names_resolve() -> None:
    import modelplane as mp

    assert mp.NotFoundError.http_status == 404
    assert callable(mp.configure)
    assert "configure" in dir(mp)
