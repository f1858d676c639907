"""``bucket``: a bucket's quota and owner, an owner's quota, set or
removed, and what each bucket and each owner holds, from the command line,
beside a serving daemon. The quotas and owners live in the records, which
every worker reads; the bytes in the disk store's object index
(``storage.object_index``), which every write changes."""

from __future__ import annotations

import os
import sys
from contextlib import closing, contextmanager
from typing import Iterator, List, Optional

from ..access.teams import named
from ..catalog.quotas import QuotaSettings
from ..catalog.unfinished import Unfinished
from ..errors import FileStoreError, NotFound
from .opened import open_records

USAGE = """usage: filestoraged bucket quota NAME SIZE        (SIZE: bytes, or with K, M, G, T: 500M, 20G)
       filestoraged bucket quota NAME none        (no quota)
       filestoraged bucket owner NAME OWNER       (a user's or a token's name; none: nobody)
       filestoraged bucket owner-quota OWNER SIZE (all OWNER's buckets together; none: no quota)
       filestoraged bucket usage [NAME]
       filestoraged bucket owners
       filestoraged bucket replicate NAME http(s)://HOST[:PORT]/BUCKET CREDENTIALS-FILE [PREFIX] [markers]
                                     [tag:NAME=VALUE ...]
       filestoraged bucket replicate NAME existing   (every key's current version sent too)
       filestoraged bucket replicate NAME none       (no more replication)
       filestoraged bucket replication               (each bucket's rule, and what waits to be sent)
       filestoraged bucket webhook NAME URL SECRET-FILE [share-links]   (a webhook buckets' events may be
                                     sent to; share-links: also each share link used up)
       filestoraged bucket webhook NAME none
       filestoraged bucket webhooks"""


def run_bucket(config) -> int:
    from ..catalog.buckets import Buckets

    records = open_records(config)
    if isinstance(records, int):
        return records
    try:
        done = _bucket(config, records, Buckets(records), list(config.words))
    except FileStoreError as error:
        print("filestoraged bucket: %s" % error.text, file=sys.stderr)
        return 1
    finally:
        records.close()
    if done is None:
        print(USAGE, file=sys.stderr)
        return 2
    return done


def _bucket(config, records, buckets, words: List[str]) -> Optional[int]:
    action, names = (words[0], words[1:]) if words else ("", [])
    if action in ("replicate", "replication"):
        return _replication(records, buckets, action, names)
    if action in ("webhook", "webhooks"):
        return _webhooks(records, action, names)
    if action not in ("quota", "owner", "owner-quota", "usage", "owners"):
        return None
    with _counted(config, records) as backend:
        if backend is None:  # the disk's index counts every bucket, always
            return _acted(action, names, QuotaSettings(buckets, Unfinished(records, None), None), _index(config))
        return _acted(action, names, QuotaSettings(buckets, Unfinished(records, backend), backend), backend)


def _acted(action: str, names: List[str], settings, counts) -> Optional[int]:
    """``action`` done: its quotas set through ``settings``; what is
    stored read from ``counts`` (the disk's index, or the backend whose
    ledgers count the buckets and owners with quotas)."""
    buckets = settings.buckets
    if action == "quota" and len(names) == 2:
        bucket = buckets.require(names[0])
        quota = None if names[1].lower() == "none" else _size(names[1])
        settings.set_bucket_quota(bucket, quota)
        said = "no quota" if quota is None else "quota %d bytes" % quota
        if settings.backend is not None and quota is not None:  # counted afresh, from a listing
            said += ", %d stored" % counts.buckets_bytes().get(bucket.name, (0, 0))[0]
        print("bucket %s: %s" % (bucket.name, said))
        return 0
    if action == "owner" and len(names) == 2:
        bucket = buckets.require(names[0])
        owner = None if names[1].lower() == "none" else named("owner", names[1])
        settings.set_owner(bucket, owner)
        print("bucket %s: %s" % (bucket.name, "no owner" if owner is None else "owned by %s" % owner))
        return 0
    if action == "owner-quota" and len(names) == 2:
        owner = named("owner", names[0])
        quota = None if names[1].lower() == "none" else _size(names[1])
        settings.set_owner_quota(owner, quota)
        print("owner %s: %s" % (owner, "no quota" if quota is None else "quota %d bytes" % quota))
        return 0
    if action == "usage" and len(names) <= 1:
        listed = [buckets.require(names[0])] if names else buckets.all()
        counted = counts.buckets_bytes()
        print("bucket\tstored\tbeing written\tquota\towner")
        for bucket in listed:
            # (the disk counts every bucket; the records, those with a quota)
            stored, held = counted.get(bucket.name, (0, 0) if settings.backend is None else (None, None))
            print("%s\t%s\t%s\t%s\t%s" % (bucket.name, _or_dash(stored), _or_dash(held), _or_dash(bucket.quota),
                                          _or_dash(bucket.owner)))
        return 0
    if action == "owners" and not names:
        owned, quotas = buckets.owners()
        every = sorted(set(owned) | set(quotas))
        counted = counts.owners_bytes({owner: owned.get(owner, ()) for owner in every})
        print("owner\tstored\tbeing written\tquota\tbuckets")
        for owner in every:
            stored, held = counted.get(owner, (None, None))
            print("%s\t%s\t%s\t%s\t%s" % (owner, _or_dash(stored), _or_dash(held), _or_dash(quotas.get(owner)),
                                          ",".join(owned.get(owner, ())) or "-"))
        return 0
    return None


