"""Feature definitions in the metadata database: plan and apply, versions, watermarks.

A view (batch or on-demand) and a service get a new version when their schema hash changes
(join keys and typed fields; an on-demand view's inputs and code; a service's feature list);
other changes (source, TTL, tags, description) update the newest version in place. Old
versions stay readable by number. ``apply`` is one transaction: all or nothing.

Definitions applied from a feature repo belong to its *project* (the repo folder's name
unless given), so repos can share one registry. With ``prune``, the objects given are the
whole project: its definitions that the repo no longer declares are *removed*, and other
projects' are left alone. Removal is a mark (``removed_at``), not a delete: a removed name
is no longer listed, resolved or materialized, but each of its versions stays readable by
number (``view@2:feature``), for lineage and for models that pinned it. Declaring the name
again restores it (or makes a new version when its schema changed). Pruning refuses to
remove a view that a kept service or on-demand view still uses by name, and keeps an entity
that a live view still uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update

from modelplane.core.errors import InvalidArgumentError, NotFoundError
from modelplane.core.ids import new_id
from modelplane.core.timeutil import as_utc, utcnow
from modelplane.features.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    from_spec,
    parse_feature_ref,
)
from modelplane.features.resolve import unknown_name
from modelplane.store.db import Database
from modelplane.store.tables_features import (
    feature_entities,
    feature_materializations,
    feature_services,
    feature_views,
    feature_watermarks,
)

__all__ = ["Change", "FeatureRegistry", "Plan", "collect_definitions"]

Definition = Entity | FeatureView | OnDemandFeatureView | FeatureService
_KINDS = {"entity": "entity", "feature_view": "view", "on_demand_feature_view": "view",
          "feature_service": "service"}
_TABLES = {"view": feature_views, "service": feature_services, "entity": feature_entities}


@dataclass(frozen=True)
class Change:
    """One definition's fate in a plan: ``create``, ``new_version``, ``update``,
    ``unchanged``, ``remove`` (pruned: the repo no longer declares it) or ``restore`` (a
    removed name declared again); ``version`` is its version after apply (0 for entities;
    for a removal, the newest version, which stays readable)."""

    kind: str
    name: str
    action: str
    version: int
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    changes: list[Change]

    @property
    def has_changes(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "has_changes": self.has_changes}


def collect_definitions(objects: Iterable[Any]) -> list[Definition]:
    """The definitions to apply: ``objects`` plus the entities their views use, one per name
    and kind (two different definitions under one name is an error)."""
    out: dict[tuple[str, str], Definition] = {}

    def add(obj: Definition) -> None:
        key = (_KINDS[obj.kind], obj.name)
        if key in out and out[key] != obj:
            raise InvalidArgumentError(f"two different definitions of the "
                                       f"{obj.kind.replace('_', ' ')} {obj.name!r}",
                                       details={"field": "name", "name": obj.name})
        out[key] = obj

    for obj in objects:
        if not isinstance(obj, Entity | FeatureView | OnDemandFeatureView | FeatureService):
            raise InvalidArgumentError(f"cannot apply a {type(obj).__name__}; expected Entity, "
                                       "FeatureView, OnDemandFeatureView or FeatureService",
                                       details={"field": "objects"})
        if isinstance(obj, FeatureView):
            for entity in obj.entities:
                add(entity)
        add(obj)
    order = {"entity": 0, "view": 1, "service": 2}
    return [out[k] for k in sorted(out, key=lambda k: (order[k[0]], k[1]))]


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    details = []
    old_fields = {f["name"]: f["dtype"] for f in old.get("schema", [])}
    new_fields = {f["name"]: f["dtype"] for f in new.get("schema", [])}
    details += [f"+ field {n} ({d})" for n, d in new_fields.items() if n not in old_fields]
    details += [f"- field {n}" for n in old_fields if n not in new_fields]
    details += [f"~ field {n}: {old_fields[n]} -> {d}" for n, d in new_fields.items()
                if n in old_fields and old_fields[n] != d]
    if "features" in new:
        details += [f"+ {f}" for f in new["features"] if f not in old.get("features", [])]
        details += [f"- {f}" for f in old.get("features", []) if f not in new["features"]]
    skip = {"schema", "features", "transform"}
    details += [f"~ {k}" for k in new if k not in skip and old.get(k) != new[k]]
    return details


def _removed(what: str, name: str, when: datetime, version: int | None = None
             ) -> NotFoundError:
    pinned = ""
    if version:
        example = f", e.g. '{name}@{version}:FEATURE'" if what == "feature view" else ""
        pinned = f"; its versions stay readable by number (the newest is {version}{example})"
    return NotFoundError(f"{what} {name!r} was removed on {as_utc(when):%Y-%m-%d %H:%M} UTC (the "
                         f"feature repo no longer declares it){pinned}",
                         details={"field": what.replace(" ", "_"), "name": name,
                                  "removed": True})


def _owner(current: str | None, project: str | None) -> list[str]:
    """The plan detail when applying moves a definition to ``project``."""
    if project is None or current == project:
        return []
    return [f"~ project: {current or '(none)'} -> {project}"]


def _check_project(project: str) -> None:
    if not isinstance(project, str) or not 0 < len(project) <= 128:
        raise InvalidArgumentError(f"invalid project {project!r}: a name of 1 to 128 "
                                   "characters", details={"field": "project"})


def _check_references(definitions: list[Definition], removed_views: set[str]) -> None:
    """Refuse a prune that would leave a kept service or on-demand view reading a removed
    view by name (a pinned ``view@N:feature`` stays readable and is fine)."""
    for d in definitions:
        refs = d.features if isinstance(d, FeatureService) else \
            d.inputs if isinstance(d, OnDemandFeatureView) else ()
        for ref in refs:
            view, version, _ = parse_feature_ref(ref)
            if version is None and view in removed_views:
                what = d.kind.replace("_", " ")
                raise InvalidArgumentError(
                    f"{what} {d.name!r} uses {ref!r}, but the repo no longer declares the "
                    f"feature view {view!r}, so apply would remove it; declare the view, pin "
                    f"a version ('{view}@N:...') or apply without pruning",
                    details={"field": "features", "name": d.name, "view": view})


def _comparable(spec: dict[str, Any]) -> dict[str, Any]:
    """An on-demand view's pickle can differ between processes for the same code: compare
    its source text instead when there is one."""
    if spec.get("code"):
        return {k: v for k, v in spec.items() if k != "transform"}
    return spec


class FeatureRegistry:
    """Entities, views and services on a :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- plan / apply ---------------------------------------------------------------------
    def plan(self, objects: Iterable[Any], *, prune: bool = False,
             project: str | None = None) -> Plan:
        """What :meth:`apply` would do; with ``prune``, the project's removals come last."""
        definitions = collect_definitions(objects)
        with self.db.connection_scope(readonly=True) as conn:
            return self._plan(conn, definitions, prune, project)

    def apply(self, objects: Iterable[Any], *, prune: bool = False,
              project: str | None = None) -> Plan:
        """Store ``objects`` (owned by ``project`` when given); with ``prune`` (which needs
        a project), remove the project's definitions that ``objects`` do not declare."""
        definitions = collect_definitions(objects)
        now = utcnow()
        with self.db.connection_scope() as conn:
            plan = self._plan(conn, definitions, prune, project)
            for definition, change in zip(definitions, plan.changes[:len(definitions)],
                                          strict=True):
                self._write(conn, definition, change, now, project)
            for change in plan.changes[len(definitions):]:
                table = _TABLES[change.kind]
                conn.execute(update(table).where(table.c.name == change.name,
                                                 table.c.removed_at.is_(None))
                             .values(removed_at=now))
        return plan

    def _plan(self, conn: Connection, definitions: list[Definition], prune: bool,
              project: str | None) -> Plan:
        if project is not None:
            _check_project(project)
        changes = [self._change(conn, d, project) for d in definitions]
        if prune:
            if project is None:
                raise InvalidArgumentError(
                    "pruning removes a project's definitions that its repo no longer "
                    "declares: give the project (the repo folder's name by default)",
                    details={"field": "project"})
            declared = {(_KINDS[d.kind], d.name) for d in definitions}
            removals = [c for c in self._live(conn, project)
                        if (c.kind, c.name) not in declared]
            removed_views = {c.name for c in removals if c.kind == "view"}
            _check_references(definitions, removed_views)
            used = self._entities_in_use(conn, removed_views)
            changes += [c for c in removals if c.kind != "entity" or c.name not in used]
        return Plan(changes)

    @staticmethod
    def _live(conn: Connection, project: str) -> list[Change]:
        """A removal for each live definition of ``project``: services, views, entities."""
        out = []
        for kind in ("service", "view"):
            t = _TABLES[kind]
            rows = conn.execute(select(t.c.name, func.max(t.c.version))
                                .where(t.c.removed_at.is_(None), t.c.project == project)
                                .group_by(t.c.name).order_by(t.c.name)).all()
            out += [Change(kind, name, "remove", version) for name, version in rows]
        t = feature_entities
        names = conn.execute(select(t.c.name).where(t.c.removed_at.is_(None),
                                                    t.c.project == project)
                             .order_by(t.c.name)).scalars().all()
        return out + [Change("entity", name, "remove", 0) for name in names]

    @staticmethod
    def _entities_in_use(conn: Connection, removed_views: set[str]) -> set[str]:
        """Entities of the live batch views that stay (any project's)."""
        t = feature_views
        rows = conn.execute(select(t.c.name, t.c.spec).where(
            t.c.removed_at.is_(None), t.c.kind == "feature_view")).all()
        return {e["name"] for name, spec in rows if name not in removed_views
                for e in spec["entities"]}

    def _change(self, conn: Connection, d: Definition, project: str | None) -> Change:
        kind = _KINDS[d.kind]
        spec = d.spec()
        if isinstance(d, Entity):
            t = feature_entities
            row = conn.execute(select(t.c.spec, t.c.removed_at, t.c.project)
                               .where(t.c.name == d.name)).first()
            if row is None:
                return Change(kind, d.name, "create", 0)
            if row.removed_at is not None:
                return Change(kind, d.name, "restore", 0, _diff(row.spec, spec))
            if row.spec != spec:
                return Change(kind, d.name, "update", 0, _diff(row.spec, spec))
            # an entity another repo owns may be shared; an unowned one is claimed
            claim = _owner(row.project, project) if row.project is None else []
            return Change(kind, d.name, "update" if claim else "unchanged", 0, claim)
        table = _TABLES[kind]
        row = self._latest_row(conn, table, d.name)
        if row is None:
            return Change(kind, d.name, "create", 1)
        if kind == "view" and row.kind != d.kind:
            raise InvalidArgumentError(
                f"{d.name!r} is already a {row.kind.replace('_', ' ')}; a "
                f"{d.kind.replace('_', ' ')} cannot take its name", details={"name": d.name})
        owner = _owner(row.project, project)
        if row.schema_hash != d.schema_hash:  # type: ignore[union-attr]
            return Change(kind, d.name, "new_version", row.version + 1,
                          _diff(row.spec, spec) + owner)
        if row.removed_at is not None:
            return Change(kind, d.name, "restore", row.version, _diff(row.spec, spec) + owner)
        if _comparable(row.spec) == _comparable(spec) and not owner:
            return Change(kind, d.name, "unchanged", row.version)
        return Change(kind, d.name, "update", row.version, _diff(row.spec, spec) + owner)

    def _write(self, conn: Connection, d: Definition, change: Change, now: datetime,
               project: str | None) -> None:
        if change.action == "unchanged":
            return
        spec = d.spec()
        owned = {} if project is None else {"project": project}
        if isinstance(d, Entity):
            if change.action == "create":
                conn.execute(insert(feature_entities).values(
                    name=d.name, spec=spec, created_at=now, updated_at=now, **owned))
            else:
                conn.execute(update(feature_entities).where(feature_entities.c.name == d.name)
                             .values(spec=spec, updated_at=now, removed_at=None, **owned))
            return
        table = _TABLES[change.kind]
        if change.action != "create":  # every version of a name: one owner, live again
            conn.execute(update(table).where(table.c.name == d.name)
                         .values(removed_at=None, **owned))
        if change.action in ("update", "restore"):
            conn.execute(update(table).where(table.c.name == d.name,
                                             table.c.version == change.version)
                         .values(spec=spec, updated_at=now))
            return
        if project is None and change.action == "new_version":  # keeps its owner
            project = conn.execute(select(table.c.project).where(
                table.c.name == d.name, table.c.version == change.version - 1)).scalar()
        values = {"id": new_id(), "name": d.name, "version": change.version,
                  "schema_hash": d.schema_hash, "spec": spec,  # type: ignore[union-attr]
                  "created_at": now, "updated_at": now, "project": project}
        if table is feature_views:
            values["kind"] = d.kind
        conn.execute(insert(table).values(**values))

    @staticmethod
    def _latest_row(conn: Connection, table: Table, name: str) -> Any:
        return conn.execute(select(table).where(table.c.name == name)
                            .order_by(table.c.version.desc()).limit(1)).first()

    # -- reads ----------------------------------------------------------------------------
    def get_entity(self, name: str) -> Entity:
        t = feature_entities
        with self.db.connection_scope(readonly=True) as conn:
            row = conn.execute(select(t.c.spec, t.c.removed_at).where(t.c.name == name)).first()
            if row is None or row.removed_at is not None:
                names = conn.execute(select(t.c.name).where(t.c.removed_at.is_(None))
                                     ).scalars().all()
                raise _removed("entity", name, row.removed_at) if row else \
                    unknown_name("entity", name, names)
        return from_spec("entity", row.spec)  # type: ignore[no-any-return]

    def get_view(self, name: str, version: int | None = None
                 ) -> FeatureView | OnDemandFeatureView:
        """The newest version of a live view (batch or on-demand), or ``version`` (of a
        removed view too)."""
        return self._get(feature_views, "feature view", name, version)  # type: ignore[no-any-return]

    def get_service(self, name: str, version: int | None = None) -> FeatureService:
        return self._get(feature_services, "feature service", name, version)  # type: ignore[no-any-return]

    def _get(self, table: Table, what: str, name: str, version: int | None) -> Any:
        with self.db.connection_scope(readonly=True) as conn:
            if version is None:
                row = self._latest_row(conn, table, name)
            else:
                row = conn.execute(select(table).where(table.c.name == name,
                                                       table.c.version == version)).first()
            if row is None:
                names = conn.execute(select(table.c.name).distinct()).scalars().all()
                if version is not None and name in names:
                    raise unknown_name(f"{what} {name!r} version", str(version), [])
                live = conn.execute(select(table.c.name).where(table.c.removed_at.is_(None))
                                    .distinct()).scalars().all()
                raise unknown_name(what, name, live)
        if version is None and row.removed_at is not None:
            raise _removed(what, name, row.removed_at, row.version)
        kind = row.kind if table is feature_views else "feature_service"
        return from_spec(kind, row.spec, row.version)

    def list_entities(self) -> list[Entity]:
        t = feature_entities
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(t.c.spec).where(t.c.removed_at.is_(None))
                                .order_by(t.c.name)).all()
        return [from_spec("entity", r.spec) for r in rows]

    def _list(self, table: Table) -> list[Any]:
        newest = (select(table.c.name, func.max(table.c.version).label("v"))
                  .where(table.c.removed_at.is_(None)).group_by(table.c.name).subquery())
        query = (select(table).join(newest, (newest.c.name == table.c.name)
                                    & (newest.c.v == table.c.version)).order_by(table.c.name))
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(query).all()
        return [from_spec(getattr(r, "kind", "feature_service"), r.spec, r.version)
                for r in rows]

    def list_views(self) -> list[FeatureView | OnDemandFeatureView]:
        return self._list(feature_views)

    def list_services(self) -> list[FeatureService]:
        return self._list(feature_services)

    def versions(self, name: str, *, service: bool = False) -> list[dict[str, Any]]:
        """Every version of a view or service, removed ones included (``removed_at``)."""
        table = feature_services if service else feature_views
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(table.c.version, table.c.schema_hash, table.c.created_at,
                                       table.c.updated_at, table.c.removed_at)
                                .where(table.c.name == name).order_by(table.c.version)).all()
        return [{"version": r.version, "schema_hash": r.schema_hash,
                 "created_at": as_utc(r.created_at), "updated_at": as_utc(r.updated_at),
                 "removed_at": r.removed_at and as_utc(r.removed_at)} for r in rows]

    # -- materialization state ------------------------------------------------------------
    def watermark(self, view: str, version: int) -> datetime | None:
        with self.db.connection_scope(readonly=True) as conn:
            value = conn.execute(select(feature_watermarks.c.watermark).where(
                feature_watermarks.c.view_name == view,
                feature_watermarks.c.view_version == version)).scalar()
        return None if value is None else as_utc(value)

    def record_materialization(self, view: FeatureView, *, kind: str, start: datetime | None,
                               end: datetime | None, num_rows: int,
                               profile: dict[str, Any] | None, watermark: datetime | None = None
                               ) -> None:
        """Record a materialization or push; with ``watermark``, move the view's watermark
        forward to it in the same transaction (never backward)."""
        now = utcnow()
        version = view.version or 0
        with self.db.connection_scope() as conn:
            conn.execute(insert(feature_materializations).values(
                view_name=view.name, view_version=version, kind=kind, start_time=start,
                end_time=end, num_rows=num_rows, profile=profile, created_at=now))
            if watermark is None:
                return
            keys = (feature_watermarks.c.view_name == view.name,
                    feature_watermarks.c.view_version == version)
            current = conn.execute(select(feature_watermarks.c.watermark).where(*keys)).scalar()
            if current is None:
                conn.execute(insert(feature_watermarks).values(
                    view_name=view.name, view_version=version, watermark=watermark,
                    updated_at=now))
            elif as_utc(current) < watermark:
                conn.execute(update(feature_watermarks).where(*keys)
                             .values(watermark=watermark, updated_at=now))

    def materializations(self, view: str, version: int, *, limit: int = 20
                         ) -> list[dict[str, Any]]:
        t = feature_materializations
        with self.db.connection_scope(readonly=True) as conn:
            rows = conn.execute(select(t).where(t.c.view_name == view, t.c.view_version == version)
                                .order_by(t.c.id.desc()).limit(limit)).all()
        return [{"kind": r.kind, "num_rows": r.num_rows,
                 "start_time": r.start_time and as_utc(r.start_time),
                 "end_time": r.end_time and as_utc(r.end_time),
                 "created_at": as_utc(r.created_at), "profile": r.profile} for r in rows]

    def names(self) -> Sequence[str]:
        """The names of the live views."""
        t = feature_views
        with self.db.connection_scope(readonly=True) as conn:
            return conn.execute(select(t.c.name).where(t.c.removed_at.is_(None)).distinct()
                                ).scalars().all()
