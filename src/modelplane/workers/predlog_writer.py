"""The prediction log's writer process: reads batches of served answers from the serving
process on stdin (``monitoring.writer.ProcessSink`` starts it), writes their rows, health
buckets and drift counts, and answers on stdout. It builds only what writing rows needs:
the metadata database, the artifact store (Parquet storage), and a monitoring service over
the registry and tracking (a version's reference comes from its training data).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
from typing import Any

from modelplane.monitoring.predlog.wire import NICENESS, receive, receive_bytes, send

log = logging.getLogger("modelplane.monitoring")


def main() -> int:
    """The child's loop: read frames from stdin, write them, answer on stdout."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)  # background work: the serving process comes first for the CPU
    inp = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the frames
    try:
        first = receive(inp)
    except EOFError:
        return 0
    from modelplane.client import Client
    from modelplane.core.config import Settings
    from modelplane.monitoring.predlog.rows import LogBatch

    try:  # only the stores and the service that writing rows needs: no alert actions
        service = Client(Settings(**first["settings"])).monitoring_service(actions=False)
    except Exception as exc:
        send(out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"[:500]})
        return 1
    # each batch allocates thousands of short-lived rows and no cycles: leave what is
    # loaded out of the collector's reach and let it run rarely
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    send(out, {"ready": True, "pid": os.getpid()})
    generation = None
    while True:
        try:
            frame = receive(inp)
            body = receive_bytes(inp)
        except EOFError:
            break
        if frame.get("gen") != generation:
            generation = frame.get("gen")
            service.forget_references()
        try:
            batch = LogBatch()
            rejected = batch.add_wire(body, frame.get("keys", []))
            dropped = {(str(m), int(v)): int(n) for m, v, n in frame.get("dropped", [])}
            service.write_rows(batch, dropped)
            reply: dict[str, Any] = {"seq": frame["seq"], "rejected": rejected}
        except Exception as exc:
            log.warning("prediction log writer: a batch failed: %s", exc)
            reply = {"seq": frame.get("seq"), "error": f"{type(exc).__name__}: {exc}"[:500]}
        send(out, reply)
    service.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main())
