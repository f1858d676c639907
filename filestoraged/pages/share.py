"""The page a browser sees for a share link: what the file is and a Download
button (with a password field when the link has one). Showing it never
counts a download, so link previews and bots cannot use up a once-link;
the button's request does count."""

from __future__ import annotations

from html import escape
from typing import Optional

from ..base.timestamps import time_element
from ..web.messages import TextResponse
from . import page, size_text


# The expiry in the reader's own time, its zone named (the page says UTC
# without script); and once a download is asked for, the page stops saying
# what was true before it: a wrong password's message goes, and the
# downloads left say what they will be (a download that fails midway is
# given back, so the count is the server's once it is done).
LANDING_SCRIPT = """
for (const t of document.querySelectorAll("time[datetime]")) {
  const d = new Date(t.dateTime);
  if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, {timeZoneName: "short"}); }
function asked() {
  for (const e of document.querySelectorAll(".error")) e.remove();
  const left = document.getElementById("left");
  if (left) left.textContent = (Number(left.dataset.left) - 1) + " once this download is done"; }
const form = document.querySelector("form"), button = document.querySelector("a.button[download]");
if (form) form.addEventListener("submit", asked);
if (button) button.addEventListener("click", asked);
"""


def landing_page(link, message: Optional[str] = None, status: int = 200) -> TextResponse:
    name = link.filename or "download"
    expires = time_element(link.expires_at)
    rows = (("Size", escape(size_text(link.size))), ("Type", escape(link.content_type or "application/octet-stream")),
            ("Expires", expires),
            ("Downloads left", '<span id="left" data-left="%d">%d</span>' % (link.downloads_left, link.downloads_left)))
    details = "".join("<dt>%s</dt><dd>%s</dd>" % (escape(a), b) for a, b in rows)
    error = '<p class="error" role="alert">%s</p>' % escape(message) if message else ""
    if link.has_password:
        action = ('<form method="post" action="/file/%s">%s<label for="password">Password</label>'
                  '<input id="password" name="password" type="password" required autofocus '
                  'autocomplete="current-password"><button type="submit">Download</button></form>'
                  % (escape(link.id), error))
    else:
        action = '%s<a class="button" href="/file/%s?download=1" download>Download</a>' % (error, escape(link.id))
    body = '<h1>%s</h1><div class="card"><dl>%s</dl>%s</div>' % (escape(name), details, action)
    return page(status, name, body, LANDING_SCRIPT)
