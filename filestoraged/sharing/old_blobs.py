"""Share links' blob records as stores made before the holds engine wrote
them, brought to its form once, on start (``BLOBS_FORM``, ``records.once``).

Before, a blob's record named its links and uploads under ``refs``, when a
sweep first found it named by none under ``idle_since``, and a removal
under way as ``removing: true``. Now they are ``pins``, ``idle`` and
since when the removal runs (``holds.blobs``, the S3 API's form): a
removal found under way is dated at the conversion, so the next sweep
finishes it as before. A record in the new form is left as it is, so a
conversion that stopped midway runs again whole.
"""

from __future__ import annotations

import logging
from typing import Optional

from ..holds.due import PAGE
from ..records.interface import Records
from ..records.once import Conversion
from .sweep import BLOBS

log = logging.getLogger(__name__)

FORMAT = "share-format"
PINS = 2  # the blob records' form: 2, the holds engine's
TURN = "share-format-turn"
_OLD = ("refs", "idle_since")


def convert(records: Records) -> int:
    """Every blob record in the old form brought to the new; how many."""
    now = records.now()
    done = 0
    for name in records.walk_keys(BLOBS, PAGE):
        done += records.update(name, lambda value: _converted(value, now)) is not None
    return done


def _converted(value: Optional[dict], now: float) -> Optional[dict]:
    if value is None or (not any(field in value for field in _OLD) and value.get("removing") is not True):
        return None
    new = {field: kept for field, kept in value.items() if field not in _OLD}
    new["pins"] = dict(value.get("refs", {}), **value.get("pins", {}))
    new["idle"] = value.get("idle", value.get("idle_since"))
    if value.get("removing") is True:
        new["removing"] = now
    return new


def _converted_all(records: Records) -> None:
    converted = convert(records)
    if converted:
        log.info("the share links' blob records of this store are in the holds engine's form: %d converted",
                 converted)


BLOBS_FORM = Conversion(FORMAT, "blobs", PINS, TURN, _converted_all, "share-link blob records")
