"""The upload page at ``/`` and the page a browser gets back from an upload.

Without JavaScript the form is a plain multipart POST (``/file`` for a share
link, ``/files`` through the second button's ``formaction``) and the answer
is a result page. With it, the same form is sent by ``XMLHttpRequest`` for
its upload progress (percent, rate, time left), asking for JSON, and the
result is shown in place with a copy button. A file of 8 MiB or more goes
through ``/uploads`` (tus) in 8 MiB pieces instead: when the connection
drops, the page says so, asks the server how much it kept and goes on.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Dict, Optional

from ..base.timestamps import time_element
from ..web.messages import TextResponse
from . import COPY_SCRIPT, page, size_text

SCRIPT = r"""
const form = document.getElementById("upload"), file = document.getElementById("file");
const drop = document.getElementById("drop"), bar = document.getElementById("bar");
const status = document.getElementById("status"), result = document.getElementById("result");
const failed = document.getElementById("failed"), most = Number(form.dataset.maxSize);
// "/console" where a console session sends the uploads as its token; else the faces' own routes.
const base = form.dataset.base, token = () => form.elements.token ? form.elements.token.value : "";
function human(n) { const u = ["bytes", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; }
function show(id, text) { document.getElementById(id).textContent = text; }
function fail(text) { status.hidden = true; failed.textContent = text; failed.hidden = false; failed.focus(); }
function local(iso) {
  const d = new Date(iso); return isNaN(d) ? iso : d.toLocaleString(undefined, {timeZoneName: "short"}); }
// What went wrong, in words a person can act on (the server's message names headers and codes).
function plain(code, answer) {
  if (code === 401) return "This server asks for an API token: paste one in the first field and try again.";
  if (code === 403) return "Your API token may not upload here: ask for one that can.";
  if (code === 413) return "This file is larger than this server accepts (up to " + human(most) + ").";
  if (code === 429) return "Too many attempts: wait a minute and try again.";
  if (code === 507) return "The server has no room left for this file.";
  if (code >= 500) return "The server could not store the file just now: try again in a moment.";
  return answer.message ? answer.message.charAt(0).toUpperCase() + answer.message.slice(1) + "."
                        : "The upload did not work.";
}
const over = on => ev => { ev.preventDefault(); drop.classList.toggle("over", on); };
["dragenter", "dragover"].forEach(e => drop.addEventListener(e, over(true)));
["dragleave", "drop"].forEach(e => drop.addEventListener(e, over(false)));
drop.addEventListener("drop", ev => { if (ev.dataTransfer.files.length) file.files = ev.dataTransfer.files; });
form.addEventListener("submit", ev => {
  ev.preventDefault();
  if (!file.files.length) { fail("Choose a file first."); file.focus(); return; }
  const chosen = file.files[0];
  if (chosen.size > most) {
    fail("This file is " + human(chosen.size) + "; this server accepts up to " + human(most) + "."); return; }
  const plainUpload = ev.submitter && ev.submitter.id === "plain";
  if (chosen.size >= RESUMABLE_FROM) { resumable(chosen, plainUpload); return; }
  const data = new FormData();
  if (!plainUpload) for (const name of ["password", "max_downloads", "expires_in"]) {
    const value = form.elements[name].value; if (value) data.append(name, value); }
  data.append("file", chosen);
  const xhr = new XMLHttpRequest(), started = Date.now();
  xhr.open("POST", base + (plainUpload ? "/files" : "/file"));
  xhr.setRequestHeader("Accept", "application/json");
  if (token()) xhr.setRequestHeader("Authorization", "Bearer " + token());
  failed.hidden = true; result.hidden = true; status.hidden = false;
  xhr.upload.onprogress = p => { if (!p.lengthComputable) return;
    const seconds = (Date.now() - started) / 1000, rate = p.loaded / Math.max(seconds, 0.001);
    bar.value = p.loaded / p.total * 100;
    show("percent", Math.floor(bar.value) + "%"); show("rate", human(rate) + "/s");
    show("left", Math.max(0, Math.round((p.total - p.loaded) / rate)) + " s left"); };
  xhr.onload = () => { status.hidden = true; let answer = {};
    try { answer = JSON.parse(xhr.responseText); } catch (e) {}
    if (xhr.status >= 300) { fail(plain(xhr.status, answer)); return; }
    done(answer, plainUpload); };
  xhr.onerror = () => fail("The connection to the server was lost: check it and try again.");
  xhr.send(data);
});
function done(answer, plainUpload) {
    status.hidden = true; show("link", answer.url);
    show("delete-token", answer.delete_token || "none (content-addressed)");
    show("expires", answer.expires_at ? local(answer.expires_at) : "never");
    show("downloads", plainUpload ? "unlimited" : (form.elements.max_downloads.value || "1"));
    const remove = document.getElementById("delete");
    remove.hidden = !answer.delete_token; remove.dataset.url = answer.url || "";
    remove.dataset.token = answer.delete_token || ""; show("deleted", "");
    result.hidden = false; document.getElementById("link").focus(); }
// A big file goes through /uploads (tus) in pieces; when the connection
// drops, the page asks the server how much it kept and goes on from there.
const RESUMABLE_FROM = 8 * 1024 * 1024, PIECE = 8 * 1024 * 1024, TUS = {"Tus-Resumable": "1.0.0"};
function tusCall(method, url, headers, body, onprogress) {
  return new Promise((resolve, reject) => { const xhr = new XMLHttpRequest(); xhr.open(method, url);
    if (token()) xhr.setRequestHeader("Authorization", "Bearer " + token());
    for (const [k, v] of Object.entries(Object.assign({}, TUS, headers))) xhr.setRequestHeader(k, v);
    if (onprogress) xhr.upload.onprogress = onprogress;
    xhr.onload = () => resolve(xhr); xhr.onerror = () => reject(new Error("network")); xhr.send(body); });
}
function b64(text) { return btoa(String.fromCharCode(...new TextEncoder().encode(text))); }
async function resumable(chosen, plainUpload) {
  failed.hidden = true; result.hidden = true; status.hidden = false; show("resuming", "");
  const meta = {filename: chosen.name, filetype: chosen.type || "application/octet-stream",
                target: plainUpload ? "files" : "file"};
  if (!plainUpload) for (const name of ["password", "max_downloads", "expires_in"]) {
    const value = form.elements[name].value; if (value) meta[name] = value; }
  const metadata = Object.entries(meta).map(([k, v]) => k + " " + b64(v)).join(",");
  let made;
  try { made = await tusCall("POST", base + "/uploads", {"Upload-Length": String(chosen.size),
                                                  "Upload-Metadata": metadata}); }
  catch (e) { fail("The connection to the server was lost: check it and try again."); return; }
  if (made.status !== 201) { fail(plain(made.status, parsed(made))); return; }
  const url = base + "/uploads/" + new URL(made.getResponseHeader("Location")).pathname.split("/").pop();
  const started = Date.now();
  let offset = 0, first = offset, tries = 0;
  while (offset < chosen.size) {
    const end = Math.min(chosen.size, offset + PIECE), at = offset;
    try {
      const sent = await tusCall("PATCH", url, {"Upload-Offset": String(at),
        "Content-Type": "application/offset+octet-stream"}, chosen.slice(at, end),
        p => progress(at + p.loaded, first, chosen.size, started));
      if (sent.status === 204) { offset = Number(sent.getResponseHeader("Upload-Offset")); tries = 0; continue; }
      if (sent.status !== 409 && sent.status !== 423 && sent.status < 500) {
        fail(plain(sent.status, parsed(sent))); return; }
    } catch (e) { /* the connection dropped: ask the server where to go on */ }
    if (++tries > 30) { fail("The connection to the server keeps failing: try again later."); return; }
    show("resuming", "Connection lost: resuming…");
    await new Promise(r => setTimeout(r, Math.min(5000, 250 * tries)));
    try { const head = await tusCall("HEAD", url, {});
      if (head.status === 200) { offset = Number(head.getResponseHeader("Upload-Offset"));
        show("resuming", "Resumed at " + human(offset) + "."); }
      else if (head.status < 500) { fail(plain(head.status, {})); return; } } catch (e) {}
  }
  const answer = await tusCall("GET", url, {"Accept": "application/json"});
  if (answer.status !== 200) { fail(plain(answer.status, parsed(answer))); return; }
  done(JSON.parse(answer.responseText), plainUpload);
}
function parsed(xhr) { try { return JSON.parse(xhr.responseText); } catch (e) { return {}; } }
function progress(loaded, first, total, started) {
  const seconds = (Date.now() - started) / 1000, rate = (loaded - first) / Math.max(seconds, 0.001);
  bar.value = loaded / total * 100; show("percent", Math.floor(bar.value) + "%"); show("rate", human(rate) + "/s");
  show("left", Math.max(0, Math.round((total - loaded) / Math.max(rate, 1))) + " s left"); }
document.getElementById("delete").addEventListener("click", ev => {
  const button = ev.currentTarget, xhr = new XMLHttpRequest();
  xhr.open("DELETE", new URL(button.dataset.url).pathname);
  xhr.setRequestHeader("X-Delete-Token", button.dataset.token);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.onload = () => { if (xhr.status < 300) { show("deleted", "Deleted: the link no longer works.");
      button.hidden = true; } else { show("deleted", "It could not be deleted (HTTP " + xhr.status + ")."); } };
  xhr.onerror = () => show("deleted", "The connection to the server was lost.");
  xhr.send();
});
"""


# The token field comes first: without JavaScript the form is sent in
# document order, and the server checks the token (its first part) before it
# reads a byte of the file (see faces.uploads.multipart_parts).
def upload_page(max_size: int, default_expiry: int, max_expiry: int, signed_in: Optional[str] = None
                ) -> TextResponse:
    """The upload page; ``signed_in``: the name of the token of the
    browser's console session, whose uploads go as that token (through the
    console's routes) with no token field."""
    if signed_in is None:
        base, who = "", ('<label for="token">API token (only if this server asks for one)</label>\n'
                         '<input id="token" name="token" type="password" autocomplete="off">')
    else:
        base, who = "/console", ('<p class="muted">Signed in to the console with the token <strong>%s</strong>: '
                                 'uploads go as that token.</p>' % escape(signed_in))
    body = """<nav aria-label="Pages"><a href="/console">Console: what is stored</a></nav><h1>Share a file</h1>
<form id="upload" class="card" method="post" action="%(base)s/file" enctype="multipart/form-data"
 data-max-size="%(bytes)d" data-base="%(base)s">
%(who)s
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
<button id="plain" class="secondary" type="submit" formaction="%(base)s/files">Plain upload (content-addressed)</button>
</form>
<div id="status" class="card" hidden aria-live="polite"><label for="bar">Uploading</label>
<progress id="bar" max="100" value="0"></progress>
<p><span id="percent">0%%</span> · <span id="rate">–</span> · <span id="left">–</span></p>
<p id="resuming" class="muted"></p></div>
<p id="failed" class="card error" role="alert" tabindex="-1" hidden></p>
<div id="result" class="card" hidden aria-live="polite"><h2>Uploaded</h2>
<dl><dt>Link</dt><dd><code id="link" tabindex="-1"></code></dd>
<dt>Delete token</dt><dd><code id="delete-token"></code></dd>
<dt>Expires</dt><dd id="expires"></dd><dt>Downloads</dt><dd id="downloads"></dd></dl>
<button id="copy" type="button" data-copy="link" data-said="copied">Copy link</button>
<span id="copied" aria-live="polite"></span>
<button id="delete" class="secondary" type="button" hidden>Delete this link</button>
<span id="deleted" aria-live="polite"></span></div>
""" % {"max": escape(size_text(max_size)), "bytes": max_size, "expiry": _expiry_options(default_expiry, max_expiry),
       "base": base, "who": who}
    return page(200, "Share a file", body, SCRIPT + COPY_SCRIPT)


def _expiry_options(default: int, longest: int) -> str:
    choices = [(3600, "1 hour"), (86400, "1 day"), (7 * 86400, "7 days"), (30 * 86400, "30 days")]
    if default not in dict(choices):
        choices.append((default, "%d seconds" % default))
    return "".join('<option value="%d"%s>%s</option>' % (seconds, " selected" if seconds == default else "",
                                                         escape(text))
                   for seconds, text in sorted(choices) if seconds <= longest)


def _when(iso: str) -> str:
    """An ISO time as people read it (UTC; the page has no script to make it local)."""
    try:
        stamp = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return escape(iso)
    return time_element(stamp)


def result_page(answer: Dict[str, object], max_downloads: object = None) -> TextResponse:
    """What a browser sees after the form was posted without JavaScript."""
    url = str(answer.get("url", ""))
    rows = [("Link", '<a href="%s"><code>%s</code></a>' % (escape(url), escape(url)))]
    if "delete_token" in answer:
        rows.append(("Delete token", "<code>%s</code>" % escape(str(answer["delete_token"]))))
        rows.append(("To delete it", "<code>curl -X DELETE -H 'X-Delete-Token: %s' %s</code>"
                     % (escape(str(answer["delete_token"])), escape(url))))
        rows.append(("Expires", _when(str(answer.get("expires_at", "")))))
        rows.append(("Downloads", escape(str(max_downloads or 1))))
    if "hash" in answer:
        rows.append(("SHA-256", "<code>%s</code>" % escape(str(answer["hash"]))))
        rows.append(("Size", escape(size_text(int(answer.get("size", 0))))))
    items = "".join("<dt>%s</dt><dd>%s</dd>" % (name, value) for name, value in rows)
    body = ('<h1>Uploaded</h1><div class="card"><dl>%s</dl><a class="button" href="/">Upload another</a></div>'
            % items)
    return page(201 if "delete_token" in answer else 200, "Uploaded", body)
