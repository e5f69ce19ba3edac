"""Definitions as code: validation, specs, schema hashes, references, feature repos."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.features import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    OnDemandFeatureView,
    SqlSource,
)
from modelplane.features.definitions import from_spec, parse_feature_ref
from modelplane.features.repo import load_repo

driver = Entity("driver", join_keys=["driver_id"])


def stats(*fields: str, **kwargs: object) -> FeatureView:
    return FeatureView("stats", entities=[driver], source=FileSource("/d/x.parquet"),
                       schema=[Field(f, Float64) for f in fields], **kwargs)  # type: ignore[arg-type]


def test_entity_defaults_and_checks() -> None:
    assert Entity("user").join_keys == ("user",) and Entity("user").dtypes == {"user": Int64}
    assert Entity("u", ["a", "b"], dtypes={"b": "string"}).dtypes == {"a": "int64", "b": "string"}
    with pytest.raises(InvalidArgumentError, match="invalid entity name"):
        Entity("bad name")
    with pytest.raises(InvalidArgumentError, match="unknown dtype 'float64'"):
        Entity("u", dtype="float64")
    with pytest.raises(InvalidArgumentError, match="not a join key"):
        Entity("u", ["a"], dtypes={"b": "string"})


def test_view_checks_name_the_column() -> None:
    with pytest.raises(InvalidArgumentError, match="'a' is declared twice"):
        stats("a", "a")
    with pytest.raises(InvalidArgumentError, match="'driver_id' is both a join key and a field"):
        stats("driver_id")
    with pytest.raises(InvalidArgumentError, match="ttl must be positive"):
        stats("a", ttl=timedelta(0))
    with pytest.raises(InvalidArgumentError, match="unknown dtype 'float'"):
        Field("a", "float")
    with pytest.raises(NotFoundError, match="did you mean 'conv'"):
        stats("conv", "trips")[["conv_"]]


def test_spec_round_trip_and_schema_hash() -> None:
    view = stats("a", "b", ttl=timedelta(hours=1), tags={"t": "1"}, owner="me")
    again = from_spec("feature_view", view.spec(), 3)
    assert again == view and again.version == 3 and again.ttl_seconds == 3600
    assert stats("a", "b", ttl=60).schema_hash == view.schema_hash  # TTL is not schema
    assert stats("a", "c").schema_hash != view.schema_hash
    service = FeatureService("svc", [view[["b"]], "stats:a", "stats:a"])
    assert service.features == ("stats:b", "stats:a")
    assert from_spec("feature_service", service.spec()) == service
    assert SqlSource("SELECT 1;").query == "SELECT 1"


def test_feature_refs() -> None:
    assert parse_feature_ref("v:f") == ("v", None, "f")
    assert parse_feature_ref("v@2:f") == ("v", 2, "f")
    for bad in ("v", "v:", ":f", "v@x:f", "v@0:f"):
        with pytest.raises(InvalidArgumentError, match="view:feature"):
            parse_feature_ref(bad)


def test_on_demand_view_needs_a_callable_and_a_mode() -> None:
    with pytest.raises(InvalidArgumentError, match="mode"):
        OnDemandFeatureView("o", sources=[], schema=[], transform=len, mode="spark")
    with pytest.raises(InvalidArgumentError, match="callable"):
        OnDemandFeatureView("o", sources=[], schema=[], transform=3)  # type: ignore[arg-type]


def test_load_repo_finds_module_level_definitions(tmp_path: Path) -> None:
    (tmp_path / "entities.py").write_text("from modelplane.features import Entity\n"
                                          "driver = Entity('driver')\n")
    (tmp_path / "views.py").write_text(textwrap.dedent("""
        from entities import driver
        from modelplane.features import FeatureView, Field, FeatureService
        stats = FeatureView("stats", entities=[driver], source="data/stats.parquet",
                            schema=[Field("a", "float64")])
        svc = FeatureService("svc", [stats])
    """))
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')\n")
    found = load_repo(tmp_path)
    assert sorted(d.name for d in found) == ["driver", "stats", "svc"]
    view = next(d for d in found if d.name == "stats")
    assert view.source.path == str(tmp_path / "data" / "stats.parquet")  # relative to repo
    (tmp_path / "broken.py").write_text("import nowhere_to_be_found\n")
    with pytest.raises(InvalidArgumentError, match=r"broken\.py: ModuleNotFoundError"):
        load_repo(tmp_path)
    with pytest.raises(NotFoundError, match="does not exist; expected the folder"):
        load_repo(tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match=r"views\.py' is a file; give the repo "
                       "folder instead"):
        load_repo(tmp_path / "views.py")
