"""Routing: weights, refs and the sticky/random pick."""

from __future__ import annotations

import random
import uuid

import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.deployments.routing import Picker, key_point, normalise_ref, parse_variants


def test_a_90_10_split_is_within_two_points_over_10000_picks() -> None:
    picker = Picker("churn", [90, 10], rand=random.Random(7))
    counts = [0, 0]
    for _ in range(10_000):
        counts[picker.pick(None)] += 1
    assert abs(counts[1] / 10_000 * 100 - 10) < 2


def test_a_90_10_split_by_key_is_within_two_points_and_sticky() -> None:
    picker = Picker("churn", [90, 10])
    keys = [uuid.uuid4().hex for _ in range(10_000)]
    first = {k: picker.pick(k) for k in keys}
    assert abs(sum(first.values()) / 10_000 * 100 - 10) < 2
    again = Picker("churn", [90, 10])  # another replica, same weights
    assert all(again.pick(k) == v for k, v in first.items())
    assert all(picker.pick(k) == v for k, v in first.items())


def test_growing_the_first_share_only_moves_keys_towards_it() -> None:
    keys = [str(i) for i in range(5000)]
    small, large = Picker("d", [5, 95]), Picker("d", [50, 50])
    moved_back = [k for k in keys if small.pick(k) == 0 and large.pick(k) != 0]
    assert moved_back == []


def test_key_points_are_uniform_and_salted() -> None:
    points = [key_point("a", str(i)) for i in range(20_000)]
    assert all(0 <= p < 100 for p in points)
    assert abs(sum(p < 50 for p in points) / len(points) - 0.5) < 0.02
    assert key_point("a", "user-1") != key_point("b", "user-1")


def test_weight_zero_is_never_picked() -> None:
    picker = Picker("d", [0, 100, 0])
    assert {picker.pick(str(i)) for i in range(1000)} == {1}


@pytest.mark.parametrize("routes", [{"production": 90, "staging": 20},
                                    {"production": 50}, ["a:3=60", "b:4=30"]])
def test_weights_must_sum_to_100(routes: object) -> None:
    with pytest.raises(InvalidArgumentError, match="sum to 100") as err:
        parse_variants(routes)
    assert err.value.details["field"] == "routes"


@pytest.mark.parametrize("routes, message", [
    ({"production": 101, "staging": -1}, "0 to 100"),
    ({"production": "lots"}, "percentage"),
    ({"nonsense": 100}, "version number"),
    (["a:3=50", "a:4=50"], "appears twice"),
    ([], "at least one route"),
])
def test_bad_routes_name_the_problem(routes: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_variants(routes)


def test_route_forms() -> None:
    variants = parse_variants({"production": 90, "v4": 10}, {"5": 50})
    assert [(v.name, v.ref, v.weight, v.shadow) for v in variants] == [
        ("production", "production", 90.0, False), ("v4", "4", 10.0, False),
        ("v5", "5", 50.0, True)]
    variants = parse_variants("a:3=50, b:@champion=50", ["shadow:7"])
    assert [(v.name, v.ref) for v in variants] == [("a", "3"), ("b", "@champion"),
                                                    ("shadow", "7")]
    assert normalise_ref("V12") == "12" and normalise_ref("Production") == "production"
