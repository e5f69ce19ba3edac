"""``RegistryService``: the model registry's rules, over a :class:`RegistryStore`.

Checks every input (names, stages, aliases, tags, JSON fields, page tokens), resolves
model URIs, turns offsets into opaque page tokens, and removes the artifacts of deleted
versions once nothing references them. Routes, the CLI and the Python client call this;
the store holds the invariants that need the database (numbering, exclusive stages,
the audit log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from modelplane.core.errors import InvalidArgumentError, ModelplaneError, NotFoundError
from modelplane.core.filters import ATTRIBUTES, Comparison, Field, parse_filter, parse_order_by
from modelplane.registry.checks import (
    check_digest,
    check_json,
    check_max_results,
    check_metrics,
    check_optional_text,
    check_stage,
    check_tag_key,
    check_tags,
    check_text,
    check_version,
    decode_page_token,
    encode_page_token,
)
from modelplane.registry.entities import (
    ALLOW_PICKLE_TAG,
    EXCLUSIVE_STAGES,
    AuditEntry,
    Deletion,
    ModelVersion,
    Page,
    RegisteredModel,
)
from modelplane.registry.store import MODEL_FILTER, VERSION_FILTER, RegistryStore, VersionSpec
from modelplane.registry.uri import check_alias, check_model_name, parse_model_uri
from modelplane.store.db import Database

if TYPE_CHECKING:
    from modelplane.artifacts.store import ArtifactStore

__all__ = ["RegistryService"]

log = logging.getLogger("modelplane.registry")

#: Given candidate blob digests, returns those still referenced outside the registry
#: (e.g. by tracking's run artifacts); those are kept when a version is deleted.
ArtifactReferences = Callable[[set[str]], Iterable[str]]
#: Called with (name, version, stage) before a move into staging or production: raises
#: to refuse it, or returns a note for the audit entry's reason (evaluation gates).
StageGate = Callable[[str, int, str], str]


class RegistryService:
    """Registered models, versions, stages, aliases, rollback and the audit log.

    ``RegistryService(db)`` runs on a :class:`~modelplane.store.db.Database`; pass a
    :class:`RegistryStore` instead to use another backend. ``artifacts`` is where deleted
    versions' files are removed (default: the configured artifact store, when needed);
    when it is given, a version whose artifact digest is not in it is refused, so no
    version dangles (``verify_artifacts=False`` leaves that to a server the store talks to).
    """

    def __init__(self, store: RegistryStore | Database, artifacts: ArtifactStore | None = None,
                 *, artifact_references: ArtifactReferences | None = None,
                 stage_gate: StageGate | None = None, verify_artifacts: bool = True) -> None:
        if isinstance(store, Database):
            from modelplane.registry.sql import SqlRegistryStore

            store = SqlRegistryStore(store)
        self.store: RegistryStore = store
        self._artifacts = artifacts
        self._artifact_references = artifact_references
        self._stage_gate = stage_gate
        self._verify_artifacts = verify_artifacts and artifacts is not None

    # -- registered models -------------------------------------------------------------

    def create_model(self, name: str, *, description: str = "",
                     tags: Mapping[str, Any] | None = None) -> RegisteredModel:
        return self.store.create_model(check_model_name(name),
                                       description=check_text(description, "description"),
                                       tags=_user_tags(tags))

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(name)

    def list_models(self, *, max_results: int = 100,
                    page_token: str | None = None) -> Page[RegisteredModel]:
        return self.search_models("", max_results=max_results, page_token=page_token)

    def search_models(self, filter: str = "", *, max_results: int = 100,
                      page_token: str | None = None) -> Page[RegisteredModel]:
        """Models matching ``filter``, e.g. ``name like 'churn%' and tags.team = 'risk'``
        (attributes ``name``, ``description``, ``created_at``, ``updated_at``; ``tags.<key>``)."""
        where = parse_filter(filter, MODEL_FILTER)
        limit, offset = check_max_results(max_results), decode_page_token(page_token)
        rows = self.store.search_models(where, limit=limit + 1, offset=offset)
        return _page(rows, limit, offset)

    def update_model(self, name: str, *, description: str) -> RegisteredModel:
        return self.store.update_model(name, description=check_text(description, "description"))

    def set_model_tag(self, name: str, key: str, value: Any) -> RegisteredModel:
        return self.store.update_model(name, set_tags=_user_tags({key: value}))

    def delete_model_tag(self, name: str, key: str) -> RegisteredModel:
        return self.store.update_model(name, delete_tags=list(_user_tags({key: ""})))

    def set_allow_pickle(self, name: str, allowed: bool) -> RegisteredModel:
        """Let servers load this model's pickle-stored versions (or stop them): an admin's
        decision that whoever registers its versions is trusted to run code there."""
        if not isinstance(allowed, bool):
            raise InvalidArgumentError(f"allowed: expected true or false, got {allowed!r}",
                                       details={"field": "allowed"})
        if allowed:
            return self.store.update_model(name, set_tags={ALLOW_PICKLE_TAG: "true"})
        model = self.store.get_model(name)
        if ALLOW_PICKLE_TAG not in model.tags:
            return model
        return self.store.update_model(name, delete_tags=[ALLOW_PICKLE_TAG])

    def delete_model(self, name: str, *, actor: str = "") -> None:
        """Delete the model, its versions, and their artifacts nothing else references."""
        self._remove_artifacts(self.store.delete_model(name, actor=_actor(actor)))

    # -- versions ----------------------------------------------------------------------

    def create_version(
        self, name: str, *, artifact_digest: str, flavor: str, size: int = 0,
        run_id: str | None = None, signature: dict[str, Any] | None = None,
        input_example: Any = None, metrics: Mapping[str, float | None] | None = None,
        datasets: list[dict[str, Any]] | None = None, model_meta: dict[str, Any] | None = None,
        code_commit: str | None = None, code_dirty: bool | None = None, description: str = "",
        tags: Mapping[str, Any] | None = None, actor: str = "",
    ) -> ModelVersion:
        """Register the next version of ``name`` (created if it does not exist yet)."""
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63:
            raise InvalidArgumentError(f"size: expected a byte count from 0 to 2**63-1, got "
                                       f"{str(size)[:40]}", details={"field": "size"})
        if code_dirty is not None and not isinstance(code_dirty, bool):
            raise InvalidArgumentError("code_dirty: expected true, false or null",
                                       details={"field": "code_dirty"})
        spec = VersionSpec(
            artifact_digest=check_digest(artifact_digest),
            flavor=_flavor(flavor), size=size,
            run_id=check_optional_text(run_id, "run_id", 32),
            signature=None if signature is None else check_json(signature, "signature", dict),
            input_example=check_json(input_example, "input_example"),
            metrics=check_metrics(metrics),
            datasets=check_json(list(datasets or []), "datasets", list),
            model_meta=check_json(dict(model_meta or {}), "model_meta", dict),
            code_commit=check_optional_text(code_commit, "code_commit", 64),
            code_dirty=code_dirty, description=check_text(description, "description"),
            tags=check_tags(tags), actor=_actor(actor),
        )
        self._check_stored(spec.artifact_digest)
        return self.store.create_version(check_model_name(name), spec)

    def _check_stored(self, digest: str) -> None:
        if self._verify_artifacts and self._artifacts is not None \
                and not self._artifacts.exists(digest):
            raise InvalidArgumentError(
                f"artifact_digest {digest} is not in the artifact store: upload the model's "
                "files first (a version must not point at nothing)",
                details={"field": "artifact_digest", "got": digest,
                         "expected": "the digest of a stored artifact"})

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.get_version(name, version=check_version(version))

    def get_latest_version(self, name: str, stage: str | None = None) -> ModelVersion:
        """The newest version of ``name`` (in ``stage`` when given)."""
        if stage is not None:
            return self.store.get_version(name, stage=check_stage(stage))
        found = self.list_versions(name, max_results=1)
        if not found.items:
            raise NotFoundError(f"model {name!r} has no versions", details={"name": name})
        return found.items[0]

    def list_versions(self, name: str, *, max_results: int = 100,
                      page_token: str | None = None) -> Page[ModelVersion]:
        """Versions of ``name``, newest first."""
        limit, offset = check_max_results(max_results), decode_page_token(page_token)
        where = Comparison(Field(ATTRIBUTES, "name"), "=", name)
        rows = self.store.search_versions(where, [], limit=limit + 1, offset=offset)
        if not rows and offset == 0:
            self.store.get_model(name)  # a missing model is an error, not an empty list
        return _page(rows, limit, offset)

    def search_versions(self, filter: str = "", *, order_by: str | None = None,
                        max_results: int = 100,
                        page_token: str | None = None) -> Page[ModelVersion]:
        """Versions matching ``filter`` in the shared filter language, e.g.
        ``stage = 'production' or (flavor = 'sklearn' and metrics.auc > 0.9)``:
        attributes ``name``, ``version``, ``stage``, ``flavor``, ``run_id``, ``created_at``,
        ``updated_at``, ``description``; ``tags.<key>``; ``metrics.<key>``. ``order_by``:
        fields with ``asc``/``desc``, e.g. ``metrics.auc desc`` (default: name, newest)."""
        where = parse_filter(filter, VERSION_FILTER)
        order = parse_order_by(order_by, VERSION_FILTER)
        limit, offset = check_max_results(max_results), decode_page_token(page_token)
        rows = self.store.search_versions(where, order, limit=limit + 1, offset=offset)
        return _page(rows, limit, offset)

    def update_version(self, name: str, version: int | str, *,
                       description: str) -> ModelVersion:
        return self.store.update_version(name, check_version(version),
                                         description=check_text(description, "description"))

    def set_version_tag(self, name: str, version: int | str, key: str,
                        value: Any) -> ModelVersion:
        return self.store.update_version(name, check_version(version),
                                         set_tags=check_tags({key: value}))

    def delete_version_tag(self, name: str, version: int | str, key: str) -> ModelVersion:
        return self.store.update_version(name, check_version(version),
                                         delete_tags=[check_tag_key(key)])

    def delete_version(self, name: str, version: int | str, *, force: bool = False,
                       actor: str = "") -> None:
        """Delete a version and its artifacts when no other version references them.
        A version in production needs ``force=True``."""
        deletion = self.store.delete_version(name, check_version(version), force=bool(force),
                                             actor=_actor(actor))
        self._remove_artifacts(deletion)

    # -- stages, aliases, URIs, history ------------------------------------------------

    def set_stage(self, name: str, version: int | str, stage: str, *, actor: str = "",
                  reason: str = "") -> ModelVersion:
        """Move a version to ``stage``; the previous staging/production holder is archived."""
        number, stage, reason = check_version(version), check_stage(stage), check_text(
            reason, "reason")
        return self.store.set_stage(name, number, stage, actor=_actor(actor),
                                    reason=self._gated(name, number, stage, reason))

    def promote(self, name: str, version: int | str, *, stage: str = "production",
                actor: str = "", reason: str = "") -> ModelVersion:
        """``set_stage`` into an exclusive stage (production by default)."""
        number, stage = check_version(version), check_stage(stage, exclusive=True)
        return self.store.set_stage(name, number, stage, actor=_actor(actor),
                                    reason=self._gated(name, number, stage,
                                                       check_text(reason, "reason")))

    def _gated(self, name: str, version: int, stage: str, reason: str) -> str:
        """``reason`` with the stage gate's note, after the gate passed."""
        if self._stage_gate is None or stage not in EXCLUSIVE_STAGES:
            return reason
        note = self._stage_gate(name, version, stage)
        return f"{reason}; {note}" if reason and note else (reason or note)

    def rollback(self, name: str, stage: str = "production", *, actor: str = "",
                 reason: str = "") -> ModelVersion:
        """Put back the version that held ``stage`` before the current one."""
        return self.store.rollback(name, check_stage(stage, exclusive=True),
                                   actor=_actor(actor), reason=check_text(reason, "reason"))

    def set_alias(self, name: str, alias: str, version: int | str, *, actor: str = "") -> None:
        self.store.set_alias(name, check_alias(alias), check_version(version),
                             actor=_actor(actor))

    def delete_alias(self, name: str, alias: str, *, actor: str = "") -> None:
        self.store.set_alias(name, check_alias(alias, reserved=False), None,
                             actor=_actor(actor))

    def get_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.store.get_version(name, alias=alias)

    def resolve(self, uri: str) -> ModelVersion:
        """The version ``uri`` names: ``models:/NAME:3``, ``models:/NAME@champion``,
        ``models:/NAME@production``, ``models:/NAME@latest`` or MLflow's
        ``models:/NAME/Production`` (see :mod:`~modelplane.registry.uri`)."""
        ref = parse_model_uri(uri)
        if ref.latest:
            newest = self.store.get_model(ref.name).latest_version
            if newest is None:
                raise NotFoundError(f"model {ref.name!r} has no versions yet, so {uri!r} "
                                    "names none", details={"name": ref.name, "uri": uri})
            return self.store.get_version(ref.name, version=newest)
        return self.store.get_version(ref.name, version=ref.version, alias=ref.alias,
                                      stage=ref.stage)

    def history(self, name: str, version: int | str | None = None, *,
                limit: int | None = 1000) -> list[AuditEntry]:
        """The audit log oldest first: the newest ``limit`` entries (None: all)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise InvalidArgumentError(f"limit: expected a positive integer, got {limit!r}",
                                       details={"field": "limit"})
        return self.store.history(name, version=None if version is None
                                  else check_version(version), limit=limit)

    # -- artifacts ---------------------------------------------------------------------

    def _remove_artifacts(self, deletion: Deletion) -> None:
        """Remove the trees nothing references any more, and their file blobs unless a
        surviving tree (or ``artifact_references``) still uses them. Best effort: the
        metadata is already gone, so a storage failure is logged, not raised."""
        if not deletion.orphaned_digests:
            return
        try:
            store = self._artifacts
            if store is None:
                from modelplane.artifacts.store import get_artifact_store

                store = get_artifact_store()
            doomed: set[str] = set()
            for digest in deletion.orphaned_digests:
                doomed |= {digest, *_tree_files(store, digest)}
            keep = set(deletion.live_digests)
            for digest in deletion.live_digests:
                keep.update(_tree_files(store, digest))
            doomed -= keep
            if doomed and self._artifact_references is not None:
                doomed -= set(self._artifact_references(set(doomed)))
            for digest in sorted(doomed):
                store.delete(digest)
        except (ModelplaneError, OSError) as exc:
            log.warning("could not remove the artifacts of a deleted model version: %s", exc)


def _tree_files(store: ArtifactStore, digest: str) -> list[str]:
    """The file blobs of the tree ``digest`` ([] for a single-file artifact or none)."""
    try:
        return [entry["digest"] for entry in store.read_tree(digest)]
    except (NotFoundError, InvalidArgumentError):
        return []


def _user_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Checked model tags; the reserved allow-pickle tag is set only by its own call."""
    out = check_tags(tags)
    if ALLOW_PICKLE_TAG in out:
        raise InvalidArgumentError(
            f"tag {ALLOW_PICKLE_TAG!r} is reserved: an admin sets it with "
            "`modelplane models allow-pickle NAME` (RegistryService.set_allow_pickle)",
            details={"field": "tags", "got": ALLOW_PICKLE_TAG})
    return out


def _page(rows: list[Any], limit: int, offset: int) -> Page[Any]:
    more = len(rows) > limit
    return Page(rows[:limit], encode_page_token(offset + limit) if more else None)


def _actor(actor: str) -> str:
    return check_text(actor, "actor", 128)


def _flavor(flavor: object) -> str:
    if not isinstance(flavor, str) or not flavor or len(flavor) > 32:
        raise InvalidArgumentError(f"flavor: expected a flavor name of 1-32 characters, got "
                                   f"{flavor!r}", details={"field": "flavor"})
    return flavor
