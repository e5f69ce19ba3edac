"""The ``modelplane`` command-line interface."""

__all__ = ["app", "run"]

from modelplane.cli.main import app, run
