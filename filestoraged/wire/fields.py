"""Names a client sends that we do not know (query parameters, form fields)
are refused by name, with the closest known one, as flags and settings are:
``-F pasword=x`` must not make a link without a password."""

from __future__ import annotations

import difflib
from typing import NoReturn, Sequence

from ..errors import BadRequest


def refuse_unknown(kind: str, name: str, known: Sequence[str]) -> NoReturn:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = " (did you mean %s?)" % close[0] if close else (
        " (it takes %s)" % ", ".join(known) if known else " (it takes none)")
    raise BadRequest("unknown %s %s%s" % (kind, ascii(name[:60]), hint))
