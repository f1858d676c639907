"""The console's pages for an ``admin`` token: the API tokens (and their
S3 key pairs): list, make one (its secrets shown once), revoke one; and
how the store is (its backend's health and the objects and bytes it
holds). The same operations as ``filestoraged token``, for the same
records, so a token made here works at once on every face."""

from __future__ import annotations

import shutil
from html import escape
from typing import Dict, List, Optional, Sequence, Tuple

from ..access.s3keys import secret_of, server_key
from ..access.tokens import Token
from ..base.timestamps import time_element
from ..errors import FileStoreError
from ..pages import COPY_SCRIPT, size_text
from ..web.messages import TextResponse
from .views import Who, copy_button, frame

EXPIRIES = ((0, "never"), (3600, "1 hour"), (86400, "1 day"), (30 * 86400, "30 days"), (365 * 86400, "1 year"))


def made_token(app, scopes: List[str], name: str, expires_in: int, s3: bool) -> dict:
    """A new token (``BadRequest`` for a bad name or scope, ``AlreadyExists``
    for a name taken) and its secrets, to be shown once."""
    key = server_key(app.config.s3_key_path) if s3 else None  # before the token: a key it cannot use
    token, secret = app.tokens.create(scopes, name or None, expires_in or None, s3=s3)
    made = {"name": token.name, "secret": secret}
    if key is not None and token.s3_key:
        made.update(key_id=token.s3_key, s3_secret=secret_of(key, token.s3_key))
    return made


def tokens_page(tokens: Sequence[Token], who: Optional[Who], made: Optional[dict] = None,
                error: Optional[str] = None, status: int = 200) -> TextResponse:
    rows = "".join(
        '<tr><td>%s</td><td data-label="Scopes">%s</td><td data-label="Made">%s</td><td data-label="Expires">%s</td>'
        '<td%s</td><td>%s</td></tr>' % (
            escape(token.name), escape(" ".join(str(scope) for scope in token.scopes)),
            time_element(token.created_at),
            time_element(token.expires_at) if token.expires_at else "never",
            ' data-label="S3 key id"><code>%s</code>' % escape(token.s3_key) if token.s3_key else ">",
            '<form method="post" action="/console/tokens/revoke"><input type="hidden" name="name" value="%s">'
            '<button type="submit" class="secondary" aria-label="Revoke %s">Revoke</button></form>'
            % (escape(token.name), escape(token.name))) for token in tokens)
    listed = ('<table><caption class="muted">Tokens</caption><thead><tr><th scope="col">Name</th>'
              '<th scope="col">Scopes</th><th scope="col">Made</th><th scope="col">Expires</th>'
              '<th scope="col">S3 key id</th><th scope="col"></th></tr></thead><tbody>%s</tbody></table>' % rows)
    shown = ""
    if made:
        lines = [("Token", made["secret"])] + ([("S3 access key id", made["key_id"]),
                                                ("S3 secret access key", made["s3_secret"])]
                                               if "key_id" in made else [])
        shown = ('<div class="card" role="status"><h2>The token %s</h2><p>Copy its secrets now: they are shown '
                 'this once and kept nowhere.</p><dl>%s</dl></div>'
                 % (escape(made["name"]), "".join(
                     '<dt>%s</dt><dd><code id="secret-%d">%s</code> %s</dd>'
                     % (escape(label), number, escape(value), copy_button("secret-%d" % number, "Copy the " + label))
                     for number, (label, value) in enumerate(lines))))
    said = '<p class="error" role="alert">%s</p>' % escape(error) if error else ""
    options = "".join('<option value="%d">%s</option>' % choice for choice in EXPIRIES)
    form = ('<div class="card"><h2>New token</h2>%s<form method="post" action="/console/tokens">'
            '<label for="name">Name</label><input id="name" name="name" required maxlength="64">'
            '<label for="scopes">Scopes, separated by spaces</label>'
            '<input id="scopes" name="scopes" required placeholder="data:photos:read data:photos:write">'
            '<p class="muted">files:read|write|delete, data:REPO:read|create|write|delete (REPO may be *, or '
            'REPO/KEY-PREFIX), share:create|delete, kv:read|write, metrics:read, or admin.</p>'
            '<label for="expires_in">Expires after</label><select id="expires_in" name="expires_in">%s</select>'
            '<label><input type="checkbox" name="s3" value="1"> with an S3 key pair</label>'
            '<button type="submit">Make the token</button></form></div>' % (said, options))
    body = '<h1>Tokens</h1>%s<div class="card">%s</div>%s' % (shown, listed, form)
    return frame("Tokens", body, who, status, script=COPY_SCRIPT if made else None)


