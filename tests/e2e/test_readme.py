"""Every command of the README, as written, against a demo home: what a new user types in
their first hour after ``make demo``.

The home is the default one (``~/.modelplane`` under a temporary ``HOME``, no
``MODELPLANE_HOME``), filled by ``modelplane quickstart`` as ``make demo`` does. Each line of
each ``bash`` block runs in bash, in order, from a folder holding a copy of ``examples/``
(so files the commands write stay out of the checkout). What the harness adds, and only
that: ``make`` lines are not run (they build environments and run this suite);
long-running commands (``modelplane server``, ``serve``, ``scheduler``) are started in the
background, waited for and stopped at the end; the ports 8000 and 8080 are mapped to free
ones; ``curl`` also reports the HTTP status, which must be 2xx. The ``console`` block's
commands must print exactly what the README shows. The Python snippets are illustrations,
not commands, and are not run here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = re.compile(r"\bmodelplane (server|serve|scheduler)\b")
MAKE = re.compile(r"^(\w+=\S+\s+)*make\b")  # `make ...`, also after VAR=value
CURL_STATUS = "curl() { command curl -w '\\n__HTTP %{http_code}\\n' \"$@\"; }\n"


def readme_commands(text: str) -> list[tuple[str, str]]:
    """(kind, command) in order: kind ``bash`` for bash-block lines (continuations joined),
    ``console`` for ``$ `` lines of console blocks, with the expected output after a tab."""
    out: list[tuple[str, str]] = []
    for kind, body in re.findall(r"```(bash|console)\n(.*?)```", text, flags=re.S):
        lines = body.replace("\\\n", " ").splitlines()
        if kind == "bash":
            out += [("bash", line.strip()) for line in lines
                    if line.strip() and not line.strip().startswith("#")]
            continue
        for i, line in enumerate(lines):
            if line.startswith("$ "):
                expected = []
                for follow in lines[i + 1:]:
                    if follow.startswith("$ "):
                        break
                    expected.append(follow)
                out.append(("console", line[2:] + "\t" + "\n".join(expected).strip()))
    return out


@dataclass
class Demo:
    """The demo home's environment, the working folder and the background processes."""

    env: dict[str, str]
    cwd: Path
    ports: dict[str, int]
    background: dict[str, tuple[subprocess.Popen[str], Any]] = field(default_factory=dict)

    def localize(self, command: str) -> str:
        for written, port in self.ports.items():
            command = command.replace(f"localhost:{written}", f"localhost:{port}")
            command = command.replace(f"--port {written}", f"--port {port}")
        if re.search(r"\bmodelplane server\b(?!.*--port)", command):
            command = command.replace("modelplane server",
                                      f"modelplane server --port {self.ports['8000']}")
        return command

    def run(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", CURL_STATUS + command], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, command: str) -> None:
        """Start a long-running command; return once it serves (or says it runs)."""
        port = re.search(r"--port (\d+)", command)
        key = port.group(1) if port else command
        self.stop(key)
        log = open(self.cwd / f"background-{len(self.background)}.log", "w+")  # noqa: SIM115
        proc = subprocess.Popen(["bash", "-c", f"exec {command}" if "&&" not in command
                                 else command], cwd=self.cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.background[key] = (proc, log)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                output = log.read()
                self.stop(key)
                raise AssertionError(f"{command!r} exited {proc.returncode}:\n{output}")
            if port is None:
                log.seek(0)
                if "scheduler running" in log.read():
                    return
            elif _answers(int(port.group(1)), "modelplane serve " in command):
                return
            time.sleep(0.5)
        raise AssertionError(f"{command!r} did not come up within 180 s")

    def stop(self, key: str | None = None) -> None:
        for name in [key] if key is not None else list(self.background):
            held = self.background.pop(name, None) if name is not None else None
            if held is None:
                continue
            proc, log = held
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            log.close()


def _answers(port: int, serving: bool) -> bool:
    path = "/v2/health/ready" if serving else "/api/v1/health"
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    home = tmp_path / "user"
    home.mkdir()
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "modelplane").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m modelplane "$@"\n')
    (shim / "modelplane").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPLANE_")
           or k.startswith("MODELPLANE_TEST_")}
    env.update(HOME=str(home), PATH=f"{shim}{os.pathsep}{env.get('PATH', '')}",
               COLUMNS="160", PYTHONPATH=os.pathsep.join(
                   p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH")) if p))
    cwd = tmp_path / "work"
    shutil.copytree(ROOT / "examples", cwd / "examples",
                    ignore=shutil.ignore_patterns("data", "__pycache__"))
    running = Demo(env, cwd, {"8000": free_port(), "8080": free_port()})
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_readme_command_runs_as_written_after_the_quickstart(demo: Demo) -> None:
    quickstart = demo.run("modelplane quickstart", timeout=900)
    assert quickstart.returncode == 0, quickstart.stderr
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    ran = []
    for kind, line in commands:
        if kind == "bash" and MAKE.match(line):
            continue
        if kind == "console":
            command, expected = line.split("\t", 1)
            result = demo.run(command)
            assert (result.stdout + result.stderr).strip() == expected, command
            continue
        command = demo.localize(line)
        if LONG_RUNNING.search(command):
            demo.start(command)
            ran.append(line)
            continue
        result = demo.run(command)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{line}\n{output}"
        assert "Traceback" not in output and "error:" not in result.stderr, f"{line}\n{output}"
        for status in re.findall(r"__HTTP (\d+)", result.stdout):
            assert status.startswith("2"), f"{line}\n{output}"
        ran.append(line)
    assert len(ran) >= 40  # the tour, HTTP, serving, features, pipelines, deploy, monitor
    _what_the_commands_did(demo)


def _what_the_commands_did(demo: Demo) -> None:
    """A few effects a user would check, read back through the CLI."""
    import json

    import pyarrow.parquet as pq

    assert pq.read_table(demo.cwd / "scored.parquet").num_rows == 143
    assert (demo.cwd / "report.html").stat().st_size > 1000
    version = json.loads(demo.run("modelplane models versions breast-cancer --json").stdout)
    int8 = next(v for v in version if v["version"] == 5)
    assert int8["flavor"] == "onnx" and int8["tags"]["quantization"] == "int8"
    shown = json.loads(demo.run("modelplane deploy show breast-cancer-ab --json").stdout)
    assert shown["canary"]["version"] == 5
    labels = (Path(demo.env["HOME"]) / ".modelplane" / "quickstart" / "labels.csv")
    first = labels.read_text().splitlines()[1].split(",")
    logged = json.loads(demo.run(f"modelplane monitor predictions breast-cancer --request-id "
                                 f"{first[0]} --json").stdout)
    assert [(p["labelled"], p["label"]) for p in logged] == [(True, int(first[1]))]
    rules = json.loads(demo.run("modelplane monitor rules list breast-cancer --json").stdout)
    assert {r["name"] for r in rules} == {"drift-retrain", "errors"}
