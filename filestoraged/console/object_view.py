"""An object's page (what it is, its preview, its versions, and what the
token may do with it: download, delete, copy or move, restore, share, its
tags, legal hold and retention), a deleted key's page, the page that asks
before a delete, and a new share link's."""

from __future__ import annotations

from html import escape
from typing import Optional, Sequence, Tuple

from ..base.timestamps import time_element
from ..catalog.keys import Entry
from ..catalog.versions import Version
from ..catalog.keys import sent_through_link
from ..pages import size_text
from ..web.messages import TextResponse
from .preview import Preview
from .views import Who, frame, link

def details(bucket: str, key: str, entry: Entry, versions: Sequence[Version], version: Optional[str],
            who: Optional[Who], may_write: bool = True, may_delete: bool = True,
            sharing: Optional[Tuple[int, int]] = None, preview: Optional[Preview] = None,
            locked: bool = False, may_bypass: bool = False) -> TextResponse:
    """One key's object: what it is, a preview where it has one
    (``previews``), its versions, and what the token may do with it (a
    control it may not use is not shown): ``locked``: the bucket has object
    lock (a legal hold and a retention may be set); ``may_bypass``: the
    token may shorten a GOVERNANCE retention."""
    size = size_text(entry.size) + (" (%d bytes)" % entry.size if entry.size >= 1024 else "")
    rows = [("Key", escape(key)), ("Size", size),
            ("Type", escape(entry.content_type or "binary/octet-stream")),
            ("Modified", time_element(entry.modified)),
            ("ETag", "<code>%s</code>" % escape(entry.etag)), ("SHA-256", "<code>%s</code>" % escape(entry.oid))]
    if version is not None or entry.version:
        rows.append(("Version", "<code>%s</code>" % escape(version or entry.version or "null")))
    if entry.maker:
        rows.append(("Written by", escape(entry.maker) if sent_through_link(entry.maker) else
                     "the token <code>%s</code>" % escape(entry.maker)))
    if entry.replication:
        rows.append(("Replication", {"PENDING": "waiting to be copied to the bucket's target",
                                     "COMPLETED": "copied to the bucket's target",
                                     "FAILED": "refused by the bucket's target (the log says why)"}.get(
                                         entry.replication, escape(entry.replication))))
    if entry.tags:
        rows.append(("Tags", ", ".join("%s=%s" % (escape(name), escape(value)) for name, value in entry.tags.items())))
    lock = entry.lock or {}
    if lock.get("until") is not None:
        rows.append(("Retention", "%s until %s" % (escape(str(lock.get("mode"))), time_element(float(lock["until"])))))
    if lock.get("hold"):
        rows.append(("Legal hold", "on"))
    facts = "".join("<dt>%s</dt><dd>%s</dd>" % row for row in rows)
    actions = ('<a class="button" href="%s">Download</a> <a class="button secondary" href="%s">Open in the browser</a>'
               % (link("/console/download", bucket=bucket, key=key, version=version),
                  link("/console/preview", bucket=bucket, key=key, version=version)))
    if may_delete:
        actions += ' <a class="button secondary" href="%s">Delete…</a>' % link("/console/delete", bucket=bucket,
                                                                               key=key, version=version)
    older = _versions_card("Older versions", bucket, key, versions) if versions else ""
    rename = ('<div class="card"><form method="post" action="/console/copy"><input type="hidden" name="bucket" '
              'value="%s"><input type="hidden" name="key" value="%s"><label for="target">Copy or move to</label>'
              '<input id="target" name="target" value="%s" required><p class="muted">A new key for the same '
              'object: no bytes are copied.</p><button type="submit" name="action" value="copy">Copy</button> '
              '<button type="submit" name="action" value="move" class="secondary">Move</button></form></div>'
              % (escape(bucket), escape(key), escape(key))) if version is None and may_write else ""
    if version is not None and may_write:
        rename = ('<div class="card"><form method="post" action="/console/copy">%s<p>This is an older version. '
                  'Restoring it makes a copy of it the newest version of the key; the versions stay.</p>'
                  '<button type="submit" name="action" value="copy">Restore this version</button></form></div>'
                  % "".join('<input type="hidden" name="%s" value="%s">' % (name, escape(value)) for name, value in
                            (("bucket", bucket), ("key", key), ("target", key), ("version", version))))
    if sharing is not None and version is None:
        rename += share_form(bucket, key, *sharing)
    if may_write:
        rename += _object_settings_card(bucket, key, version, entry, locked, may_bypass)
    folder = key[:key.rfind("/") + 1]
    back = '<p><a href="%s">Back to the folder</a></p>' % link("/console/bucket", name=bucket, prefix=folder or None)
    shown = preview_card(preview, link("/console/preview", bucket=bucket, key=key, version=version), key
                         ) if preview is not None else ""
    body = '<h1>%s</h1><div class="card"><dl>%s</dl>%s</div>%s%s%s%s' % (escape(key), facts, actions, shown, rename,
                                                                        older, back)
    return frame(key, body, who, media=preview is not None and preview.kind in ("image", "video", "audio"))


