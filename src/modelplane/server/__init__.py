"""The HTTP server: one FastAPI app for the REST API, serving routes, metrics and UI."""

__all__ = ["create_app"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name == "create_app":
        from modelplane.server.app import create_app

        return create_app
    raise AttributeError(name)
