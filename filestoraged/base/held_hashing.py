"""Digests of a few KiB taken without letting go of the GIL.

Why: CPython's ``hashlib`` lets go of the GIL to hash 2 KiB or more at
once, and ``hmac.digest`` whatever the length, so that other threads run
meanwhile. Under load, where a worker's other threads wait for the GIL,
each letting go wakes one of them and sends this thread to wait for its
turn again: a futex call each way and a context switch, which cost more
than the hash (4 KiB of SHA-256: about 2 µs on this project's machines).
Measured beside one other thread running Python: ``update`` of 4 KiB took
500 µs of wall time a call (the default switch interval; 74 µs at 1 ms),
fed in slices 3 µs; ``hmac.digest`` 18 µs a call at 1 ms, ``hmac.new``'s
``digest()`` 1.3 µs. Under s5cmd's 16 writers a small S3 PUT let go of
the GIL about nine times where another thread waited for it.

Pieces up to ``MOST_HELD`` are fed in slices under the threshold; longer
ones as ``hashlib`` feeds them, letting the others run.
"""

from __future__ import annotations

import hashlib
import hmac

GIL_THRESHOLD = 2048  # CPython's HASHLIB_GIL_MINSIZE: an update this long or longer lets go of the GIL
_SLICE = GIL_THRESHOLD - 1
MOST_HELD = 64 * 1024  # past this, the hash is long enough to let the others run


def update_held(digest, data) -> None:
    """``digest.update(data)``, holding the GIL where ``data`` is at most
    ``MOST_HELD`` bytes (``bytes`` or a byte-format buffer)."""
    size = len(data)
    if size < GIL_THRESHOLD or size > MOST_HELD:
        digest.update(data)
        return
    view = memoryview(data)
    for start in range(0, size, _SLICE):
        digest.update(view[start:start + _SLICE])


def sha256_held(data):
    """The SHA-256 of ``data`` (a ``hashlib`` object), taken as ``update_held`` takes it."""
    digest = hashlib.sha256()
    update_held(digest, data)
    return digest


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of a short ``message``, holding the GIL (``hmac.new``:
    ``hmac.digest``, OpenSSL's one call, lets go of it every time)."""
    return hmac.new(key, message, "sha256").digest()
