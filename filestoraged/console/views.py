"""The console's pages as HTML (``pages.page``: inline style, the strict
Content-Security-Policy, no script): every name and value a person or a
client chose (token names, bucket names, keys of any Unicode) goes in
through ``escape`` and every link through ``link``, never as markup."""

from __future__ import annotations

from html import escape
from typing import Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlencode

from ..base.timestamps import iso_utc, time_element
from ..catalog.buckets import Bucket
from ..catalog.keys import Entry
from ..catalog.lifecycle import Rule, rules_of
from ..catalog.versions import Version
from ..lfs.locks import Lock
from ..sharing.rules import Link
from ..pages import COPY_SCRIPT, page, size_text
from ..web.messages import TextResponse
from . import sending
from .preview import Preview

OPEN_NOTE = "Anyone who reaches this server may do anything here: access control is off (--auth off)."


def address(path: str, **query: Optional[str]) -> str:
    """A console address, its query percent-encoded (a key may hold ``&``,
    ``#`` or anything else)."""
    given = {name: value for name, value in query.items() if value is not None}
    return path + ("?" + urlencode(given) if given else "")


def link(path: str, **query: Optional[str]) -> str:
    """``address`` as an HTML attribute's value."""
    return escape(address(path, **query))


def frame(title: str, body: str, who: Optional[str], status: int = 200, headers=None,
          script: Optional[str] = None, media: bool = False) -> TextResponse:
    """A console page: who is signed in (and the sign-out button), or that
    nobody needs to be, above ``body``; the links to every page (a page the
    token may not see answers why); ``script``: its own, if any."""
    if who is None:
        top = '<p class="muted" role="note">%s</p>' % escape(OPEN_NOTE)
    else:
        top = ('<form method="post" action="/console/sign-out" class="row"><p class="muted">Signed in with the '
               'token <strong>%s</strong></p><div><button class="secondary" type="submit">Sign out</button></div>'
               '</form>' % escape(who))
    nav = ('<nav aria-label="Console"><a href="/console">Buckets</a> · <a href="/console/links">Share links</a> · '
           '<a href="/console/tokens">Tokens</a> · '
           '<a href="/console/store">The store</a> · <a href="/">Upload page</a></nav>')
    return page(status, title, nav + top + body, script, headers=headers, wide=True, media=media)


def sign_in(error: Optional[str] = None, status: int = 200) -> TextResponse:
    said = '<p class="error" role="alert">%s</p>' % escape(error) if error else ""
    body = ('<h1>Sign in</h1><div class="card">%s<form method="post" action="/console/sign-in">'
            '<label for="token">API token</label>'
            '<input id="token" name="token" type="password" autocomplete="off" required autofocus>'
            '<p class="muted">The token <code>filestoraged token create</code> printed. It is sent once, to make '
            'a session; it is never kept in this browser.</p>'
            '<button type="submit">Sign in</button></form></div>' % said)
    return page(status, "Sign in", body)


