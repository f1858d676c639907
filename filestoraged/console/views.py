"""The console's pages as HTML (``pages.page``: inline style, the strict
Content-Security-Policy, scripts allowed by their hashes): the frame every
page shares and the small pages (sign-in, buckets, a repository's objects
and locks, share links); a folder's page is ``folder_view``, an object's
``object_view``, a bucket's settings ``settings_view``. Every name and
value a person or a client chose (token names, bucket names, keys of any
Unicode) goes in through ``escape`` and every link through ``link``,
never as markup."""

from __future__ import annotations

from html import escape
from typing import NamedTuple, Optional, Sequence, Tuple
from urllib.parse import urlencode, urlsplit

from ..base.timestamps import time_element
from ..lfs.locks import LfsLock
from ..pages import COPY_SCRIPT, page, size_text
from ..sharing.rules import Link
from ..web.messages import TextResponse

OPEN_NOTE = "Anyone who reaches this server may do anything here: access control is off (--auth off)."


def address(path: str, **query: Optional[str]) -> str:
    """A console address, its query percent-encoded (a key may hold ``&``,
    ``#`` or anything else)."""
    given = {name: value for name, value in query.items() if value is not None}
    return path + ("?" + urlencode(given) if given else "")


def link(path: str, **query: Optional[str]) -> str:
    """``address`` as an HTML attribute's value."""
    return escape(address(path, **query))


class Who(NamedTuple):
    """Who a page is for: a token's or a user's name, and whether it may
    manage the store (``admin``: its pages are linked from every page)."""

    name: str
    user: bool = False
    admin: bool = False


def frame(title: str, body: str, who: Optional[Who], status: int = 200, headers=None,
          script: Optional[str] = None, media: bool = False) -> TextResponse:
    """A console page: who is signed in (and the sign-out button), or that
    nobody needs to be, above ``body``; the links to the pages (the
    managing ones, tokens, users and the store, for an admin only);
    ``script``: its own, if any."""
    if who is None:
        top = '<p class="muted" role="note">%s</p>' % escape(OPEN_NOTE)
    else:
        said = ('Signed in as <strong>%s</strong> (<a href="/console/access">what you may do</a>)' if who.user
                else 'Signed in with the token <strong>%s</strong>') % escape(who.name)
        top = ('<form method="post" action="/console/sign-out" class="row"><p class="muted">%s</p>'
               '<div><button class="secondary" type="submit">Sign out</button></div></form>' % said)
    managing = ('<a href="/console/tokens">Tokens</a> · <a href="/console/users">Users</a> · '
                '<a href="/console/store">The store</a> · ') if who is None or who.admin else ""
    nav = ('<nav aria-label="Console"><a href="/console">Buckets</a> · <a href="/console/links">Share links</a> · '
           '<a href="/console/upload-links">Upload links</a> · %s<a href="/">Upload page</a></nav>' % managing)
    return page(status, title, nav + top + body, script, headers=headers, wide=True, media=media)


def sign_in(error: Optional[str] = None, status: int = 200, user: str = "", provider: str = "") -> TextResponse:
    """Two forms: a user's name and password, or an API token; and, where
    one is configured, the way to an OpenID ``provider``."""
    said = '<p class="error" role="alert">%s</p>' % escape(error) if error else ""
    if provider:
        said += ('<p><a class="button" href="/console/sign-in/oidc">Sign in with %s</a></p>'
                 % escape(urlsplit(provider).hostname or provider))
    body = ('<h1>Sign in</h1><div class="card">%s<form method="post" action="/console/sign-in">'
            '<label for="user">Name</label>'
            '<input id="user" name="user" autocomplete="username" required autofocus value="%s">'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" autocomplete="current-password" required>'
            '<button type="submit">Sign in</button></form></div>'
            '<div class="card"><form method="post" action="/console/sign-in">'
            '<label for="token">Or an API token</label>'
            '<input id="token" name="token" type="password" autocomplete="off" required>'
            '<p class="muted">The token <code>filestoraged token create</code> printed. It is sent once, to make '
            'a session; it is never kept in this browser.</p>'
            '<button type="submit">Sign in with the token</button></form></div>' % (said, escape(user)))
    return page(status, "Sign in", body)


def moving_on(where: str) -> str:
    """A page of our own that sends the browser on to ``where`` at once."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s">'
            '<title>Signed in</title></head><body><p>Signed in: <a href="%s">on to the console</a>.</p></body></html>'
            % (escape(where), escape(where)))


def buckets(names: Sequence[str], who: Optional[Who], repositories: Sequence[str] = (),
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
            who: Optional[Who], locks: str = "") -> TextResponse:
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


def locks_card(repo: str, locks: Sequence[LfsLock], next_page: Optional[str], may_unlock) -> str:
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


def links(made: Sequence[Link], base_url: str, now: float, next_page: Optional[str], who: Optional[Who],
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

