"""MLflow model folders (an ``MLmodel`` file and the flavor's files) as modelplane models.

Reading: :func:`describe` turns an ``MLmodel`` into a :class:`ModelMeta` (flavor
``mlflow``; the MLflow flavor used, its signature converted to modelplane's, the input
example, and whether loading unpickles). :func:`load` loads the folder without MLflow
installed for the sklearn, xgboost, lightgbm, onnx and pytorch flavors; a model that
only has ``python_function`` (a custom ``PythonModel``) needs the ``mlflow`` package.

Writing: :func:`mlmodel_for` writes an ``MLmodel`` for a native modelplane version, so
``mlflow.pyfunc.load_model`` can load it from modelplane's server where MLflow has the
flavor (sklearn, xgboost, lightgbm, onnx, TorchScript).

Pickle-based formats (scikit-learn's ``model.pkl``, PyTorch's pickled modules, LightGBM's
scikit-learn wrappers, custom python models) are marked ``pickled`` and load only under the
``allow_pickle`` opt-in, like native pickles (see ``flavors.pickles``); skops files load
with the trusted types of ``flavors.pickles`` plus those the MLmodel declares.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelplane.core.errors import InvalidArgumentError, InvalidStateError, NotFoundError
from modelplane.flavors.base import LoadedModel, ModelMeta, check_options, require
from modelplane.flavors.signature import ColumnSpec, Signature

__all__ = ["MLMODEL", "NAME", "accepts", "describe", "load", "mlmodel_for", "read_mlmodel"]

NAME = "mlflow"
MLMODEL = "MLmodel"
#: MLflow flavors loaded here, in the order one is picked when a model has several.
SUPPORTED = ("sklearn", "xgboost", "lightgbm", "onnx", "pytorch", "python_function")
_COLSPEC_DTYPES = {"double": "float64", "float": "float32", "long": "int64",
                   "integer": "int32", "boolean": "bool", "string": "string",
                   "binary": "string", "datetime": "datetime64[ns]"}
_TO_COLSPEC = {v: k for k, v in _COLSPEC_DTYPES.items() if k != "binary"}


def accepts(model: Any) -> bool:
    """Never: modelplane saves models in its own flavors; this one only reads MLflow's."""
    return False


def save(model: Any, path: Path, input_example: Any, options: Mapping[str, Any]) -> ModelMeta:
    raise InvalidArgumentError("the mlflow flavor only loads MLflow model folders",
                               details={"field": "flavor"})


