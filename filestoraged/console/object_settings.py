"""The console's forms that change an object version's settings, for a
token that may write the key (as S3's PutObjectTagging,
PutObjectLegalHold and PutObjectRetention ask): its tags, its legal hold
and its retention (a bucket with object lock). Each goes through the
bucket handle with the rules the S3 API uses (``catalog.tags``,
``catalog.retention``), so the two cannot answer differently; shortening
a GOVERNANCE retention asks for the bypass, which only an ``admin`` token
has, and COMPLIANCE yields to nothing. ``ObjectSettings`` is a part of
``face.ConsoleFace``, as ``settings.Settings`` is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Dict

from ..access.scopes import ADMIN, Scope
from ..catalog.handle import BucketHandle
from ..catalog.heads import checked_id
from ..catalog.keys import Entry
from ..catalog.retention import MODES, held, kept_until, retained
from ..catalog.tags import MAX_OBJECT_TAGS, checked_tags
from ..errors import BadRequest
from ..web.messages import Request, Response
from . import views
from .changes import see

ACTIONS = ("tags", "hold-on", "hold-off", "retention")
MAX_TAGS_TEXT = 10 * (128 + 256 + 2)  # characters of the tags field: ten tags at their longest


class ObjectSettings:
    def object_settings(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        bucket, key, action = form.get("bucket", ""), form.get("key", ""), form.get("action", "")
        version = checked_id(form["version"]) if form.get("version") else None
        if action not in ACTIONS or not bucket or not key:
            raise BadRequest("the form names a bucket, a key and an action: one of %s" % ", ".join(ACTIONS))
        self._require(token, Scope("data", "write", bucket, key))
        found = BucketHandle.open(self.app, bucket, request)
        if action == "tags":
            tags = tags_of(form.get("tags", ""))

            def tagged(entry: Entry) -> None:
                entry.tags = tags or None

            found.amend(key, version, tagged)
        else:
            if found.bucket.lock is None:
                raise BadRequest("the bucket %s has no object lock: its versions take no legal hold or retention"
                                 % bucket)
            if action == "retention":
                mode = form.get("mode") or None
                if mode is not None and mode not in MODES:
                    raise BadRequest("the mode is GOVERNANCE or COMPLIANCE, or none")
                until = end_of_day(form.get("until", "")) if mode is not None else None
                bypass = form.get("bypass") == "1" and self._may(token, ADMIN)
                now = self.app.records.now()
                found.relock(key, version, lambda old: retained(old, mode, until, now, bypass))
            else:
                found.relock(key, version, lambda old: held(old, action == "hold-on"))
        return see(views.address("/console/object", bucket=bucket, key=key, version=version) + "#settings")


def tags_of(text: str) -> Dict[str, str]:
    """The tags field: a ``key=value`` a line (blank lines left out), judged
    as S3 judges tags."""
    if len(text) > MAX_TAGS_TEXT:
        raise BadRequest("the tags are at most %d characters in all" % MAX_TAGS_TEXT)
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise BadRequest("line %d of the tags has no '=': write each as key=value" % number)
        pairs.append((name.strip(), value.strip()))
    return checked_tags(pairs, MAX_OBJECT_TAGS)


def end_of_day(text: str) -> float:
    """The end of the day ``YYYY-MM-DD`` (UTC): a retention kept "until"
    that day holds through all of it."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise BadRequest("the date is YYYY-MM-DD") from None
    return kept_until((day + timedelta(days=1)).timestamp() - 0.001)
