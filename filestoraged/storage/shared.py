"""Moved to ``filestoraged.base.interprocess`` (its name says its room); this name stays for whoever
imported it here."""

from ..base.interprocess import (  # noqa: F401
    ProcessLock,
    SharedCounters,
    WORKER_SLOTS,
    run_dir,
)