def read_mlmodel(text: str | bytes) -> dict[str, Any]:
    """The ``MLmodel`` YAML as a dict; a file that is not one is refused, naming why."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgumentError(f"MLmodel is not valid YAML: {exc}",
                                   details={"field": "MLmodel"}) from None
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise InvalidArgumentError("MLmodel has no 'flavors' mapping",
                                   details={"field": "MLmodel"})
    return data


def _specs(text: Any, default_name: str) -> list[ColumnSpec]:
    items = json.loads(text) if isinstance(text, str) else (text or [])
    specs = []
    for i, item in enumerate(items):
        name = str(item.get("name") or (default_name if len(items) == 1 else f"{default_name}_{i}"))
        if item.get("type") == "tensor":
            tensor = item.get("tensor-spec") or {}
            dtype = str(tensor.get("dtype", "float64"))
            specs.append(ColumnSpec(name, dtype, tuple(int(d) for d in tensor.get("shape", [-1]))))
        else:
            specs.append(ColumnSpec(name, _COLSPEC_DTYPES.get(str(item.get("type")), "string")))
    return specs


def convert_signature(signature: Mapping[str, Any] | None) -> Signature | None:
    if not signature or not signature.get("inputs"):
        return None
    try:
        return Signature(_specs(signature["inputs"], "input"),
                         _specs(signature.get("outputs"), "prediction"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgumentError(f"MLmodel signature is not valid: {exc}",
                                   details={"field": "signature"}) from None


def _chosen(flavors: Mapping[str, Any]) -> str:
    for name in SUPPORTED:
        if name in flavors:
            return name
    raise InvalidArgumentError(
        f"this MLflow model has the flavors {', '.join(flavors)}; modelplane loads "
        f"{', '.join(SUPPORTED)}", details={"field": "flavors", "expected": list(SUPPORTED)})


def _pickled(flavor: str, conf: Mapping[str, Any]) -> bool:
    if flavor == "sklearn":
        return conf.get("serialization_format", "cloudpickle") != "skops"
    if flavor == "lightgbm":
        return not str(conf.get("model_class", "")).endswith("Booster")
    return flavor in ("pytorch", "python_function")


def _example(folder: Path | None, mlmodel: Mapping[str, Any]) -> Any:
    info = mlmodel.get("saved_input_example_info") or {}
    name = info.get("artifact_path")
    if folder is None or not name or not (folder / name).is_file():
        return None
    data = json.loads((folder / name).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "columns" in data and "data" in data:  # pandas "split"
        return [dict(zip(data["columns"], row, strict=False)) for row in data["data"]]
    return data.get("inputs", data) if isinstance(data, dict) else data


def describe(folder: Path | None, mlmodel: Mapping[str, Any]) -> ModelMeta:
    """The :class:`ModelMeta` of an MLflow model (``folder`` gives its input example)."""
    flavors = mlmodel["flavors"]
    flavor = _chosen(flavors)
    conf = flavors[flavor] or {}
    signature = convert_signature(mlmodel.get("signature"))
    named = signature is not None and not signature.is_tensor
    version = conf.get(f"{flavor}_version") or conf.get("sklearn_version") or \
        conf.get("xgb_version") or conf.get("onnx_version")
    return ModelMeta(
        flavor=NAME, signature=signature, input_example=_example(folder, mlmodel),
        library_version=None if version is None else str(version),
        pickled=_pickled(flavor, conf),
        extra={"mlflow_flavor": flavor, "mlflow_conf": _plain(conf),
               "input_mode": "dataframe" if named else "ndarray",
               "model_id": mlmodel.get("model_id")})


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# -- loading ---------------------------------------------------------------------------
def load(path: Path, meta: ModelMeta, options: Mapping[str, Any],
         allow_pickle: bool = False) -> LoadedModel:
    check_options(NAME, options, set())
    flavor = meta.extra.get("mlflow_flavor")
    conf = meta.extra.get("mlflow_conf") or {}
    loaders = {"sklearn": _load_sklearn, "xgboost": _load_xgboost, "lightgbm": _load_lightgbm,
               "onnx": _load_onnx, "pytorch": _load_pytorch,
               "python_function": _load_pyfunc}
    if flavor not in loaders:
        raise InvalidStateError(f"unknown MLflow flavor {flavor!r} in the model descriptor",
                                details={"field": "mlflow_flavor"})
    if _pickled(str(flavor), conf) and not allow_pickle:  # decided by the files' format
        from modelplane.flavors.pickles import pickle_refused

        raise pickle_refused(path / str(conf.get("pickled_model") or conf.get("model_data")
                                        or "python_model.pkl"))
    return loaders[flavor](path, meta, conf)


def _file(path: Path, name: Any, what: str) -> Path:
    file = path / str(name)
    if not name or not file.exists():
        raise NotFoundError(f"the MLflow model has no {what} file {name!r}",
                            details={"field": "path", "got": str(file)})
    return file


def _load_sklearn(path: Path, meta: ModelMeta, conf: Mapping[str, Any]) -> LoadedModel:
    from modelplane.flavors.sklearn import build_loaded

    file = _file(path, conf.get("pickled_model", "model.pkl"), "pickled model")
    if conf.get("serialization_format") == "skops":
        from modelplane.flavors.pickles import TRUSTED_PREFIXES, load_skops

        declared = tuple(conf.get("skops_trusted_types") or ())  # the model's author's
        model = load_skops(file, False, (*TRUSTED_PREFIXES, *declared))
    else:
        import cloudpickle

        with file.open("rb") as handle:
            model = cloudpickle.load(handle)
    return build_loaded(model, meta)


def _import_class(spec: str) -> Any:
    import importlib

    module, _, name = spec.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _load_xgboost(path: Path, meta: ModelMeta, conf: Mapping[str, Any]) -> LoadedModel:
    from modelplane.flavors.inputs import InputAdapter
    from modelplane.flavors.sklearn import build_loaded

    xgb = require("xgboost", "xgboost")
    cls = _import_class(str(conf.get("model_class", "xgboost.core.Booster")))
    model = cls()
    model.load_model(str(_file(path, conf.get("data", "model.xgb"), "XGBoost model")))
    if isinstance(model, xgb.Booster):
        adapter = InputAdapter(meta.signature, "ndarray", "float32")
        names = model.feature_names  # saved from a DataFrame: the DMatrix must carry them
        return LoadedModel(meta, model, adapter, lambda x: model.predict(
            xgb.DMatrix(x, feature_names=names if names and x.shape[-1] == len(names)
                        else None)))
    return build_loaded(model, meta)


def _load_lightgbm(path: Path, meta: ModelMeta, conf: Mapping[str, Any]) -> LoadedModel:
    from modelplane.flavors.inputs import InputAdapter
    from modelplane.flavors.pickles import load_pickle
    from modelplane.flavors.sklearn import build_loaded

    lightgbm = require("lightgbm", "lightgbm")
    file = _file(path, conf.get("data", "model.lgb"), "LightGBM model")
    if str(conf.get("model_class", "")).endswith("Booster"):
        booster = lightgbm.Booster(model_file=str(file))
        adapter = InputAdapter(meta.signature, "ndarray", "float64")
        return LoadedModel(meta, booster, adapter, booster.predict)
    return build_loaded(load_pickle(file, True), meta)  # the gate in load() let it by


def _load_onnx(path: Path, meta: ModelMeta, conf: Mapping[str, Any]) -> LoadedModel:
    from modelplane.flavors import onnx

    file = _file(path, conf.get("data", "model.onnx"), "ONNX model")
    native = ModelMeta(flavor="onnx", signature=meta.signature,
                       input_example=meta.input_example, extra={})
    loaded = onnx.load(file.parent, native, {}) if file.name == onnx.MODEL_FILE else None
    if loaded is None:
        raise InvalidArgumentError(f"the ONNX file must be named {onnx.MODEL_FILE}",
                                   details={"field": "data"})
    loaded.meta = meta
    return loaded


def _load_pytorch(path: Path, meta: ModelMeta, conf: Mapping[str, Any]) -> LoadedModel:
    import numpy as np

    from modelplane.flavors.inputs import InputAdapter

    torch = require("torch", "torch")
    folder = _file(path, conf.get("model_data", "data"), "PyTorch model data")
    if folder.is_dir() and not (folder / "model.pth").exists():
        # MLflow 3's default: torch.export's archive (it may still hold pickles, so the
        # flavor stays behind the pickle gate, as MLflow's own loader does)
        module = torch.export.load(str(_file(folder, "model.pt2", "PyTorch export"))).module()
    else:
        file = folder / "model.pth" if folder.is_dir() else folder
        module = torch.load(str(file), map_location="cpu", weights_only=False)
        module.eval()

    def predict(batch: Any) -> Any:
        with torch.no_grad():
            out = module(torch.as_tensor(np.array(batch, dtype=np.float32)))  # a writable copy
        return out.detach().cpu().numpy()

    return LoadedModel(meta, module, InputAdapter(meta.signature, "ndarray", "float32"), predict)


def _load_pyfunc(path: Path, meta: ModelMeta, conf: Mapping[str, Any]) -> LoadedModel:
    from modelplane.flavors.inputs import InputAdapter

    try:
        import mlflow.pyfunc
    except ImportError:
        raise InvalidStateError(
            "this MLflow model is a custom python_function model; loading it needs the "
            "mlflow package (pip install mlflow)", details={"field": "flavor"}) from None
    model = mlflow.pyfunc.load_model(str(path))
    return LoadedModel(meta, model, InputAdapter(meta.signature, "dataframe"), model.predict)


# -- writing an MLmodel for a native version ---------------------------------------------
def _colspec(specs: list[ColumnSpec]) -> str:
    items: list[dict[str, Any]] = []
    for spec in specs:
        if spec.shape is not None:
            items.append({"type": "tensor", "name": spec.name,
                          "tensor-spec": {"dtype": spec.dtype, "shape": list(spec.shape)}})
        else:
            items.append({"type": _TO_COLSPEC.get(spec.dtype, "string"), "name": spec.name,
                          "required": True})
    return json.dumps(items)


def _native_flavor(meta: Mapping[str, Any], files: set[str],
                   read: Callable[[str], bytes] | None) -> dict[str, Any] | None:
    flavor, version = meta.get("flavor"), meta.get("library_version") or ""
    pyfunc: dict[str, Any] = {"python_version": platform.python_version()}
    if flavor == "sklearn" and "model.skops" in files and read is not None:
        from modelplane.flavors.pickles import trusted_skops_types

        trusted = trusted_skops_types(read("model.skops"))
        return {"python_function": {**pyfunc, "loader_module": "mlflow.sklearn",
                                    "model_path": "model.skops", "predict_fn": "predict"},
                "sklearn": {"pickled_model": "model.skops", "sklearn_version": version,
                            "serialization_format": "skops", "code": None,
                            "skops_trusted_types": trusted}}
    if flavor == "sklearn" and "model.pkl" in files:
        return {"python_function": {**pyfunc, "loader_module": "mlflow.sklearn",
                                    "model_path": "model.pkl", "predict_fn": "predict"},
                "sklearn": {"pickled_model": "model.pkl", "sklearn_version": version,
                            "serialization_format": "cloudpickle", "code": None}}
    if flavor == "xgboost" and "model.ubj" in files:
        wrapper = str((meta.get("extra") or {}).get("wrapper", "Booster"))
        model_class = "xgboost.core.Booster" if wrapper == "Booster" else wrapper.replace(":", ".")
        return {"python_function": {**pyfunc, "loader_module": "mlflow.xgboost",
                                    "data": "model.ubj"},
                "xgboost": {"xgb_version": version, "data": "model.ubj",
                            "model_class": model_class, "model_format": "ubj", "code": None}}
    if flavor == "onnx" and "model.onnx" in files:
        return {"python_function": {**pyfunc, "loader_module": "mlflow.onnx",
                                    "data": "model.onnx"},
                "onnx": {"onnx_version": version, "data": "model.onnx",
                         "providers": ["CPUExecutionProvider"], "code": None}}
    return None


def mlmodel_for(meta: Mapping[str, Any], files: set[str],
                read: Callable[[str], bytes] | None = None) -> str | None:
    """The ``MLmodel`` text for a native version (``meta``: its ``model_meta``; ``files``:
    the names in its model folder; ``read(name)``: a file's bytes), or None where MLflow
    has no flavor for it."""
    import yaml

    flavors = _native_flavor(meta, files, read)
    if flavors is None:
        return None
    body: dict[str, Any] = {"artifact_path": "model", "flavors": flavors,
                            "mlflow_version": "3.0.0", "model_size_bytes": 0}
    signature = meta.get("signature")
    if signature and signature.get("inputs"):
        sig = Signature.from_dict(signature)
        body["signature"] = {"inputs": _colspec(sig.inputs),
                             "outputs": _colspec(sig.outputs[:1]) if sig.outputs else None,
                             "params": None}
    return str(yaml.safe_dump(body, sort_keys=False))

