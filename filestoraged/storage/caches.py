"""Moved to ``filestoraged.base.lru`` (its name says its room); this name stays for whoever
imported it here."""

from ..base.lru import (  # noqa: F401
    BoundedCache,
    FileCache,
    Identity,
    Value,
    identity,
    still_same_file,
)
