"""The memcached store's format: the manifest that commits a file, and the
keys of manifests and chunks (see ``store`` for how they are used).

A small file (up to ``INLINE_MAX``) is kept inside its manifest's item, after
the JSON and a newline (format version 2), so reading it is one round trip.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from ...errors import BadRequest, CorruptObject

MANIFEST_VERSION = 1  # chunks in items of their own
INLINE_VERSION = 2  # the bytes after the manifest, in the same item
# Decision: 1 KiB GETs on memcached cost two round trips (manifest, chunk)
# where one does; files this small ride inside the manifest item.
INLINE_MAX = 64 * 1024
WINDOW_BYTES = 8 * 1024 * 1024  # chunk bytes per get_many round trip when reading
# Written over a manifest whose copy was found corrupt: unreadable, so reads
# answer "corrupt" and the next upload of the bytes replaces it (see store).
CONDEMNED = b"condemned"
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:+=@")


@dataclass
class Manifest:
    size: int
    chunk_size: int
    sha256: str
    prefix: str
    crcs: List[int] = field(default_factory=list)
    content_type: Optional[str] = None
    version: int = MANIFEST_VERSION
    data: Optional[bytes] = field(default=None, repr=False)  # an inline file's bytes (not in the JSON)

    def chunk_keys(self) -> List[str]:
        if self.data is not None:
            return []
        return [chunk_key(self.prefix, index) for index in range(len(self.crcs))]

    def chunk_size_of(self, index: int) -> int:
        """Bytes of chunk ``index``: ``chunk_size``, the last one less."""
        return min(self.chunk_size, self.size - index * self.chunk_size)

    def missing_chunks(self, sizes: Dict[str, int]) -> List[int]:
        """Chunks absent from ``sizes`` (``Cluster.sizes``) or of the wrong size."""
        return [index for index, key in enumerate(self.chunk_keys())
                if sizes.get(key) != self.chunk_size_of(index)]

    def encode(self) -> bytes:
        fields = asdict(self)
        data = fields.pop("data")
        text = json.dumps(fields, separators=(",", ":")).encode("utf-8")
        return text if data is None else text + b"\n" + data

    @classmethod
    def decode(cls, raw: bytes, name: str) -> "Manifest":
        if raw == CONDEMNED:
            raise CorruptObject("%r was found corrupt; storing the same bytes again repairs it" % name)
        text, newline, data = raw.partition(b"\n")  # JSON text never holds a raw newline
        try:
            fields = json.loads(text)
            manifest = cls(**fields)
        except (ValueError, TypeError):
            raise CorruptObject("the manifest of %r is unreadable" % name) from None
        if newline:
            if manifest.version != INLINE_VERSION or len(data) != manifest.size:
                raise CorruptObject("the manifest of %r holds %d bytes, not %d" % (name, len(data), manifest.size))
            manifest.data = data
        elif manifest.version != MANIFEST_VERSION:
            raise CorruptObject("the manifest of %r has an unknown format" % name)
        if manifest.chunk_size <= 0:
            raise CorruptObject("the manifest of %r has an unknown format" % name)
        if len(manifest.crcs) != -(-manifest.size // manifest.chunk_size):
            raise CorruptObject("the manifest of %r lists the wrong number of chunks" % name)
        return manifest


def manifest_key(name: str) -> str:
    return "fsd:m:" + name


def chunk_key(prefix: str, index: int) -> str:
    return "fsd:c:%s:%d" % (prefix, index)


def check_name(name: str) -> str:
    """File names become memcached keys: 1-200 characters, no spaces or controls."""
    if not 1 <= len(name) <= 200 or not set(name) <= _KEY_CHARS:
        raise BadRequest("names are 1-200 characters of A-Z a-z 0-9 . _ - / : + = @")
    return name
