"""The folder page's uploads with a progress bar each: files picked, a
whole folder picked, or files and folders dropped on the page, sent one
after another by ``XMLHttpRequest`` (so its upload progress can be shown),
each named by its path within what was picked or dropped: to
``/console/upload`` in one request, or from 8 MiB through tus at
``/console/uploads`` in 8 MiB pieces that resume after a cut (as the
upload page's do). Without JavaScript the same forms post as they are;
the page works either way. Each file shows its rate and time left and
may be cancelled (an unfinished tus upload is ended on the server); the
folder's listing is shown afresh as each file is in. The script is inline
and allowed by its hash (``pages.page``)."""

from __future__ import annotations

from html import escape

SCRIPT = r"""
const files = document.getElementById("upload"), tree = document.getElementById("upload-tree");
const sending = document.getElementById("sending"), failed = document.getElementById("sending-failed");
const drop = document.getElementById("drop"), after = document.getElementById("sent");
const bucket = files.elements.bucket.value, prefix = files.elements.prefix.value;
function human(n) { const u = ["bytes", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; }
function line(name) {
  const item = document.createElement("li"), label = document.createElement("span");
  const bar = document.createElement("progress"), said = document.createElement("span");
  const stop = document.createElement("button");
  label.textContent = name; bar.max = 100; bar.value = 0; bar.setAttribute("aria-label", "Sending " + name);
  said.className = "muted"; said.textContent = "waiting";
  stop.type = "button"; stop.className = "secondary"; stop.textContent = "Cancel";
  stop.setAttribute("aria-label", "Cancel sending " + name);
  item.append(label, bar, said, stop); sending.append(item);
  const shown = {bar, said, stop, cancelled: false, xhr: null, began: 0, from: 0};
  stop.addEventListener("click", () => { shown.cancelled = true; stop.disabled = true;
    if (shown.xhr) shown.xhr.abort(); });
  return shown; }
function cancelled() { const e = new Error("cancelled"); e.cancelled = true; return e; }
function said(xhr) { let answer = {}; try { answer = JSON.parse(xhr.responseText); } catch (e) {}
  return (answer.message || "the upload did not work") + " (HTTP " + xhr.status + ")"; }
function duration(seconds) { return seconds < 90 ? Math.max(1, Math.round(seconds)) + " s" :
  seconds < 5400 ? Math.round(seconds / 60) + " min" : (seconds / 3600).toFixed(1) + " h"; }
// Percent, rate since the file began and time left at that rate.
function shownAt(shown, loaded, size) { const now = performance.now();
  if (!shown.began) { shown.began = now; shown.from = loaded; }
  const seconds = (now - shown.began) / 1000, rate = seconds >= 0.5 ? (loaded - shown.from) / seconds : 0;
  shown.bar.value = loaded / size * 100;
  shown.said.textContent = Math.floor(shown.bar.value) + "% of " + human(size) +
    (rate > 0 ? ", " + human(rate) + "/s, " + duration((size - loaded) / rate) + " left" : ""); }
// From 8 MiB a file goes through tus in 8 MiB pieces, as the signed-in token:
// when the connection drops, the page asks the server how much it kept and goes on.
const RESUMABLE_FROM = 8 * 1024 * 1024, PIECE = 8 * 1024 * 1024;
function call(method, url, headers, body, shown, onprogress) {
  return new Promise((resolve, reject) => { const xhr = new XMLHttpRequest(); xhr.open(method, url);
    for (const [k, v] of Object.entries(Object.assign({"Tus-Resumable": "1.0.0"}, headers))) xhr.setRequestHeader(k, v);
    if (onprogress) xhr.upload.onprogress = onprogress;
    xhr.onload = () => resolve(xhr);
    xhr.onabort = () => reject(cancelled());
    xhr.onerror = () => { const e = new Error("the connection to the server was lost"); e.network = true; reject(e); };
    if (shown) shown.xhr = xhr;
    xhr.send(body); }); }
function b64(text) { return btoa(String.fromCharCode(...new TextEncoder().encode(text))); }
async function resumable(file, name, shown) {
  const meta = {target: "s3", bucket: bucket, key: prefix + name, filetype: file.type || "application/octet-stream"};
  // Made whatever happens (a cancel meanwhile waits for it), so that a cancel can end it on the server.
  const made = await call("POST", "/console/uploads", {"Upload-Length": String(file.size),
    "Upload-Metadata": Object.entries(meta).map(([k, v]) => k + " " + b64(v)).join(",")});
  if (made.status !== 201) throw new Error(said(made));
  const url = "/console/uploads/" + made.getResponseHeader("Location").split("/").pop();
  try { await pieces(file, url, shown); }
  catch (e) { if (e.cancelled) await call("DELETE", url, {}).catch(() => {}); throw e; }
  shown.bar.value = 100; shown.said.textContent = "done"; }
async function pieces(file, url, shown) {
  let offset = 0, tries = 0;
  while (offset < file.size) {
    if (shown.cancelled) throw cancelled();
    const at = offset, end = Math.min(file.size, at + PIECE);
    try {
      const sent = await call("PATCH", url, {"Upload-Offset": String(at),
        "Content-Type": "application/offset+octet-stream"}, file.slice(at, end), shown,
        p => shownAt(shown, at + p.loaded, file.size));
      if (sent.status === 204) { offset = Number(sent.getResponseHeader("Upload-Offset")); tries = 0; continue; }
      if (sent.status !== 409 && sent.status !== 423 && sent.status < 500) throw new Error(said(sent));
    } catch (e) { if (!e.network) throw e; }
    if (++tries > 30) throw new Error("the connection to the server keeps failing: try again later");
    shown.said.textContent = "connection lost: resuming";
    await new Promise(resume => setTimeout(resume, Math.min(5000, 250 * tries)));
    try { const head = await call("HEAD", url, {}, null, shown);
      if (head.status === 200) offset = Number(head.getResponseHeader("Upload-Offset"));
      else if (head.status < 500) throw new Error(said(head)); } catch (e) { if (!e.network) throw e; }
  }
  if (shown.cancelled) throw cancelled();
  const answer = await call("GET", url, {"Accept": "application/json"});
  if (answer.status !== 200) throw new Error(said(answer)); }
function send(file, name, shown) {
  name = name.replace(/^\/+/, "");
  if (file.size >= RESUMABLE_FROM) return resumable(file, name, shown);
  return new Promise((resolve, reject) => {
    const data = new FormData(); data.append("bucket", bucket); data.append("prefix", prefix);
    data.append("file", file, name);
    const xhr = new XMLHttpRequest(); xhr.open("POST", "/console/upload"); shown.xhr = xhr;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = p => { if (p.lengthComputable) shownAt(shown, p.loaded * file.size / p.total, file.size); };
    xhr.onload = () => {
      if (xhr.status < 300) { shown.bar.value = 100; shown.said.textContent = "done"; resolve(); return; }
      reject(new Error(said(xhr))); };
    xhr.onabort = () => reject(cancelled());
    xhr.onerror = () => reject(new Error("the connection to the server was lost: check it and try again"));
    xhr.send(data); }); }
// The folder's listing shown afresh (as the page would be) once a file is in.
async function refresh() {
  try { const page = await fetch(location.href, {headers: {"Accept": "text/html"}});
    if (!page.ok) return;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html").getElementById("listing");
    const shown = document.getElementById("listing");
    if (fresh && shown) { shown.replaceWith(document.adoptNode(fresh)); showChooseAll(); } } catch (e) {} }
async function sendAll(chosen) {
  failed.hidden = true; after.hidden = true; sending.replaceChildren();
  const shown = chosen.map(([file, name]) => line(name));
  let sent = 0;
  for (let i = 0; i < chosen.length; i++) {
    if (shown[i].cancelled) { shown[i].said.textContent = "cancelled"; shown[i].stop.hidden = true; continue; }
    shown[i].said.textContent = "sending";
    try { await send(chosen[i][0], chosen[i][1], shown[i]); sent++; shown[i].stop.hidden = true; await refresh(); }
    catch (e) { shown[i].stop.hidden = true;
      if (e.cancelled) { shown[i].bar.value = 0; shown[i].said.textContent = "cancelled"; continue; }
      shown[i].said.textContent = "failed"; for (const rest of shown.slice(i + 1)) rest.stop.hidden = true;
      failed.textContent = chosen[i][1] + ": " + e.message + "."; failed.hidden = false; failed.focus(); return; } }
  if (sent) { after.hidden = false; after.querySelector("a").focus(); } }
files.addEventListener("submit", ev => { ev.preventDefault();
  sendAll([...files.elements.file.files].map(f => [f, f.name])); });
tree.addEventListener("submit", ev => { ev.preventDefault();
  sendAll([...tree.elements.file.files].map(f => [f, f.webkitRelativePath || f.name])); });
// What is dropped: files, and folders walked, their files keeping their paths.
function walk(entry, path) {
  return new Promise(resolve => {
    if (entry.isFile) { entry.file(f => resolve([[f, path + f.name]]), () => resolve([])); return; }
    const reader = entry.createReader(), found = [];
    const more = () => reader.readEntries(async entries => {
      if (!entries.length) { resolve(found); return; }
      for (const inner of entries) found.push(...await walk(inner, path + entry.name + "/"));
      more(); }, () => resolve(found));
    more(); }); }
const over = on => ev => { ev.preventDefault(); drop.classList.toggle("over", on); };
["dragenter", "dragover"].forEach(e => drop.addEventListener(e, over(true)));
["dragleave", "drop"].forEach(e => drop.addEventListener(e, over(false)));
drop.addEventListener("drop", async ev => {
  const chosen = [];
  for (const item of [...ev.dataTransfer.items].filter(item => item.kind === "file")) {
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null, file = item.getAsFile();
    if (entry) chosen.push(...await walk(entry, "")); else if (file) chosen.push([file, file.name]); }
  if (chosen.length) sendAll(chosen); });
"""


