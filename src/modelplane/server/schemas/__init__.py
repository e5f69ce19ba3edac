"""API schemas: ``<Entity>Create`` / ``<Entity>Update`` / ``<Entity>Out``."""

__all__: list[str] = []
