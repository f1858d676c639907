"""How times are written for people and for machines, in one place: ISO
8601 in UTC for answers and the command line, and one form for every page,
UTC said as such (a share link's page shows it in the reader's own time
too, with its zone, where its script runs)."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_utc(timestamp: float) -> str:
    """``2026-11-23T19:30:00Z``: what JSON answers and ``token list`` carry."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def readable_utc(timestamp: float) -> str:
    """``2026-11-23 19:30:05 UTC``: what a page shows."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_element(timestamp: float) -> str:
    """A page's time: ``readable_utc`` in a ``<time>`` element whose
    ``datetime`` is the ISO form (HTML, escaped already)."""
    return '<time datetime="%s">%s</time>' % (iso_utc(timestamp), readable_utc(timestamp))
