from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.monitoring.windows import Window, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600),
                                               ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert Window.parse(text).seconds == seconds


def test_counts_and_dates() -> None:
    assert Window.parse("1000p").count == 1000
    assert Window.parse("250 predictions").count == 250
    w = Window.parse("2024-05-01..2024-05-02T12:00")
    assert w.start == datetime(2024, 5, 1, tzinfo=UTC)
    assert w.end == datetime(2024, 5, 2, 12, tzinfo=UTC)
    assert w.bounds_ms(datetime.now(UTC)) == (1714521600000, 1714651200000)


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "cannot parse 'abc'; expected a duration"),
    ("0m", "longer than zero"),
    ("0p", "at least 1 prediction"),
    ("2024-05-02..2024-05-01", "is not after the start"),
    ("yesterday..today", "'yesterday' is not an ISO-8601 date"),
    ("", "cannot parse ''"),
])
def test_bad_windows_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as info:
        Window.parse(text)
    assert info.value.details["field"] == "window"


def test_durations_for_cooldowns() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration(5) == 5.0
    with pytest.raises(InvalidArgumentError, match="cooldown: cannot parse"):
        parse_duration("soon", field="cooldown")