def health_page(app, who: Optional[Who]) -> TextResponse:
    """The backend's health and the store's totals, as /healthz and /metrics say them."""
    backend = app.backend
    try:
        backend.check()
        health = "answers"
    except FileStoreError as error:
        health = "does not answer: " + error.text
    usage = backend.usage()
    rows = [("Backend", escape(backend.name)), ("Health", escape(health)),
            ("Records", escape(app.config.records.split("?", 1)[0])), ("Workers", escape(str(app.config.workers)))]
    if usage is not None:
        rows += [("Objects stored", "%d" % usage[0]), ("Bytes stored", size_text(usage[1]))]
    waiting = app.outbox.backlog()
    rows.append(("Waiting to be copied (replication)", "%d change%s" % (waiting, "" if waiting == 1 else "s")))
    if backend.name == "disk":
        disk = shutil.disk_usage(app.config.data_dir)
        rows.append(("The data directory's disk", "%s free of %s" % (size_text(disk.free), size_text(disk.total))))
    quotas = {bucket.name: bucket.quota for bucket in app.buckets.all() if bucket.quota is not None}
    owned, owner_quotas = app.buckets.owners()
    counted = (backend.buckets_bytes() or {}) if quotas else {}
    body = '<h1>The store</h1><div class="card"><dl>%s</dl></div>%s%s' % (
        "".join("<dt>%s</dt><dd>%s</dd>" % row for row in rows),
        _usage_card(backend.usage_by_namespace(), quotas, {name: pair[0] for name, pair in counted.items()}),
        _owners_card(owned, owner_quotas, backend.owners_bytes(
            {name: owned.get(name, ()) for name in set(owned) | set(owner_quotas)})))
    return frame("The store", body, who)


def _usage_card(by_namespace: Optional[Dict[str, Tuple[int, int]]], quotas: Dict[str, int],
                stored: Dict[str, int]) -> str:
    """Objects and bytes of each bucket or ``/data`` repository, of ``/files``
    and of the share links, where the backend keeps them; each object once
    however many keys or versions name it; a bucket's quota, with what it
    stores against it (its unfinished uploads' parts too: ``stored``)."""
    if by_namespace is None:
        return ('<div class="card"><h2>Usage by bucket</h2><p>This backend keeps no index to count each bucket '
                'from (the disk backend does).</p></div>')
    named = {"": "/files", "shares": "share links"}
    def quota(path: str) -> str:
        name = path[len("repos/"):] if path.startswith("repos/") else None
        if name not in quotas:
            return ""
        return "%s of %s" % (size_text(stored.get(name, 0)), size_text(quotas[name]))

    rows = "".join('<tr><td>%s</td><td data-label="Objects">%d</td><td data-label="Bytes">%s</td>'
                   '<td data-label="Quota">%s</td></tr>' % (
                       escape(path[len("repos/"):]) if path.startswith("repos/") else
                       "<em>%s</em>" % named.get(path, escape(path)), objects, size_text(size), quota(path))
                   for path, (objects, size) in sorted(by_namespace.items(),
                                                       key=lambda item: (not item[0].startswith("repos/"), item[0])))
    return ('<div class="card"><h2>Usage by bucket</h2><table><caption class="muted">Objects and bytes of each '
            'bucket or repository (an object once, however many keys and versions name it), and a bucket\'s quota '
            'with what it stores against it (unfinished uploads\' parts too)</caption><thead><tr>'
            '<th scope="col">Bucket or repository</th><th scope="col">Objects</th><th scope="col">Bytes</th>'
            '<th scope="col">Quota</th></tr></thead><tbody>%s</tbody></table></div>' % rows)


def _owners_card(owned: Dict[str, Tuple[str, ...]], quotas: Dict[str, int],
                 counted: Dict[str, Tuple[int, int]]) -> str:
    """What each owner's buckets store and hold together (``counted``,
    where the backend counts it: "-" where not), against the owner's quota
    (docs/quotas.md): every owner of a bucket, and every owner with a
    quota."""
    names = sorted(set(owned) | set(quotas))
    if not names:
        return ""
    rows = []
    for name in names:
        buckets = owned.get(name, ())
        stored, held = (size_text(number) for number in counted[name]) if name in counted else ("-", "-")
        rows.append('<tr><td>%s</td><td data-label="Buckets" class="words">%s</td><td data-label="Stored">%s</td>'
                    '<td data-label="Being written">%s</td><td data-label="Quota">%s</td></tr>' % (
                        escape(name), escape(", ".join(buckets)) or "none", stored, held,
                        size_text(quotas[name]) if name in quotas else "none"))
    return ('<div class="card"><h2>Usage by owner</h2><table><caption class="muted">What the buckets of each '
            'user or token that owns any store together, against the owner\'s quota</caption><thead><tr>'
            '<th scope="col">Owner</th><th scope="col">Buckets</th><th scope="col">Stored</th>'
            '<th scope="col">Being written</th><th scope="col">Quota</th></tr></thead><tbody>%s</tbody></table>'
            '</div>' % "".join(rows))
