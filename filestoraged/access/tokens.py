"""API tokens: named secrets with scopes, kept in records (``meta.db``, or
the S3 bucket with ``--records s3``).

A secret is 256 random bits, shown once when it is made and stored only as
its SHA-256: a token is found by that digest, the record's key, so no
secret and no comparison of secrets is involved. Tokens are read from the
records, or copied from them while no process of the machine changed a
token since (``base.copies``), so ``filestoraged token create`` and
``token revoke`` in another process take effect on a running daemon at
once; with ``--records s3``, within ``cache_seconds`` on every daemon.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

from ..base.copies import Copies
from ..errors import AlreadyExists, BackendUnavailable, BadRequest, NotFound
from ..records.interface import Conflict, Records
from .s3keys import is_key_id, new_key_id
from .scopes import Scope, grants

_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
LAST_USED_EVERY = 60.0  # seconds: last_used is written at most this often per token


@dataclass(frozen=True)
class Token:
    name: str
    scopes: Tuple[Scope, ...]
    created_at: float
    expires_at: Optional[float]
    last_used: Optional[float]
    s3_key: Optional[str] = None  # its S3 access key id, if it has one (see access.s3keys)
    kind: str = "token"

    def allows(self, wanted: Scope, context: Mapping[str, str] = {}) -> bool:
        """Whether the token's scopes allow ``wanted`` (``context``: for a user's policies; unread here)."""
        return grants(self.scopes, wanted)


def digest_of(secret: str) -> str:
    """How a secret is kept: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _token(value: dict) -> Token:
    return Token(value["name"], tuple(Scope.parse(text) for text in value["scopes"]), value["created_at"],
                 value.get("expires_at"), value.get("last_used"), value.get("s3_key"))


