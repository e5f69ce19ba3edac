"""A guided canary for ``modelplane quickstart``: a second version advancing to full traffic.

``canary_tour(client, console)`` runs the modelplane server app in this process (uvicorn on
a free loopback port, on a background thread), creates a deployment whose traffic all goes
to the production version, sends it steady traffic, starts a canary of the newer version
and prints each step as the automatic analysis advances it (5% -> 25% -> 50% -> 100% by
default), then the events. With no ``model`` it registers two small demo versions first.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.client import Client

__all__ = ["DEMO_MODEL", "canary_tour"]

DEMO_MODEL = "canary-demo"


class _Scaler:
    """A demo model: ``y = factor * a + b``, named columns a and b."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, x: Any) -> Any:
        return (x["a"] * self.factor + x["b"]).to_numpy()


def _demo_versions(client: Client) -> tuple[str, int]:
    import pandas as pd

    example = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0]})
    client.log_model(None, _Scaler(2.0), DEMO_MODEL, input_example=example,
                     stage="production", description="canary tour: baseline")
    v2 = client.log_model(None, _Scaler(2.1), DEMO_MODEL, input_example=example,
                          description="canary tour: candidate")
    return DEMO_MODEL, v2.version


def _record(client: Client, model: str) -> dict[str, Any]:
    example = client.registry.get_latest_version(model, stage="production").input_example
    if isinstance(example, list) and example and isinstance(example[0], dict):
        return dict(example[0])
    if isinstance(example, dict):
        return {k: (v[0] if isinstance(v, list) else v) for k, v in example.items()}
    raise ValueError(f"the production version of {model!r} has no named-column input "
                     "example to send as /predict records")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _InProcessServer:
    def __init__(self, client: Client, poll: float) -> None:
        import uvicorn

        from modelplane.server.app import create_app

        settings = client.settings.model_copy(update={"deployment_poll_seconds": poll})
        self.port = _free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="modelplane-tour",
                                       daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def canary_tour(client: Client, console: Any = None, *, model: str | None = None,
                version: int | None = None, deployment: str | None = None,
                steps: tuple[float, ...] = (5, 25, 50, 100), hold: float = 1.0,
                hold_requests: int = 20, timeout: float = 120.0,
                promote_stage: str | None = None, drift: float = 1.0) -> dict[str, Any]:
    """Drive a canary of ``version`` (default: the newest) of ``model`` to 100% under
    load and return a summary (status, requests, failures, versions seen, events)."""
    import httpx

    say = console.print if console is not None else print
    if model is None:
        model, version = _demo_versions(client)
    if version is None:
        version = client.registry.get_latest_version(model).version
    name = deployment or f"{model}-live"
    record = _record(client, model)
    service = client.deployments
    try:
        service.get(name)
    except Exception:
        service.create(name, model, {"production": 100}, description="canary tour")
    sent = {"ok": 0, "failed": 0}
    seen: dict[str, int] = {}
    stop = threading.Event()
    with _InProcessServer(client, poll=0.25) as url:
        say(f"serving deployment {name} at {url}/predict/{name} (all traffic on production)")

        def load() -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                while not stop.is_set():
                    body = {k: (v * drift * (0.5 + random.random()) if isinstance(v, float)
                                else v) for k, v in record.items()}
                    r = http.post(f"/predict/{name}", json=body)
                    sent["ok" if r.status_code == 200 else "failed"] += 1
                    label = r.headers.get("x-model-version", "?")
                    seen[label] = seen.get(label, 0) + 1

        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        try:
            time.sleep(1.0)
            service.start_canary(name, version, steps=steps, hold=hold,
                                 hold_requests=hold_requests, min_requests=10,
                                 gates=["error_rate:max=0.01",
                                        "latency_p99:max_ratio=3,tolerance=0.05"],
                                 promote_stage=promote_stage, actor="quickstart")
            say(f"canary of version {version}: steps "
                f"{' -> '.join(f'{s:g}%' for s in steps)}, each held {hold:g} s and "
                f"{hold_requests} requests; gates error_rate <= 1%, p99 <= 3x baseline")
            last, deadline = -1, time.monotonic() + timeout
            while time.monotonic() < deadline:
                c = service.get(name).canary
                if c is None:
                    break
                if c.step != last and c.running:
                    last = c.step
                    say(f"  step {c.step + 1}/{len(c.steps)}: version {version} takes "
                        f"{c.weight:g}% of traffic ({sent['ok']} answered, "
                        f"{sent['failed']} failed so far)")
                if not c.running:
                    break
                time.sleep(0.1)
            time.sleep(0.6)  # the final routing reaches the server
        finally:
            stop.set()
            worker.join(10)
    final = service.get(name)
    status = final.canary.status if final.canary else "none"
    say(f"canary {status}: {final.canary.reason if final.canary else ''}")
    say(f"{sent['ok']} requests answered, {sent['failed']} failed; versions served: "
        + ", ".join(f"v{k}: {n}" for k, n in sorted(seen.items())))
    return {"deployment": name, "model": model, "version": version, "status": status,
            "requests": sent["ok"] + sent["failed"], "failures": sent["failed"],
            "versions": dict(seen), "weights": final.weights(),
            "events": [e.kind for e in service.events(name)]}