def buckets(names: Sequence[str], who: Optional[str], repositories: Sequence[str] = (),
            files: bool = False, usage: Optional[dict] = None, may_make: bool = False) -> TextResponse:
    """The buckets the token may read in, with their objects and bytes
    where the backend counts them (``usage``: by namespace path); the
    ``/data`` repositories too (those the backend can name, and a form to
    open one by name), and the ``/files`` objects where it may read them."""
    def counted(name: str) -> str:
        if usage is None:
            return ""
        objects, size = usage.get("repos/" + name, (0, 0))
        return ' <span class="muted">%d object%s, %s</span>' % (objects, "" if objects == 1 else "s",
                                                                size_text(size))

    if names:
        rows = "".join('<li><a href="%s">%s</a>%s</li>' % (link("/console/bucket", name=name), escape(name),
                                                           counted(name)) for name in names)
        listed = '<ul class="entries">%s</ul>' % rows
    else:
        listed = ('<p>No bucket this token may read.%s</p>'
                  % ("" if may_make else " A token that may (admin) makes them here, or through the S3 API."))
    repos = "".join('<li><a href="%s">%s</a>%s</li>' % (link("/console/repository", name=name), escape(name),
                                                        counted(name)) for name in repositories)
    others = ('<div class="card"><h2>Repositories (<code>/data</code>)</h2>%s<form method="get" '
              'action="/console/repository"><label for="repository">Open a repository</label><input '
              'id="repository" name="name" required><button type="submit">Open</button></form>%s</div>'
              % ('<ul class="entries">%s</ul>' % repos if repos else "",
                 '<p><a href="/console/repository?name=">The <code>/files</code> objects</a></p>' if files else ""))
    make = ('<div class="card"><h2>New bucket</h2><form method="post" action="/console/buckets"><label '
            'for="bucket-name">Name</label><input id="bucket-name" name="name" required minlength="3" maxlength="63" '
            'aria-describedby="bucket-rules"><p id="bucket-rules" '
            'class="muted">3-63 characters of a-z 0-9 . -, beginning and ending with a letter or digit.</p>'
            '<label><input type="checkbox" name="lock" value="1"> with object lock (versions kept, and '
            'retention and legal holds possible: for good)</label><button type="submit">Make the bucket</button>'
            '</form></div>') if may_make else ""
    return frame("Buckets", '<h1>Buckets</h1><div class="card">%s</div>%s%s' % (listed, make, others), who)


def objects(title: str, name: str, rows: Sequence[Tuple[str, int]], next_page: Optional[str],
            who: Optional[str], locks: str = "") -> TextResponse:
    """A repository's objects (or ``/files``'), by hash, a page at a time;
    ``locks``: its Git LFS locks (``locks_card``), where the token may see them."""
    listed = "".join('<tr><td><code>%s</code></td><td>%s</td><td><a href="%s">Download</a></td></tr>' % (
        escape(oid), size_text(size), link("/console/repository/download", name=name, oid=oid))
        for oid, size in rows)
    table = ('<table><caption class="muted">Objects, by SHA-256</caption><thead><tr><th scope="col">SHA-256'
             '</th><th scope="col">Size</th><th scope="col"></th></tr></thead><tbody>%s</tbody></table>' % listed
             if rows else "<p>Nothing here.</p>")
    more = '<p><a class="button" href="%s">Next page</a></p>' % escape(next_page) if next_page else ""
    return frame(title, '<h1>%s</h1><div class="card">%s%s</div>%s' % (escape(title), table, more, locks), who)


def locks_card(repo: str, locks: Sequence[Lock], next_page: Optional[str], may_unlock) -> str:
    """A repository's Git LFS locks: path, owner, since when; **Unlock** on
    those ``may_unlock(lock)`` allows (the owner's own, or any for a token
    that may delete in the repository, as ``git lfs unlock --force``)."""
    rows = "".join(
        '<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
            escape(lock.path), escape(lock.owner), time_element(lock.locked_at),
            '<form method="post" action="/console/repository/unlock"><input type="hidden" name="name" value="%s">'
            '<input type="hidden" name="id" value="%s"><button type="submit" class="secondary" '
            'aria-label="Unlock %s">Unlock</button></form>' % (escape(repo), escape(lock.id), escape(lock.path))
            if may_unlock(lock) else "") for lock in locks)
    table = ('<table><caption class="muted">Git LFS locks</caption><thead><tr><th scope="col">Path</th>'
             '<th scope="col">Owner</th><th scope="col">Locked (UTC)</th><th scope="col"></th></tr></thead>'
             '<tbody>%s</tbody></table>' % rows) if rows else "<p>No file of this repository is locked.</p>"
    more = '<p><a class="button" href="%s">More locks</a></p>' % escape(next_page) if next_page else ""
    return '<div class="card"><h2>Git LFS locks</h2>%s%s</div>' % (table, more)


SORTS = {"name": "Name", "size": "Size", "date": "Modified (UTC)"}
OLDER_SHOWN = 5  # older versions a folder page lists under each key (its page lists them all)

