"""Moved to ``filestoraged.web.response_cache`` (its name says its room); this name stays for whoever
imported it here."""

from .response_cache import (  # noqa: F401
    MAX_BODY,
    Ready,
    ReadyResponses,
    is_plain,
)
