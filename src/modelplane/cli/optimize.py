"""``modelplane models optimize``: int8-quantize a version's ONNX graph into a new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["optimize"]


def optimize(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version to optimize.")],
    quantize: Annotated[str, typer.Option(
        "--quantize", help="Quantization: int8 (dynamic, onnxruntime).")] = "int8",
    eval_data: Annotated[Path | None, typer.Option(
        "--eval-data", help="Evaluation data (Parquet/CSV) instead of the run's stored "
        "evaluation dataset.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="Target column of the evaluation data.")] = None,
    max_drop: Annotated[float, typer.Option(
        "--max-drop", min=0.0, help="Refuse when the int8 model is worse than the float one "
        "by more than this: accuracy points, or a fraction of rmse.")] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Quantize a version (ONNX, int8; scikit-learn, PyTorch or ONNX models) and register it
    as a new version with its accuracy delta on the stored evaluation dataset and its
    agreement with the float model."""
    from modelplane.client import Client
    from modelplane.serving.optimize import optimize_model

    client = Client()
    result = optimize_model(name, version, registry=client.registry, runs=client.tracking,
                            models=client.models, blobs=client.artifacts, quantize=quantize,
                            eval_data=None if eval_data is None else str(eval_data),
                            target=target, max_drop=max_drop)
    if as_json:
        typer.echo(json.dumps({
            "name": name, "version": result.version.version,
            "source_version": result.source.version, "metric": result.metric,
            "source_value": result.source_value, "value": result.value,
            "delta": result.delta, "agreement": result.agreement,
            "eval_rows": result.eval_rows,
            "eval_dataset": result.eval_dataset, "onnx_bytes": result.size_bytes,
            "source_onnx_bytes": result.source_size_bytes}, indent=2))
        return
    typer.echo(
        f"registered {name} version {result.version.version}: {quantize} quantization of "
        f"version {result.source.version}\n"
        f"  {result.metric} on {result.eval_dataset}, {result.eval_rows} rows: "
        f"{result.source_value:.4f} -> {result.value:.4f} (delta {result.delta:+.4f}); "
        f"agrees with the float model on {result.agreement:.2%}\n"
        f"  ONNX size: {result.source_size_bytes:,} -> {result.size_bytes:,} bytes")