# The folder page's "choose all" box: checks or clears every key's box
# (shown by the script: without it the box could do nothing; again when the
# listing is shown afresh after an upload).
CHOOSE_ALL_SCRIPT = r"""
function showChooseAll() { const label = document.getElementById("choose-all-label"); if (label) label.hidden = false; }
showChooseAll();
document.addEventListener("change", ev => { if (ev.target.id !== "choose-all") return;
  for (const box of document.querySelectorAll("input[name=key]")) box.checked = ev.target.checked; });
"""


def sorted_items(items: Iterable[Tuple[str, object]], sort: str, descending: bool) -> List[Tuple[str, object]]:
    """A page's folders, then its keys (and deleted keys), by ``sort``
    (name: the keys' own order; size; date), each part reversed where
    ``descending``: folders always come first, as file managers show them."""
    folders = [item for item in items if isinstance(item[1], str)]
    keys = [item for item in items if not isinstance(item[1], str)]
    if sort == "size":
        keys.sort(key=lambda item: (item[1].size if isinstance(item[1], Entry) else -1, item[0]))
    elif sort == "date":
        keys.sort(key=lambda item: (item[1].modified if isinstance(item[1], Entry) else 0.0, item[0]))
    if descending:
        folders.reverse()
        keys.reverse()
    return folders + keys


