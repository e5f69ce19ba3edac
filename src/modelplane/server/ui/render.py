"""Rendering for the web UI: the Jinja2 environment, display filters, and the error page.

Pages are server-rendered (``templates/``); charts are inline SVG built in
:mod:`~modelplane.server.ui.charts`. Every UI route uses :class:`UIRoute`, which turns a
``ModelplaneError`` or a bad query parameter into an HTML page with the right status
(404 naming what was not found, 422 naming the bad field) instead of the API's JSON
envelope; nothing a user types produces a 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from modelplane.core.errors import ModelplaneError
from modelplane.core.timeutil import as_utc
from modelplane.monitoring.report import short_json

__all__ = ["UIRoute", "error_page", "page", "pager"]

HERE = Path(__file__).parent

#: The nav bar: (section key, label, path).
NAV = (("experiments", "Experiments", "/experiments"), ("models", "Models", "/models"),
       ("deployments", "Deployments", "/deployments"), ("monitoring", "Monitoring",
                                                         "/monitoring"),
       ("features", "Features", "/features"), ("pipelines", "Pipelines", "/pipelines"))


def fmt_time(value: datetime | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, tz=UTC)
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def fmt_num(value: Any, digits: int = 4) -> str:
    """Numbers as people read them: 4 significant digits, NaN and infinities by name."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.{digits}g}"
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def fmt_ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.3g} ms"


def fmt_pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def fmt_bytes(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def pager(query: dict[str, Any], page_token: str | None, next_token: str | None,
          prev: list[str]) -> dict[str, str]:
    """``prev``/``next`` links for a token-paged list. Page tokens only run forwards, so
    each link carries the tokens of the pages before it (``prev``, repeated)."""
    links = {"prev": "", "next": ""}
    if prev:
        links["prev"] = "?" + urlencode([*query.items(), ("page_token", prev[-1]),
                                         *(("prev", t) for t in prev[:-1])])
    if next_token:
        links["next"] = "?" + urlencode([*query.items(), ("page_token", next_token),
                                         *(("prev", t) for t in [*prev, page_token or ""])])
    return links


def between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return fmt_duration((as_utc(end) - as_utc(start)).total_seconds())


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment (built on first render, never at import time)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(time=fmt_time, num=fmt_num, duration=fmt_duration, ms=fmt_ms,
                       pct=fmt_pct, bytes=fmt_bytes, short=lambda s: (s or "")[:12],
                       json=short_json)
    env.globals.update(nav=NAV, between=between)
    return env


def page(template: str, section: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` under the nav bar with ``section`` highlighted."""
    html = environment().get_template(template).render(section=section, **context)
    return HTMLResponse(html, status_code=status)


_TITLES = {404: "Not found", 409: "Conflict", 422: "Invalid input", 403: "Forbidden",
           503: "Unavailable"}


def error_page(status: int, message: str, *, section: str = "") -> HTMLResponse:
    return page("error.html", section, status=status, title=_TITLES.get(status, "Error"),
                status_code=status, message=message)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("query", "path")]
        parts.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class UIRoute(APIRoute):
    """An HTML route: modelplane errors and bad parameters become HTML error pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ModelplaneError as exc:  # 503 too: a message, never a trace
                return error_page(exc.http_status, exc.message)
            except RequestValidationError as exc:
                return error_page(422, _validation_message(exc))

        return route
