"""How times are written for people and for machines, in one place: ISO
8601 in UTC for answers and the command line, and a shorter UTC form for
pages (the page's script shows it in the reader's own time)."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_utc(timestamp: float) -> str:
    """``2026-11-23T19:30:00Z``: what JSON answers and ``token list`` carry."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def readable_utc(timestamp: float) -> str:
    """``2026-11-23 19:30 UTC``: what a page shows."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