def upload_card(bucket: str, prefix: str, again: str) -> str:
    """The folder page's upload forms (files; a whole folder), the place to
    drop onto, and where each file's progress shows (``SCRIPT``); ``again``:
    the folder's address, to see what was sent."""
    where = escape(prefix or "the bucket's top")
    hidden = ('<input type="hidden" name="bucket" value="%s"><input type="hidden" name="prefix" value="%s">'
              % (escape(bucket), escape(prefix)))
    return ('<div class="card"><div id="drop" class="drop">'
            '<form id="upload" method="post" action="/console/upload" enctype="multipart/form-data">%s'
            '<label for="file">Upload files into %s</label><input id="file" name="file" type="file" multiple '
            'required><button type="submit">Upload</button></form>'
            '<form id="upload-tree" method="post" action="/console/upload" enctype="multipart/form-data">%s'
            '<label for="tree">Upload a whole folder into %s (its files keep their paths)</label>'
            '<input id="tree" name="file" type="file" webkitdirectory multiple required>'
            '<button type="submit">Upload the folder</button></form>'
            '<p class="muted">or drop files and folders here</p></div>'
            '<ul id="sending" class="entries" aria-live="polite"></ul>'
            '<p id="sending-failed" class="error" role="alert" tabindex="-1" hidden></p>'
            '<p id="sent" hidden>Sent. <a href="%s">See them in the folder</a></p></div>'
            % (hidden, where, hidden, where, escape(again)))
