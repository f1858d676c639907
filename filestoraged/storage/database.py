"""Moved to ``filestoraged.base.sqlite`` (its name says its room); this name stays for whoever
imported it here."""

from ..base.sqlite import (  # noqa: F401
    Database,
    DatabaseStore,
    open_database,
    transaction,
)