def _replication(records, buckets, action: str, names: List[str]) -> Optional[int]:
    """A bucket's replication rule set, removed or applied to what it holds
    already; or every bucket's rule shown with the outbox's backlog."""
    from ..catalog.keys import Keys
    from ..catalog.outbox import PUT, Outbox
    from ..catalog.replication import new_rule, rule_of

    outbox = Outbox(records)
    if action == "replication" and not names:
        print("bucket\ttarget\tprefix\tmarkers")
        for bucket in buckets.all():
            rule = rule_of(bucket.replication)
            if rule is not None:
                print("%s\t%s/%s\t%s\t%s%s" % (bucket.name, rule.endpoint, rule.bucket, rule.prefix or "-",
                                              "yes" if rule.markers else "no",
                                              "".join("\ttag:%s=%s" % pair for pair in rule.tags)))
        print("waiting to be sent: %d" % outbox.backlog())
        return 0
    if action != "replicate" or len(names) < 2:
        return None
    bucket = buckets.require(names[0])
    if names[1] == "none" and len(names) == 2:
        buckets.set_replication(bucket, None)
        print("bucket %s: not replicated" % bucket.name)
        return 0
    if names[1] == "existing" and len(names) == 2:
        rule = rule_of(bucket.replication)
        if rule is None:
            raise FileStoreError("the bucket %s has no replication rule: set one first" % bucket.name)
        keys, after, count = Keys(records), "", 0
        while True:
            page = keys.page(bucket.name, rule.prefix, after=after, limit=1000)
            for key, entry in page.items:
                if isinstance(entry, str) or not rule.applies(key, getattr(entry, "tags", None) or {}):
                    continue  # a folder of the listing, or a version without the rule's tags
                outbox.add(bucket.name, key, getattr(entry, "version", None), PUT)
                count += 1
            if not page.truncated:
                break
            after = page.last
        outbox.written()  # (a daemon of this machine sends them at once)
        print("bucket %s: %d keys to send" % (bucket.name, count))
        return 0
    extra = names[3:]
    tags = [word[len("tag:"):].split("=", 1) for word in extra if word.startswith("tag:")]
    rest = [word for word in extra if word != "markers" and not word.startswith("tag:")]
    if len(names) < 3 or len(rest) > 1 or any(len(tag) != 2 or not tag[0] for tag in tags):
        return None
    prefix = rest[0] if rest else ""
    rule = new_rule(names[1], names[2], prefix=prefix, markers="markers" in extra,
                    tags=tuple((name, value) for name, value in tags))
    buckets.set_replication(bucket, rule.record())
    print("bucket %s: new versions%s%s copied to %s/%s%s" % (
        bucket.name, " under %s" % prefix if prefix else "",
        " tagged %s" % ", ".join("%s=%s" % pair for pair in rule.tags) if rule.tags else "",
        rule.endpoint, rule.bucket, ", delete markers too" if rule.markers else ""))
    return 0


def _webhooks(records, action: str, names: List[str]) -> Optional[int]:
    """A webhook defined, changed or removed; or every webhook listed."""
    from ..catalog.notifications import SHARE_SPENT, Webhooks, arn_of

    webhooks = Webhooks(records)
    if action == "webhooks" and not names:
        print("webhook\tURL\tsecret file\tARN\tthe store's events")
        for hook in webhooks.all():
            print("%s\t%s\t%s\t%s\t%s" % (hook.name, hook.url, hook.secret, arn_of(hook.name),
                                          ",".join(hook.store_events) or "-"))
        return 0
    if action == "webhook" and len(names) == 2 and names[1] == "none":
        if not webhooks.remove(names[0]):
            raise NotFound("no webhook %s" % names[0][:64])
        print("webhook %s: removed (the events waiting for it are dropped)" % names[0])
        return 0
    if action == "webhook" and (len(names) == 3 or (len(names) == 4 and names[3] == "share-links")):
        hook = webhooks.define(names[0], names[1], os.path.abspath(names[2]), (SHARE_SPENT,) if len(names) == 4 else ())
        print("webhook %s: %s, named in a bucket's notification configuration as %s" % (hook.name, hook.url,
                                                                                       arn_of(hook.name)))
        return 0
    return None


@contextmanager
def _counted(config, records) -> Iterator[Optional[object]]:
    """The store's backend behind the layer that counts quotas in the
    records (``holds.ledgered``); None for the disk backend."""
    if config.backend == "disk":
        yield None
        return
    from ..app import make_backend
    from ..holds.ledgered import LedgeredBackend

    backend = LedgeredBackend(make_backend(config), records)
    try:
        yield backend
    finally:
        backend.close()


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def _size(text: str) -> int:
    from ..console.settings import quota_of

    return quota_of(text)


def _index(config) -> "_IndexCounts":
    """The disk store's object index, read as the counts of every bucket and owner."""
    return _IndexCounts(config.data_dir)


class _IndexCounts:
    """What the disk's index counts, as the backend would say it (the
    index opened for one read)."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir

    def buckets_bytes(self):
        with closing(self._open()) as index:
            return index.buckets_bytes()

    def owners_bytes(self, owned):
        with closing(self._open()) as index:
            return index.owners_bytes(owned)

    def _open(self):
        from ..storage.disk.indexing import index_path
        from ..storage.object_index import ObjectIndex

        path = index_path(self.data_dir)
        if not os.path.exists(path):
            raise NotFound("no object index at %s: has a daemon served this data directory?" % path)
        return ObjectIndex(path)
