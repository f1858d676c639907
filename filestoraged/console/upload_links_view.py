"""The console's page of upload links (``upload_links``): each link with
its folder, address (with a copy button), limits, what it took and how it
stands, the files it brought (who sent each, and when), and the form
that makes a link."""

from __future__ import annotations

from html import escape
from typing import Optional, Sequence

from ..base.timestamps import time_element
from ..drops.links import Drop
from ..pages import COPY_SCRIPT, size_text
from ..web.messages import TextResponse
from .views import Who, copy_button, frame, link

SENT_SHOWN = 20  # files listed under each link (the newest)


def links_page(drops: Sequence[Drop], base_url: str, now: float, who: Optional[Who]) -> TextResponse:
    cards = "".join(_card(drop, base_url, now, number) for number, drop in enumerate(drops))
    if not cards:
        cards = '<div class="card"><p>No upload link yet. Make one below: whoever you give it to sends files ' \
                'into the folder you choose, and nothing else.</p></div>'
    body = '<h1>Upload links</h1>%s%s' % (cards, _form())
    return frame("Upload links", body, who, script=COPY_SCRIPT if drops else None)


def _card(drop: Drop, base_url: str, now: float, number: int) -> str:
    state = drop.state(now) or "open"
    url = "%s/drop/%s" % (base_url, drop.secret)
    limits = [text for text in (
        "%d files" % drop.max_files if drop.max_files else "",
        "%s a file" % size_text(drop.max_file_bytes) if drop.max_file_bytes else "",
        "%s in all" % size_text(drop.max_bytes) if drop.max_bytes else "",
        "a password" if drop.password else "") if text]
    folder = link("/console/bucket", name=drop.bucket, prefix=drop.prefix or None)
    facts = [("Folder", '<a href="%s">%s/%s</a>' % (folder, escape(drop.bucket), escape(drop.prefix))),
             ("Address", '<code id="drop-%d">%s</code> %s' % (number, escape(url), copy_button(
                 "drop-%d" % number, "Copy the address of %s" % drop.name))),
             ("Took", "%d file%s, %s" % (drop.files, "" if drop.files == 1 else "s", escape(size_text(drop.bytes)))),
             ("Limits", escape(", ".join(limits)) if limits else "none"),
             ("Open until", time_element(drop.expires) if drop.expires else "revoked"),
             ("State", escape(state))]
    if drop.note:
        facts.insert(1, ("Note", escape(drop.note)))
    rows = "".join('<tr><td>%s</td><td data-label="Size">%s</td><td data-label="By">%s</td>'
                   '<td data-label="When">%s</td></tr>' % (
                       '<a href="%s">%s</a>' % (link("/console/object", bucket=drop.bucket, key=sent["key"]),
                                                escape(sent["key"][len(drop.prefix):])),
                       escape(size_text(int(sent["size"]))), escape(str(sent["by"])), time_element(sent["at"]))
                   for sent in reversed(drop.sent[-SENT_SHOWN:]))
    sent = ('<table><caption class="muted">The newest files it brought</caption><thead><tr><th scope="col">File'
            '</th><th scope="col">Size</th><th scope="col">By</th><th scope="col">When</th></tr></thead>'
            '<tbody>%s</tbody></table>' % rows) if rows else "<p>No file yet.</p>"
    revoke = ('<form method="post" action="/console/upload-links/revoke"><input type="hidden" name="link" '
              'value="%s"><button type="submit" class="secondary">Revoke it now</button></form>'
              % escape(drop.secret)) if drop.revoked is None else ""
    return '<div class="card"><h2>%s</h2><dl>%s</dl>%s%s</div>' % (
        escape(drop.name), "".join("<dt>%s</dt><dd>%s</dd>" % fact for fact in facts), sent, revoke)


def _form() -> str:
    fields = (
        ("bucket", "Bucket", 'required'), ("prefix", "Folder in it (empty: its top)", ''),
        ("name", "What you call it (shown to you, and with each file)", 'maxlength="200"'),
        ("password", "Password (empty: none)", 'type="password" autocomplete="new-password"'),
        ("max_files", "Most files (empty: no limit)", 'type="number" min="1"'),
        ("max_file_bytes", "Most bytes a file (500M, 2G; empty: no limit)", ''),
        ("max_bytes", "Most bytes in all (empty: no limit)", ''))
    inputs = "".join('<label for="new-%s">%s</label><input id="new-%s" name="%s" %s>' % (name, text, name, name, extra)
                     for name, text, extra in fields)
    expiry = ('<label for="new-expires">Open for</label><select id="new-expires" name="expires">'
              '<option value="7">7 days</option><option value="1">1 day</option><option value="30">30 days</option>'
              '<option value="">until revoked</option></select>')
    return ('<div class="card"><h2>Make an upload link</h2><form method="post" action="/console/upload-links">'
            '%s%s<label for="new-note">A note for whoever sends files</label><textarea id="new-note" name="note" '
            'maxlength="2000"></textarea><button type="submit">Make the link</button></form></div>'
            % (inputs, expiry))
