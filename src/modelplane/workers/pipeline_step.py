"""A subprocess-executor worker: reads tasks on stdin, writes results on the original
stdout (the step's own prints go to stderr). Each task carries the settings of the run
that sent it; the worker builds a client on them, whose step services the step uses."""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelplane.client import Client
    from modelplane.pipelines.executors.base import StepResult


def main() -> None:
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the step prints goes to stderr, not into the protocol
    configured: dict[str, str] | None = None
    client = None
    from modelplane.pipelines.executors.subprocess import read_message

    while True:
        message = read_message(sys.stdin.buffer)
        if message is None:
            return
        header = json.loads(message[0])
        for entry in reversed(header["sys_path"]):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        if header["settings"] != configured or client is None:
            from modelplane.client import Client
            from modelplane.core.config import configure

            configure(**header["settings"])
            configured = header["settings"]
            client = Client()
        result = _run(message[1], client)
        data = pickle.dumps(result)
        from modelplane.pipelines.executors.subprocess import _HEADER

        protocol_out.write(_HEADER.pack(0, len(data)) + data)
        protocol_out.flush()


def _run(body: bytes, client: Client) -> StepResult:
    from modelplane.pipelines.executors.base import StepResult, execute_task

    try:
        import cloudpickle

        task = cloudpickle.loads(body)
    except Exception as exc:
        return StepResult(error=f"could not load the step in the worker: {exc}",
                          retryable=False)
    return execute_task(task, client.artifacts, services=lambda: client.step_services,
                        timeout=task.step.timeout)


if __name__ == "__main__":
    main()