def preview_card(preview: Preview, source: str, key: str) -> str:
    """What the object looks like, on its page: a picture, a player, the
    start of a text (escaped, as text), or the way to a PDF's viewer; the
    bytes from ``source``, the preview route, which serves them sandboxed."""
    name = escape(key.rsplit("/", 1)[-1])
    if preview.kind == "image":
        shown = '<img src="%s" alt="%s" loading="lazy">' % (source, name)
    elif preview.kind in ("video", "audio"):
        shown = '<%s src="%s" controls preload="metadata"></%s>' % (preview.kind, source, preview.kind)
    elif preview.kind == "pdf":
        shown = ('<p>A PDF: <a class="button secondary" href="%s" target="_blank" rel="noopener">Open it in the '
                 'browser\'s viewer</a></p>' % source)
    else:
        shown = '<pre>%s</pre>%s' % (escape(preview.text), '<p class="muted">The first %s of it.</p>' % size_text(
            len(preview.text.encode())) if preview.cut else "")
    return '<div class="card preview" id="preview"><h2>Preview</h2>%s</div>' % shown


def _object_settings_card(bucket: str, key: str, version: Optional[str], entry: Entry, locked: bool,
                          may_bypass: bool) -> str:
    """The version's tags (a ``key=value`` a line) and, in a bucket with
    object lock, its legal hold and retention, each with the form that
    changes it (``object_settings``)."""
    def form(action: str, inside: str, label: str, secondary: bool = True) -> str:
        hidden = "".join('<input type="hidden" name="%s" value="%s">' % (name, escape(value)) for name, value in
                         (("bucket", bucket), ("key", key), ("version", version), ("action", action))
                         if value is not None)
        return ('<form method="post" action="/console/object/settings">%s%s<button type="submit"%s>%s</button>'
                '</form>' % (hidden, inside, ' class="secondary"' if secondary else "", escape(label)))

    tags = "\n".join("%s=%s" % item for item in (entry.tags or {}).items())
    parts = [form("tags", '<label for="tags">Tags, a <code>key=value</code> a line (up to 10)</label><textarea '
                          'id="tags" name="tags" rows="4">%s</textarea>' % escape(tags), "Save the tags", False)]
    if locked:
        lock = entry.lock or {}
        parts.append(form("hold-off", "<p>A legal hold is on: the version cannot be deleted until it is lifted."
                                      "</p>", "Lift the legal hold") if lock.get("hold") else
                     form("hold-on", "<p>No legal hold. One keeps the version from being deleted, with no end "
                                     "date, until it is lifted.</p>", "Put a legal hold"))
        modes = "".join('<option value="%s"%s>%s</option>' % (value, " selected" if value == (lock.get("mode") or "")
                                                               else "", label)
                        for value, label in (("", "none"), ("GOVERNANCE", "GOVERNANCE (an admin may shorten it)"),
                                             ("COMPLIANCE", "COMPLIANCE (nobody may shorten it)")))
        bypass = ('<label><input type="checkbox" name="bypass" value="1"> shorten or remove a GOVERNANCE '
                  'retention (admin)</label>' if may_bypass else "")
        parts.append(form("retention", '<div class="row"><div><label for="mode">Retention</label><select id="mode" '
                                       'name="mode">%s</select></div><div><label for="until">Kept until the end of '
                                       '(UTC)</label><input id="until" name="until" type="date"></div></div>%s'
                          % (modes, bypass), "Set the retention"))
    title = "Tags, legal hold and retention" if locked else "Tags"
    return '<div class="card" id="settings"><h2>%s</h2>%s</div>' % (title, "".join(parts))