def listing(bucket: str, prefix: str, items: Iterable[Tuple[str, object]], next_page: Optional[str],
            who: Optional[str], may_add: bool = True, may_delete: bool = False,
            deleted: Optional[bool] = None, settings: Optional[Bucket] = None,
            sort: str = "name", descending: bool = False, may_share: bool = False,
            public_acls: bool = False, older: Optional[Dict[str, Sequence[Version]]] = None) -> TextResponse:
    """A bucket's keys under ``prefix``, as folders (``/``) and files, and
    (where the token may add keys) a form to upload files into it.
    ``deleted``: in a bucket that keeps versions, whether its deleted keys
    are shown (a ``None`` item: each links to its versions); None: the
    bucket keeps no versions. ``settings``: the bucket, shown with its
    settings to change (a token that may: its first page only). ``sort``
    and ``descending``: the order of the page shown (``sorted_items``).
    Each key has its download (and share and delete, where the token may)
    on its row; the keys chosen are downloaded as one zip, or deleted
    after a page that asks. ``older``: by key, its older versions, newest
    first, listed under its row (shown with the deleted keys)."""
    crumbs = ['<a href="%s">%s</a>' % (link("/console/bucket", name=bucket), escape(bucket))]
    walked = ""
    for part in prefix.split("/")[:-1]:
        walked += part + "/"
        crumbs.append('<a href="%s">%s</a>' % (link("/console/bucket", name=bucket, prefix=walked), escape(part)))
    rows: List[str] = []
    for name, found in sorted_items(items, sort, descending):
        if name == prefix and isinstance(found, Entry) and not found.size:
            continue  # the folder's own empty key (a "new folder")
        shown = escape(name[len(prefix):] or name)
        if isinstance(found, Entry):
            actions = ['<a href="%s" aria-label="Download %s">Download</a>' % (
                link("/console/download", bucket=bucket, key=name), shown)]
            if may_share:
                actions.append('<a href="%s#share" aria-label="Share %s">Share…</a>' % (
                    link("/console/object", bucket=bucket, key=name), shown))
            if may_delete:
                actions.append('<a href="%s" aria-label="Delete %s">Delete…</a>' % (
                    link("/console/delete", bucket=bucket, key=name), shown))
            rows.append('<tr><td><input type="checkbox" name="key" value="%s" aria-label="choose %s"> <a href="%s">'
                        '%s</a></td><td data-label="Size">%s</td><td data-label="Modified">%s</td>'
                        '<td class="actions">%s</td></tr>' % (
                            escape(name), shown, link("/console/object", bucket=bucket, key=name), shown,
                            size_text(found.size), time_element(found.modified), " · ".join(actions)))
        elif found is None:
            rows.append('<tr><td><a href="%s">%s</a></td><td data-label="Size">deleted</td><td></td><td></td></tr>'
                        % (link("/console/object", bucket=bucket, key=name), shown))
        else:
            rows.append('<tr><td><a href="%s">%s</a></td><td>folder</td><td></td><td></td></tr>' % (
                link("/console/bucket", name=bucket, prefix=name, deleted="1" if deleted else None), shown))
        if not isinstance(found, str) and older and older.get(name):
            rows.extend(_older_rows(bucket, name, older[name]))

    def heading(by: str) -> str:
        """A column's head: a link that sorts the page by it (again: the other way)."""
        now = by == sort
        turn = now and not descending
        arrow = (" ▼" if descending else " ▲") if now else ""
        return ('<th scope="col"%s><a href="%s">%s%s</a></th>' % (
            ' aria-sort="%s"' % ("descending" if descending else "ascending") if now else "",
            link("/console/bucket", name=bucket, prefix=prefix or None, deleted="1" if deleted else None,
                 sort=None if by == "name" else by, order="desc" if turn else None),
            SORTS[by], arrow))

    files = any('name="key"' in row for row in rows)
    choose_all = ('<label class="inline" id="choose-all-label" hidden><input type="checkbox" id="choose-all"> '
                  'Choose all</label> · ' if files else "")
    orders = " · ".join('<a href="%s">%s%s</a>' % (
        link("/console/bucket", name=bucket, prefix=prefix or None, deleted="1" if deleted else None,
             sort=None if by == "name" else by, order="desc" if by == sort and not descending else None),
        by, (" ▼" if descending else " ▲") if by == sort else "") for by in ("name", "size", "date"))
    table = ('<table><caption>%sSort this page by %s</caption><thead><tr>%s%s%s<th scope="col">'
             '<span class="muted">Actions</span></th></tr></thead><tbody>%s</tbody></table>'
             % (choose_all, orders, heading("name"), heading("size"), heading("date"), "".join(rows))
             ) if rows else "<p>Nothing here.</p>"
    if files:  # the keys checked: one zip of them, or the page that asks before they are deleted
        remove = ('<button type="submit" class="secondary" id="delete-chosen">Delete the chosen keys…</button>'
                  if may_delete else "")
        table = ('<form method="get" action="/console/delete"><input type="hidden" name="bucket" value="%s">'
                 '<input type="hidden" name="prefix" value="%s">%s<button type="submit" formmethod="post" '
                 'formaction="/console/zip" id="zip-chosen">Download the chosen as a zip</button> %s</form>'
                 % (escape(bucket), escape(prefix), table, remove))
    more = '<p><a class="button" href="%s">Next page</a></p>' % escape(next_page) if next_page else ""
    if deleted is not None:  # the bucket keeps versions: its deleted keys may be shown, to bring one back
        more += '<p><a href="%s">%s</a></p>' % (
            link("/console/bucket", name=bucket, prefix=prefix or None, deleted=None if deleted else "1"),
            "Hide deleted keys and older versions" if deleted else "Show deleted keys and older versions")
    search = ('<form method="get" action="/console/bucket" role="search"><input type="hidden" name="name" '
              'value="%s"><label for="prefix">Keys beginning with</label><input id="prefix" name="prefix" '
              'value="%s"><button type="submit">Search</button></form>' % (escape(bucket), escape(prefix)))
    upload = (sending.upload_card(bucket, prefix, address("/console/bucket", name=bucket, prefix=prefix or None))
              + '<div class="card"><form method="post" action="/console/folder"><input type="hidden" name="bucket" '
              'value="%s"><input type="hidden" name="prefix" value="%s"><label for="folder">New folder</label>'
              '<input id="folder" name="name" required><button type="submit" class="secondary">Make the folder'
              '</button></form></div>' % (escape(bucket), escape(prefix))) if may_add else ""
    body = ('<h1>%s</h1><nav aria-label="Folder" class="crumbs">%s</nav><div class="card" id="listing">%s%s</div>%s'
            '<div class="card">%s</div>%s' % (escape(bucket), " / ".join(crumbs), table, more, upload, search,
                                               _settings_card(settings, public_acls) if settings is not None else ""))
    script = CHOOSE_ALL_SCRIPT + (sending.SCRIPT if may_add else "")
    return frame(bucket, body, who, script=script)


