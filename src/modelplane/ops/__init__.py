"""Operating a modelplane installation: consistent online backups of the metadata and the
artifacts they reference, and restores into an empty home or database (``backup``)."""

__all__: list[str] = []