def _versions_card(title: str, bucket: str, key: str, versions: Sequence[Version]) -> str:
    """A key's versions, newest first, each a link to its page (where one may be restored)."""
    items = "".join('<li><a href="%s"><code>%s</code></a> %s, %s%s</li>' % (
        link("/console/object", bucket=bucket, key=key, version=item.id), escape(item.id),
        "delete marker" if item.marker else size_text(item.entry.size),  # type: ignore[union-attr]
        time_element(item.modified),
        ", by <code>%s</code>" % escape(item.maker) if item.maker else "")
        for item in versions)
    return '<div class="card"><h2>%s</h2><ul>%s</ul></div>' % (escape(title), items)


def deleted_key(bucket: str, key: str, versions: Sequence[Version], who: Optional[Who]) -> TextResponse:
    """A key deleted in a bucket that keeps versions: when and by whom, and
    its versions, any of which its page restores."""
    newest = versions[0]
    said = ("It was deleted %s%s." % (time_element(newest.modified),
                                       " by the token <code>%s</code>" % escape(newest.maker) if newest.maker else "")
            if newest.marker else "Its newest version is not current.")
    body = ('<h1>%s</h1><div class="card"><p>This key is deleted: a read of it finds nothing. %s Its versions '
            'are kept: open one to download it or to restore it as the key\'s newest version.</p></div>%s'
            % (escape(key), said, _versions_card("Versions", bucket, key, versions)))
    return frame(key, body, who)


def delete_marker(bucket: str, key: str, version: str, versions: Sequence[Version], who: Optional[Who],
                  may_delete: bool) -> TextResponse:
    """A delete marker's page: when the key was deleted and by whom; removing
    the marker (where the token may delete) makes the version before it
    current again: the key is back. And the key's versions."""
    marker = next((item for item in versions if item.id == version), None)
    said = ("The key was deleted %s%s." % (time_element(marker.modified), " by <code>%s</code>" % escape(marker.maker)
                                           if marker.maker else "") if marker is not None else "")
    undo = ('<p><a class="button" href="%s">Remove this delete marker</a> and the version before it is the key\'s '
            'current one again: the key is back.</p>'
            % link("/console/delete", bucket=bucket, key=key, version=version)) if may_delete else ""
    body = ('<h1>%s</h1><div class="card"><p>This version, <code>%s</code>, is a delete marker: it holds no bytes. '
            '%s</p>%s</div>%s' % (escape(key), escape(version), said, undo,
                                  _versions_card("Versions", bucket, key, versions)))
    return frame(key, body, who)


