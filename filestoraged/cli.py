"""The ``filestoraged`` command: serve (the default), fsck, token, backup,
restore, and the client's put, get, rm and ls (``client``)."""

from __future__ import annotations

import os
import sys
import time
from typing import Optional, Sequence

from . import config as config_module
from . import logs
from .client.progress import WIDTH, size_text
from .workers import process, worker_count
from .workers.startup import fail, guarded

CLIENT_COMMANDS = ("put", "get", "rm", "ls")
# Where a subcommand finds the store: the daemon's own settings.
_STORE_OPTIONS = """
where the store is (as the daemon's own settings: flags, FILESTORAGED_* variables or --config FILE):
  --data-dir DIR        the data directory (the service's: /var/lib/filestoraged)
  --backend disk|s3     with s3: --s3-endpoint URL --s3-bucket NAME [--s3-region R] (AWS_* credentials)
  --records local|s3    where tokens live (s3: in the bucket, with the --s3-* settings)
  --config FILE         an INI file, section [filestoraged]
"""
SUBCOMMAND_HELP = {
    "fsck": """usage: filestoraged fsck [--repair] [store options]

Verify every stored object against its SHA-256 and every stored value that
reaches a response header; report objects without a block record, block
records without their object, and where the object index and the disk
disagree. Safe beside a serving daemon, --repair too; on a terminal it
shows its progress.

options:
  --repair              move corrupt objects to <data-dir>/.corrupt/, write missing block records, remove
                        stray records and refused values, set the object index right (s3: remove bodies
                        no record names, a day old)
""" + _STORE_OPTIONS,
    "token": """usage: filestoraged token create --scope SCOPE [--scope ...] [--name NAME] [--expires-in SECONDS] [--s3]
       filestoraged token list
       filestoraged token rotate NAME
       filestoraged token revoke NAME

Manage API tokens (in the store's records, beside a serving daemon). A new
token's secret is printed once, alone on the last line; list never shows one.
rotate gives a token new secrets (a new S3 key pair too, if it has one),
printed as create prints them; the old ones end at once.
""" + _STORE_OPTIONS,
    "backup": """usage: filestoraged backup DEST [store options]

Copy the store, while it serves, into the folder DEST: every object (hard-linked
where DEST is on the same file system, else copied), the records (tokens, share
links, the key-value store, S3 keys and versions) and the object index as each
stood at one moment, and the S3 server key. DEST/backup.json, written last, says
what it holds. Backing up into the same DEST again copies only what is new and
removes what is gone. Uploads not finished are left out. Disk backend with
--records local only (docs/operations.md says what to do otherwise).
""" + _STORE_OPTIONS,
    "restore": """usage: filestoraged restore BACKUP --data-dir DIR

Make a store in DIR (new, or an empty folder: what is restored then belongs to
its owner) of the backup in the folder BACKUP; then start the daemon on DIR.
Objects are hard-linked from the backup where both are on one file system
(the backup stays as it was), else copied.
""" + _STORE_OPTIONS,
    "move-to-s3": """usage: filestoraged move-to-s3 --data-dir DIR --s3-endpoint URL --s3-bucket NAME [--s3-region R]

Copy a disk store (its daemon stopped) into an S3 bucket, laid out as --backend s3
--records s3 keeps a store: every object, and every record (tokens, share links,
the key-value store, S3 buckets, keys, versions and locks). Then start any number
of daemons with --backend s3 --records s3 over that bucket, each given this
store's s3.key as --s3-key-file. Run again, it copies only what is missing. The
store's credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
""",
    "move-records": """usage: filestoraged move-records [--to] postgresql://USER@HOST[:PORT]/DATABASE[?tls=…&passfile=…]
                                 --data-dir DIR --backend s3 --s3-endpoint URL --s3-bucket NAME [--records s3]

Copy a store's records (every daemon stopped) into a PostgreSQL database: tokens,
share links, the key-value store, S3 buckets, keys, versions and locks, Git LFS
locks. From --records local (meta.db in DIR) or --records s3 (the bucket's); the
bytes stay in the S3 store where they are. Then start the daemons with --records
and the database's address. Run again, it copies only what is missing. The
password: the file passfile= names, or PGPASSWORD.
""",
    "token create": """usage: filestoraged token create --scope SCOPE [--scope ...] [--name NAME] [--expires-in SECONDS]
                                 [--s3]

Make an API token; its secret is printed once, alone on the last line.

options:
  --scope SCOPE         repeatable: files:read|write|delete, data:REPO:read|create|write|delete (REPO may
                        be *; data:REPO/KEY-PREFIX:VERB for S3 keys under a prefix),
                        share:create|delete, kv:read|write, metrics:read, or admin (everything)
  --name NAME           its name (a lock's owner in Git LFS; default: a generated one)
  --expires-in SECONDS  its lifetime (default: none)
  --s3                  an S3 key pair too, for the S3 API (--s3-api): the output is then three lines for the
                        shell, FILESTORAGED_TOKEN=, AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= (the rest on
                        stderr); the secret key derives from --s3-key-file (default <data-dir>/s3.key)
""" + _STORE_OPTIONS,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit status 0; 2 for bad configuration, 1 for an environment that will
    not serve (a port in use, a data directory that cannot be written, a
    missing dependency): each one line on stderr, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .client.arguments import first_word

    if first_word(argv) in CLIENT_COMMANDS:  # the client: put, get, rm, ls
        from .client.arguments import main as client_main

        return client_main(argv)
    if argv and argv[0] in ("fsck", "token", "backup", "restore", "move-to-s3", "move-records") and (
            "--help" in argv or "-h" in argv):
        words = [word for word in argv if not word.startswith("-")][:2]
        print(SUBCOMMAND_HELP.get(" ".join(words), SUBCOMMAND_HELP[argv[0]]), end="")
        return 0
    try:
        config = config_module.load(argv)
    except config_module.ConfigError as error:
        return fail(str(error), 2)
    logs.configure(config.log_level)
    if config.command == "serve":
        return guarded(config, lambda: run_daemon(config, argv))
    from .base.ownership import for_its_owner
    from .errors import FileStoreError

    try:
        with for_its_owner(config.data_dir):  # run as root on the service's folder: what it makes stays the service's
            if config.command == "fsck":
                return guarded(config, lambda: run_fsck(config))
            if config.command == "token":
                return run_token(config)
            if config.command in ("backup", "restore"):
                return guarded(config, lambda: run_backup(config))
            if config.command == "move-records":
                return guarded(config, lambda: run_move_records(config))
            return guarded(config, lambda: run_move(config))
    except FileStoreError as error:
        return fail("filestoraged %s: %s" % (config.command, error.text), 1)


def run_daemon(config, argv: Sequence[str]) -> int:
    """One process, or a parent with worker processes (``--workers``)."""
    from .base.memory import tune_malloc

    tune_malloc()  # before any thread or worker starts: they inherit it
    from .deployment import deployment_for

    deployment_for(config).check_store()  # before any fork: a store that would race silently is one line, exit 1
    count = worker_count(config.workers)
    if count == 1:
        return process.serve_process(config)
    from .workers.arbiter import Arbiter

    return Arbiter(config, argv).run()


def run_backup(config) -> int:
    """``backup DEST`` and ``restore BACKUP``: what was copied, one line each."""
    from .errors import FileStoreError

    if config.backend != "disk" or config.records != "local":
        return fail("filestoraged %s copies a disk store with --records local; with --backend %s back up what "
                    "holds the store with its own tools (docs/operations.md, Backup and restore)"
                    % (config.command, config.backend), 2)
    folder = config.words[0]
    try:
        if config.command == "backup":
            if not os.path.isdir(config.data_dir):
                return no_data_dir(config)
            from .backup.make import make_backup

            made = make_backup(config.data_dir, folder, config.max_size)
            print("backed up %s into %s: %d objects, %s (%d new, %d removed: no longer stored; as %s), the records "
                  "as of %s" % (config.data_dir, folder, made.objects, size_text(made.bytes), made.new, made.removed,
                                made.how, made.started))
            return 0
        from .backup.restore import restore

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
    from .backup.records_move import move_records
    from .errors import FileStoreError
    from .records.postgres import shown

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
    from .backup.to_s3 import move_to_s3
    from .errors import FileStoreError

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


def run_fsck(config) -> int:
    from .deployment import deployment_for
    from .storage.disk.backend import DiskBackend
    from .storage.disk.fsck import fsck

    if config.backend == "s3":
        return run_s3_fsck(config)
    if config.backend != "disk":
        return fail("fsck checks the disk and s3 backends", 2)
    if not os.path.isdir(config.data_dir):
        return no_data_dir(config)
    # Safe beside a serving daemon, --repair too: nothing in .tmp is
    # touched, and every change takes the lock uploads take (storage.disk.fsck).
    backend = DiskBackend(config.data_dir, config.max_size, alone=False)
    try:
        shown = FsckProgress(backend.index.totals()[0])
        deployment = deployment_for(config)
        report = fsck(backend, repair=config.repair, progress=shown, live_uploads=deployment.upload_ids)
        report.refused_values += deployment.check_links(config.repair)
        keys = deployment.check_keys(backend, config.repair)
    finally:
        backend.close()
    fixed = config.repair
    print("%d objects checked, %d corrupt, %d moved to .corrupt/, %d without a block record%s, "
          "%d stored values refused%s"
          % (report.checked, len(report.corrupt), len(report.repaired), len(report.unrecorded),
             " (written)" if fixed else "", len(report.refused_values), " (removed)" if fixed else ""))
    for where in report.corrupt:
        print("corrupt: %s (%s)" % (where, report.why.get(where, "")))
    if report.orphan_records:
        print("%d block records without their object%s" % (len(report.orphan_records), " (removed)" if fixed else ""))
    for where in report.refused_values:
        print("refused value: " + where)
    for found, what in ((report.unindexed, "stored but missing from the object index"),
                        (report.vanished, "named by the object index but gone")):
        if found:
            print("%d objects %s%s: %s" % (len(found), what, " (set right)" if fixed else "",
                                           ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    for found, what in ((report.ended_uploads, "folders of uploads that ended (a stop between their end and their "
                                               "parts'); removed by --repair"),
                        (report.uncounted_parts, "upload files not counted as they are (a stop between a part's "
                                                 "write and its count)")):
        if found:
            print("%d %s%s: %s" % (len(found), what, " (set right)" if fixed else "",
                                   ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    if report.totals:
        print(report.totals + (" (set right)" if fixed else ""))
    if keys_said(keys, fixed):
        return 1
    return 1 if not (report.clean and not (keys and keys.unclaimed)) and not fixed else 0


def keys_said(keys, fixed: bool) -> bool:
    """``fsck``'s lines about the S3 keys and versions (``catalog.keys_check``);
    whether it found what only a person can mend."""
    if keys is not None and keys.checked:
        print("%d S3 keys and versions checked" % keys.checked)
    for found, what, mended in ((keys.gone if keys else [], "name objects that are not stored (restore them from "
                                 "a backup, or delete the key)", ""),
                                (keys.unclaimed if keys else [], "do not hold their bytes", " (held again)"),
                                (keys.bad_locks if keys else [], "carry an object lock that is wrong (left as it is: "
                                 "a person decides)", ""),
                                (keys.lost if keys else [], "are listed by their key but their record is missing "
                                 "(restore it from a backup, or delete the version by its id)", "")):
        if found:
            print("%d S3 keys and versions %s%s: %s" % (len(found), what, mended if fixed else "",
                                                        ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")))
    return keys is not None and bool(keys.gone or keys.bad_locks or keys.lost)


class FsckProgress:
    """fsck's progress on stderr when it is a terminal (objects, bytes,
    rate, what is left against the index's count); nothing otherwise."""

    def __init__(self, expected: int, stream=sys.stderr) -> None:
        self._expected = expected
        self._stream = stream
        self._shown = stream.isatty()
        self._started = self._last = time.monotonic()

    def __call__(self, objects: int, size: int, done: bool) -> None:
        now = time.monotonic()
        if not self._shown or (not done and now - self._last < 0.5):
            return
        self._last = now
        rate = objects / max(now - self._started, 1e-6)
        line = "fsck: %d objects, %s, %d objects/s" % (objects, size_text(size), rate)
        if not done and self._expected > objects and rate > 0:
            line += ", %d%%, about %d s left" % (100 * objects // self._expected, (self._expected - objects) / rate)
        self._stream.write("\r" + line.ljust(WIDTH)[:WIDTH] + ("\n" if done else ""))
        self._stream.flush()


def run_s3_fsck(config) -> int:
    """The bucket's streamed objects: records that do not read, bodies no
    record names (``--repair`` removes those a day old; see storage.s3.fsck);
    with the records in a database, the S3 keys and versions against the
    bytes, read through the database's index (never a listing of the
    bucket). Safe beside serving daemons."""
    from .storage.s3.client import configured
    from .storage.s3.fsck import GRACE, fsck

    import tempfile
    from dataclasses import replace

    from .app import make_backend
    from .config import records_in_database
    from .deployment import deployment_for

    client = configured(config)
    try:
        report = fsck(client, repair=config.repair)
    finally:
        client.close()
    print("%d records, %d bodies, %d records unreadable, %d bodies no record names (over %d h old)%s"
          % (report.records, report.bodies, len(report.unreadable), len(report.unnamed), GRACE // 3600,
             ", %d removed" % len(report.removed) if config.repair else ""))
    for key in report.unreadable:
        print("unreadable record: " + key)
    for key in report.unnamed:
        print("unnamed body: " + key)
    keys = None
    if records_in_database(config.records):  # the keys read through the database's index
        with tempfile.TemporaryDirectory(prefix="fsd-fsck-") as scratch:  # (fsck makes no data directory)
            backend = make_backend(replace(config, data_dir=scratch))
            try:
                keys = deployment_for(config).check_keys(backend, config.repair)
            finally:
                backend.close()
    worse = keys_said(keys, config.repair)
    return 1 if worse or report.unreadable or (report.unnamed and not config.repair) or (
        keys is not None and keys.unclaimed and not config.repair) else 0


def no_data_dir(config) -> int:
    """A subcommand never creates a data directory: one line naming where it looked."""
    return fail("no data directory at %s: name it with --data-dir or FILESTORAGED_DATA_DIR "
                "(the service's is /var/lib/filestoraged)" % os.path.abspath(config.data_dir), 2)


def run_token(config) -> int:
    """``token create --scope S [--name N] [--expires-in S]`` (the secret alone
    on the last line), ``token list`` (never secrets), ``token revoke NAME``."""
    from .errors import FileStoreError
    from .access.s3keys import secret_of, server_key
    from .access.tokens import TokenStore
    from .base.timestamps import iso_utc

    def when(stamp) -> str:
        return "-" if stamp is None else iso_utc(stamp)

    action = config.words[0] if config.words else ""
    if not os.path.isdir(config.data_dir):  # never a new, empty store the service will not see
        return no_data_dir(config)
    from .deployment import deployment_for

    deployment = deployment_for(config)
    records, throttle = deployment.open_records()
    if throttle is not records:
        throttle.close()
    try:  # as the daemon does: a store that writes blind would let two tokens share a name
        deployment.probe(records)
    except FileStoreError as error:
        records.close()
        print("filestoraged token: %s" % error.text, file=sys.stderr)
        return 1
    tokens = TokenStore(records)
    try:
        if (action == "create" and len(config.words) == 1) or (action == "rotate" and len(config.words) == 2):
            with_s3 = config.s3 if action == "create" else any(found.name == config.words[1] and found.s3_key
                                                               for found in tokens.list())
            key = server_key(config.s3_key_path) if with_s3 else None  # before the token: a key it cannot use
            if action == "create":
                token, secret = tokens.create(config.scopes, config.token_name or None, config.expires_in or None,
                                              s3=config.s3)
            else:
                token, secret = tokens.rotate(config.words[1])
            said = "token %s%s: %s, expires %s" % (token.name, " rotated" if action == "rotate" else "",
                                                   " ".join(map(str, token.scopes)), when(token.expires_at))
            if key is None or token.s3_key is None:
                print(said)
                print(secret)
            else:  # lines for the shell (eval "$(...)"): what is for people goes to stderr
                print(said + "; its S3 key pair:", file=sys.stderr)
                print("FILESTORAGED_TOKEN=%s" % secret)
                print("AWS_ACCESS_KEY_ID=%s" % token.s3_key)
                print("AWS_SECRET_ACCESS_KEY=%s" % secret_of(key, token.s3_key))
        elif action == "list" and len(config.words) == 1:
            print("name\tscopes\tcreated\texpires\tlast used\tS3 key")
            for token in tokens.list():
                print("\t".join((token.name, " ".join(map(str, token.scopes)), when(token.created_at),
                                 when(token.expires_at), when(token.last_used), token.s3_key or "-")))
        elif action == "revoke" and len(config.words) == 2:
            tokens.revoke(config.words[1])
            print("revoked %s" % config.words[1])
        else:
            print("usage: filestoraged token create --scope SCOPE [--scope ...] [--name NAME] [--expires-in SECONDS]"
                  " [--s3] | token list | token rotate NAME | token revoke NAME", file=sys.stderr)
            return 2
    except FileStoreError as error:  # a server key that cannot be made is one too
        print("filestoraged token: %s" % error.text, file=sys.stderr)
        return 1
    finally:
        records.close()
    return 0
