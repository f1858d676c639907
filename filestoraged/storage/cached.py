"""Moved to ``filestoraged.storage.memcached_tier`` (its name says its room); this name stays for whoever
imported it here."""

from .memcached_tier import (  # noqa: F401
    CACHE_MAX,
    CachedBackend,
    log,
)
