"""Moved to ``filestoraged.base.threads`` (its name says its room); this name stays for whoever
imported it here."""

from ..base.threads import (  # noqa: F401
    Pool,
    PoolBusy,
    Stage,
    T,
    U,
    ahead,
)
