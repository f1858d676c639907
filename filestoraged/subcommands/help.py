"""What ``filestoraged SUBCOMMAND --help`` prints: each subcommand's usage,
and where it finds the store (the daemon's own settings)."""

from .buckets import USAGE as BUCKET_USAGE
from .teams import USAGE

# Where a subcommand finds the store: the daemon's own settings.
STORE_OPTIONS = """
where the store is (as the daemon's own settings: flags, FILESTORAGED_* variables or --config FILE):
  --data-dir DIR        the data directory (the service's: /var/lib/filestoraged)
  --backend disk|s3     with s3: --s3-endpoint URL --s3-bucket NAME [--s3-region R] (AWS_* credentials)
  --records local|s3|postgresql://…  where tokens live (s3: in the bucket; a database: its address)
  --config FILE         an INI file, section [filestoraged]
"""
TEAMS = """
Users sign in with their name and password (the console; HTTP Basic on the
main port) or sign S3 requests with keys of their own; what they may do is
said by policies attached to them and to their groups (docs/users.md).
"""
SUBCOMMAND_HELP = {
    "user": USAGE["user"] + "\n" + TEAMS + STORE_OPTIONS,
    "group": USAGE["group"] + "\n" + TEAMS + STORE_OPTIONS,
    "policy": USAGE["policy"] + "\n" + TEAMS + STORE_OPTIONS,
    "bucket": BUCKET_USAGE + """

A bucket's quota is the most bytes it may hold: its keys' objects, every
version kept, its unfinished multipart uploads' parts, and what is being
written into it. A write that would pass it is refused (507) before its
body is read when its length is known, else as the bytes arrive; nothing
of it is kept. usage lists each bucket's bytes stored and being written.

A bucket's owner (who made it, or whom it is given to: a user or a token)
may have a quota of their own, which all their buckets share: owners lists
each owner's buckets and what they store together (docs/quotas.md).

replicate copies a bucket's new versions to another S3 store, the target's
key pair read from CREDENTIALS-FILE (AWS_ACCESS_KEY_ID= and
AWS_SECRET_ACCESS_KEY= lines); replication shows every rule and how many
changes wait to be sent (docs/replication.md). webhook defines where a
bucket's notification configuration may send events, signed with the
secret in SECRET-FILE (docs/events.md).
""" + STORE_OPTIONS,
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
""" + STORE_OPTIONS,
    "token": """usage: filestoraged token create --scope SCOPE [--scope ...] [--name NAME] [--expires-in SECONDS] [--s3]
       filestoraged token list
       filestoraged token rotate NAME
       filestoraged token revoke NAME

Manage API tokens (in the store's records, beside a serving daemon). A new
token's secret is printed once, alone on the last line; list never shows one.
rotate gives a token new secrets (a new S3 key pair too, if it has one),
printed as create prints them; the old ones end at once.
""" + STORE_OPTIONS,
    "backup": """usage: filestoraged backup DEST [store options]

Copy the store, while it serves, into the folder DEST: every object (hard-linked
where DEST is on the same file system, else copied), the records (tokens, share
links, the key-value store, S3 keys and versions) and the object index as each
stood at one moment, and the S3 server key. DEST/backup.json, written last, says
what it holds. Backing up into the same DEST again copies only what is new and
removes what is gone. Uploads not finished are left out. Disk backend with
--records local only (docs/operations.md says what to do otherwise).
""" + STORE_OPTIONS,
    "restore": """usage: filestoraged restore BACKUP --data-dir DIR

Make a store in DIR (new, or an empty folder: what is restored then belongs to
its owner) of the backup in the folder BACKUP; then start the daemon on DIR.
Objects are hard-linked from the backup where both are on one file system
(the backup stays as it was), else copied.
""" + STORE_OPTIONS,
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
""" + STORE_OPTIONS,
}
