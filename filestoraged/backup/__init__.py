"""Whole-store copies of a disk store (``--records local``):
``filestoraged backup DEST`` and ``filestoraged restore BACKUP`` (``make``
takes a consistent copy while the daemon serves, ``restore`` makes a store
of it), and ``filestoraged move-to-s3`` (``to_s3``: the store moved into a
bucket that several daemons serve); ``copies`` puts a store's files in
another folder (objects hard-linked, or copied across file systems; SQLite
snapshots)."""
