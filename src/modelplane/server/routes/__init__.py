"""HTTP routes, one module per capability; handlers parse, call a service, return a schema."""

__all__: list[str] = []