def _older_rows(bucket: str, key: str, versions: Sequence[Version]) -> List[str]:
    """A key's older versions as rows under its own, newest first: each
    a link to its page (to download or restore it); past ``OLDER_SHOWN``,
    a link to the key's page, which lists them all."""
    rows = ['<tr class="older"><td>↳ <a href="%s">%s</a></td><td data-label="Size">%s</td>'
            '<td data-label="Modified">%s</td><td>%s</td></tr>' % (
                link("/console/object", bucket=bucket, key=key, version=version.id),
                "delete marker" if version.entry is None else "older version",
                "" if version.entry is None else size_text(version.entry.size), time_element(version.modified),
                "by <code>%s</code>" % escape(version.maker) if version.maker else "")
            for version in versions[:OLDER_SHOWN]]
    if len(versions) > OLDER_SHOWN:
        rows.append('<tr class="older"><td>↳ <a href="%s">every version of %s</a></td><td></td><td></td><td></td>'
                    '</tr>' % (link("/console/object", bucket=bucket, key=key), escape(key.rsplit("/", 1)[-1])))
    return rows


def details(bucket: str, key: str, entry: Entry, versions: Sequence[Version], version: Optional[str],
            who: Optional[str], may_write: bool = True, may_delete: bool = True,
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
        rows.append(("Written by", "the token <code>%s</code>" % escape(entry.maker)))
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


def _settings_card(bucket: Bucket, public_acls: bool = False) -> str:
    """A bucket's settings, each with the form that changes it: versioning
    (on, suspended, or never turned on), object lock and its default
    retention, lifecycle rules (each removable, a form for a new one),
    whether anyone may read it (where the operator allows public ACLs,
    ``public_acls``), and deleting it (if empty)."""
    state = {"Enabled": "on: every write keeps the version it replaces, a delete leaves a delete marker",
             "Suspended": "suspended: versions kept so far stay, new writes replace the current one"}.get(
        bucket.versioning, "off: a write replaces the key, a delete removes it")
    action, label = (("versioning-suspend", "Suspend versioning") if bucket.versioning == "Enabled" else
                     ("versioning-on", "Turn versioning on"))
    change = "" if bucket.lock is not None else _settings_button(bucket.name, action, label)
    facts = [("Versioning", state + change)]
    if bucket.lock is None:
        facts.append(("Object lock", "off (only a bucket made with it has it)"))
    else:
        default = bucket.lock.get("default")
        modes = "".join('<option value="%s"%s>%s</option>' % (value, " selected" if value == (default or {}).get(
            "mode", "") else "", value or "none") for value in ("", "GOVERNANCE", "COMPLIANCE"))
        facts.append(("Object lock", "on (versioning stays on); new versions are kept %s%s" % (
            "%s for %d days" % (escape(default["mode"]), default["days"]) if default else "as their writer asks",
            _settings_form(bucket.name, "lock-default", '<div class="row"><div><label for="lock-mode">Default '
                           'retention</label><select id="lock-mode" name="mode">%s</select></div><div><label '
                           'for="lock-days">Days</label><input id="lock-days" name="days" type="number" min="1" '
                           'value="%s"></div></div>' % (modes, (default or {}).get("days", "")),
                           "Set the default retention"))))
    rules = "".join('<li>%s %s</li>' % (escape(_rule_text(rule)), _settings_button(
        bucket.name, "lifecycle-remove", "Remove", rule=rule.id)) for rule in rules_of(bucket))
    rule_form = _settings_form(
        bucket.name, "lifecycle-add",
        '<label for="rule-prefix">Keys beginning with (empty: every key)</label><input id="rule-prefix" '
        'name="prefix"><div class="row">%s</div>' % "".join(
            '<div><label for="%s">%s</label><input id="%s" name="%s" type="number" min="1"></div>'
            % (name, text, name, name) for name, text in (
                ("expire_days", "Delete keys after (days)"), ("noncurrent_days", "Delete older versions after (days)"),
                ("abort_days", "End unfinished uploads after (days)"))), "Add the rule")
    facts.append(("Lifecycle", ('<ul>%s</ul>' % rules if rules else "no rules") + rule_form))
    if bucket.acl == "public-read":
        public = "anyone may read its keys, without a token" + _settings_button(bucket.name, "private",
                                                                                "Make it private")
    elif public_acls:
        public = "only tokens that may" + _settings_button(bucket.name, "public-read", "Let anyone read it")
    else:
        public = "only tokens that may (public buckets are off on this server: <code>--s3-public-acls</code>)"
    facts.append(("Who reads it", public))
    return ('<div class="card" id="settings"><h2>Settings</h2><dl>%s</dl>%s</div>'
            % ("".join("<dt>%s</dt><dd>%s</dd>" % fact for fact in facts),
               _settings_button(bucket.name, "delete", "Delete this bucket (if empty)")))


def _rule_text(rule: Rule) -> str:
    """A lifecycle rule in words."""
    said = []
    if rule.expire_days:
        said.append("keys deleted %d days after they were written" % rule.expire_days)
    if rule.expire_date:
        said.append("keys deleted from %s" % iso_utc(rule.expire_date))
    if rule.expired_markers:
        said.append("delete markers left alone removed")
    if rule.noncurrent_days:
        said.append("older versions deleted %d days after%s" % (
            rule.noncurrent_days, ", keeping the %d newest" % rule.newer_noncurrent if rule.newer_noncurrent else ""))
    if rule.abort_days:
        said.append("unfinished uploads ended after %d days" % rule.abort_days)
    return "%s%s: %s" % ("under %s" % rule.prefix if rule.prefix else "every key",
                         "" if rule.enabled else " (disabled)", "; ".join(said) or "nothing")


def _settings_form(bucket: str, action: str, inside: str, label: str, inline: bool = False, **fields: str) -> str:
    """A form of the bucket's settings: ``inside`` (its fields) and its button."""
    hidden = "".join('<input type="hidden" name="%s" value="%s">' % (name, escape(value))
                     for name, value in dict(fields, name=bucket, action=action).items())
    return ('<form method="post" action="/console/bucket/settings"%s>%s%s<button type="submit" class="secondary">%s'
            '</button></form>' % (' class="inline"' if inline else "", hidden, inside, escape(label)))


def _settings_button(bucket: str, action: str, label: str, **fields: str) -> str:
    return " " + _settings_form(bucket, action, "", label, inline=True, **fields)


def _versions_card(title: str, bucket: str, key: str, versions: Sequence[Version]) -> str:
    """A key's versions, newest first, each a link to its page (where one may be restored)."""
    items = "".join('<li><a href="%s"><code>%s</code></a> %s, %s%s</li>' % (
        link("/console/object", bucket=bucket, key=key, version=item.id), escape(item.id),
        "delete marker" if item.marker else size_text(item.entry.size),  # type: ignore[union-attr]
        time_element(item.modified),
        ", by <code>%s</code>" % escape(item.maker) if item.maker else "")
        for item in versions)
    return '<div class="card"><h2>%s</h2><ul>%s</ul></div>' % (escape(title), items)


def deleted_key(bucket: str, key: str, versions: Sequence[Version], who: Optional[str]) -> TextResponse:
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


def confirm_delete(bucket: str, keys: Sequence[str], version: Optional[str], who: Optional[str]) -> TextResponse:
    if version:
        what = "the version %s of <strong>%s</strong>" % (escape(version), escape(keys[0]))
    elif len(keys) == 1:
        what = "<strong>%s</strong>" % escape(keys[0])
    else:
        what = "these %d keys: <ul>%s</ul>" % (len(keys), "".join("<li>%s</li>" % escape(key) for key in keys))
    hidden = "".join('<input type="hidden" name="%s" value="%s">' % (name, escape(value))
                     for name, value in [("bucket", bucket)] + [("key", key) for key in keys] + [("version", version)]
                     if value is not None)
    back = (link("/console/object", bucket=bucket, key=keys[0], version=version) if len(keys) == 1 else
            link("/console/bucket", name=bucket, prefix=keys[0][:keys[0].rfind("/") + 1] or None))
    body = ('<h1>Delete?</h1><div class="card"><p>Delete %s from the bucket %s? %s</p>'
            '<form method="post" action="/console/delete">%s<button type="submit">Delete</button> '
            '<a class="button secondary" href="%s">Keep %s</a></form></div>'
            % (what, escape(bucket),
               "This version is gone for good." if version else
               "In a bucket that keeps versions, %s older versions stay." % ("its" if len(keys) == 1 else "their"),
               hidden, back,
               "it" if len(keys) == 1 else "them"))
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


def shared(bucket: str, key: str, result: dict, downloads: int, with_password: bool, who: Optional[str]
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


def links(made: Sequence[Link], base_url: str, now: float, next_page: Optional[str], who: Optional[str],
          may_make: bool) -> TextResponse:
    """The share links the signed-in token made, oldest first: file, size,
    downloads taken of those allowed, password or none, until when, and how
    it stands; **End** on a live one (its delete token is not needed: the
    token that made it ends it)."""
    rows = []
    for made_link in made:
        state = _link_state(made_link, now)
        end = ('<form method="post" action="/console/links/end"><input type="hidden" name="id" value="%s">'
               '<button type="submit" class="secondary" aria-label="End the link to %s">End</button></form>'
               % (escape(made_link.id), escape(made_link.filename or "the file"))) if state == "live" else ""
        url = "%s/file/%s" % (base_url, made_link.id)
        copy = copy_button("link-" + made_link.id, "Copy the link to %s" % (made_link.filename or "the file"))
        rows.append('<tr><td>%s<br><a href="%s"><code id="link-%s">%s</code></a> %s</td><td data-label="Size">%s</td>'
                    '<td data-label="Downloads">%d of %d</td><td data-label="Password">%s</td>'
                    '<td data-label="Expires">%s</td><td data-label="State">%s</td><td>%s</td></tr>' % (
                        escape(made_link.filename or "(no name)"), escape(url), escape(made_link.id), escape(url),
                        copy,
                        size_text(made_link.size), made_link.downloads, made_link.max_downloads,
                        "yes" if made_link.has_password else "none",
                        time_element(made_link.expires_at), state, end))
    table = ('<table><caption class="muted">Share links made with this token</caption><thead><tr>'
             '<th scope="col">File and link</th><th scope="col">Size</th><th scope="col">Downloads</th>'
             '<th scope="col">Password</th><th scope="col">Expires (UTC)</th><th scope="col">State</th>'
             '<th scope="col"></th></tr></thead><tbody>%s</tbody></table>' % "".join(rows)) if rows else (
        "<p>No share link made with this token yet.%s</p>" % (
            " Make one from an object's page, or on the <a href=\"/\">upload page</a>." if may_make else ""))
    if who is None:
        table = ("<p>Links are listed under the token that made them; with access control off no token makes "
                 "them, so none is listed here.</p>")
    more = '<p><a class="button" href="%s">Next page</a></p>' % escape(next_page) if next_page else ""
    return frame("Share links", '<h1>Share links</h1><div class="card">%s%s</div>' % (table, more), who,
                 script=COPY_SCRIPT if rows else None)


def copy_button(target: str, label: str) -> str:
    """A button that copies the text of the element ``target`` names (``pages.COPY_SCRIPT``), and where it says so."""
    return ('<button type="button" class="secondary" data-copy="%s" data-said="said-%s" aria-label="%s">Copy</button>'
            ' <span id="said-%s" class="muted" aria-live="polite"></span>'
            % (escape(target), escape(target), escape(label), escape(target)))


def _link_state(made_link: Link, now: float) -> str:
    if made_link.deleted:
        return "ended"
    if made_link.expires_at <= now:
        return "expired"
    if made_link.downloads >= made_link.max_downloads:
        return "used up"
    return "live"
