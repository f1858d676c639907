"""What a share link is, and the rules it is judged by: whether it can still
give a download, whether it still needs its blob, its secrets."""

from __future__ import annotations

import hashlib
import secrets
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple

from ..errors import Gone
from ..storage.interface import Hashed

if TYPE_CHECKING:
    from .passwords import Passwords

log = logging.getLogger(__name__)

TOMBSTONE_SECONDS = 30 * 24 * 3600  # dead links answer 410 this long, then 404
MAX_DOWNLOADS = 1_000_000  # downloads one link may allow
# Seconds a blob no link names is kept: an upload may be about to link it,
# and an upload's pin (see ``LinkRules.pinned``) lapses after this.
ORPHAN_GRACE = 600.0


@dataclass(frozen=True)
class Link:
    id: str
    oid: str
    size: int
    filename: Optional[str]
    content_type: Optional[str]
    password_salt: Optional[bytes]
    password_hash: Optional[bytes]
    delete_token_hash: str
    max_downloads: int
    downloads: int
    in_flight: int
    created_at: float
    expires_at: float
    deleted: int
    blob_released: int
    maker: Optional[str] = None  # the name of the token that made it

    @property
    def downloads_left(self) -> int:
        """Downloads still to be had, counting transfers in flight as taken."""
        return self.max_downloads - self.downloads - self.in_flight

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


@dataclass(frozen=True)
class NewLink:
    id: str
    delete_token: str
    expires_at: float


class LinkRules:
    """What every share-link store judges the same way; a store gives
    ``clock`` (the time expiry is judged by) and ``passwords``."""

    clock: Callable[[], float]
    passwords: "Passwords"

    def check_alive(self, link: Link) -> None:
        check_alive(link, self.clock())

    def new_secrets(self, password: Optional[str], digested: Optional[tuple] = None) -> tuple:
        """``(link id, delete token, password salt, password digest)`` for a
        new link; ``digested``: the password's ``(salt, digest)`` made ahead
        (a resumable upload keeps no password in the clear until it ends)."""
        if digested is not None:
            salt, digest = digested
        else:
            salt, digest = self.passwords.digest(password) if password else (None, None)
        # 192 random bits each: a 32-character id that cannot be guessed, and its delete token.
        return secrets.token_urlsafe(24), word_token(), salt, digest

    def pin(self, oid: str) -> str:
        """Keep the blob ``oid`` from removal (for ``ORPHAN_GRACE`` at most);
        the pin's id for ``unpin``. Never between a removal's last look at
        the blob and the blob's removal: after it, the bytes are gone."""
        raise NotImplementedError

    def unpin(self, oid: str, pin: str) -> None:
        raise NotImplementedError

    @contextmanager
    def pinned(self) -> Iterator[Hashed]:
        """For one upload: a callable for ``Backend.put``'s ``hashed`` that
        pins the blob before the backend looks whether it holds those bytes
        already (an upload that deduplicates onto a blob no link needs any
        more keeps it); unpinned when the block ends, its link made or not."""
        pins: List[Tuple[str, str]] = []
        try:
            yield lambda oid, look=None: pins.append((oid, self.pin(oid)))
        finally:
            for oid, pin in pins:
                try:
                    self.unpin(oid, pin)
                except Exception as error:  # it lapses by itself
                    log.warning("could not unpin share blob %s...: %s", oid[:12], error)

    def check_password(self, link: Link, password: Optional[str]) -> None:
        """Rate-limited, constant-time (see ``passwords``); a link without one passes."""
        if link.has_password:
            self.passwords.check(link.id, link.password_salt or b"", link.password_hash or b"", password)


def alive(link: Link, now: float) -> bool:
    """Whether ``link`` can still give downloads: not deleted, expired or used up."""
    return not link.deleted and link.expires_at > now and link.downloads < link.max_downloads


def needs_blob(link: Link, now: float) -> bool:
    """Whether ``link`` still needs its blob: alive, or a transfer still running."""
    return alive(link, now) or link.in_flight > 0


def check_alive(link: Link, now: float) -> None:
    """``Gone`` unless ``link`` can still give a download at ``now``."""
    if link.deleted:
        raise Gone("this link was deleted")
    if link.expires_at <= now:
        raise Gone("this link has expired")
    if link.downloads >= link.max_downloads:
        raise Gone("this link has been used up")
    # HEAD answers as a GET would now: the last downloads may be taken by
    # transfers still in flight (given back if they are cut short).
    if link.downloads + link.in_flight >= link.max_downloads:
        raise Gone("this link has no downloads left")


def token_hash(token: str) -> str:
    """What a store keeps of a delete token. Delete tokens are 192 random
    bits: a plain SHA-256 keeps the store from holding usable tokens (there
    is no dictionary to attack)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def word_token() -> str:
    """192 random bits as 32 URL-safe characters that do not begin with ``-``:
    the token is typed after ``--delete-token``, where one that began with a
    dash would be read as an option (``expected one argument``). Drawing again
    then leaves 191.9 bits."""
    while True:
        token = secrets.token_urlsafe(24)
        if not token.startswith("-"):
            return token
