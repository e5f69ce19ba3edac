"""The model registry contract through ``RegistryService``, on SQLite and on PostgreSQL,
embedded and through a live server (``RemoteRegistryStore``, ``RemoteArtifactStore``);
the ``db`` fixture is the database the server writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from modelplane.artifacts.store import ArtifactStore
from modelplane.core.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    ModelplaneError,
    NotFoundError,
)
from modelplane.registry import STAGES, RegistryService
from modelplane.store.db import Database
from modelplane.store.tables import model_versions, registered_models, registry_audit

BLOBS = (b"weights 1", b"weights 2", b"weights 3")
D1, D2, D3 = (hashlib.sha256(blob).hexdigest() for blob in BLOBS)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def artifacts(mp_home: Path, remote_client: Any) -> ArtifactStore:
    store = (ArtifactStore(mp_home / "artifacts") if remote_client is None
             else remote_client.artifacts)
    for blob in BLOBS:
        store.put_bytes(blob)
    return store


@pytest.fixture
def reg(db: Database, artifacts: ArtifactStore, remote_client: Any) -> RegistryService:
    if remote_client is not None:
        return remote_client.registry  # type: ignore[no-any-return]
    return RegistryService(db, artifacts)


def _versions(reg: RegistryService, name: str, count: int, digest: str = D1) -> list[int]:
    return [reg.create_version(name, artifact_digest=digest, flavor="sklearn").version
            for _ in range(count)]


def _count(db: Database, table: object, *where: object) -> int:
    with db.session_scope(readonly=True) as s:
        return int(s.execute(select(func.count()).select_from(table).where(*where)).scalar())


# -- models -------------------------------------------------------------------------------


def test_versions_number_from_one_and_create_the_model(reg: RegistryService) -> None:
    assert _versions(reg, "churn", 3) == [1, 2, 3]
    assert _versions(reg, "other", 1) == [1]
    model = reg.get_model("churn")
    assert model.name == "churn" and model.latest_version == 3
    assert model.created_at.tzinfo is not None


def test_a_version_records_what_it_was_given(reg: RegistryService) -> None:
    mv = reg.create_version(
        "churn", artifact_digest=D1, flavor="sklearn", size=123, run_id="r" * 32,
        signature={"inputs": [{"name": "x", "dtype": "float64"}]}, input_example=[[1.0, 2]],
        metrics={"auc": 0.93, "n": 5, "loss": float("nan")},
        datasets=[{"name": "train", "digest": D2}],
        model_meta={"sklearn_version": "1.5"}, code_commit="abc123", code_dirty=False,
        description="first", tags={"team": "risk", "n": 3}, actor="alice")
    got = reg.get_version("churn", 1)
    assert got == mv
    assert got.metrics == {"auc": 0.93, "n": 5.0, "loss": None}
    assert got.tags == {"team": "risk", "n": "3"}
    assert got.stage == "development" and got.created_by == "alice"
    assert got.input_example == [[1.0, 2]] and got.code_dirty is False
    assert got.uri == "models:/churn:1"


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "a b", "x" * 257, "a:1", "a@b"])
def test_bad_model_names_are_refused_with_the_rules(reg: RegistryService, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="letters, digits") as info:
        reg.create_model(name)
    assert info.value.http_status == 422
    with pytest.raises(InvalidArgumentError):
        reg.create_version(name, artifact_digest=D1, flavor="sklearn")


def test_create_model_twice_is_a_conflict(reg: RegistryService) -> None:
    reg.create_model("churn", description="d", tags={"a": "1"})
    with pytest.raises(AlreadyExistsError, match="'churn' already exists"):
        reg.create_model("churn")
    assert reg.get_model("churn").tags == {"a": "1"}


def test_unknown_model_is_404_naming_it_with_suggestions(reg: RegistryService) -> None:
    reg.create_model("churn-classifier")
    with pytest.raises(NotFoundError, match="'churn-clasifier' not found") as info:
        reg.get_model("churn-clasifier")
    assert info.value.http_status == 404
    assert info.value.details["suggestions"] == ["churn-classifier"]
    assert "did you mean 'churn-classifier'" in info.value.message
    with pytest.raises(NotFoundError, match="'nope' not found"):
        reg.get_version("nope", 1)
    with pytest.raises(NotFoundError, match="'nope' not found"):
        reg.list_versions("nope")


def test_unknown_version_is_404_naming_it(reg: RegistryService) -> None:
    _versions(reg, "churn", 2)
    with pytest.raises(NotFoundError, match="version 7 of model 'churn' not found"):
        reg.get_version("churn", 7)
    with pytest.raises(InvalidArgumentError, match="positive integer"):
        reg.get_version("churn", 0)


def test_list_models_paginates_with_opaque_tokens(reg: RegistryService) -> None:
    for name in ["e", "a", "c", "b", "d"]:
        reg.create_model(name)
    seen, token, pages = [], None, 0
    while True:
        page = reg.list_models(max_results=2, page_token=token)
        seen += [m.name for m in page]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert seen == ["a", "b", "c", "d", "e"] and pages == 3
    with pytest.raises(InvalidArgumentError, match="page_token"):
        reg.list_models(page_token="not-a-token")
    with pytest.raises(InvalidArgumentError, match="max_results"):
        reg.list_models(max_results=0)


def test_search_models_by_name_pattern_and_tags(reg: RegistryService) -> None:
    reg.create_model("churn-a", tags={"team": "risk"})
    reg.create_model("churn-b", tags={"team": "growth"})
    reg.create_model("fraud", tags={"team": "risk"})
    names = lambda f: [m.name for m in reg.search_models(f)]  # noqa: E731
    assert names("name like 'churn%'") == ["churn-a", "churn-b"]
    assert names("tags.team = 'risk'") == ["churn-a", "fraud"]
    assert names("name like 'churn%' and tags.team = 'risk'") == ["churn-a"]


def test_descriptions_and_tags_of_models_and_versions(reg: RegistryService) -> None:
    _versions(reg, "churn", 1)
    assert reg.update_model("churn", description="new").description == "new"
    assert reg.set_model_tag("churn", "team", "risk").tags == {"team": "risk"}
    assert reg.set_model_tag("churn", "team", "growth").tags == {"team": "growth"}
    assert reg.delete_model_tag("churn", "team").tags == {}
    with pytest.raises(NotFoundError, match="tag 'team' not found"):
        reg.delete_model_tag("churn", "team")
    assert reg.update_version("churn", 1, description="v").description == "v"
    assert reg.set_version_tag("churn", 1, "k", "v").tags == {"k": "v"}
    assert reg.delete_version_tag("churn", 1, "k").tags == {}
    with pytest.raises(NotFoundError, match="tag 'k' not found on version 1"):
        reg.delete_version_tag("churn", 1, "k")
    with pytest.raises(NotFoundError, match="version 2"):
        reg.set_version_tag("churn", 2, "k", "v")


# -- stages -------------------------------------------------------------------------------


def test_exclusive_stages_archive_the_previous_holder(reg: RegistryService) -> None:
    _versions(reg, "churn", 3)
    reg.set_stage("churn", 1, "production")
    reg.set_stage("churn", 2, "staging")
    moved = reg.set_stage("churn", 2, "production", actor="bob", reason="better auc")
    assert moved.stage == "production"
    stages = {v.version: v.stage for v in reg.list_versions("churn")}
    assert stages == {1: "archived", 2: "production", 3: "development"}
    last = reg.history("churn")[-1]
    assert (last.action, last.field, last.from_value, last.to_value) == (
        "stage", "production", "staging", "production")
    assert last.displaced_version == 1 and last.actor == "bob" and last.reason == "better auc"
    assert reg.resolve("models:/churn@production").version == 2
    assert reg.get_latest_version("churn", "archived").version == 1


def test_moving_to_the_current_stage_is_a_no_op(reg: RegistryService) -> None:
    _versions(reg, "churn", 1)
    reg.set_stage("churn", 1, "production")
    before = len(reg.history("churn"))
    assert reg.set_stage("churn", 1, "Production").stage == "production"
    assert len(reg.history("churn")) == before


@pytest.mark.parametrize("stage", ["prod", "", "Released"])
def test_invalid_stage_lists_the_valid_ones(reg: RegistryService, stage: str) -> None:
    _versions(reg, "churn", 1)
    with pytest.raises(InvalidArgumentError) as info:
        reg.set_stage("churn", 1, stage)
    assert info.value.http_status == 422
    assert all(s in info.value.message for s in STAGES)
    assert info.value.details["allowed"] == list(STAGES)


def test_a_version_in_production_needs_force_to_delete(reg: RegistryService) -> None:
    _versions(reg, "churn", 2)
    reg.set_stage("churn", 2, "production")
    with pytest.raises(InvalidStateError, match="in production"):
        reg.delete_version("churn", 2)
    assert reg.get_version("churn", 2).stage == "production"
    reg.delete_version("churn", 2, force=True)
    with pytest.raises(NotFoundError):
        reg.get_version("churn", 2)
    assert _versions(reg, "churn", 1) == [3]  # numbers are never reused


# -- aliases ------------------------------------------------------------------------------


def test_aliases_point_move_and_disappear(reg: RegistryService) -> None:
    _versions(reg, "churn", 3)
    reg.set_alias("churn", "champion", 1, actor="a")
    assert reg.get_by_alias("churn", "champion").version == 1
    reg.set_alias("churn", "champion", 3, actor="b")
    mv = reg.get_by_alias("churn", "champion")
    assert mv.version == 3 and mv.aliases == ("champion",)
    assert reg.get_model("churn").aliases == {"champion": 3}
    reg.set_alias("churn", "champion", 3)  # no-op: no audit entry
    reg.delete_alias("churn", "champion")
    entries = [(e.action, e.field, e.from_value, e.to_value) for e in reg.history("churn")
               if e.action.startswith("alias")]
    assert entries == [("alias", "champion", None, "1"), ("alias", "champion", "1", "3"),
                       ("alias_delete", "champion", "3", None)]
    with pytest.raises(NotFoundError, match="alias 'champion' of model 'churn' not found"):
        reg.get_by_alias("churn", "champion")
    with pytest.raises(NotFoundError, match="alias 'champion'"):
        reg.delete_alias("churn", "champion")


@pytest.mark.parametrize("alias", ["12", "production", "Staging", "has space", "a.b", ""])
def test_bad_aliases_are_refused(reg: RegistryService, alias: str) -> None:
    _versions(reg, "churn", 1)
    with pytest.raises(InvalidArgumentError, match="alias"):
        reg.set_alias("churn", alias, 1)


def test_alias_to_unknown_version_or_model_is_404(reg: RegistryService) -> None:
    _versions(reg, "churn", 1)
    with pytest.raises(NotFoundError, match="version 5 of model 'churn'"):
        reg.set_alias("churn", "champion", 5)
    with pytest.raises(NotFoundError, match="'ghost' not found"):
        reg.set_alias("ghost", "champion", 1)


def test_deleting_a_version_removes_its_aliases(reg: RegistryService) -> None:
    _versions(reg, "churn", 2)
    reg.set_alias("churn", "champion", 2)
    reg.delete_version("churn", 2)
    assert reg.get_model("churn").aliases == {}
    assert [e.action for e in reg.history("churn")][-2:] == ["alias_delete", "delete"]


# -- rollback and history -----------------------------------------------------------------


def test_rollback_walks_back_through_previous_holders(reg: RegistryService) -> None:
    _versions(reg, "churn", 3)
    with pytest.raises(InvalidStateError, match="no previous production version"):
        reg.rollback("churn")
    for version in (1, 2, 3):
        reg.set_stage("churn", version, "production")
    assert reg.rollback("churn", actor="ops").version == 2
    assert reg.resolve("churn@production").version == 2
    assert reg.get_version("churn", 3).stage == "archived"
    assert reg.rollback("churn").version == 1
    with pytest.raises(InvalidStateError, match="no previous production version") as info:
        reg.rollback("churn")
    assert info.value.http_status == 409
    rollbacks = [e for e in reg.history("churn") if e.action == "rollback"]
    assert [(e.version, e.displaced_version, e.actor) for e in rollbacks] == [
        (2, 3, "ops"), (1, 2, "")]


def test_rollback_skips_deleted_versions_and_is_per_stage(reg: RegistryService) -> None:
    _versions(reg, "churn", 4)
    for version in (1, 2, 3):
        reg.set_stage("churn", version, "production")
    reg.set_stage("churn", 4, "staging")
    reg.delete_version("churn", 2)
    assert reg.rollback("churn").version == 1
    with pytest.raises(InvalidStateError, match="no previous staging version"):
        reg.rollback("churn", stage="staging")
    with pytest.raises(InvalidArgumentError, match="staging, production"):
        reg.rollback("churn", stage="archived")


def test_rollback_after_a_new_promotion_goes_to_the_one_before(reg: RegistryService) -> None:
    _versions(reg, "churn", 3)
    for version in (1, 2):
        reg.set_stage("churn", version, "production")
    assert reg.rollback("churn").version == 1
    reg.set_stage("churn", 3, "production")
    assert reg.rollback("churn").version == 1


def test_history_is_oldest_first_and_filters_by_version(reg: RegistryService) -> None:
    _versions(reg, "churn", 2)
    reg.set_stage("churn", 1, "production")
    reg.set_stage("churn", 2, "production")
    reg.set_alias("churn", "champion", 2)
    actions = [(e.action, e.version) for e in reg.history("churn")]
    assert actions == [("create", 1), ("create", 2), ("stage", 1), ("stage", 2),
                       ("alias", 2)]
    ids = [e.id for e in reg.history("churn")]
    assert ids == sorted(ids)
    # version 1's own history includes being displaced from production by version 2
    assert [(e.action, e.version) for e in reg.history("churn", 1)] == [
        ("create", 1), ("stage", 1), ("stage", 2)]
    assert [e.action for e in reg.history("churn", limit=2)] == ["stage", "alias"]
    with pytest.raises(NotFoundError, match="'ghost' not found"):
        reg.history("ghost")


# -- URIs and search ----------------------------------------------------------------------


def test_resolve_every_uri_form(reg: RegistryService) -> None:
    _versions(reg, "churn.v2", 3)
    reg.set_stage("churn.v2", 2, "production")
    reg.set_alias("churn.v2", "champion", 3)
    cases = {"models:/churn.v2:1": 1, "churn.v2:1": 1, "models:/churn.v2@champion": 3,
             "churn.v2@champion": 3, "models:/churn.v2@production": 2,
             "models:/churn.v2@Production": 2, "models:/churn.v2/3": 3,
             "models:/churn.v2/Production": 2}
    assert {uri: reg.resolve(uri).version for uri in cases} == cases
    with pytest.raises(NotFoundError, match="no version in stage 'staging'"):
        reg.resolve("models:/churn.v2@staging")
    with pytest.raises(NotFoundError, match="alias 'nope'"):
        reg.resolve("churn.v2@nope")
    with pytest.raises(NotFoundError, match=r"'churn' not found; did you mean 'churn\.v2'"):
        reg.resolve("models:/churn:1")


def test_mlflow_uris_as_users_paste_them(reg: RegistryService) -> None:
    """``/latest`` is the newest version whatever its stage, ``/None`` MLflow's unstaged
    (development), and ``@`` with a reserved word means the same as ``/``."""
    _versions(reg, "churn", 4)
    reg.set_stage("churn", 2, "production")
    reg.set_stage("churn", 4, "archived")
    cases = {"models:/churn/latest": 4, "models:/churn/Latest": 4, "churn@latest": 4,
             "churn:latest": 4, "models:/churn/None": 3, "models:/churn@none": 3,
             "models:/churn/Production": 2, "models:/churn@PRODUCTION": 2,
             "models:/churn/Archived": 4, "models:/churn/3/": 3}
    assert {uri: reg.resolve(uri).version for uri in cases} == cases
    for version in (1, 3):
        reg.set_stage("churn", version, "staging")
    with pytest.raises(NotFoundError, match="no version in stage 'development'"):
        reg.resolve("models:/churn/None")
    reg.create_model("empty")
    with pytest.raises(NotFoundError, match="'empty' has no versions yet"):
        reg.resolve("models:/empty/latest")
    with pytest.raises(NotFoundError, match="'ghost' not found"):
        reg.resolve("models:/ghost/latest")


@pytest.mark.parametrize("alias", ["Production", "production", "None", "latest", "LATEST"])
def test_an_alias_named_like_a_stage_says_what_the_uri_means(reg: RegistryService,
                                                            alias: str) -> None:
    _versions(reg, "churn", 1)
    with pytest.raises(InvalidArgumentError, match=rf"models:/NAME@{alias} already means "
                       r"the (\w+ stage|newest version).*unlike MLflow.*'champion'") as info:
        reg.set_alias("churn", alias, 1)
    assert info.value.details == {"field": "alias"}


@pytest.mark.parametrize("uri", ["", "churn", "models:/churn", "models:/churn:x",
                                 "models:/churn:0", "s3://b/churn:1", "models:/.x:1",
                                 "churn@12", "models:/churn/abc"])
def test_bad_uris_name_the_accepted_forms(reg: RegistryService, uri: str) -> None:
    with pytest.raises(InvalidArgumentError, match="models:/NAME:VERSION"):
        reg.resolve(uri)


def test_search_versions_with_or_parentheses_metrics_and_tags(reg: RegistryService) -> None:
    spec = [("a", "sklearn", 0.91, "risk"), ("a", "xgboost", 0.85, "growth"),
            ("b", "sklearn", 0.70, "risk"), ("b", "onnx", 0.95, "growth")]
    for name, flavor, auc, team in spec:
        reg.create_version(name, artifact_digest=D1, flavor=flavor, metrics={"auc": auc},
                           tags={"team": team})
    reg.set_stage("b", 2, "production")
    found = lambda f, **kw: [(v.name, v.version)  # noqa: E731
                             for v in reg.search_versions(f, **kw)]
    assert found("") == [("a", 2), ("a", 1), ("b", 2), ("b", 1)]
    assert found("stage = 'production' or (flavor = 'sklearn' and metrics.auc > 0.9)") == [
        ("a", 1), ("b", 2)]
    assert found("(tags.team = 'risk' or name = 'b') and not flavor = 'onnx'") == [
        ("a", 1), ("b", 1)]
    assert found("metrics.auc >= 0.85", order_by="metrics.auc desc") == [
        ("b", 2), ("a", 1), ("a", 2)]
    assert found("version = 1 and created_at > '2000-01-01'") == [("a", 1), ("b", 1)]
    assert found("", order_by="metrics.auc", max_results=3) == [("b", 1), ("a", 2), ("a", 1)]
    page = reg.search_versions("", order_by="metrics.auc", max_results=3)
    assert [v.version for v in reg.search_versions(
        "", order_by="metrics.auc", page_token=page.next_page_token)] == [2]


def test_filter_syntax_errors_point_at_the_position(reg: RegistryService) -> None:
    with pytest.raises(InvalidArgumentError, match="position 16") as info:
        reg.search_versions("metrics.auc > 1 und stage = 'x'")
    assert info.value.details["position"] == 16 and info.value.http_status == 422
    with pytest.raises(InvalidArgumentError, match="unknown attribute 'colour'"):
        reg.search_versions("colour = 'red'")


# -- deletes, artifacts, atomicity --------------------------------------------------------


def test_artifacts_go_when_the_last_version_using_them_goes(
        reg: RegistryService, artifacts: ArtifactStore, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "model.pkl").write_bytes(b"weights")
    (model_dir / "sub" / "meta.json").write_bytes(b"{}")
    tree = artifacts.put_dir(model_dir)
    files = [e["digest"] for e in artifacts.read_tree(tree)]
    (model_dir / "sub" / "meta.json").write_bytes(b'{"other": 1}')
    other_tree = artifacts.put_dir(model_dir)  # shares model.pkl's blob
    reg.create_version("a", artifact_digest=tree, flavor="sklearn")
    reg.create_version("b", artifact_digest=tree, flavor="sklearn")
    reg.create_version("c", artifact_digest=other_tree, flavor="sklearn")

    reg.delete_version("a", 1)
    assert all(artifacts.exists(d) for d in [tree, *files])
    reg.delete_model("b")
    assert not artifacts.exists(tree)
    shared = artifacts.put_bytes(b"weights")
    assert artifacts.exists(shared)  # still used by c's tree
    assert [artifacts.exists(d) for d in files] == [d == shared for d in files]
    reg.delete_model("c")
    assert not artifacts.exists(shared) and not artifacts.exists(other_tree)


def test_delete_model_cascades_and_a_new_model_starts_fresh(
        reg: RegistryService, db: Database, artifacts: ArtifactStore) -> None:
    _versions(reg, "churn", 2)
    reg.set_alias("churn", "champion", 1)
    reg.delete_model("churn")
    with pytest.raises(NotFoundError):
        reg.get_model("churn")
    assert _count(db, model_versions) == 0
    artifacts.put_bytes(BLOBS[0])  # deleting the model removed its artifact
    assert _versions(reg, "churn", 1) == [1]
    assert [e.action for e in reg.history("churn")] == ["create"]


def test_a_version_whose_artifact_is_not_stored_is_refused(
        reg: RegistryService, db: Database, artifacts: ArtifactStore) -> None:
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    with pytest.raises(InvalidArgumentError) as info:
        reg.create_version("churn", artifact_digest=missing, flavor="sklearn")
    assert info.value.details["field"] == "artifact_digest" and missing in info.value.message
    assert _count(db, registered_models) == 0 and _count(db, model_versions) == 0
    assert reg.create_version("churn", artifact_digest=artifacts.put_bytes(b"never uploaded"),
                              flavor="sklearn").version == 1


def test_a_failed_call_leaves_no_partial_record(
        reg: RegistryService, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidArgumentError, match="metrics"):
        reg.create_version("churn", artifact_digest=D1, flavor="sk", metrics={"auc": "x"})
    with pytest.raises(InvalidArgumentError, match="artifact_digest"):
        reg.create_version("churn", artifact_digest="abc", flavor="sk")
    assert _count(db, registered_models) == 0

    import modelplane.registry.sql as sql

    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sql, "_audit", broken_audit)  # in this process: the server's too
    # embedded: the error itself; remote: the server's 500 envelope
    failure = (RuntimeError, ModelplaneError)
    with pytest.raises(failure):
        reg.create_version("churn", artifact_digest=D1, flavor="sk", tags={"a": "b"})
    assert _count(db, registered_models) == 0 and _count(db, model_versions) == 0
    monkeypatch.undo()

    _versions(reg, "churn", 2)
    reg.set_stage("churn", 1, "production")
    monkeypatch.setattr(sql, "_audit", broken_audit)
    with pytest.raises(failure):
        reg.set_stage("churn", 2, "production")
    monkeypatch.undo()
    assert reg.resolve("churn@production").version == 1
    assert _count(db, registry_audit, registry_audit.c.action == "stage") == 1
    assert _versions(reg, "churn", 1) == [3]
