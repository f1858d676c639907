"""Users' passwords, kept as a slow salted hash (``hashlib.scrypt``): who
reads the records learns no password, and each guess at one costs about a
tenth of a second and 16 MiB. A kept hash names its parameters
(``scrypt$N$r$p$salt$hash``), so stronger ones can come later while the
old still verify.

A password proved once is remembered in the process (``Proved``), so that
clients which send it with every request (WebDAV, restic, Git LFS over
HTTP Basic) pay the hash once: by a keyed digest of the name and the
password, and only for as long as the user's record keeps the same hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from typing import Dict

from ..errors import BadRequest

N, R, P = 2 ** 14, 8, 1
MIN_LENGTH = 8
MAX_LENGTH = 1024
_MAX_MEMORY = 64 * 1024 * 1024
MOST_PROVED = 10000  # passwords remembered at once; past it, all are forgotten


def check_new(password: str) -> None:
    """``BadRequest`` for a password this store will not keep."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest("a password is %d to %d characters" % (MIN_LENGTH, MAX_LENGTH))


def hashed(password: str) -> str:
    """How ``password`` is kept."""
    check_new(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, maxmem=_MAX_MEMORY, dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (N, R, P, _text(salt), _text(digest))


def verify(password: str, kept: str) -> bool:
    """Whether ``password`` is the one ``kept`` was made from."""
    try:
        kind, n, r, p, salt, digest = kept.split("$")
        if kind != "scrypt" or len(password) > MAX_LENGTH:
            return False
        found = hashlib.scrypt(password.encode("utf-8"), salt=_bytes(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=_MAX_MEMORY, dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, _bytes(digest))


class Proved:
    """The passwords this process saw proved, each by a digest keyed with a
    secret of the process alone, with the kept hash it was proved against."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._proved: Dict[bytes, str] = {}
        self._lock = threading.Lock()

    def _name(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, user.encode("utf-8") + b"\x00" + password.encode("utf-8"), "sha256").digest()

    def seen(self, user: str, password: str, kept: str) -> bool:
        """Whether ``password`` was proved ``user``'s against ``kept`` before (nothing is hashed)."""
        return self._proved.get(self._name(user, password)) == kept

    def check(self, user: str, password: str, kept: str) -> bool:
        """Whether ``password`` is ``user``'s, whose record keeps ``kept``:
        without hashing where it was proved against the same ``kept``."""
        name = self._name(user, password)
        if self._proved.get(name) == kept:
            return True
        if not verify(password, kept):
            return False
        with self._lock:
            if len(self._proved) >= MOST_PROVED:
                self._proved.clear()
            self._proved[name] = kept
        return True


def _text(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _bytes(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
