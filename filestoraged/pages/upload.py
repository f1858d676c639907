"""The upload page at ``/`` and the page a browser gets back from an upload.

Without JavaScript the form is a plain multipart POST (``/file`` for a share
link, ``/files`` through the second button's ``formaction``) and the answer
is a result page. With it, the same form is sent by ``XMLHttpRequest`` for
its upload progress (percent, rate, time left), asking for JSON, and the
result is shown in place with a copy button.
"""

from __future__ import annotations

from html import escape
from typing import Dict

from ..web.messages import TextResponse
from . import page, size_text

SCRIPT = r"""
const form = document.getElementById("upload"), file = document.getElementById("file");
const drop = document.getElementById("drop"), bar = document.getElementById("bar");
const status = document.getElementById("status"), result = document.getElementById("result");
const failed = document.getElementById("failed");
function human(n) { const u = ["bytes", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; }
function show(id, text) { document.getElementById(id).textContent = text; }
const over = on => ev => { ev.preventDefault(); drop.classList.toggle("over", on); };
["dragenter", "dragover"].forEach(e => drop.addEventListener(e, over(true)));
["dragleave", "drop"].forEach(e => drop.addEventListener(e, over(false)));
drop.addEventListener("drop", ev => { if (ev.dataTransfer.files.length) file.files = ev.dataTransfer.files; });
form.addEventListener("submit", ev => {
  ev.preventDefault();
  if (!file.files.length) { failed.textContent = "Choose a file first."; failed.hidden = false; file.focus(); return; }
  const plain = ev.submitter && ev.submitter.id === "plain";
  const data = new FormData();
  if (!plain) for (const name of ["password", "max_downloads", "expires_in"]) {
    const value = form.elements[name].value; if (value) data.append(name, value); }
  data.append("file", file.files[0]);
  const xhr = new XMLHttpRequest(), started = Date.now();
  xhr.open("POST", plain ? "/files" : "/file");
  xhr.setRequestHeader("Accept", "application/json");
  const token = form.elements.token.value; if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
  failed.hidden = true; result.hidden = true; status.hidden = false;
  xhr.upload.onprogress = p => { if (!p.lengthComputable) return;
    const seconds = (Date.now() - started) / 1000, rate = p.loaded / Math.max(seconds, 0.001);
    bar.value = p.loaded / p.total * 100;
    show("percent", Math.floor(bar.value) + "%"); show("rate", human(rate) + "/s");
    show("left", Math.max(0, Math.round((p.total - p.loaded) / rate)) + " s left"); };
  xhr.onload = () => { status.hidden = true; let answer = {};
    try { answer = JSON.parse(xhr.responseText); } catch (e) {}
    if (xhr.status >= 300) { failed.textContent = answer.message || ("The upload failed (HTTP " + xhr.status + ")");
      failed.hidden = false; failed.focus(); return; }
    show("link", answer.url); show("delete-token", answer.delete_token || "none (content-addressed)");
    show("expires", answer.expires_at || "never");
    show("downloads", plain ? "unlimited" : (form.elements.max_downloads.value || "1"));
    result.hidden = false; document.getElementById("link").focus(); };
  xhr.onerror = () => { status.hidden = true; failed.textContent = "The connection failed."; failed.hidden = false; };
  xhr.send(data);
});
document.getElementById("copy").addEventListener("click", () => {
  navigator.clipboard.writeText(document.getElementById("link").textContent).then(
    () => show("copied", "Copied."), () => show("copied", "Select the link and copy it."));
});
"""


# The token field comes first: without JavaScript the form is sent in
# document order, and the server checks the token (its first part) before it
# reads a byte of the file (see faces.uploads.multipart_parts).
def upload_page(max_size: int, default_expiry: int, max_expiry: int) -> TextResponse:
    body = """<h1>Share a file</h1>
<form id="upload" class="card" method="post" action="/file" enctype="multipart/form-data">
<label for="token">API token (only if this server asks for one)</label>
<input id="token" name="token" type="password" autocomplete="off">
<div id="drop" class="drop"><label for="file">File (up to %(max)s)</label>
<input id="file" name="file" type="file" required><p class="muted">or drop it here</p></div>
<div class="row">
<div><label for="password">Password (optional)</label>
<input id="password" name="password" type="password" autocomplete="new-password"></div>
<div><label for="max_downloads">Downloads allowed</label>
<input id="max_downloads" name="max_downloads" type="number" min="1" value="1" inputmode="numeric"></div>
<div><label for="expires_in">Expires after</label>
<select id="expires_in" name="expires_in">%(expiry)s</select></div>
</div>
<button id="share" type="submit">Upload and make a link</button>
<button id="plain" class="secondary" type="submit" formaction="/files">Plain upload (content-addressed)</button>
</form>
<div id="status" class="card" hidden aria-live="polite"><label for="bar">Uploading</label>
<progress id="bar" max="100" value="0"></progress>
<p><span id="percent">0%%</span> · <span id="rate">–</span> · <span id="left">–</span></p></div>
<p id="failed" class="card error" role="alert" tabindex="-1" hidden></p>
<div id="result" class="card" hidden aria-live="polite"><h2>Uploaded</h2>
<dl><dt>Link</dt><dd><code id="link" tabindex="-1"></code></dd>
<dt>Delete token</dt><dd><code id="delete-token"></code></dd>
<dt>Expires</dt><dd id="expires"></dd><dt>Downloads</dt><dd id="downloads"></dd></dl>
<button id="copy" type="button">Copy link</button> <span id="copied" aria-live="polite"></span></div>
""" % {"max": escape(size_text(max_size)), "expiry": _expiry_options(default_expiry, max_expiry)}
    return page(200, "Share a file", body, SCRIPT)


def _expiry_options(default: int, longest: int) -> str:
    choices = [(3600, "1 hour"), (86400, "1 day"), (7 * 86400, "7 days"), (30 * 86400, "30 days")]
    if default not in dict(choices):
        choices.append((default, "%d seconds" % default))
    return "".join('<option value="%d"%s>%s</option>' % (seconds, " selected" if seconds == default else "",
                                                         escape(text))
                   for seconds, text in sorted(choices) if seconds <= longest)


def result_page(answer: Dict[str, object], max_downloads: object = None) -> TextResponse:
    """What a browser sees after the form was posted without JavaScript."""
    url = str(answer.get("url", ""))
    rows = [("Link", '<a href="%s"><code>%s</code></a>' % (escape(url), escape(url)))]
    if "delete_token" in answer:
        rows.append(("Delete token", "<code>%s</code>" % escape(str(answer["delete_token"]))))
        rows.append(("Expires", escape(str(answer.get("expires_at", "")))))
        rows.append(("Downloads", escape(str(max_downloads or 1))))
    if "hash" in answer:
        rows.append(("SHA-256", "<code>%s</code>" % escape(str(answer["hash"]))))
        rows.append(("Size", escape(size_text(int(answer.get("size", 0))))))
    items = "".join("<dt>%s</dt><dd>%s</dd>" % (name, value) for name, value in rows)
    body = ('<h1>Uploaded</h1><div class="card"><dl>%s</dl><a class="button" href="/">Upload another</a></div>'
            % items)
    return page(201 if "delete_token" in answer else 200, "Uploaded", body)
