"""Groups and named policies: what a user may do is the union of the
policies attached to the user and to each group the user is in, judged
by the one evaluator (``access.policy``) as AWS judges identity policies.

Records: ``groups/<name>`` (``{"policies": [...]}``; a group's members
are said by its users' records), ``policies/<name>`` (``{"document":
text}``). Four policies are built in and cannot be changed (``BUILT_IN``):
``readonly``, ``writeonly``, ``readwrite`` and ``admin``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Dict, List, Optional, Tuple

from ..errors import AlreadyExists, BadRequest, Conflict, NotFound
from ..records.interface import Conflict as Taken, Records
from .actions import IDENTITY_KNOWN
from .policy import Policy, read_policy

NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")  # IAM's names of users, groups and policies
GROUPS, POLICIES = "groups/", "policies/"

_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:ListAllMyBuckets",
          "s3:GetBucketLocation", "filestoraged:GetFile", "filestoraged:GetKV"]
_WRITES = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "filestoraged:PutFile",
           "filestoraged:CreateShareLink"]


def _document(actions: List[str]) -> str:
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}, indent=2)


BUILT_IN: Dict[str, str] = {
    "readonly": _document(_READS),
    "writeonly": _document(_WRITES),
    "readwrite": _document(["s3:*", "filestoraged:GetFile", "filestoraged:PutFile", "filestoraged:DeleteFile",
                            "filestoraged:CreateShareLink", "filestoraged:DeleteShareLink", "filestoraged:GetKV",
                            "filestoraged:PutKV"]),
    "admin": _document(["*"]),  # (``*`` covers ADMIN_ACTION: tokens, users, the store's settings)
}


def named(kind: str, name: str) -> str:
    """``name`` if it may name a ``kind``; else ``BadRequest``."""
    if not NAME.fullmatch(name or ""):
        raise BadRequest("a %s's name is 1-64 characters of A-Z a-z 0-9 _ + = , . @ -" % kind)
    return name


def identity_policy(text: str) -> Policy:
    """A user's or group's policy document, read (``BadRequest`` for what is not supported)."""
    return read_policy(text, IDENTITY_KNOWN)


class Teams:
    """Groups and named policies in ``records``; ``changed`` is told of
    every change (the users' copies go with it)."""

    def __init__(self, records: Records, changed) -> None:
        self.records = records
        self._changed = changed

    # Policies
    def put_policy(self, name: str, text: str) -> None:
        """Make or replace the policy ``name`` (``BadRequest`` for a built-in
        one, or a document not supported)."""
        if named("policy", name) in BUILT_IN:
            raise BadRequest("%r is a built-in policy: choose another name" % name)
        identity_policy(text)
        self.records.update(POLICIES + name, lambda value: dict(value or {"created_at": time.time()}, document=text))
        self._changed()

    def policy_text(self, name: str) -> Optional[str]:
        if name in BUILT_IN:
            return BUILT_IN[name]
        record = self.records.get(POLICIES + name) if NAME.fullmatch(name) else None
        return None if record is None else record.value["document"]

    def policies(self) -> List[Tuple[str, bool]]:
        """``(name, built in)`` of every policy."""
        made = [(key[len(POLICIES):], False) for key in self.records.keys(POLICIES)]
        return sorted([(name, True) for name in BUILT_IN] + made)

    def delete_policy(self, name: str, attached: List[str]) -> None:
        """``attached``: who still has it (refused while anyone does)."""
        if name in BUILT_IN:
            raise BadRequest("%r is a built-in policy" % name)
        if attached:
            raise Conflict("the policy %r is attached to %s: detach it first" % (name, ", ".join(attached[:5])))
        if not NAME.fullmatch(name) or not self.records.delete(POLICIES + name):
            raise NotFound("no policy named %r" % name)
        self._changed()

    def require_policy(self, name: str) -> None:
        if self.policy_text(name) is None:
            raise NotFound("no policy named %r" % name)

    # Groups
    def create_group(self, name: str) -> None:
        try:
            self.records.create(GROUPS + named("group", name), {"policies": [], "created_at": time.time()})
        except Taken:
            raise AlreadyExists("a group named %r exists" % name) from None
        self._changed()

    def group(self, name: str) -> Optional[dict]:
        record = self.records.get(GROUPS + name) if NAME.fullmatch(name) else None
        return None if record is None else record.value

    def require_group(self, name: str) -> None:
        if self.group(name) is None:
            raise NotFound("no group named %r" % name)

    def groups(self) -> List[Tuple[str, List[str]]]:
        """``(name, its policies)`` of every group."""
        found = []
        for key in self.records.keys(GROUPS):
            record = self.records.get(key)
            if record is not None:
                found.append((key[len(GROUPS):], list(record.value["policies"])))
        return sorted(found)

    def delete_group(self, name: str) -> None:
        if not NAME.fullmatch(name) or not self.records.delete(GROUPS + name):
            raise NotFound("no group named %r" % name)
        self._changed()

    def attach_to_group(self, group: str, policy: str, attach: bool = True) -> None:
        if attach:
            self.require_policy(policy)

        def change(value):
            if value is None:
                raise NotFound("no group named %r" % group)
            have = [name for name in value["policies"] if name != policy]
            return dict(value, policies=have + [policy] if attach else have)
        if not NAME.fullmatch(group):
            raise NotFound("no group named %r" % group)
        self.records.update(GROUPS + group, change)
        self._changed()

    def read(self, names: List[str]) -> Tuple[Policy, ...]:
        """The policies ``names`` name, read (one gone meanwhile is left out)."""
        found = []
        for name in names:
            text = self.policy_text(name)
            if text is not None:
                found.append(identity_policy(text))
        return tuple(found)
