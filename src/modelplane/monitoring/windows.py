"""Windows over the prediction log: the last N minutes, the last N predictions, or between
two dates.

Accepted forms (``Window.parse``)::

    30s 15m 1h 7d 2w                    the last duration before now
    1000p  (or 1000predictions)         the last 1,000 predictions
    2024-05-01..2024-05-02              between two ISO-8601 dates or times (UTC when naive;
    2024-05-01T10:00..2024-05-01T12:00  the start is included, the end is not)

Windows over counts (drift and health) are resolved to whole time buckets: a duration
window covers every bucket that overlaps it, and a count window takes the newest buckets
until their predictions add up to at least N.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelplane.core.errors import InvalidArgumentError

__all__ = ["WINDOW_FORMS", "Window", "parse_duration"]

WINDOW_FORMS = ("a duration such as 30s, 15m, 1h, 7d, 2w; a count of predictions such as "
                "1000p; or START..END with ISO-8601 dates or times")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*(\d+)\s*(p|predictions?)\s*$", re.IGNORECASE)
MAX_SECONDS = 1000 * 366 * 86400  # a millennium: longer spans overflow dates
MAX_COUNT = 10**12


def parse_duration(text: str | float | int, *, field: str = "duration") -> float:
    """Seconds in ``text`` (``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"``)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise InvalidArgumentError(f"{field}: must not be negative", details={"field": field})
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise InvalidArgumentError(
                f"{field}: cannot parse {text!r}; expected a number of seconds or a duration "
                "such as 30s, 15m, 1h, 7d", details={"field": field, "value": str(text)})
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not seconds <= MAX_SECONDS:
        raise InvalidArgumentError(f"{field}: {text!r} is longer than 1000 years",
                                   details={"field": field, "value": str(text)})
    return seconds


def _when(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"{field}: {text.strip()!r} is not an ISO-8601 date or time",
            details={"field": field, "value": text}) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """One of: ``seconds`` (the last duration), ``count`` (the last N predictions) or
    ``start``/``end`` (between dates). ``spec`` is the text it was parsed from."""

    spec: str
    seconds: float | None = None
    count: int | None = None
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, text: str | Window, *, field: str = "window") -> Window:
        if isinstance(text, Window):
            return text
        spec = str(text).strip()
        if match := _DURATION.match(spec):
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
            if seconds <= 0:
                raise InvalidArgumentError(f"{field}: a window must be longer than zero",
                                           details={"field": field, "value": spec})
            if seconds > MAX_SECONDS:
                raise InvalidArgumentError(f"{field}: {spec!r} is longer than 1000 years",
                                           details={"field": field, "value": spec})
            return cls(spec=spec, seconds=seconds)
        if match := _COUNT.match(spec):
            count = int(match.group(1))
            if count <= 0 or count > MAX_COUNT:
                raise InvalidArgumentError(f"{field}: a count window needs at least 1 "
                                           "prediction and at most 10^12",
                                           details={"field": field, "value": spec})
            return cls(spec=spec, count=count)
        if ".." in spec:
            first, _, second = spec.partition("..")
            start, end = _when(first, field), _when(second, field)
            if end <= start:
                raise InvalidArgumentError(f"{field}: the end {second.strip()!r} is not after "
                                           f"the start {first.strip()!r}",
                                           details={"field": field, "value": spec})
            return cls(spec=spec, start=start, end=end)
        raise InvalidArgumentError(f"{field}: cannot parse {spec!r}; expected {WINDOW_FORMS}",
                                   details={"field": field, "value": spec})

    def bounds_ms(self, now: datetime) -> tuple[int | None, int | None]:
        """``(start, end)`` in epoch ms for time windows (end exclusive; None: open)."""
        if self.seconds is not None:
            end = now + timedelta(milliseconds=1)
            return _ms(now - timedelta(seconds=self.seconds)), _ms(end)
        if self.start is not None and self.end is not None:
            return _ms(self.start), _ms(self.end)
        return None, None

    def __str__(self) -> str:
        return self.spec


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)
