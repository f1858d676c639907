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

from ..pages.resumable import RESUMABLE_SCRIPT

SCRIPT = RESUMABLE_SCRIPT + r"""
const files = document.getElementById("upload"), tree = document.getElementById("upload-tree");
const sending = document.getElementById("sending"), failed = document.getElementById("sending-failed");
const drop = document.getElementById("drop"), after = document.getElementById("sent");
const bucket = files.elements.bucket.value, prefix = files.elements.prefix.value;
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
async function sendResumable(file, name, shown) {
  await resumable(file, {target: "s3", bucket: bucket, key: prefix + name,
                         filetype: file.type || "application/octet-stream"}, "/console/uploads", shown);
  shown.bar.value = 100; shown.said.textContent = "done"; }
function send(file, name, shown) {
  name = name.replace(/^\/+/, "");
  if (file.size >= RESUMABLE_FROM) return sendResumable(file, name, shown);
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
