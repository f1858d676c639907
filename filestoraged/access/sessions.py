"""Console sessions: a sign-in with an API token, or a user's name and
password, becomes a session, named by a random id that only the browser's
cookie holds; the records keep its digest (``console/sessions/<sha256 of
the id>``), the digest of the token it was opened with (or the user's name
and a digest of the user's kept password hash), and when it began and was
last used. So sessions hold
across workers and daemons (the records are shared where the daemons are),
and a session is over:

- when its person signs out (the record goes);
- ``IDLE`` after its last use, or ``LIFETIME`` after it began;
- as soon as its token is revoked, rotated or expires (the token is looked
  up by its digest on every use); as soon as its user is disabled, deleted
  or given a new password.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import List, Optional, Union

from ..records.interface import Records
from .tokens import Token, TokenStore, digest_of
from .users import User, Users

SESSIONS = "console/sessions/"
IDLE = 30 * 60.0  # seconds without a request before a session ends
COOKIE = "fsd_console"  # the cookie that carries a session's id
LIFETIME = 12 * 3600.0  # seconds a session lasts at most
SEEN_EVERY = 60.0  # its last use is written at most this often


class Sessions:
    def __init__(self, records: Records, tokens: TokenStore, users: Users) -> None:
        self.records, self.tokens, self.users = records, tokens, users

    def open(self, token: Union[Token, User], secret: str) -> str:
        """A new session for ``token`` or a user (whose secret or password
        is ``secret``): its id, for the cookie alone. Sessions over by now
        are swept on the way."""
        self._sweep()
        session = secrets.token_urlsafe(32)
        now = self.records.now()
        held = ({"user": token.name, "password": self.users.fingerprint(token.name)} if isinstance(token, User)
                else {"token": digest_of(secret)})
        self.records.create(SESSIONS + _key(session), dict(held, name=token.name, began=now, seen=now))
        return session

    def open_federated(self, name: str, groups: List[str]) -> str:
        """A new session for a user an OpenID provider vouched for: ``name``
        and the groups it named (kept as named then, for the session's life)."""
        self._sweep()
        session = secrets.token_urlsafe(32)
        now = self.records.now()
        self.records.create(SESSIONS + _key(session), {"oidc": name, "groups": groups, "name": name, "began": now,
                                                       "seen": now})
        return session

    def find(self, session: Optional[str]) -> Optional[Union[Token, User]]:
        """The token or user of a live session, None for none (and the
        record of one that is over goes)."""
        if not session:
            return None
        name = SESSIONS + _key(session)
        record = self.records.get(name)
        if record is None:
            return None
        now = self.records.now()
        value = record.value
        if _over(value, now):
            token = None
        elif "oidc" in value:
            token = self.users.federated(value["oidc"], value["groups"], value["began"])
        elif "user" in value:
            token = self.users.named(value["user"], value["password"])
        else:
            token = self.tokens.find_digest(value["token"])
        if token is None:
            self.records.delete(name)
            return None
        if now - value["seen"] >= SEEN_EVERY:
            self.records.update(name, lambda found: None if found is None else dict(found, seen=now))
        return token

    def close(self, session: Optional[str]) -> None:
        if session:
            self.records.delete(SESSIONS + _key(session))

    def _sweep(self) -> None:
        now = self.records.now()
        for name, record in list(self.records.items(SESSIONS)):
            if _over(record.value, now):
                self.records.delete(name)


def _key(session: str) -> str:
    return hashlib.sha256(session.encode("ascii", "replace")).hexdigest()


def _over(value: dict, now: float) -> bool:
    return now - value["began"] >= LIFETIME or now - value["seen"] >= IDLE
