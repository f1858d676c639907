"""Object lock: what a version's retention and legal hold forbid, as S3
judges them. A lock is part of the version's record (``Entry.lock``:
``{"mode", "until", "hold"}``), so it lasts as long as the version, on
every daemon, across restarts.

- ``COMPLIANCE`` until a date: the version may not be deleted, nor its
  retention shortened or its mode changed, by anyone, before that date.
- ``GOVERNANCE`` until a date: the same, except for a request that asks to
  bypass it (``x-amz-bypass-governance-retention: true``) from a caller
  allowed to (``bypass``).
- A legal hold: no delete at all while it is on, whatever the retention;
  anyone who may write the key may put it on or take it off.

A version deleted here is one deleted by its id (or the current version's
bytes replaced in place, which never happens in a bucket with object
lock: versioning stays enabled there). A delete marker, an overwrite that
adds a version, and listing are never refused.
"""

from __future__ import annotations

from typing import Optional

from ..base.timestamps import iso_utc
from ..errors import BadRequest, Forbidden

MODES = ("GOVERNANCE", "COMPLIANCE")
MAX_DAYS = 100 * 365  # the longest default retention taken (S3's own limit)


def kept_until(stamp: float) -> float:
    """A retain-until time as it is kept: to the millisecond, the precision
    it is given back in, so a client that waits until the date it read has
    passed finds the version free (kept to the microsecond, it was still
    locked for up to a millisecond after its date as read)."""
    return round(stamp, 3)


def unreadable(lock: object) -> Optional[str]:
    """Why a version's stored lock cannot be read (None: it can), for fsck:
    a lock that cannot be read is never taken as no lock."""
    if lock is None:
        return None
    if not isinstance(lock, dict):
        return "not a lock record"
    if not isinstance(lock.get("hold", False), bool):
        return "a legal hold that is neither on nor off"
    if "until" in lock or "mode" in lock:
        if lock.get("mode") not in MODES:
            return "an unknown mode %r" % str(lock.get("mode"))[:20]
        if not isinstance(lock.get("until"), (int, float)) or isinstance(lock.get("until"), bool):
            return "a retain-until date that is not a time"
    return None


def readable(lock: Optional[dict], what: str) -> dict:
    """``lock`` (``{}`` for none), or ``Forbidden`` where it cannot be read:
    the version is then kept, and nothing is said of a lock as if it were
    known."""
    why = unreadable(lock)
    if why:
        raise Forbidden("%s carries an object lock that cannot be read (%s): it is kept as if locked; "
                        "filestoraged fsck names it" % (what, why)).as_s3("AccessDenied")
    return lock or {}


def guard(lock: Optional[dict], now: float, bypass: bool, what: str) -> None:
    """Refuse (``Forbidden``, AccessDenied) to delete ``what`` (a version)
    while ``lock`` protects it."""
    if not lock:
        return
    lock = readable(lock, what)
    if lock.get("hold"):
        raise Forbidden("%s is under a legal hold: take it off first (PutObjectLegalHold OFF)" % what
                        ).as_s3("AccessDenied")
    until = lock.get("until")
    if until is None or float(until) <= now:
        return
    if lock.get("mode") == "GOVERNANCE" and bypass:
        return
    raise Forbidden("%s is locked in %s mode until %s%s" % (
        what, lock.get("mode"), iso_utc(float(until)),
        "" if lock.get("mode") == "COMPLIANCE" else " (send x-amz-bypass-governance-retention: true with an admin "
        "key to bypass it)")).as_s3("AccessDenied")


def held(old: Optional[dict], on: bool) -> dict:
    """The lock after a legal hold is put (``on``) or lifted: a hold may be
    either at any time, whatever the retention."""
    return dict(readable(old, "the version"), hold=on)


def retained(old: Optional[dict], mode: Optional[str], until: Optional[float], now: float, bypass: bool
             ) -> dict:
    """The lock after PutObjectRetention asks for ``mode`` until ``until``
    (both None: remove the retention). A retention in force may be made
    longer in its mode; anything else (shorter, removed, another mode: as
    S3, GOVERNANCE made COMPLIANCE too) needs GOVERNANCE and a bypass, and
    COMPLIANCE yields to nothing."""
    old = dict(readable(old, "the version"))
    in_force = old.get("until") is not None and float(old["until"]) > now
    if in_force:
        longer = (mode is not None and until is not None and until >= float(old["until"])
                  and mode == old.get("mode"))
        if not longer:
            if old.get("mode") == "COMPLIANCE":
                raise Forbidden("the version is locked in COMPLIANCE mode until %s: its retention may only be made "
                                "longer" % iso_utc(float(old["until"]))).as_s3("AccessDenied")
            if not bypass:
                raise Forbidden("the version is locked in GOVERNANCE mode until %s: to shorten it, remove it or "
                                "change its mode send "
                                "x-amz-bypass-governance-retention: true with an admin key"
                                % iso_utc(float(old["until"]))).as_s3("AccessDenied")
    if mode is None:
        old.pop("mode", None)
        old.pop("until", None)
    else:
        if until is None or until <= now:
            raise BadRequest("the retain-until date must be in the future").as_s3("InvalidArgument")
        old.update(mode=mode, until=until)
    return old
