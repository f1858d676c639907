"""A folder of a bucket as a page: its keys and folders (sorted, each
key's own actions, chosen keys zipped or deleted, deleted keys and older
versions on a switch), its uploads (``sending``), the bucket's recent
changes and, on its first page for a token that may, its settings
(``settings_view``)."""

from __future__ import annotations

from html import escape
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..base.timestamps import time_element
from ..catalog.buckets import Bucket
from ..catalog.keys import Entry
from ..catalog.recent import KEPT, Change
from ..catalog.versions import Version
from ..pages import size_text
from ..web.messages import TextResponse
from . import sending
from .settings_view import settings_card
from .views import Who, address, frame, link

SORTS = {"name": "Name", "size": "Size", "date": "Modified (UTC)"}


OLDER_SHOWN = 5  # older versions a folder page lists under each key (its page lists them all)


CHANGES_SHOWN = 10  # recent changes a bucket's page shows (its changes page: all those kept)


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
            who: Optional[Who], may_add: bool = True, may_delete: bool = False,
            deleted: Optional[bool] = None, settings: Optional[Bucket] = None,
            sort: str = "name", descending: bool = False, may_share: bool = False,
            public_acls: bool = False, older: Optional[Dict[str, Sequence[Version]]] = None,
            changes: Optional[Sequence[Change]] = None, stored: Optional[int] = None,
            owner: Optional[Tuple[Optional[int], int]] = None) -> TextResponse:
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
    first, listed under its row (shown with the deleted keys). ``changes``:
    the bucket's recent changes (its first page), newest first."""
    crumbs = ['<a href="%s">%s</a>' % (link("/console/bucket", name=bucket), escape(bucket))]
    walked = ""
    for part in prefix.split("/")[:-1]:
        walked += part + "/"
        crumbs.append('<a href="%s">%s</a>' % (link("/console/bucket", name=bucket, prefix=walked), escape(part)))
    # The folder a search's prefix is in (``2026/03`` is in ``2026/``): names
    # are shown, and files uploaded from the page land, there.
    folder = prefix[:prefix.rfind("/") + 1]
    rows: List[str] = []
    for name, found in sorted_items(items, sort, descending):
        if name == prefix and isinstance(found, Entry) and not found.size:
            continue  # the folder's own empty key (a "new folder")
        shown = escape(name[len(folder):] or name)
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
    upload = (sending.upload_card(bucket, folder, address("/console/bucket", name=bucket, prefix=folder or None))
              + '<div class="card"><form method="post" action="/console/folder"><input type="hidden" name="bucket" '
              'value="%s"><input type="hidden" name="prefix" value="%s"><label for="folder">New folder</label>'
              '<input id="folder" name="name" required><button type="submit" class="secondary">Make the folder'
              '</button></form></div>' % (escape(bucket), escape(folder))) if may_add else ""
    recent = ""
    if changes is not None:
        recent = ('<div class="card" id="changes"><h2>Recent changes</h2>%s<p><a href="%s">Every recent change</a></p>'
                  '</div>' % (_changes_table(bucket, changes), link("/console/changes", name=bucket)))
    shown = settings_card(settings, public_acls, stored, owner) if settings is not None else ""
    # The upload forms above the listing: a folder of hundreds of keys is not scrolled through to reach them.
    body = ('<h1>%s</h1><nav aria-label="Folder" class="crumbs">%s</nav>%s<div class="card" id="listing">%s%s</div>'
            '%s<div class="card">%s</div>%s' % (escape(bucket), " / ".join(crumbs), upload, table, more, recent,
                                                 search, shown))
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


CHANGE_WORDS = {"write": "written", "delete": "deleted", "delete version": "a version deleted",
                "change": "tags or lock changed"}


def _changes_table(bucket: str, changes: Sequence[Change]) -> str:
    """Recent changes, newest first: when, what, which key (and version), by which token."""
    if not changes:
        return "<p>No change since this server began keeping them.</p>"
    # When and what are words: never broken inside (only the key and the token's name may be).
    rows = "".join('<tr><td data-label="When" class="words">%s</td><td data-label="What" class="words">%s</td>'
                   '<td data-label="Key"><a href="%s">%s</a>%s</td><td data-label="By">%s</td></tr>' % (
                       time_element(change.at), CHANGE_WORDS.get(change.what, escape(change.what)),
                       link("/console/object", bucket=bucket, key=change.key,
                            version=change.version if change.what == "write" else None),
                       escape(change.key), " <code>%s</code>" % escape(change.version) if change.version else "",
                       "<code>%s</code>" % escape(change.by) if change.by else '<span class="muted">-</span>')
                   for change in changes)
    return ('<table><caption class="muted">Newest first</caption><thead><tr><th scope="col">When (UTC)</th>'
            '<th scope="col">What</th><th scope="col">Key</th><th scope="col">By</th></tr></thead><tbody>%s</tbody>'
            '</table>' % rows)


def changes_page(bucket: str, changes: Sequence[Change], who: Optional[Who]) -> TextResponse:
    """Every recent change of a bucket that is kept."""
    body = ('<h1>Recent changes in %s</h1><div class="card">%s<p class="muted">The last %d changes are kept; a '
            'change shows here within seconds, whichever daemon or worker made it. The access log names the token '
            'of every request, for good.</p></div><p><a href="%s">Back to the bucket</a></p>'
            % (escape(bucket), _changes_table(bucket, changes), KEPT, link("/console/bucket", name=bucket)))
    return frame("Recent changes", body, who)

