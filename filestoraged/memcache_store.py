"""The memcached file library's documented import, kept where its users find it::

    from filestoraged.memcache_store import MemcachedFileStore

The library lives in ``filestoraged.storage.memcached`` (``store`` and
``cluster``); this module only hands its public names on.
"""

from .storage.memcached.file_store import (
    DEFAULT_MAX_SIZE,
    ITEM_HEADROOM,
    Manifest,
    MemcachedFileStore,
    Retrieval,
    check_name,
    manifest_key,
)
from .errors import AlreadyExists, BackendUnavailable, CorruptObject, NotFound, TooLarge

__all__ = [
    "MemcachedFileStore", "Retrieval", "Manifest", "manifest_key", "check_name", "DEFAULT_MAX_SIZE",
    "ITEM_HEADROOM", "AlreadyExists", "BackendUnavailable", "CorruptObject", "NotFound", "TooLarge",
]
