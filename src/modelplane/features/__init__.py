"""The feature store: definitions as code, point-in-time training sets, online serving.

``FeatureStore`` is the entry point; the definition classes are what a feature repo uses.
"""

from __future__ import annotations

from modelplane.features.definitions import (
    Array,
    Bool,
    Bytes,
    DataFrameSource,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    Float32,
    Float64,
    Int32,
    Int64,
    OnDemandFeatureView,
    RequestSource,
    SqlSource,
    String,
    Timestamp,
    on_demand_feature_view,
)
from modelplane.features.service import FeatureStore

__all__ = [
    "Array",
    "Bool",
    "Bytes",
    "DataFrameSource",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "FileSource",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "OnDemandFeatureView",
    "RequestSource",
    "SqlSource",
    "String",
    "Timestamp",
    "on_demand_feature_view",
]
