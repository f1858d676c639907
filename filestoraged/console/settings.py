"""The console's forms that change a bucket itself, for a token that may
(``admin``, as S3's CreateBucket, DeleteBucket, PutBucketVersioning,
PutObjectLockConfiguration, PutBucketLifecycleConfiguration and
PutBucketAcl ask): a new bucket, with object lock if asked; versioning
turned on or suspended; the default retention of a bucket with object
lock; lifecycle rules added and removed; the bucket made readable by
anyone where the operator allows public ACLs (``--s3-public-acls``); its
quota (docs/quotas.md); an empty bucket deleted. Each goes through the same catalog calls as the S3
API's, so the two cannot answer differently. ``Settings`` is a part of
``face.ConsoleFace``, as ``changes.Changes`` is."""

from __future__ import annotations

import argparse
import secrets

from ..access.scopes import ADMIN
from ..access.teams import named
from ..catalog.handle import BucketHandle
from ..catalog.public_access import public_access
from ..catalog.lifecycle import MAX_RULES, Rule, rules_of
from ..catalog.names import bucket_name
from ..catalog.retention import MAX_DAYS, MODES
from ..config import size
from ..errors import BadRequest
from ..wire.fields import whole_number
from ..web.messages import Request, Response
from . import views
from .changes import see

ACTIONS = ("versioning-on", "versioning-suspend", "delete", "lock-default", "lifecycle-add", "lifecycle-remove",
           "public-read", "private", "quota", "owner", "owner-quota")


class Settings:
    def make_bucket(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        self._require(token, ADMIN)
        name = bucket_name(form.get("name", "").strip())
        self.app.buckets.create(name, locked=form.get("lock") == "1", owner=token.name if token is not None else None)
        return see(views.address("/console/bucket", name=name))

    def bucket_settings(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        self._require(token, ADMIN)
        action = form.get("action", "")
        if action not in ACTIONS:
            raise BadRequest("the action is one of %s" % ", ".join(ACTIONS))
        found = BucketHandle.open(self.app, form.get("name", ""), request)
        bucket = found.bucket
        if action == "delete":
            found.delete_bucket()
            return see("/console")
        if action == "lock-default":
            if bucket.lock is None:
                raise BadRequest("the bucket %s has no object lock: it was made without it" % bucket.name)
            mode = form.get("mode") or None
            if mode is not None and mode not in MODES:
                raise BadRequest("the mode is GOVERNANCE or COMPLIANCE, or none")
            days = whole_number(form.get("days"), "days", 0, 1, MAX_DAYS) if mode else 0
            self.app.buckets.set_lock(bucket, {"default": {"mode": mode, "days": days}} if mode else {})
        elif action == "lifecycle-add":
            rules = rules_of(bucket)
            if len(rules) >= MAX_RULES:
                raise BadRequest("a bucket has at most %d lifecycle rules" % MAX_RULES)
            self.app.buckets.set_lifecycle(bucket, [rule.record() for rule in rules] + [new_rule(form).record()])
        elif action == "lifecycle-remove":
            rules = [rule for rule in rules_of(bucket) if rule.id != form.get("rule")]
            self.app.buckets.set_lifecycle(bucket, [rule.record() for rule in rules] or None)
        elif action in ("quota", "owner", "owner-quota"):
            text = form.get("owner" if action == "owner" else "quota", "").strip()
            if action == "quota":
                self.app.quotas.set_bucket_quota(bucket, quota_of(text) if text else None)
            elif action == "owner":
                self.app.quotas.set_owner(bucket, owner_of(text) if text else None)
            elif bucket.owner is not None:
                self.app.quotas.set_owner_quota(bucket.owner, quota_of(text) if text else None)
        elif action in ("public-read", "private"):
            access = public_access(self.config, bucket)
            if action == "public-read" and access.blocks("BlockPublicAcls"):
                raise BadRequest("a public ACL: %s" % access.why("BlockPublicAcls"))
            self.app.buckets.set_acl(bucket, "public-read" if action == "public-read" else None)
        else:
            self.app.buckets.set_versioning(bucket, "Enabled" if action == "versioning-on" else "Suspended")
        return see(views.address("/console/bucket", name=found.name) + "#settings")


def quota_of(text: str, what: str = "the quota") -> int:
    """A size as a form gives it (``what``: which, for the error): bytes,
    or with K, M, G, T (``20G``)."""
    try:
        return size(text)
    except argparse.ArgumentTypeError as error:
        raise BadRequest("%s: %s" % (what, error)) from None


def owner_of(text: str) -> str:
    """An owner's name as given (a user's or a token's: ``BadRequest`` for
    what names neither)."""
    return named("owner", text)


def new_rule(form: dict) -> Rule:
    """A lifecycle rule from the form: keys under a prefix expire some days
    after they were written, older versions some days after they stopped
    being current, unfinished multipart uploads are ended some days after
    they began (at least one of the three)."""
    prefix = form.get("prefix", "")
    if len(prefix.encode("utf-8")) > 1024:
        raise BadRequest("a rule's prefix is at most 1024 bytes")
    days = {name: whole_number(form.get(name), name.replace("_", " "), 0, 1, 999999) or None
            for name in ("expire_days", "noncurrent_days", "abort_days")}
    if not any(days.values()):
        raise BadRequest("a rule does at least one thing: give it a number of days")
    return Rule(secrets.token_hex(8), True, prefix, **days)
