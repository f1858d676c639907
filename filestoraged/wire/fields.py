"""The small values a client sends beside its request (query parameters,
form fields, a few headers): names we do not know are refused by name, with
the closest known one, as flags and settings are (``-F pasword=x`` must
not make a link without a password); numbers are whole and in range."""

from __future__ import annotations

import difflib
from typing import NoReturn, Optional, Sequence

from ..errors import BadRequest


def refuse_unknown(kind: str, name: str, known: Sequence[str]) -> NoReturn:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = " (did you mean %s?)" % close[0] if close else (
        " (it takes %s)" % ", ".join(known) if known else " (it takes none)")
    raise BadRequest("unknown %s %s%s" % (kind, ascii(name[:60]), hint))


def whole_number(text: Optional[str], name: str, default: int, low: int, high: int) -> int:
    """A query or form value that must be a whole number in ``[low, high]``
    (ASCII digits: ``str.isdigit`` would take ``²``); ``default`` if absent."""
    if text is None or text.strip() == "":
        return default
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or not low <= int(text) <= high:
        raise BadRequest("%s must be a whole number from %d to %d" % (name, low, high))
    return int(text)
