"""The one reading of ``Accept`` (RFC 9110 §12.5.1): each media range and its
weight, and the questions the daemon asks of it."""

from __future__ import annotations

from typing import Dict

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def weights(headers) -> Dict[str, float]:
    """``{media range: q}`` of the request's ``Accept`` (lower-case ranges; a
    missing or malformed ``q`` is 1, an unreadable one 0)."""
    found: Dict[str, float] = {}
    for item in (headers.get("Accept") or "").split(","):
        kind, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        found[kind.strip().lower()] = weight
    return found


def accepts(headers, media_type: str) -> bool:
    """True if ``Accept`` names ``media_type`` itself with a weight above 0."""
    return weights(headers).get(media_type, 0.0) > 0


def prefers_html(headers) -> bool:
    """True if ``Accept`` names ``text/html`` and prefers it to JSON: a
    browser, whose failures and form answers are pages."""
    found = weights(headers)
    html = found.get("text/html", 0.0)
    return html > 0 and html > found.get("application/json", 0.0)


def names_html(headers) -> bool:
    """True if ``Accept`` names HTML (or XHTML) at least as high as JSON."""
    found = weights(headers)
    html = max(found.get(kind, 0.0) for kind in _HTML_TYPES)
    return html > 0 and html >= found.get("application/json", 0.0)
