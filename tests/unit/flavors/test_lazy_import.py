"""``import modelplane.flavors`` (and every flavor module) imports no ML library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["sklearn", "xgboost", "lightgbm", "torch", "onnxruntime", "onnx", "skl2onnx", "pandas"]
MODULES = ["sklearn", "xgboost", "lightgbm", "torch", "onnx", "python", "convert"]


def test_flavor_modules_import_no_heavy_library() -> None:
    imports = "; ".join(f"import modelplane.flavors.{m}" for m in MODULES)
    code = (
        f"import json, sys, modelplane.flavors; {imports}; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_api() -> None:
    import modelplane.flavors as flavors

    assert flavors.flavor_names() == ["onnx", "torch", "xgboost", "lightgbm", "sklearn", "python"]
    for name in flavors.__all__:
        assert hasattr(flavors, name)