def confirm_delete(bucket: str, keys: Sequence[str], version: Optional[str], who: Optional[Who],
                   versioned: bool = True, marker: bool = False) -> TextResponse:
    """The page that asks before a delete, saying what it undoes and what
    it cannot: a delete marker removed brings the key back; a version
    deleted is gone for good; a key deleted in a bucket that keeps versions
    leaves them, and in one that keeps none is final (then **Keep** is the
    button the page leads with)."""
    if version and marker:
        what = "the delete marker %s of <strong>%s</strong>" % (escape(version), escape(keys[0]))
        said, verb = "The version before it becomes the key's current one again: the key is back.", "Remove the marker"
    elif version:
        what = "the version %s of <strong>%s</strong>" % (escape(version), escape(keys[0]))
        said, verb = "This version is gone for good.", "Delete"
    else:
        what = "<strong>%s</strong>" % escape(keys[0]) if len(keys) == 1 else "these %d keys: <ul>%s</ul>" % (
            len(keys), "".join("<li>%s</li>" % escape(key) for key in keys))
        said = ("In a bucket that keeps versions, %s older versions stay: a deleted key can be brought back." % (
                    "its" if len(keys) == 1 else "their") if versioned else
                "This is final: the bucket keeps no versions, so nothing of %s can be brought back." % (
                    "it" if len(keys) == 1 else "them"))
        verb = "Delete"
    hidden = "".join('<input type="hidden" name="%s" value="%s">' % (name, escape(value))
                     for name, value in [("bucket", bucket)] + [("key", key) for key in keys] + [("version", version)]
                     if value is not None)
    back = (link("/console/object", bucket=bucket, key=keys[0], version=version) if len(keys) == 1 else
            link("/console/bucket", name=bucket, prefix=keys[0][:keys[0].rfind("/") + 1] or None))
    final = not versioned and not version
    keep = '<a class="button%s" href="%s">Keep %s</a>' % ("" if final else " secondary", back,
                                                         "it" if len(keys) == 1 else "them")
    delete = '<button type="submit"%s>%s</button>' % (' class="secondary"' if final else "", verb)
    body = ('<h1>%s?</h1><div class="card"><p>%s %s from the bucket %s? %s</p>'
            '<form method="post" action="/console/delete">%s%s %s</form></div>'
            % ("Remove the marker" if marker else "Delete", "Remove" if marker else "Delete", what, escape(bucket),
               said, hidden, keep if final else delete, delete if final else keep))
    return frame("Delete", body, who)


def share_form(bucket: str, key: str, default_expiry: int, longest: int) -> str:
    """The terms of a new share link of the key's object."""
    choices = [(seconds, label) for seconds, label in ((3600, "1 hour"), (86400, "1 day"), (7 * 86400, "7 days"),
                                                       (30 * 86400, "30 days")) if seconds <= longest]
    if all(seconds != default_expiry for seconds, _ in choices) and default_expiry <= longest:
        choices.append((default_expiry, "%d seconds" % default_expiry))
    options = "".join('<option value="%d"%s>%s</option>' % (seconds, " selected" if seconds == default_expiry else "",
                                                             label) for seconds, label in choices)
    return ('<div class="card" id="share"><h2>Share</h2><form method="post" action="/console/share">'
            '<input type="hidden" name="bucket" value="%s"><input type="hidden" name="key" value="%s">'
            '<label for="password">Password (optional)</label>'
            '<input id="password" name="password" type="password" autocomplete="new-password">'
            '<div class="row"><div><label for="max_downloads">Downloads allowed</label>'
            '<input id="max_downloads" name="max_downloads" type="number" min="1" value="1" required></div>'
            '<div><label for="expires_in">Link expires after</label><select id="expires_in" name="expires_in">%s'
            '</select></div></div><button type="submit">Make a share link</button></form></div>'
            % (escape(bucket), escape(key), options))


def shared(bucket: str, key: str, result: dict, downloads: int, with_password: bool, who: Optional[Who]
           ) -> TextResponse:
    """A new share link, with its delete token: shown this once."""
    rows = [("Link", '<a href="%s"><code>%s</code></a>' % (escape(str(result["url"])), escape(str(result["url"])))),
            ("Downloads allowed", str(downloads)), ("Password", "yes" if with_password else "none"),
            ("Expires", escape(str(result["expires_at"]))),
            ("Delete token", "<code>%s</code>" % escape(str(result["delete_token"])))]
    body = ('<h1>Share link made</h1><div class="card"><p>Of <strong>%s</strong> in %s. Keep the delete token '
            'now: it is shown this once (<code>curl -X DELETE -H "X-Delete-Token: …" LINK</code> ends the '
            'link).</p><dl>%s</dl></div><p><a href="%s">Back to the object</a></p>'
            % (escape(key), escape(bucket), "".join("<dt>%s</dt><dd>%s</dd>" % row for row in rows),
               link("/console/object", bucket=bucket, key=key)))
    return frame("Share link made", body, who)