class TokenStore:
    """Tokens in records (see ``records``): ``tokens/<digest>`` holds a
    token, ``token-names/<name>`` names its digest (a name is taken with a
    create-if-absent, so two daemons cannot make the same name twice), and
    ``s3-keys/<key id>`` the digest of the token an S3 key pair is for. With
    ``--records s3`` a token made through any daemon works on all of them;
    a token found is believed for ``cache_seconds`` at most (0: read on
    every use), which bounds how long a revocation takes to reach every
    daemon. Records of one machine tell every change (``change_mark``):
    there a copy is believed until a token changes."""

    def __init__(self, records: Records, clock: Callable[[], float] = time.time,
                 cache_seconds: float = 0.0) -> None:
        self.records = records
        self.clock = clock
        # digest -> its token (None: no such token); "s3:<key id>" -> (its token's digest, the token)
        self._copies: Copies[object] = Copies(records.change_mark("tokens"), cache_seconds)

    def create(self, scopes: Sequence[str], name: Optional[str] = None,
               expires_in: Optional[float] = None, s3: bool = False) -> Tuple[Token, str]:
        """A new token and its secret (shown this once); with ``s3``, an S3
        access key id too (its secret is derived from it: ``access.s3keys``)."""
        if not scopes:
            raise BadRequest("a token needs at least one --scope")
        parsed = tuple(Scope.parse(scope) for scope in scopes)
        name = name or "token-" + secrets.token_hex(4)
        if not _NAME.fullmatch(name):
            raise BadRequest("token names are 1-64 characters of A-Z a-z 0-9 . _ -")
        secret = secrets.token_urlsafe(32)  # 256 random bits
        now = self.clock()
        expires_at = now + expires_in if expires_in else None
        digest = digest_of(secret)
        try:
            self.records.create("token-names/" + name, {"digest": digest})
        except Conflict:
            raise AlreadyExists("a token named %r exists: for new secrets, filestoraged token rotate %s; or revoke it "
                                "first" % (name, name)) from None
        key_id = None
        while s3 and key_id is None:
            key_id = new_key_id()
            try:
                self.records.create("s3-keys/" + key_id, {"digest": digest})
            except Conflict:  # 2^100 ids: never, but never twice either
                key_id = None
        self.records.create("tokens/" + digest, {"name": name, "scopes": [str(scope) for scope in parsed],
                                                 "created_at": now, "expires_at": expires_at, "last_used": None,
                                                 "s3_key": key_id})
        self._copies.changed()  # a digest or key id read as no token's until now
        return Token(name, parsed, now, expires_at, None, key_id), secret

    def find(self, secret: str) -> Optional[Token]:
        """The live token whose secret this is, or None."""
        return self._find(digest_of(secret))

    def find_copied(self, secret: str) -> Optional[Token]:
        """The live token whose secret this is, if this process holds a copy
        of it that is still believed (nothing is read); None otherwise: ask
        ``find``. A copy is only ever of a token some request proved."""
        digest = digest_of(secret)
        found = self._copies.peek(digest)
        return None if found is None or found[0] is None else self._live(digest, found[0])  # type: ignore[arg-type]

    def find_digest(self, digest: str) -> Optional[Token]:
        """The live token whose secret has this digest (``digest_of``), or
        None: what a console session keeps instead of the secret."""
        return self._find(digest)

    def find_s3(self, key_id: str) -> Optional[Token]:
        """The live token of the S3 access key ``key_id``, or None."""
        if not is_key_id(key_id):
            return None

        def read() -> Optional[Tuple[str, Token]]:
            record = self.records.get("s3-keys/" + key_id)
            digest = None if record is None else record.value.get("digest")  # (a user's key has none)
            token = None if digest is None else self._read(digest)
            return None if token is None else (digest, token)

        # One copy for both records (every S3 request asks): one look, not two.
        found = self._copies.get("s3:" + key_id, read)
        token = None if found is None else self._live(*found)  # type: ignore[misc]
        return token if token is not None and token.s3_key == key_id else None

    def _find(self, digest: str) -> Optional[Token]:
        token = self._copies.get(digest, lambda: self._read(digest))
        return None if token is None else self._live(digest, token)  # type: ignore[arg-type]

    def _read(self, digest: str) -> Optional[Token]:
        record = self.records.get("tokens/" + digest)
        return None if record is None else _token(record.value)

    def _live(self, digest: str, token: Token) -> Optional[Token]:
        """``token`` unless it expired; its ``last_used`` written when due."""
        now = self.clock()
        if token.expires_at is not None and token.expires_at <= now:
            return None
        if token.last_used is None or now - token.last_used >= LAST_USED_EVERY:
            def touch(value):
                return None if value is None else dict(value, last_used=now)

            self.records.update("tokens/" + digest, touch)
            self._copies.changed(digest)
            if token.s3_key:  # its copy by key id holds the time it was used before too
                self._copies.changed("s3:" + token.s3_key)
        return token

    def list(self) -> List[Token]:
        found = []
        for key in self.records.keys("token-names/"):
            named = self.records.get(key)
            record = None if named is None else self.records.get("tokens/" + named.value["digest"])
            if record is not None:
                found.append(_token(record.value))
        return found

    def any(self) -> bool:
        return next(iter(self.records.keys("tokens/")), None) is not None

    def rotate(self, name: str) -> Tuple[Token, str]:
        """A new secret for the token ``name`` (and, if it has an S3 key
        pair, a new key pair): the old ones end at once, everything else
        (scopes, expiry) stays. ``NotFound`` if there is no such token."""
        named = self.records.get("token-names/" + name)
        record = None if named is None else self.records.get("tokens/" + named.value["digest"])
        if named is None or record is None:
            raise NotFound("no token named %r" % name)
        old = record.value
        secret = secrets.token_urlsafe(32)
        digest = digest_of(secret)
        key_id = None
        try:
            while old.get("s3_key") and key_id is None:
                key_id = new_key_id()
                try:
                    self.records.create("s3-keys/" + key_id, {"digest": digest})
                except Conflict:
                    key_id = None
            self.records.create("tokens/" + digest, dict(old, last_used=None, s3_key=key_id))
            try:
                self.records.replace("token-names/" + name, {"digest": digest}, named.version)
            except Conflict:  # revoked or rotated meanwhile: this one never was
                self.records.delete("tokens/" + digest)
                if key_id:
                    self.records.delete("s3-keys/" + key_id)
                raise BackendUnavailable("the token %r changed while it was rotated; run it again" % name) from None
            self.records.delete("tokens/" + named.value["digest"])
            if old.get("s3_key"):
                self.records.delete("s3-keys/" + old["s3_key"])
        finally:
            self._copies.changed()  # whatever of it was written: the old secret's copies go
        return _token(dict(old, s3_key=key_id, last_used=None)), secret

    def revoke(self, name: str) -> None:
        named = self.records.get("token-names/" + name)
        if named is None:
            raise NotFound("no token named %r" % name)
        record = self.records.get("tokens/" + named.value["digest"])
        key_id = None if record is None else record.value.get("s3_key")
        try:
            self.records.delete("tokens/" + named.value["digest"])
            if key_id:
                self.records.delete("s3-keys/" + key_id)
            self.records.delete("token-names/" + name)
        finally:
            self._copies.changed()  # a revocation half done is one already for the copies

    def close(self) -> None:
        """The records are the caller's to close."""
