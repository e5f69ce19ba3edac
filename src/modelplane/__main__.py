"""``python -m modelplane`` is the ``modelplane`` command."""

from modelplane.cli.main import run

run()
