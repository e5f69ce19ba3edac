"""The point-in-time join as one DuckDB statement: an ``ASOF LEFT JOIN`` per view.

For each entity row and view, the ASOF join finds the feature row of the same key with the
greatest event time <= the row's time; the TTL test runs on the match and is inclusive, as in
Feast and ``merge_asof(tolerance=ttl)``: a row exactly TTL old is still alive. Three shapes:

- **packed key** (views with a TTL and no created-time column, the common case): each key
  the entity frame holds gets a number ``kr`` (its rank among the frame's distinct keys), and
  both sides are joined on one ``BIGINT``, ``kr * span + (event time - origin)``, where
  ``origin`` is the oldest time the TTL lets any entity row see and ``span`` the microseconds
  from there to the newest entity row. Rows of one key are then contiguous and in time order,
  so the ASOF join is a sort of 8-byte integers with no equality partitioning. Before it,
  feature rows are kept only in the TTL-wide time buckets (from ``origin``) where an entity
  row of the same key is, or the bucket before: any other row is older than the TTL for
  every entity row that could match it, so dropping it changes no answer (the nearest
  earlier row left is then expired too), and it spares the sort most rows when entity rows
  are sparse in time. The match is the same key when ``ck // span`` agrees, alive when
  ``ck >= entity ck - ttl`` (a row exactly TTL old is in the bucket before, so it is kept).
  Used only when ``(distinct keys + 1) * span`` fits 62 bits;
- **created time** (views that break ties by it): the ASOF inequality runs on a struct of
  ``(event time, created time)``;
- **general**: equality on the join keys and inequality on the event time.

A view read from one Parquet file without a push log is joined *narrow* (keys, times and
row numbers); its features are fetched by row number after the join, so the sort moves
narrow rows. The result has ``__mp_row`` and one column ``v{i}.{feature}`` per read feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelplane.features.offline import CREATED, ROW, TS, q

if TYPE_CHECKING:
    from modelplane.features.definitions import FeatureView
    from modelplane.features.offline import OfflineStore
    from modelplane.features.resolve import ViewRead

__all__ = ["historical_sql"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_PACKED_LIMIT = 2**62
Bounds = tuple[datetime, datetime] | None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ttl_us(view: FeatureView) -> int:
    return int((view.ttl_seconds or 0) * 1_000_000)


def window(view: FeatureView, bounds: Bounds, column: str = TS) -> str:
    """Feature rows that no entity row can see are left out early (Parquet row groups
    are skipped by their statistics)."""
    if bounds is None:
        return f"WHERE {column} IS NOT NULL"
    low, high = bounds
    parts = [f"{column} <= {_literal(high.isoformat())}::TIMESTAMPTZ", f"{column} IS NOT NULL"]
    if view.ttl_seconds:
        parts.append(f"{column} >= {_literal(low.isoformat())}::TIMESTAMPTZ - INTERVAL "
                     f"'{_ttl_us(view)} microseconds'")
    return "WHERE " + " AND ".join(parts)


def _packing(view: FeatureView, bounds: Bounds, has_created: bool, rows: int
             ) -> tuple[int, int] | None:
    """(origin, span) in microseconds when the view can be joined on a packed key."""
    if has_created or not view.ttl_seconds or bounds is None:
        return None
    low, high = ((b - _EPOCH) // _US for b in bounds)
    origin = low - _ttl_us(view)
    span = high - origin + 1
    return (origin, span) if (rows + 1) * span < _PACKED_LIMIT else None


@dataclass
class _Query:
    """The statement's parts, filled view by view."""

    ctes: list[str] = field(default_factory=list)
    entity_cols: list[str] = field(default_factory=lambda: [f"b.{ROW}", f"b.{TS}"])
    entity_joins: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=lambda: [f"e.{ROW}"])
    outputs: list[str] = field(default_factory=list)
    fetches: list[str] = field(default_factory=list)

    def sql(self, keys: list[str]) -> str:
        cols = dict.fromkeys([*self.entity_cols, *(f"b.{q(k)}" for k in keys)])
        entity = (f"(SELECT {', '.join(cols)} FROM __mp_entities b "
                  f"{' '.join(self.entity_joins)}) e")
        ctes = ", ".join([*self.ctes, f"m AS (SELECT {', '.join(self.matched)} FROM {entity} "
                                      f"{' '.join(self.joins)})"])
        return (f"WITH {ctes} SELECT m.{ROW}, {', '.join(self.outputs)} FROM m "
                f"{' '.join(self.fetches)}")


