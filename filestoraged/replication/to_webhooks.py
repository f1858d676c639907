"""Events delivered to webhooks (``catalog.notifications``): an outbox
item as S3's event JSON (one record), POSTed to the webhook's URL with
two headers: ``X-Filestoraged-Event-Id`` (the item's id: the same for
every delivery of one event, for de-duplication, and growing with the
order of the commits) and ``X-Filestoraged-Signature: sha256=<HMAC-SHA256
of the body with the webhook's secret, hex>``. A 2xx answer is the
acknowledgement; anything else, or no answer in ``TIMEOUT``, is a
failure, tried again."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
from typing import Dict
from urllib.parse import quote_plus

from ..base.timestamps import iso_utc
from ..catalog.notifications import Webhook, url_parts
from ..catalog.outbox import Item
from ..errors import BackendUnavailable

TIMEOUT = 10.0  # seconds a webhook has to answer
EVENT_ID = "X-Filestoraged-Event-Id"
SIGNATURE = "X-Filestoraged-Signature"


def event_json(item: Item) -> Dict[str, object]:
    """The event ``item`` says, in S3's format."""
    fields = item.fields
    found: Dict[str, object] = {"key": quote_plus(item.key, safe="/"), "sequencer": item.id}
    if "size" in fields:
        found["size"] = fields["size"]
    if "etag" in fields:
        found["eTag"] = fields["etag"]
    if item.version is not None:
        found["versionId"] = item.version
    record: Dict[str, object] = {"eventVersion": "2.1", "eventSource": "filestoraged:s3", "awsRegion": "",
                                 "eventTime": iso_utc(item.at), "eventName": str(fields["event"]).removeprefix("s3:"),
                                 "userIdentity": {"principalId": fields.get("maker") or ""}}
    if not item.bucket:  # the store's own, of no bucket: a share link used up
        record.update(eventSource="filestoraged", filestoraged={"shareLink": {"id": item.key}, "sequencer": item.id})
        return {"Records": [record]}
    record["s3"] = {"s3SchemaVersion": "1.0", "configurationId": fields.get("config") or "",
                    "bucket": {"name": item.bucket, "arn": "arn:aws:s3:::" + item.bucket}, "object": found}
    return {"Records": [record]}


def deliver(hook: Webhook, item: Item) -> None:
    """``item``'s event POSTed to ``hook``; ``BackendUnavailable`` unless it answered 2xx."""
    body = json.dumps(event_json(item), separators=(",", ":")).encode()
    signature = hmac.new(hook.key(), body, hashlib.sha256).hexdigest()
    scheme, host, port, path = url_parts(hook.url)
    conn = (http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=ssl.create_default_context())
            if scheme == "https" else http.client.HTTPConnection(host, port, timeout=TIMEOUT))
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", EVENT_ID: item.id,
                                          SIGNATURE: "sha256=" + signature, "User-Agent": "filestoraged"})
        response = conn.getresponse()
        response.read(65536)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        raise BackendUnavailable("the webhook %s did not answer: %s" % (hook.name, error)) from None
    finally:
        conn.close()
    if not 200 <= status < 300:
        raise BackendUnavailable("the webhook %s answered %d" % (hook.name, status))
