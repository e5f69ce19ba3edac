"""What `make demo` and `make test` install: the demo gets what the quickstart and the
README's tour use, without PyTorch; the test extras keep the pinned PyTorch."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements(extras: dict[str, list[str]], name: str) -> set[str]:
    """The requirements of extra ``name``, its own ``modelplane[...]`` extras expanded."""
    found: set[str] = set()
    for item in extras[name]:
        nested = re.fullmatch(r"modelplane\[([\w,\-]+)\]", item)
        if nested:
            for inner in nested.group(1).split(","):
                found |= _requirements(extras, inner)
        else:
            found.add(item)
    return found


def test_the_demo_installs_no_torch_and_the_tests_keep_the_pinned_one() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    demo = _requirements(extras, "demo")
    assert not any(r.startswith("torch") for r in demo), demo
    assert {"scikit-learn", "onnxruntime", "skl2onnx"} <= {re.split(r"[<>=\[ ]", r)[0]
                                                          for r in demo}
    torch = {r for name in ("dev", "all") for r in _requirements(extras, name)
             if r.startswith("torch")}
    assert torch == {"torch==2.13.0"}  # never a loose pin


def test_make_demo_installs_the_demo_extra_and_shows_progress() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(VENV)/.installed-demo:", 1)[1].split("\n\n", 1)[0]
    assert "-e '.[demo]'" in recipe and "--quiet" not in recipe and "@echo" in recipe
    assert re.search(r"^demo: \$\(VENV\)/\.installed-demo$", makefile, re.M)
