"""Share-link passwords: salted scrypt digests, made and checked on a small
pool of threads, and rate-limited per link.

An attempt counts as wrong from the moment it is let in until it proves
right, so concurrent guesses cannot pass the limit while their checks run
(100 at once used to get 51 checks against a limit of 5). The pool keeps the
16 MiB each check takes on two threads (see ``base.threads.Pool``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Callable, Optional, Tuple

from ..errors import BackendUnavailable, TooManyRequests, Unauthorized
from ..base.threads import Pool, PoolBusy
from ..records.interface import Records
from ..access.attempts import Attempts

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # ~16 MiB and ~50 ms per check
# Browsers prompt for a password on this; wget --user/--password, urllib's
# auth handler and curl --anyauth answer it.
LINK_CHALLENGE = 'Basic realm="share link", charset="UTF-8"'
PASSWORD_CHECKERS = 2  # scrypt checks at once (16 MiB each) ...
PASSWORD_QUEUE = 16  # ... and at most this many waiting; more are 429
WRONG_PASSWORDS = 5  # allowed per link within ...
WRONG_PASSWORD_WINDOW = 60.0  # ... this many seconds; then 429


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, **SCRYPT)


class Passwords:
    def __init__(self, throttle: Records, clock: Callable[[], float]) -> None:
        """``throttle``: the records that count wrong passwords."""
        self.clock = clock
        self.wrong = Attempts(throttle, "password", WRONG_PASSWORDS, WRONG_PASSWORD_WINDOW)
        self._pool = Pool(PASSWORD_CHECKERS, PASSWORD_QUEUE, "scrypt")

    def digest(self, password: str) -> Tuple[bytes, bytes]:
        """``(salt, digest)`` for a new link's password."""
        salt = secrets.token_bytes(16)
        try:
            return salt, self._pool.run(hash_password, password, salt)
        except PoolBusy:
            raise BackendUnavailable("too many password operations at once; send it again") from None

    def check(self, link_id: str, salt: bytes, expected: bytes, password: Optional[str]) -> None:
        """Constant-time check; ``Unauthorized`` (with the Basic challenge) or
        ``TooManyRequests`` past the per-link limit or a full pool."""
        now = self.clock()
        if password is None:
            retry = self.wrong.retry_after(link_id, now)
            if retry is not None:
                raise TooManyRequests(retry, "too many wrong passwords; retry in %d s" % retry)
            raise Unauthorized("this link needs a password", LINK_CHALLENGE)
        retry = self.wrong.admit(link_id, now)
        if retry is not None:
            raise TooManyRequests(retry, "too many wrong passwords; retry in %d s" % retry)
        try:
            digest = self._pool.run(hash_password, password, salt)
        except PoolBusy:
            self.wrong.forget(link_id, now)
            raise TooManyRequests(1, "too many password checks at once; retry in 1 s") from None
        if not hmac.compare_digest(digest, expected):
            self.wrong.settle(link_id, now)
            raise Unauthorized("wrong password", LINK_CHALLENGE)
        self.wrong.forget(link_id, now)

    def close(self) -> None:
        self._pool.close()
        self.wrong.close()
