"""Share links an older version kept in ``meta.db``'s own tables
(``share_links``, ``share_holds``, ``share_pins``) move into the local
records once, at start: same ids, secrets, counts and dates, so every link
made before the upgrade still works."""

from __future__ import annotations

from ..records.interface import Conflict
from ..records.local import LocalRecords
from .sweep import BLOBS, LINKS

_OLD_TABLES = ("share_links", "share_holds", "share_pins")


def migrate_sqlite_links(records: LocalRecords) -> int:
    """Move the old table's links into ``records``; how many moved. Holds
    are not moved: no transfer of the old run is still going."""
    with records._lock:
        db = records._db
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'share_links'").fetchone() is None:
            return 0
        rows = db.execute("SELECT id, oid, size, filename, content_type, password_salt, password_hash,"
                          " delete_token_hash, max_downloads, downloads, created_at, expires_at, deleted,"
                          " blob_released FROM share_links").fetchall()
    moved = 0
    refs: dict = {}
    for (link_id, oid, size, filename, content_type, salt, digest, delete, most, downloads, created, expires,
         deleted, released) in rows:
        dead = bool(deleted) or downloads >= most
        value = {"oid": oid, "size": size, "filename": filename, "content_type": content_type,
                 "salt": bytes(salt).hex() if salt else None, "hash": bytes(digest).hex() if digest else None,
                 "delete": delete, "max": most, "downloads": downloads, "holds": {}, "created": created,
                 "expires": expires, "deleted": bool(deleted), "died": min(created, expires) if dead else None}
        try:
            records.create(LINKS + link_id, value)
            moved += 1
        except Conflict:
            continue  # moved already (another worker at the same start)
        if not released:
            refs.setdefault(oid, {})[link_id] = created
    for oid, named in refs.items():
        records.update(BLOBS + oid, lambda value, named=named: dict(
            value or {}, refs=dict((value or {}).get("refs", {}), **named), idle_since=None))
    with records._lock:
        for table in _OLD_TABLES:
            records._db.execute("DROP TABLE IF EXISTS %s" % table)
    return moved
