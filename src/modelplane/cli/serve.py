"""``modelplane serve``: a dedicated model-serving replica; ``modelplane predict``: batch
inference over Parquet.

``serve`` resolves every URI first (an unknown model or version fails here, on one
line), then runs the app under uvicorn with only the serving routes, health and
``/metrics``. With one worker the app is built here and handed to uvicorn; each of
``--workers N`` processes builds its own from ``MODELPLANE_SERVE_SPEC`` (JSON) through
:func:`app_factory`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli.server import (
    ALLOW_PICKLE_HELP,
    allow_pickle_here,
    embedded_only,
    first_admin,
    secure_bind,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["app_factory", "build_app", "export_spec", "predict", "run_app", "serve"]

SPEC_ENV = "MODELPLANE_SERVE_SPEC"
SWITCH_INTERVAL = 0.001  # seconds; see app_factory


def export_spec(specs: list[Any], *, serving_only: bool, log_level: str = "info") -> str:
    """Put the serving configuration in the environment (inherited by uvicorn's worker
    processes) and return the app factory's import string."""
    from modelplane.serving.runtime import ServeSpec

    os.environ[SPEC_ENV] = json.dumps({
        "serve": [ServeSpec.of(s).to_dict() for s in specs],
        "serving_only": serving_only, "log_level": log_level})
    return "modelplane.cli.serve:app_factory"


def app_factory() -> ASGIApp:
    """The app for the configuration in ``MODELPLANE_SERVE_SPEC`` (uvicorn factory)."""
    config = json.loads(os.environ.get(SPEC_ENV) or "{}")
    return build_app(config.get("serve", []), serving_only=bool(config.get("serving_only")),
                     log_level=str(config.get("log_level", "info")))


def build_app(serve: list[Any], *, serving_only: bool, log_level: str = "info") -> ASGIApp:
    """The app serving ``serve``, with this process tuned for serving."""
    from modelplane.server.app import create_app

    logger = logging.getLogger("modelplane")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(log_level.upper())
    from modelplane.server.routes.serving import in_front

    app = create_app(serve=serve, serving_only=serving_only)
    # Process-wide tuning belongs to the process entry point, not to the library:
    # - hand the GIL over every 1 ms instead of 5: the event loop and the model thread
    #   take turns, and at 5 ms each waits long for the other (a 2-3x throughput loss
    #   and 300 ms tails under load with a scikit-learn forest);
    # - freeze what is loaded out of the cyclic GC's reach (ModelRuntime.settle).
    sys.setswitchinterval(SWITCH_INTERVAL)
    app.state.serving.freeze_gc = True
    return in_front(app)


def run_app(specs: list[Any], *, serving_only: bool, host: str, port: int, workers: int,
            log_level: str, **options: Any) -> None:
    """Run the serving app under uvicorn: built here with one worker, by each worker
    from the environment with several."""
    import uvicorn

    from modelplane.serving.workershare import shared_folder

    with shared_folder(workers):  # /metrics of any worker answers for all of them
        if workers == 1:
            app = build_app(specs, serving_only=serving_only, log_level=log_level)
            uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False,
                        **options)
            return
        target = export_spec(specs, serving_only=serving_only, log_level=log_level)
        uvicorn.run(target, factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False, **options)


