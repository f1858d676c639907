"""Events: what a bucket's changes tell a webhook (docs/events.md).

The operator defines the webhooks (``Webhooks``: a name, a URL, and the
file the secret that signs each delivery is read from, which never enters
the records): ``webhooks/<name>``. A bucket's notification configuration
(S3's ``PutBucketNotificationConfiguration``: ``s3api.notifications``)
names them by ARN, ``arn:filestoraged:sqs::<name>:webhook``, each with
the events it wants (``s3:ObjectCreated:*``, ``s3:ObjectRemoved:*`` or one
of their kinds, and the store's own ``filestoraged:DropUpload``) and an
optional prefix and suffix of keys; it is kept in
the bucket's record as ``[{"id", "hook", "events", "prefix", "suffix"}]``.

A commit that makes a version or a delete writes, for each configuration
that wants it, an item in the outbox (``catalog.outbox``) with what the
event says; the sender delivers it (``replication.sender``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import BadRequest
from ..records.interface import Records

WEBHOOKS = "webhooks/"
CREATED, REMOVED, MARKER_CREATED = "s3:ObjectCreated:Put", "s3:ObjectRemoved:Delete", \
    "s3:ObjectRemoved:DeleteMarkerCreated"
DROP_UPLOAD = "filestoraged:DropUpload"  # the store's own: a file sent through an upload-request link
SHARE_SPENT = "filestoraged:ShareLinkSpent"  # the store's own, of no bucket: a share link used up
STORE_EVENTS = (SHARE_SPENT,)  # what a webhook itself may ask for (``Webhook.store_events``)
EVENTS = ("s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
          "s3:ObjectRemoved:DeleteMarkerCreated", DROP_UPLOAD)
_ARN = re.compile(r"arn:filestoraged:sqs::([A-Za-z0-9._-]{1,64}):webhook")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def arn_of(hook: str) -> str:
    return "arn:filestoraged:sqs::%s:webhook" % hook


def hook_of(arn: str) -> Optional[str]:
    """The webhook an ARN names, None if it names none."""
    found = _ARN.fullmatch(arn.strip())
    return found.group(1) if found else None


def wanted(configs: Optional[List[dict]], event: str, key: str) -> List[dict]:
    """The configurations of a bucket that want ``event`` of ``key``."""
    return [config for config in configs or () if key.startswith(config.get("prefix") or "")
            and key.endswith(config.get("suffix") or "")
            and any(event == asked or (asked.endswith(":*") and event.startswith(asked[:-1]))
                    for asked in config["events"])]


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    secret: str  # the file the signing secret is read from
    store_events: Tuple[str, ...] = ()  # the events of no bucket it is sent (``STORE_EVENTS``)

    def key(self) -> bytes:
        """The signing secret, read from its file now (a new one takes effect at the next delivery)."""
        try:
            with open(self.secret, "rb") as file:
                found = file.read().strip()
        except OSError as error:
            raise BadRequest("cannot read the webhook %s's secret from %s: %s" % (
                self.name, self.secret, error.strerror)) from None
        if not found:
            raise BadRequest("the webhook %s's secret file %s is empty" % (self.name, self.secret))
        return found


class Webhooks:
    def __init__(self, records: Records) -> None:
        self.records = records

    def get(self, name: str) -> Optional[Webhook]:
        record = self.records.get(WEBHOOKS + name) if _NAME.fullmatch(name) else None
        return None if record is None else _webhook(name, record.value)

    def all(self) -> List[Webhook]:
        return [_webhook(key[len(WEBHOOKS):], record.value) for key, record in self.records.items(WEBHOOKS)]

    def wanting(self, event: str) -> List[Webhook]:
        """The webhooks that asked for the store's ``event``."""
        return [hook for hook in self.all() if event in hook.store_events]

    def define(self, name: str, url: str, secret: str, store_events: Tuple[str, ...] = ()) -> Webhook:
        """A webhook named ``name`` (made, or changed), sent the store's
        ``store_events`` too: ``BadRequest`` for a name, a URL, a secret
        file or an event that cannot be one."""
        if not _NAME.fullmatch(name):
            raise BadRequest("a webhook's name is 1-64 characters of A-Z a-z 0-9 . _ -")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest("a webhook's URL is http(s)://HOST[:PORT]/PATH, not %r" % url[:200])
        if any(event not in STORE_EVENTS for event in store_events):
            raise BadRequest("the store's own events a webhook may ask for: %s" % ", ".join(STORE_EVENTS))
        hook = Webhook(name, url, secret, tuple(store_events))
        hook.key()
        self.records.update(WEBHOOKS + name, lambda value: {"url": url, "secret": secret,
                                                            "store_events": list(store_events)})
        return hook

    def remove(self, name: str) -> bool:
        return self.records.delete(WEBHOOKS + name) if _NAME.fullmatch(name) else False


def _webhook(name: str, value: dict) -> Webhook:
    return Webhook(name, value["url"], value["secret"], tuple(value.get("store_events") or ()))


def event_fields(config: dict, event: str, size: Optional[int] = None, etag: Optional[str] = None,
                 maker: Optional[str] = None) -> Dict[str, object]:
    """What an outbox item of an event keeps (``replication.sender`` makes the JSON of it)."""
    fields: Dict[str, object] = {"event": event, "hook": config["hook"], "config": config.get("id") or ""}
    for name, value in (("size", size), ("etag", etag), ("maker", maker)):
        if value is not None:
            fields[name] = value
    return fields


def url_parts(url: str) -> Tuple[str, str, int, str]:
    """``(scheme, host, port, path with query)`` of a webhook's URL."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname or "", port, (parts.path or "/") + ("?" + parts.query if parts.query else "")
