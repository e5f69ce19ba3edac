"""Model URIs and the pure rules of the registry (no database)."""

from __future__ import annotations

import pytest

from modelplane.core.errors import InvalidArgumentError
from modelplane.registry._queries import rollback_target, stage_holders
from modelplane.registry.uri import ModelRef, parse_model_uri


@pytest.mark.parametrize(("uri", "ref"), [
    ("models:/churn:3", ModelRef("churn", version=3)),
    ("churn:3", ModelRef("churn", version=3)),
    ("models:/churn@champion", ModelRef("churn", alias="champion")),
    ("churn@my-alias_2", ModelRef("churn", alias="my-alias_2")),
    ("models:/churn@production", ModelRef("churn", stage="production")),
    ("models:/churn@Staging", ModelRef("churn", stage="staging")),
    ("models:/a.b-c_d@archived", ModelRef("a.b-c_d", stage="archived")),
    ("models:/churn/7", ModelRef("churn", version=7)),
    ("models:/churn/Production", ModelRef("churn", stage="production")),
    ("models:/churn/None", ModelRef("churn", stage="development")),
    ("models:/churn@None", ModelRef("churn", stage="development")),
    ("models:/churn/latest", ModelRef("churn", latest=True)),
    ("models:/churn@latest", ModelRef("churn", latest=True)),
    ("churn:latest", ModelRef("churn", latest=True)),
    ("models:/churn/7/", ModelRef("churn", version=7)),
    ("  models:/churn:1  ", ModelRef("churn", version=1)),
])
def test_accepted_forms(uri: str, ref: ModelRef) -> None:
    assert parse_model_uri(uri) == ref


def test_str_round_trips() -> None:
    for text in ("models:/churn:3", "models:/churn@champion", "models:/churn@production",
                 "models:/churn@latest"):
        assert str(parse_model_uri(text)) == text


@pytest.mark.parametrize("uri", ["", "   ", "churn", "models:/", "models:/churn", "churn:",
                                 "churn:-1", "churn:1.5", "churn@", "churn@a b", "churn@007",
                                 "runs:/abc/model", "http://x/churn:1", "models://churn:1",
                                 "models:/churn/abc", "models:/x/y/z", "@champion",
                                 "models:/churn/0", "runs:/0a1b/model", "churn:latest2"])
def test_rejected_forms_name_the_accepted_ones(uri: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_model_uri(uri)
    assert "models:/NAME:VERSION, models:/NAME@ALIAS, models:/NAME@STAGE" in info.value.message
    assert info.value.details["field"] == "uri"


def test_a_runs_uri_says_where_to_find_the_versions() -> None:
    with pytest.raises(InvalidArgumentError, match="runs show RUN_ID"):
        parse_model_uri("runs:/0a1b2c/model")


@pytest.mark.parametrize(("entries", "existing", "target"), [
    ([], set(), None),
    ([(1, "stage")], {1}, None),
    ([(1, "stage"), (2, "stage"), (3, "stage")], {1, 2, 3}, 2),
    ([(1, "stage"), (2, "stage"), (3, "stage"), (2, "rollback")], {1, 2, 3}, 1),
    ([(1, "stage"), (2, "stage"), (3, "stage"), (2, "rollback"), (1, "rollback")],
     {1, 2, 3}, None),
    ([(1, "stage"), (2, "stage"), (3, "stage")], {1, 3}, 1),        # v2 deleted
    ([(1, "stage"), (2, "stage"), (1, "stage")], {1, 2}, 2),
    ([(2, "stage"), (1, "stage"), (1, "stage")], {1, 2}, 2),        # skips the top's repeats
])
def test_rollback_target_from_the_audit_log(entries: list[tuple[int, str]], existing: set[int],
                                            target: int | None) -> None:
    assert rollback_target(stage_holders(entries), existing) == target
