"""Serve-time features: a served model that names a FeatureService gets its inputs from
the online store.

A request then carries entity keys (and request-time fields); ``enrich`` reads the
service's features for every record in one online lookup and adds them, so the model
sees exactly the columns the same service gave it at training time
(``get_historical_features``). Values the store does not have (missing, or expired by
TTL) come in as nulls, and the model's signature check then names the column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelplane.features.service import FeatureStore

__all__ = ["OnlineFeatureLookup", "feature_lookup_factory"]


class OnlineFeatureLookup:
    """:class:`~modelplane.serving.runtime.FeatureLookup` over a FeatureStore."""

    def __init__(self, store: FeatureStore, service: str) -> None:
        self.store = store
        self.service = service
        store.registry.get_service(service)  # unknown service: NotFoundError, close names

    def enrich(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = self.store.get_online_features(entity_rows=records, service=self.service)
        names = list(found.values)
        columns = [found.values[name] for name in names]
        return [{**record, **dict(zip(names, (col[i] for col in columns), strict=True))}
                for i, record in enumerate(records)]


def feature_lookup_factory(store: Callable[[], FeatureStore]
                           ) -> Callable[[str], OnlineFeatureLookup]:
    """What ``ModelRuntime(feature_lookup=...)`` takes: a lookup per service name, over
    the feature store ``store()`` returns (built on first use)."""
    return lambda service: OnlineFeatureLookup(store(), service)
