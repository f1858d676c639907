"""Users: people (or programs) who sign in with a name and a password, in
groups, with S3 access keys of their own; what they may do is said by
policies (``access.teams``), never by scopes.

Records: ``users/<name>`` (``{"password": kept hash, "disabled": bool,
"groups": [...], "policies": [...], "created_at": t}``) and, for each of a
user's S3 keys, ``s3-keys/<key id>`` (``{"user": name, "created_at": t,
"expires_at": t or null}``) beside the tokens' (``access.tokens``): a key's
secret is derived from its id as a token's is (``access.s3keys``).

A user as a request proves it (``User``: the policies of the user and of
its groups, read) is copied in the process as tokens are
(``base.copies``): every change to a user, a group or a policy ends every
copy on the machine at once, and elsewhere within the deployment's cache
time (``--token-cache-seconds``), so disabling a user, taking a user out of
a group or revoking a key ends the access that fast everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Callable, Iterable, List, Mapping, Optional, Tuple

from ..base.copies import Copies
from ..errors import AlreadyExists, BadRequest, NotFound
from ..records.interface import Conflict as Taken, Records
from .actions import asked_for
from .passwords import Proved, hashed
from .policy import Asked, Decision, Policy, judge
from .s3keys import is_key_id, new_key_id
from .scopes import Scope
from .teams import Teams, named

USERS, S3_KEYS = "users/", "s3-keys/"


@dataclass(frozen=True)
class User:
    """A user as one request proved it: ``policies``, its own and its
    groups'. Answers what a token answers (``name``, ``created_at``,
    ``allows``), so every face takes either."""

    name: str
    created_at: float
    groups: Tuple[str, ...]
    policies: Tuple[Policy, ...]
    s3_key: Optional[str] = None  # the key a signed request came with
    scopes: Tuple[Scope, ...] = ()  # (a user has none: its policies say)
    expires_at: Optional[float] = None
    kind: str = "user"
    federated: bool = False  # vouched for by an OpenID provider: no record here, its groups' policies only

    def decide(self, asked: Asked, also: Iterable[Policy] = ()) -> Decision:
        """What the user's policies (and ``also``: a bucket's) say of ``asked``."""
        return judge(tuple(also) + self.policies, asked)

    def allows(self, wanted: Scope, context: Mapping[str, str] = {}) -> bool:
        """Whether the user's policies allow every action ``wanted`` stands
        for (``access.actions.asked_for``), no statement denying one."""
        asks = asked_for(wanted, self.name, context)
        return bool(asks) and all(self.decide(asked).allowed for asked in asks)


class Users:
    def __init__(self, records: Records, cache_seconds: float = 0.0) -> None:
        self.records = records
        # "u:<name>" -> (its kept password hash, its User) or None; "k:<key id>" -> the key's user's name or None
        self._copies: Copies[object] = Copies(records.change_mark("users"), cache_seconds)
        self.teams = Teams(records, self._copies.changed)
        self._proved = Proved()

    # Who asks
    def sign_in(self, name: str, password: str) -> Optional[User]:
        """The user ``name`` if ``password`` is theirs and they are not
        disabled; None otherwise (for any of the reasons: a guesser learns
        none of them)."""
        found = self._resolved(name)
        if found is None:
            return None
        kept, user = found
        return user if self._proved.check(name, password, kept) else None

    def proved(self, name: str, password: str) -> Optional[User]:
        """As ``sign_in``, but only where this process proved the password
        before against the user's record as it still is: nothing is hashed."""
        found = self._resolved(name)
        return found[1] if found is not None and self._proved.seen(name, password, found[0]) else None

    def fingerprint(self, name: str) -> Optional[str]:
        """A digest of the user's kept password hash (a console session
        keeps it: a new password ends the session); None without the user."""
        found = self._resolved(name)
        return None if found is None else hashlib.sha256(found[0].encode("ascii")).hexdigest()

    def named(self, name: str, fingerprint: str) -> Optional[User]:
        """The user ``name`` (not disabled) while its password is the one
        ``fingerprint`` was taken of; else None."""
        found = self._resolved(name)
        if found is None or not hmac.compare_digest(hashlib.sha256(found[0].encode("ascii")).hexdigest(),
                                                    fingerprint):
            return None
        return found[1]

    def federated(self, name: str, groups: List[str], since: float) -> User:
        """A user an OpenID provider vouched for (``access.oidc``): no record
        of their own here; the policies of ``groups``, this store's groups
        the provider named, apply."""
        def read() -> User:
            return User(name, since, tuple(groups), self._policies((), groups), federated=True)
        return self._copies.get("f:%s:%s:%s" % (name, since, ",".join(groups)), read)  # type: ignore[return-value]

    def by_s3_key(self, key_id: str) -> Optional[User]:
        """The user of the S3 access key ``key_id`` (not expired, the user
        not disabled), or None."""
        if not is_key_id(key_id):
            return None

        def read() -> Optional[Tuple[str, Optional[float]]]:
            record = self.records.get(S3_KEYS + key_id)
            if record is None or "user" not in record.value:
                return None
            return record.value["user"], record.value.get("expires_at")
        found = self._copies.get("k:" + key_id, read)
        if found is None:
            return None
        name, expires_at = found  # type: ignore[misc]
        if expires_at is not None and expires_at <= time.time():
            return None
        resolved = self._resolved(name)
        return None if resolved is None else _with_key(resolved[1], key_id)

    def is_user_key(self, key_id: str) -> bool:
        return self.by_s3_key(key_id) is not None

    def _resolved(self, name: str) -> Optional[Tuple[str, User]]:
        def read() -> Optional[Tuple[str, User]]:
            record = self.records.get(USERS + name)
            if record is None or record.value.get("disabled"):
                return None
            value = record.value
            groups = tuple(value.get("groups", ()))
            user = User(name, value["created_at"], groups, self._policies(value.get("policies", ()), groups))
            return value["password"], user
        if not named_ok(name):
            return None
        return self._copies.get("u:" + name, read)  # type: ignore[return-value]

    def _policies(self, own: Iterable[str], groups: Iterable[str]) -> Tuple[Policy, ...]:
        """The policies named ``own`` and those of each of ``groups``, read."""
        names = list(own)
        for group in groups:
            found = self.teams.group(group)
            names += found["policies"] if found is not None else []
        return self.teams.read(names)

    # Managing them
    def create(self, name: str, password: str, groups: List[str] = (), policies: List[str] = ()) -> None:
        named("user", name)
        for group in groups:
            self.teams.require_group(group)
        for policy in policies:
            self.teams.require_policy(policy)
        try:
            self.records.create(USERS + name, {"password": hashed(password), "disabled": False,
                                               "groups": list(dict.fromkeys(groups)),
                                               "policies": list(dict.fromkeys(policies)),
                                               "created_at": time.time()})
        except Taken:
            raise AlreadyExists("a user named %r exists" % name) from None
        self._copies.changed()

    def get(self, name: str) -> Optional[dict]:
        """The user's record (without the password's hash), None without one."""
        record = self.records.get(USERS + name) if named_ok(name) else None
        if record is None:
            return None
        return {key: value for key, value in record.value.items() if key != "password"}

    def list(self) -> List[Tuple[str, dict]]:
        found = []
        for key in self.records.keys(USERS):
            value = self.get(key[len(USERS):])
            if value is not None:
                found.append((key[len(USERS):], value))
        return found

    def any(self) -> bool:
        return next(iter(self.records.keys(USERS)), None) is not None

    def change(self, name: str, change: Callable[[dict], dict]) -> None:
        """``change`` made to the user's record (``NotFound`` without one)."""
        def changed(value):
            if value is None:
                raise NotFound("no user named %r" % name)
            return change(value)
        if not named_ok(name):
            raise NotFound("no user named %r" % name)
        self.records.update(USERS + name, changed)
        self._copies.changed()

    def set_password(self, name: str, password: str) -> None:
        kept = hashed(password)
        self.change(name, lambda value: dict(value, password=kept))

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.change(name, lambda value: dict(value, disabled=disabled))

    def join(self, name: str, group: str, member: bool = True) -> None:
        """Put the user in ``group`` (or, ``member`` False, take them out)."""
        if member:
            self.teams.require_group(group)
        self.change(name, lambda value: dict(value, groups=[found for found in value["groups"] if found != group]
                                             + ([group] if member else [])))

    def attach(self, name: str, policy: str, attach: bool = True) -> None:
        if attach:
            self.teams.require_policy(policy)
        self.change(name, lambda value: dict(value, policies=[found for found in value["policies"] if found != policy]
                                             + ([policy] if attach else [])))

    def delete(self, name: str) -> None:
        if not named_ok(name) or self.records.get(USERS + name) is None:
            raise NotFound("no user named %r" % name)
        for key_id, _ in self.keys(name):
            self.records.delete(S3_KEYS + key_id)
        self.records.delete(USERS + name)
        self._copies.changed()

    def members(self, group: str) -> List[str]:
        return [name for name, value in self.list() if group in value.get("groups", ())]

    def attached(self, policy: str) -> List[str]:
        """Who has ``policy`` attached: users and ``group:NAME``s."""
        users = [name for name, value in self.list() if policy in value.get("policies", ())]
        return users + ["group:" + name for name, policies in self.teams.groups() if policy in policies]

    def delete_group(self, group: str) -> None:
        """The group gone, and every user taken out of it."""
        self.teams.require_group(group)
        for name in self.members(group):
            self.join(name, group, member=False)
        self.teams.delete_group(group)

    def delete_policy(self, policy: str) -> None:
        self.teams.delete_policy(policy, self.attached(policy))

    # S3 keys
    def new_key(self, name: str, expires_in: Optional[float] = None) -> str:
        """A new S3 access key id for the user (its secret: ``access.s3keys.secret_of``)."""
        if self.get(name) is None:
            raise NotFound("no user named %r" % name)
        if expires_in is not None and expires_in <= 0:
            raise BadRequest("a key's expiry is a number of seconds above 0")
        now = time.time()
        while True:
            key_id = new_key_id()
            try:
                self.records.create(S3_KEYS + key_id, {"user": name, "created_at": now,
                                                       "expires_at": now + expires_in if expires_in else None})
                break
            except Taken:  # 2^100 ids: never, but never twice either
                continue
        self._copies.changed()
        return key_id

    def keys(self, name: str) -> List[Tuple[str, dict]]:
        """``(key id, its record)`` of each of the user's S3 keys."""
        return [(key[len(S3_KEYS):], record.value) for key, record in self.records.walk(S3_KEYS, 200)
                if record.value.get("user") == name]

    def revoke_key(self, name: str, key_id: str) -> None:
        record = self.records.get(S3_KEYS + key_id) if is_key_id(key_id) else None
        if record is None or record.value.get("user") != name:
            raise NotFound("the user %r has no S3 key %r" % (name, key_id))
        self.records.delete(S3_KEYS + key_id)
        self._copies.changed()


def named_ok(name: str) -> bool:
    try:
        named("user", name)
    except BadRequest:
        return False
    return True


def _with_key(user: User, key_id: str) -> User:
    return User(user.name, user.created_at, user.groups, user.policies, key_id)