def historical_sql(store: OfflineStore, con: Any, reads: list[ViewRead], bounds: Bounds,
                   rows: int) -> str:
    """The statement over the registered ``__mp_entities`` (join keys, ``__mp_ts``,
    ``__mp_row``; ``rows`` of them)."""
    query = _Query()
    for i, read in enumerate(reads):
        view, alias = read.view, f"v{i}"
        positional = store.positional_sql(con, view)
        if positional is None:
            source, has_created = store.view_sql(con, view)
        else:
            source, features_sql, has_created = positional
        packing = _packing(view, bounds, has_created, rows)
        if packing is not None:
            alive = _packed_join(query, i, view, source, packing, bounds,
                                 [] if positional else read.features)
        else:
            alive = _plain_join(query, i, view, source, bounds, has_created)
        if positional is None:
            for feature in read.features:
                name = q(f"{alias}.{feature}")
                query.matched.append(f"CASE WHEN {alive} THEN {alias}.{q(feature)} END AS {name}")
                query.outputs.append(f"m.{name}")
            continue
        query.matched.append(f"CASE WHEN {alive} THEN {alias}.__mp_rn END AS __mp_rn_{i}")
        query.fetches.append(f"LEFT JOIN {features_sql} f{i} ON m.__mp_rn_{i} = f{i}.__mp_rn")
        query.outputs += [f"f{i}.{q(feature)} AS {q(f'{alias}.{feature}')}"
                          for feature in read.features]
    keys = list(dict.fromkeys(k for r in reads for k in r.view.join_keys))
    return query.sql(keys)


def _plain_join(query: _Query, i: int, view: FeatureView, source: str, bounds: Bounds,
                has_created: bool) -> str:
    """Equality on the keys, inequality on the time (or on (time, created time))."""
    alias, filters = f"v{i}", window(view, bounds)
    keys = " AND ".join(f"e.{q(k)} = {alias}.{q(k)}" for k in view.join_keys)
    if has_created:  # a struct with a null field is not null: keep nulls null
        query.entity_cols.append(f"CASE WHEN b.{TS} IS NOT NULL THEN {{'t': b.{TS}, "
                                 "'c': 'infinity'::TIMESTAMPTZ} END AS __mp_tc")
        rows = (f"(SELECT *, {{'t': {TS}, 'c': coalesce({CREATED}, "
                f"'-infinity'::TIMESTAMPTZ)}} AS __mp_tc FROM {source} {filters})")
        cond = f"e.__mp_tc >= {alias}.__mp_tc"
    else:
        rows, cond = f"(SELECT * FROM {source} {filters})", f"e.{TS} >= {alias}.{TS}"
    query.joins.append(f"ASOF LEFT JOIN {rows} {alias} ON {keys} AND {cond}")
    if not view.ttl_seconds:
        return "TRUE"
    return f"{alias}.{TS} >= e.{TS} - INTERVAL '{_ttl_us(view)} microseconds'"


def _packed_join(query: _Query, i: int, view: FeatureView, source: str,
                 packing: tuple[int, int], bounds: Bounds, features: list[str]) -> str:
    """The join on ``rank(key) * span + (time - origin)`` (see the module docstring);
    ``features`` are carried through the join (none for a narrow, positional source)."""
    origin, span = packing
    ttl, alias, ck = _ttl_us(view), f"v{i}", f"__mp_ck{i}"
    keys = [q(k) for k in view.join_keys]
    cols, ranks, buckets = ", ".join(keys), f"__mp_k{i}", f"__mp_s{i}"

    def same(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in keys)

    def offset(time: str) -> str:  # >= 0 for every row the join reads
        return f"(epoch_us({time}) - ({origin}))"

    query.ctes.append(f"{ranks} AS (SELECT {cols}, row_number() OVER () AS kr FROM "
                      f"(SELECT DISTINCT {cols} FROM __mp_entities))")
    # the TTL-wide time buckets each key's entity rows can see into: their own and the one
    # before; feature rows outside them can never be a live match
    query.ctes.append(
        f"{buckets} AS (SELECT DISTINCT k.*, x.b FROM {ranks} k JOIN (SELECT {cols}, "
        f"unnest([{offset(TS)} // {ttl}, {offset(TS)} // {ttl} - 1]) AS b FROM __mp_entities "
        f"WHERE {TS} IS NOT NULL) x ON {same('k', 'x')})")
    query.entity_joins.append(f"LEFT JOIN {ranks} k{i} ON {same('b', f'k{i}')}")
    query.entity_cols.append(f"k{i}.kr * {span} + {offset(f'b.{TS}')} AS {ck}")
    carried = "".join(f"r.{q(f)}, " for f in features) or "r.__mp_rn, "
    rows = (f"(SELECT {carried}s.kr * {span} + {offset(f'r.{TS}')} AS __mp_ck FROM {source} r "
            f"JOIN {buckets} s ON {same('r', 's')} AND {offset(f'r.{TS}')} // {ttl} = s.b "
            f"{window(view, bounds, f'r.{TS}')})")
    query.joins.append(f"ASOF LEFT JOIN {rows} {alias} ON e.{ck} >= {alias}.__mp_ck")
    return (f"{alias}.__mp_ck // {span} = e.{ck} // {span} "
            f"AND {alias}.__mp_ck >= e.{ck} - {ttl}")
