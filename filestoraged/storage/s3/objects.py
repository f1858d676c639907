"""Reading a big object from S3 (``S3Object``): a ranged GET of the blocks a
request covers, each block checked against its digest before a byte of it is
handed out, as on disk. The key is the object's own (stored whole under its
id) or its body's (streamed: see refs.py); either way the digests come from
a record that was checked against the object id.
"""

from __future__ import annotations

import hashlib
from typing import Iterator, List, Optional

from ...base.threads import ahead
from ...errors import CorruptObject, NotFound
from .. import blocks
from ..blocks import BLOCK
from ...base.streams import fill
from ..interface import ObjectInfo, StoredObject, clamp_range
from .client import S3Client


class S3Object(StoredObject):
    """A big object read from S3: a ranged GET of the blocks a request covers,
    each block checked against its digest before a byte of it is handed out.
    Without a record, the whole object is hashed and its last piece held back."""

    def __init__(self, info: ObjectInfo, client: S3Client, key: str, digests: Optional[List[bytes]]) -> None:
        super().__init__(info)
        self._client, self._key, self._digests = client, key, digests

    def chunks(self, start: int = 0, end: Optional[int] = None) -> Iterator[bytes]:
        start, end = clamp_range(self.info.size, start, end)
        if start >= end:
            return
        if self._digests is None:
            yield from self._whole(start, end)
            return
        first, last = start // BLOCK, (end - 1) // BLOCK
        span = "bytes=%d-%d" % (first * BLOCK, min((last + 1) * BLOCK, self.info.size) - 1)
        response = self._opened(self._client.request("GET", self._key, headers={"Range": span}, ok=(200, 206)))

        def checked(index: int) -> memoryview:
            """Block ``index``, read from the response and checked (on a helper
            thread, while the caller sends the block before it). Measured: a
            second stage that reads while two threads check gained nothing on
            two cores shared with the store itself."""
            block = memoryview(bytearray(min(BLOCK, self.info.size - index * BLOCK)))
            if fill(response, block) != len(block) or not blocks.matches(block, self._digests[index]):
                raise CorruptObject("%s: block %d does not match its check" % (self._key, index))
            return block

        indices = range(first, last + 1)
        try:
            for index, block in zip(indices, ahead(checked, indices, workers=1, depth=3)):
                yield block[max(start - index * BLOCK, 0):min(end - index * BLOCK, len(block))]
        finally:
            response.release()

    def _whole(self, start: int, end: int) -> Iterator[bytes]:
        response = self._opened(self._client.request("GET", self._key))
        try:
            digest = hashlib.sha256()
            buffer = memoryview(bytearray(BLOCK))
            offset, held = 0, b""
            while offset < self.info.size:
                count = fill(response, buffer)
                if not count:
                    break
                digest.update(buffer[:count])
                piece = bytes(buffer[max(start - offset, 0):max(min(end - offset, count), 0)])
                offset += count
                if held:
                    yield held
                held = piece
            if digest.hexdigest() != self.info.oid or offset != self.info.size:
                raise CorruptObject("%s: the stored bytes do not match their id" % self._key)
            if held:
                yield held
        finally:
            response.release()

    def _opened(self, response):
        """The response, unless the key went away since the object was opened
        (deleted through another daemon): ``NotFound``, never a digest mismatch."""
        if response.status == 404:
            response.release()
            raise NotFound("%s was removed while being read" % self._key)
        return response
