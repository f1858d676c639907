"""API tokens: named secrets with scopes, kept in ``meta.db``.

A secret is 256 random bits, shown once when it is made and stored only as
its SHA-256 (a token is found by that digest, then compared in constant
time). Tokens are read from the database on every use, so ``filestoraged
token create`` and ``token revoke`` in another process take effect at once
on a running daemon.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from ..errors import AlreadyExists, BadRequest, NotFound
from ..storage.database import DatabaseStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_tokens (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used REAL
);
"""
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
LAST_USED_EVERY = 60.0  # seconds: last_used is written at most this often per token

# FACE[:NAMESPACE]:VERB, "*" for any part; "admin" for everything.
VERBS = {
    "files": ("read", "write", "delete"),
    "data": ("read", "write", "delete"),
    "share": ("create", "delete"),
    "kv": ("read", "write"),
    "metrics": ("read",),
}
_REPOSITORY = re.compile(r"[A-Za-z0-9_*-][A-Za-z0-9._-]{0,63}|\*")


@dataclass(frozen=True)
class Token:
    name: str
    scopes: Tuple[str, ...]
    created_at: float
    expires_at: Optional[float]
    last_used: Optional[float]


def check_scope(text: str) -> str:
    """``text`` if it is a scope this store knows (see ``VERBS``); else ``BadRequest``."""
    if text == "admin":
        return text
    parts = text.split(":")
    face = parts[0]
    if face == "data" and len(parts) == 3 and _REPOSITORY.fullmatch(parts[1]):
        verb = parts[2]
    elif len(parts) == 2 and (face in VERBS or face == "*"):
        verb = parts[1]
    else:
        raise BadRequest("%r is not a scope: FACE[:REPOSITORY]:VERB or admin, e.g. files:write, data:photos:read"
                         % text[:80])
    if verb != "*" and face != "*" and verb not in VERBS[face]:
        raise BadRequest("%r: %s takes %s" % (text[:80], face, ", ".join(VERBS[face])))
    return text


def grants(scopes: Sequence[str], face: str, namespace: Optional[str], verb: str) -> bool:
    """True if any of ``scopes`` allows ``verb`` on ``face`` (and repository ``namespace``)."""
    for scope in scopes:
        if scope == "admin":
            return True
        parts = scope.split(":")
        if parts[0] not in (face, "*") or parts[-1] not in (verb, "*"):
            continue
        if len(parts) == 2 or parts[1] in ("*", namespace):
            return True
    return False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore(DatabaseStore):
    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        super().__init__(path, _SCHEMA)

    def create(self, scopes: Sequence[str], name: Optional[str] = None,
               expires_in: Optional[float] = None) -> Tuple[Token, str]:
        """A new token and its secret (shown this once)."""
        if not scopes:
            raise BadRequest("a token needs at least one --scope")
        scopes = tuple(check_scope(scope) for scope in scopes)
        name = name or "token-" + secrets.token_hex(4)
        if not _NAME.fullmatch(name):
            raise BadRequest("token names are 1-64 characters of A-Z a-z 0-9 . _ -")
        secret = secrets.token_urlsafe(32)  # 256 random bits
        now = self.clock()
        expires_at = now + expires_in if expires_in else None
        with self._lock:
            if self._db.execute("SELECT 1 FROM api_tokens WHERE name = ?", (name,)).fetchone():
                raise AlreadyExists("a token named %r exists" % name)
            self._db.execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, NULL)",
                             (name, _digest(secret), " ".join(scopes), now, expires_at))
        return Token(name, scopes, now, expires_at, None), secret

    def find(self, secret: str) -> Optional[Token]:
        """The live token whose secret this is, or None."""
        digest = _digest(secret)
        with self._lock:
            row = self._db.execute("SELECT * FROM api_tokens WHERE digest = ?", (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row[1], digest):
            return None
        token = Token(row[0], tuple(row[2].split()), row[3], row[4], row[5])
        now = self.clock()
        if token.expires_at is not None and token.expires_at <= now:
            return None
        if token.last_used is None or now - token.last_used >= LAST_USED_EVERY:
            with self._lock:
                self._db.execute("UPDATE api_tokens SET last_used = ? WHERE name = ?", (now, token.name))
        return token

    def list(self) -> List[Token]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM api_tokens ORDER BY name").fetchall()
        return [Token(row[0], tuple(row[2].split()), row[3], row[4], row[5]) for row in rows]

    def any(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM api_tokens LIMIT 1").fetchone() is not None

    def revoke(self, name: str) -> None:
        with self._lock:
            if not self._db.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount:
                raise NotFound("no token named %r" % name)

