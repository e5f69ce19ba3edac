"""MLflow model folders of every flavor the issue names, saved by the real mlflow package
(``mlflow.<flavor>.save_model``), registered with ``modelplane models import PATH`` and
loaded by modelplane without MLflow: each predicts what the original model predicted."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core.errors import InvalidStateError, PermissionDeniedError
from tests.integration.conftest import cli
from tests.mlflow_env import mlflow_python

SCRIPTS = Path(__file__).parent / "mlflow_scripts"
FLAVORS = ["sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "python_function"]
PICKLED = {"pytorch", "python_function"}  # sklearn: skops; xgboost/lightgbm: native files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    work = tmp_path_factory.mktemp("mlflow-flavors")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODELPLANE_", "PYTHONPATH"))}
    env.update(GIT_PYTHON_REFRESH="quiet", MLFLOW_DISABLE_TELEMETRY="true")
    done = subprocess.run([str(mlflow_python()), str(SCRIPTS / "save_flavors.py"), str(work),
                           sysconfig.get_paths()["purelib"]],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return work, json.loads(done.stdout.strip().splitlines()[-1])


def test_every_flavor_imports_and_predicts_like_the_original(
        saved: tuple[Path, dict[str, Any]]) -> None:
    import pandas as pd

    from modelplane.client import Client

    work, expected = saved
    for flavor in FLAVORS:
        done = cli("models", "import", str(work / flavor), "--name", f"mlflow-{flavor}")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"registered models:/mlflow-{flavor}:1")
        assert ("pickle-based" in done.stdout) == (flavor in PICKLED)
    client = Client()
    rows = pd.DataFrame(expected["rows"])
    tensor = rows.to_numpy(dtype=np.float32)
    for flavor in FLAVORS[:-1]:
        version = client.registry.get_version(f"mlflow-{flavor}", 1)
        assert version.flavor == "mlflow"
        assert version.model_meta["extra"]["mlflow_flavor"] == flavor
        assert version.pickled == (flavor in PICKLED)
        model = client.load_model(f"models:/mlflow-{flavor}:1", allow_pickle=True)
        got = model.predict(tensor if flavor in ("onnx", "pytorch") else rows)
        assert np.allclose(np.asarray(got, dtype=float), np.asarray(expected[flavor]),
                           atol=1e-5), flavor
    sk = client.registry.get_version("mlflow-sklearn", 1)
    assert [c["name"] for c in sk.signature["inputs"]] == list(rows.columns)
    assert sk.input_example and sk.input_example[0] == expected["rows"][0]
    assert client.registry.get_version("mlflow-pytorch", 1).signature["inputs"][0]["shape"] \
        == [-1, 4]
    with pytest.raises(PermissionDeniedError, match="allow_pickle"):
        client.load_model("models:/mlflow-pytorch:1")
    with pytest.raises(InvalidStateError, match="needs the mlflow package"):
        client.load_model("models:/mlflow-python_function:1", allow_pickle=True)


def test_models_import_refuses_what_is_not_an_mlflow_model(tmp_path: Path) -> None:
    missing = cli("models", "import", str(tmp_path / "nowhere"), "--name", "x")
    assert missing.returncode != 0 and "no MLmodel file" in missing.stderr
    assert "Traceback" not in missing.stderr
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  h2o: {}\n")
    odd = cli("models", "import", str(folder), "--name", "x")
    assert odd.returncode != 0 and "h2o" in odd.stderr and "Traceback" not in odd.stderr
    (folder / "MLmodel").write_text("just: [text\n")
    broken = cli("models", "import", str(folder), "--name", "x")
    assert broken.returncode != 0 and "MLmodel" in broken.stderr
    assert "Traceback" not in broken.stderr
