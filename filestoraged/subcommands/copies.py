"""``backup``, ``restore``, ``move-to-s3`` and ``move-records``: a store
copied elsewhere (``backup/`` does the work), and what was copied, one
line each."""

from __future__ import annotations

import os

from ..client.progress import size_text
from ..workers.startup import fail, no_data_dir


def run_backup(config) -> int:
    """``backup DEST`` and ``restore BACKUP``: what was copied, one line each."""
    from ..errors import FileStoreError

    if config.backend != "disk" or config.records != "local":
        return fail("filestoraged %s copies a disk store with --records local; with --backend %s back up what "
                    "holds the store with its own tools (docs/operations.md, Backup and restore)"
                    % (config.command, config.backend), 2)
    folder = config.words[0]
    try:
        if config.command == "backup":
            if not os.path.isdir(config.data_dir):
                return no_data_dir(config)
            from ..backup.make import make_backup

            made = make_backup(config.data_dir, folder, config.max_size)
            print("backed up %s into %s: %d objects, %s (%d new, %d removed: no longer stored; as %s), the records "
                  "as of %s" % (config.data_dir, folder, made.objects, size_text(made.bytes), made.new, made.removed,
                                made.how, made.started))
            return 0
        from ..backup.restore import restore

        manifest, placed, lacking = restore(folder, config.data_dir, config.max_size)
    except FileStoreError as error:
        return fail("filestoraged %s: %s" % (config.command, error.text), 1)
    print("restored %s (backed up %s from %s) into %s: %d objects (%d linked, %d copied)"
          % (folder, manifest.started, manifest.source, config.data_dir, placed.new + placed.kept, placed.linked,
             placed.copied))
    if lacking:
        print("%d objects the backup names are not in it: %s; filestoraged fsck names what they leave without bytes"
              % (len(lacking), ", ".join(lacking[:5]) + (" ..." if len(lacking) > 5 else "")))
        return 1
    return 0


def run_move_records(config) -> int:
    """``move-records``: how many records, and whether all of them are there."""
    from ..backup.records_move import move_records
    from ..errors import FileStoreError
    from ..records.postgres import shown

    url = config.words[0]
    if config.backend != "s3":
        return fail("move-records moves the records of a store whose bytes are in an S3 store (--backend s3 ...); "
                    "a disk store moves there first: filestoraged move-to-s3", 2)
    if config.records == "local" and not os.path.isdir(config.data_dir):
        return no_data_dir(config)
    os.makedirs(config.data_dir, exist_ok=True)  # (where the moves are remembered)
    try:
        moved = move_records(config, url)
    except FileStoreError as error:
        return fail("move-records: %s" % error.text, 1)
    print("moved the records of --records %s into %s: %d records (%d written now, %d moved before)"
          % (config.records, shown(url), moved.records, moved.written,
             moved.records - moved.written - len(moved.conflicts)))
    if moved.conflicts:
        print("%d records were changed here since they were moved, or are in the database already with another "
              "value: %s; left as the database has them" % (
                  len(moved.conflicts), ", ".join(moved.conflicts[:5]) + (" ..." if len(moved.conflicts) > 5 else "")))
    if moved.missing:
        print("%d not found in the database afterwards: %s; run it again" % (
            len(moved.missing), ", ".join(moved.missing[:5]) + (" ..." if len(moved.missing) > 5 else "")))
    if moved.conflicts or moved.missing:
        return 1
    print("all of it checked in the database; start the daemons with --records %s" % shown(url))
    return 0


def run_move(config) -> int:
    """``move-to-s3``: what was copied, and whether all of it is there."""
    from ..backup.to_s3 import move_to_s3
    from ..errors import FileStoreError

    if not os.path.isdir(config.data_dir):
        return no_data_dir(config)
    if not config.s3_endpoint.startswith(("http://", "https://")) or not config.s3_bucket:
        return fail("move-to-s3 needs --s3-endpoint http(s)://HOST[:PORT] and --s3-bucket NAME", 2)
    if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        return fail("move-to-s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment", 2)
    try:
        moved = move_to_s3(config)
    except FileStoreError as error:
        return fail("move-to-s3: %s" % error.text, 1)
    print("moved %s into s3 bucket %s at %s: %d records (%d written now, %d moved before), %d objects, %s "
          "(%d copied now, %d there already)"
          % (config.data_dir, config.s3_bucket, config.s3_endpoint, moved.records, moved.written,
             moved.records - moved.written - len(moved.conflicts), moved.objects, size_text(moved.bytes),
             moved.copied, moved.objects - moved.copied))
    if moved.conflicts:
        print("%d records were changed here since they were moved, or are in the bucket already with another value: "
              "%s; left as the bucket has them (which is newer, only you know: remove the bucket's to move them "
              "again)" % (len(moved.conflicts), ", ".join(moved.conflicts[:5])
                          + (" ..." if len(moved.conflicts) > 5 else "")))
    if moved.missing:
        print("%d not found in the bucket afterwards: %s; run it again" % (
            len(moved.missing), ", ".join(moved.missing[:5]) + (" ..." if len(moved.missing) > 5 else "")))
    if moved.conflicts or moved.missing:
        return 1
    print("all of it checked in the bucket; start the daemons with --backend s3 --records s3 --s3-endpoint %s "
          "--s3-bucket %s --s3-key-file (a copy of %s)" % (config.s3_endpoint, config.s3_bucket,
                                                          config.s3_key_path))
    return 0
