"""Entry points of the child processes modelplane starts: each builds its own wiring from
the settings it is sent, like the CLI does (``python -m modelplane.workers.<name>``).

- ``pipeline_step``: a subprocess-executor worker, running pipeline steps.
- ``torchrun_rank``: one rank of a distributed step under torchrun.
- ``predlog_writer``: the prediction log's writer process beside a server.
"""

__all__: list[str] = []
