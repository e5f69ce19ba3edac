"""A subprocess-executor worker: reads tasks on stdin, writes results on the original
stdout (the step's own prints go to stderr)."""

from __future__ import annotations

import json
import os
import pickle
import sys


def main() -> None:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the step prints goes to stderr, not into the protocol
    configured: dict[str, str] | None = None
    from modelplane.pipelines.executors.subprocess import read_message

    while True:
        message = read_message(sys.stdin.buffer)
        if message is None:
            return
        header = json.loads(message[0])
        for entry in reversed(header["sys_path"]):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        if header["settings"] != configured:
            from modelplane.core.config import configure

            configure(**header["settings"])
            configured = header["settings"]
        result = _run(message[1])
        data = pickle.dumps(result)
        from modelplane.pipelines.executors.subprocess import _HEADER

        protocol_out.write(_HEADER.pack(0, len(data)) + data)
        protocol_out.flush()


def _run(body: bytes):  # type: ignore[no-untyped-def]
    from modelplane.artifacts.store import get_artifact_store
    from modelplane.pipelines.executors.base import StepResult, execute_task

    try:
        import cloudpickle

        task = cloudpickle.loads(body)
    except Exception as exc:
        return StepResult(error=f"could not load the step in the worker: {exc}",
                          retryable=False)
    return execute_task(task, get_artifact_store(), timeout=task.step.timeout)


if __name__ == "__main__":
    main()
