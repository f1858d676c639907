"""Backup and restore of a serving store (disk backend, ``--records
local``): ``filestoraged backup DEST`` and ``filestoraged restore BACKUP``.
``make`` takes a consistent copy while the daemon serves, ``restore``
makes a store of it, ``copies`` puts a store's files in another folder
(objects hard-linked, or copied across file systems; SQLite snapshots)."""