def serve(
    uris: Annotated[list[str], typer.Argument(
        metavar="MODEL_URI...", help="Models to serve: models:/NAME@STAGE, @ALIAS or :VERSION.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    max_batch_size: Annotated[int, typer.Option(help="Rows per model call, at most.",
                                                min=1)] = 64,
    max_wait_ms: Annotated[float, typer.Option(
        help="Longest wait to gather a batch (only under concurrent load).", min=0)] = 2.0,
    cache_size: Annotated[int, typer.Option(
        help="Prediction cache entries per model (0: no cache).", min=0)] = 0,
    processes: Annotated[int, typer.Option(
        help="Run each model in a pool of N processes (CPU-bound Python models).", min=0)] = 0,
    format: Annotated[str | None, typer.Option(
        "--format", help="'onnx': serve the versions' ONNX form with onnxruntime.")] = None,
    autocast: Annotated[str, typer.Option(
        help="PyTorch: auto (bfloat16 on a GPU), bf16 or off.")] = "auto",
    feature_service: Annotated[str | None, typer.Option(
        help="A FeatureService whose online features /predict adds to each request's "
             "entity keys (serve-time features).")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Serve a non-loopback address WITHOUT auth (warns each start).")
    ] = False,
    auth: Annotated[bool, typer.Option("--auth", help="Check tokens on loopback too "
                                       "(always on beyond loopback).")] = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help=ALLOW_PICKLE_HELP)] = False,
) -> None:
    """Serve models over HTTP: Open Inference Protocol v2, /predict/{model}, /metrics."""
    embedded_only()  # a server is where remote clients point; it is never remote itself
    auth_on = secure_bind(host, insecure, auth)
    allow_pickle_here(allow_pickle)
    from modelplane.client import Client
    from modelplane.serving.runtime import ServeSpec

    specs = [ServeSpec(uri, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                       cache_size=cache_size, processes=processes, format=format,
                       autocast=autocast, feature_service=feature_service) for uri in uris]
    client = Client()
    client.database.ensure_schema()
    if auth_on:
        first_admin()
    if feature_service is not None:  # an unknown service fails here, naming close ones
        client.features.get_feature_service(feature_service)
    for spec in specs:  # fail here, on one line, rather than inside a worker
        version = client.registry.resolve(spec.uri)
        typer.echo(f"serving {spec.uri} (now version {version.version}) on "
                   f"http://{host}:{port}", err=True)
    # no X-Forwarded-* rewriting (nothing here reads the client address) and no Server
    # header: both are per-request work a model server does not need
    run_app(specs, serving_only=True, host=host, port=port, workers=workers,
            log_level=log_level, proxy_headers=False, server_header=False)


def predict(
    uri: Annotated[str, typer.Argument(metavar="MODEL_URI", help="The model to run.")],
    input: Annotated[str, typer.Option("--input", "-i", help="The rows: Parquet (.parquet), "
                                       "CSV with a header (.csv) or JSON lines (.jsonl); with "
                                       "--executor ray also a directory or a glob of them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Parquet file to write (with "
                                         "--executor ray: a directory, one file per input).")],
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk (bounds memory).",
                                            min=1)] = 65_536,
    keep: Annotated[list[str] | None, typer.Option(
        "--keep", help="Input column to copy to the output (repeat; default: all).")] = None,
    predictions_only: Annotated[bool, typer.Option(
        "--predictions-only", help="Write no input columns.")] = False,
    format: Annotated[str | None, typer.Option(
        "--format", help="'onnx': run the version's ONNX form.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    executor: Annotated[str, typer.Option(
        "--executor", "-x", help="local (this process) or ray (a pool of model actors on the "
        "Ray cluster, one output file per input file).")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="With --executor ray: HOST:PORT, ray://HOST:10001 or auto.")
    ] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="With --executor ray: model actors (default: the cluster's CPUs).",
        min=1)] = None,
) -> None:
    """Batch inference: predict every row of a Parquet, CSV or JSON-lines file into a Parquet
    file, in chunks (or, with --executor ray, many files on a Ray cluster)."""
    from modelplane.client import Client
    from modelplane.serving.batch import predict_file

    columns = [] if predictions_only else keep
    if executor not in ("local", "ray"):
        raise typer.BadParameter(f"expected local or ray, got {executor!r}",
                                 param_hint="--executor")
    if executor == "ray":
        _predict_on_ray(uri, input, output, chunk_rows=chunk_rows, keep=columns,
                        format=format, address=ray_address, workers=workers)
        return
    if ray_address is not None or workers is not None:
        raise typer.BadParameter("needs --executor ray", param_hint="--ray-address/--workers")
    result = predict_file(uri, input, output, chunk_rows=chunk_rows, keep=columns,
                          progress=not quiet, format=format, models=Client().models)
    typer.echo(f"wrote {result.rows} predictions of {result.model_uri} to {result.output} "
               f"in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s, "
               f"{result.chunks} chunks)")


def _predict_on_ray(uri: str, input: str, output: Path, *, chunk_rows: int,
                    keep: list[str] | None, format: str | None, address: str | None,
                    workers: int | None) -> None:
    from modelplane.client import Client
    from modelplane.serving.batch_ray import expand_inputs, predict_files_ray

    client = Client()
    inputs = expand_inputs(input)
    client.models.resolve(uri)  # an unknown model fails here, on one line
    result = predict_files_ray(uri, inputs, output, settings=client.pipelines.worker_settings,
                               address=address, workers=workers, chunk_rows=chunk_rows,
                               keep=keep, format=format)
    typer.echo(f"wrote {result.rows} predictions of {result.model_uri} to {result.output} "
               f"({result.files} files) in {result.seconds:.2f} s "
               f"({result.rows_per_second:,.0f} rows/s, {result.workers} Ray workers)")
