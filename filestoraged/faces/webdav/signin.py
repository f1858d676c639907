"""Who a WebDAV request is: its token's scopes judged as on every face,
with the challenge WebDAV clients answer: HTTP Basic, the token as the
password (a bearer token works too)."""

from __future__ import annotations

from typing import Optional

from ...access.scopes import Need
from ...errors import Unauthorized
from ...web.messages import Request

CHALLENGE = 'Basic realm="filestoraged", charset="UTF-8"'


def require(request: Request, need: Optional[Need]) -> None:
    """``need`` of the request's token (None: only that a token proved
    itself where one is needed), with the challenge WebDAV clients answer:
    HTTP Basic, the token as password."""
    try:
        if need is None:
            request.grant.identify()
        else:
            request.grant.require(need)
    except Unauthorized as refused:
        refused.challenge = CHALLENGE
        raise
