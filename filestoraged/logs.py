"""Logging set-up: stderr; under systemd plain lines that carry their priority.

journald stamps each line with its own time, and reads a ``<N>`` prefix
(sd-daemon(3)) as the line's priority: without it every line, errors too,
would be filed as "info".
"""

from __future__ import annotations

import logging
import os
import sys

# logging level -> syslog priority: err, warning, info, debug.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return "<%d>%s" % (_PRIORITY.get(record.levelno, 6), super().format(record))


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    elif os.environ.get("INVOCATION_ID"):  # under systemd, not writing to the journal
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
