"""Drop links in the records: ``drops/<secret>``, one record each, every
daemon's. The secret is the link (``/drop/<secret>``): whoever holds it
may send files into the link's folder, and do nothing else.

A link's limits (most files, most bytes a file and in all) hold exactly
under uploads at once, through every worker and daemon: an upload first
holds a file and its bytes in the link's record (a compare-and-swap,
``hold``), refused where the limits leave no room, and the hold becomes a
sent file once its key is written (``settle``), or is let go
(``release``). A hold a dead process left lapses after ``HOLD_LASTS``.
The record lists what was sent (name, size, who, when: the owner's view),
the newest ``LISTED``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import BadRequest, Forbidden, Gone, NotFound
from ..catalog.names import object_key
from ..records.interface import Records
from .names import free_key

DROPS = "drops/"
HOLD_LASTS = 24 * 3600.0  # seconds a hold counts without its upload ending (a worker that died left it)
LISTED = 1000  # files a link's record lists, newest last
MAX_NOTE = 2000  # characters of the note for the uploader
MAX_NAME = 200  # characters of a link's name, of an uploader's


@dataclass
class Drop:
    """One link, as its record holds it."""

    secret: str
    bucket: str
    prefix: str  # the folder its files land in ("" or ending in "/")
    name: str  # what the owner calls it (shown to the owner, and with each file it brings)
    owner: Optional[str]  # the name of the token or user that made it
    created: float
    expires: Optional[float] = None
    password: Optional[Tuple[str, str]] = None  # (salt, digest) in hex, as share links keep theirs
    max_files: Optional[int] = None
    max_file_bytes: Optional[int] = None
    max_bytes: Optional[int] = None
    note: str = ""
    revoked: Optional[float] = None
    files: int = 0  # files sent (all of them, listed or not)
    bytes: int = 0
    sent: List[dict] = field(default_factory=list)  # {"key", "size", "by", "at"}
    holds: Dict[str, list] = field(default_factory=dict)  # hold id -> [bytes, until, key]

    def state(self, now: float) -> Optional[str]:
        """Why the link takes no more files (None: it does)."""
        if self.revoked is not None:
            return "revoked by its owner"
        if self.expires is not None and now >= self.expires:
            return "expired"
        if self.max_files is not None and self.files >= self.max_files:
            return "spent: it took the %d files it was made for" % self.max_files
        if self.max_bytes is not None and self.bytes >= self.max_bytes:
            return "spent: it took the bytes it was made for"
        return None

    def live_holds(self, now: float) -> Dict[str, list]:
        return {hold: value for hold, value in self.holds.items() if value[1] > now}

    def record(self) -> dict:
        value = {name: getattr(self, name) for name in (
            "bucket", "prefix", "name", "owner", "created", "expires", "max_files", "max_file_bytes", "max_bytes",
            "note", "revoked", "files", "bytes", "sent", "holds")}
        value["password"] = list(self.password) if self.password else None
        return value

    @classmethod
    def of(cls, secret: str, value: dict) -> "Drop":
        password = value.get("password")
        return cls(secret, value["bucket"], value["prefix"], value["name"], value.get("owner"),
                   float(value["created"]), value.get("expires"), tuple(password) if password else None,
                   value.get("max_files"), value.get("max_file_bytes"), value.get("max_bytes"),
                   value.get("note") or "", value.get("revoked"), int(value.get("files") or 0),
                   int(value.get("bytes") or 0), list(value.get("sent") or []), dict(value.get("holds") or {}))


class DropLinks:
    def __init__(self, records: Records, clock: Callable[[], float] = time.time) -> None:
        self.records = records
        self.clock = clock

    def make(self, bucket: str, prefix: str, fields: Dict[str, object], owner: Optional[str],
             digest: Callable[[str], Tuple[bytes, bytes]]) -> Drop:
        """A new link for the folder ``prefix`` ("" or ending in ``/``) of
        ``bucket``, as ``fields`` describe it (``limits_of``, and a
        ``password``, kept as ``digest`` makes it: salt and digest), made by
        ``owner``; kept under a new secret."""
        limits = limits_of(fields, self.clock())
        password = fields.get("password") or None
        if password is not None and (not isinstance(password, str) or len(password) > 1024):
            raise BadRequest("password is text of at most 1024 characters")
        kept = tuple(part.hex() for part in digest(password)) if password else None
        drop = Drop(secrets.token_urlsafe(24), bucket, prefix, str(limits.pop("name")) or "upload link", owner,
                    self.clock(), password=kept, **limits)  # type: ignore[arg-type]
        self.records.create(DROPS + drop.secret, drop.record())
        return drop

    def get(self, secret: str) -> Drop:
        """The link; ``NotFound`` for a secret that names none."""
        record = self.records.get(DROPS + secret) if _is_secret(secret) else None
        if record is None:
            raise NotFound("no such link: it may have been mistyped, or deleted by its owner")
        return Drop.of(secret, record.value)

    def open(self, secret: str) -> Drop:
        """The link, if it takes files: ``Gone`` (410) saying why not."""
        drop = self.get(secret)
        why = drop.state(self.clock())
        if why is not None:
            raise Gone("this upload link is %s" % why)
        return drop

    def all(self) -> List[Drop]:
        return [Drop.of(key[len(DROPS):], record.value) for key, record in self.records.items(DROPS)]

    def revoke(self, secret: str) -> None:
        """The link takes no more files, from now on (its record stays, with what was sent)."""
        now = self.clock()

        def revoking(value: Optional[dict]) -> Optional[dict]:
            if value is None:
                raise NotFound("no such link")
            return None if value.get("revoked") is not None else dict(value, revoked=now)

        self.records.update(DROPS + secret, revoking)

    def delete(self, secret: str) -> None:
        if not self.records.delete(DROPS + secret):
            raise NotFound("no such link")

    def hold(self, secret: str, size: int, name: str, taken: Callable[[str], bool]) -> Tuple[str, str]:
        """A file of ``size`` bytes named ``name`` (made safe) held against
        the link's limits, with its key: the first for its name that
        ``taken`` says names nothing in the bucket and no other file being
        sent through the link holds (``names.free_key``), so that files of
        one name sent at once land beside each other. ``(hold id, key)``;
        ``Gone`` where the link takes no more files, ``Forbidden`` (403)
        where this file passes a limit."""
        hold = secrets.token_hex(8)
        now = self.clock()
        chosen: List[str] = []

        def holding(value: Optional[dict]) -> Optional[dict]:
            if value is None:
                raise Gone("this upload link was deleted by its owner")
            drop = Drop.of(secret, value)
            why = drop.state(now)
            if why is not None:
                raise Gone("this upload link is %s" % why)
            live = drop.live_holds(now)
            if drop.max_file_bytes is not None and size > drop.max_file_bytes:
                raise Forbidden("a file sent through this link is at most %d bytes; this one is %d"
                                % (drop.max_file_bytes, size))
            if drop.max_files is not None and drop.files + len(live) + 1 > drop.max_files:
                raise Forbidden("this link takes %d files, and the other files being sent take the rest"
                                % drop.max_files if live else "this link took the %d files it was made for"
                                % drop.max_files)
            if drop.max_bytes is not None and drop.bytes + sum(value[0] for value in live.values()) + size > \
                    drop.max_bytes:
                raise Forbidden("this link takes %d bytes in all; %d are left, this file is %d"
                                % (drop.max_bytes, max(0, drop.max_bytes - drop.bytes), size))
            held_keys = {value[2] for value in live.values() if len(value) > 2}
            key = free_key(drop.prefix, name, lambda key: key in held_keys or taken(key))
            chosen[:] = [key]
            live[hold] = [size, now + HOLD_LASTS, key]
            return dict(value, holds=live)

        self.records.update(DROPS + secret, holding)
        return hold, chosen[0]

    def settle(self, secret: str, hold: str, key: str, size: int, by: str) -> None:
        """The held file was written (``key``, ``size`` bytes; ``by``: who
        sent it, as the owner sees it): counted and listed."""
        now = self.clock()

        def settling(value: Optional[dict]) -> Optional[dict]:
            if value is None:
                return None  # deleted meanwhile: the file stays, nothing to count
            holds = dict(value.get("holds") or {})
            holds.pop(hold, None)
            sent = (list(value.get("sent") or []) + [{"key": key, "size": size, "by": by, "at": now}])[-LISTED:]
            return dict(value, holds=holds, sent=sent, files=int(value.get("files") or 0) + 1,
                        bytes=int(value.get("bytes") or 0) + size)

        self.records.update(DROPS + secret, settling)

    def release(self, secret: str, hold: str) -> None:
        """A hold given back: its upload failed or was refused."""
        def releasing(value: Optional[dict]) -> Optional[dict]:
            if value is None or hold not in (value.get("holds") or {}):
                return None
            holds = dict(value["holds"])
            del holds[hold]
            return dict(value, holds=holds)

        self.records.update(DROPS + secret, releasing)


def folder_of(prefix: str) -> str:
    """The folder a link's files land in, as its owner named it: ``""``
    (the bucket's top), else ending in ``/``; ``BadRequest`` for a folder
    no key could be in."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if prefix:
        object_key(prefix)
    return prefix


def limits_of(fields: Dict[str, object], now: float) -> Dict[str, object]:
    """A new link's limits and words from a request's fields: ``expires_in``
    (seconds), ``max_files``, ``max_file_bytes``, ``max_bytes`` (whole
    numbers above 0, or absent), ``note`` and ``name`` (text);
    ``BadRequest`` naming the field that is not one of these."""
    found: Dict[str, object] = {}
    for name in ("expires_in", "max_files", "max_file_bytes", "max_bytes"):
        value = fields.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2 ** 53:
            raise BadRequest("%s is a whole number above 0" % name)
        found[name] = value
    expires_in = found.pop("expires_in", None)
    found["expires"] = now + expires_in if expires_in else None
    for name, most in (("note", MAX_NOTE), ("name", MAX_NAME)):
        value = fields.get(name) or ""
        if not isinstance(value, str) or len(value) > most:
            raise BadRequest("%s is text of at most %d characters" % (name, most))
        found[name] = value.strip()
    return found


def _is_secret(text: str) -> bool:
    return len(text) == 32 and all(c.isalnum() or c in "-_" for c in text) and text.isascii()
