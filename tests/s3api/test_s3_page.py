"""docs/s3.md run as a reader runs it: its shell examples, in page order,
against a daemon with the S3 API (``--auth all``, ``--s3-public-acls`` for
the canned ACLs' section), with only the daemon's address and data
directory put in for the page's ``127.0.0.1:9000`` and
``/var/lib/filestoraged``. The key pair and Clients sections run in one
shell; every later section runs in a shell of its own started from there,
as a reader trying one section after another does. Its configuration
files (``# ~/.aws/config``, rclone's, s3cmd's) are written as the page
shows them, the key pair's id and secret in place of its ``…``.

Left out, and tested elsewhere: the daemon's start lines (this test starts
it), Python (boto3 and forms: ``test_s3api``, ``test_s3api_forms``), the
Conformance section's run of ceph's suite, and the nginx block
(``test_s3api_cluster``). A reader's run of the page used to stop at its
second ``eval "$(token create …)"`` (the name was taken: nothing set), at
its retention example (refused by the page's own COMPLIANCE default), and
at its versioning lines (no endpoint)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import List, Tuple

from ..s3api_support import S3ApiCase, boto3_or_skip, tool_or_skip
from ..support import ROOT

PAGE = os.path.join(ROOT, "docs", "s3.md")
RUN = ("A key pair", "Clients", "Append-only keys for backups", "Canned ACLs", "Bucket policies", "CORS",
       "Versioning", "Object lock", "Lifecycle rules")
SHARED = ("A key pair", "Clients")  # what they set (the key pair, $S3) every later section starts from
FILES = {"# ~/.aws/config": ".aws/config", "# ~/.config/rclone/rclone.conf": ".config/rclone/rclone.conf",
         "# ~/.s3cfg": ".s3cfg"}
PYTHON = ("import ", "from ", "form = ", "s3 = ", "# <form")


def sections(page: str) -> List[Tuple[str, List[List[str]]]]:
    """``(heading, blocks)`` of the page's ``##`` sections, each block its
    indented lines (the four spaces taken off) up to a blank line, in page
    order."""
    found: List[Tuple[str, List[List[str]]]] = []
    block: List[str] = []
    for line in page.splitlines() + [""]:
        if line.startswith("## "):
            found.append((line[3:].strip(), []))
            continue
        if line.startswith("    ") and found:
            block.append(line[4:])
            continue
        if block:
            found[-1][1].append(block)
            block = []
    return found


def script_of(blocks: List[List[str]]) -> str:
    """A section's blocks as one shell script: its commands as written, its
    configuration files written out, its output listings and Python left."""
    lines: List[str] = []
    for block in blocks:
        first = block[0]
        if first.startswith("$ ") or first.startswith(PYTHON) or first.startswith("#   "):
            continue
        if first in FILES:
            body = "\n".join(block[1:]).replace("FSDRY1VKJSXHITKZ4PI5", "$AWS_ACCESS_KEY_ID")
            body = re.sub(r"(secret_access_key|secret_key) = \.\.\.", r"\1 = $AWS_SECRET_ACCESS_KEY", body)
            target = "$HOME/" + FILES[first]
            lines.append('mkdir -p "$(dirname %s)" && cat > %s <<EOF\n%s\nEOF' % (target, target, body))
            continue
        lines.extend(block)
    return "\n".join(lines)


def reader_home(case, tools) -> Tuple[str, str]:
    """``(home, its bin folder)``: a reader's home for a page's run (removed
    after ``case``), ``filestoraged`` on its PATH as installed, and ``tools``
    (name: path)."""
    home = tempfile.mkdtemp(prefix="fsd-page-")
    case.addCleanup(shutil.rmtree, home, True)
    bin_dir = os.path.join(home, "bin")
    os.makedirs(bin_dir)
    with open(os.path.join(bin_dir, "filestoraged"), "w") as command:
        command.write("#!/bin/sh\nexec %s -m filestoraged \"$@\"\n" % shlex.quote(sys.executable))
    os.chmod(os.path.join(bin_dir, "filestoraged"), 0o755)
    for name, path in tools.items():
        os.symlink(path, os.path.join(bin_dir, name))
    return home, bin_dir


class PageOrderTests(S3ApiCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "all", "s3_public_acls": True}

    def test_the_pages_examples_run_in_page_order(self):
        boto3_or_skip(self)
        tools = {name: tool_or_skip(name) for name in ("aws", "rclone", "restic", "s3cmd")}
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        with open(PAGE, encoding="utf-8") as page:
            found = dict(sections(page.read()))
        missing = [name for name in RUN if name not in found]
        self.assertEqual(missing, [], "docs/s3.md's sections were renamed: update RUN")
        home, bin_dir = reader_home(self, tools)
        work = os.path.join(home, "here")
        for folder in ("pictures", "../work"):
            os.makedirs(os.path.join(work, folder))
        for name, data in (("pictures/a.jpg", b"a picture"), ("pictures/b.jpg", b"another"),
                           ("report.pdf", b"%PDF a report"), ("index.html", b"<p>the site</p>"),
                           ("db.dump", b"the database"), ("../work/notes.txt", b"backed up")):
            with open(os.path.join(work, name), "wb") as file:
                file.write(data)
        parts = ["set -euo pipefail", "set -x"]
        for name in RUN:
            script = script_of(found[name])
            parts.append("# -- %s" % name)
            parts.append(script if name in SHARED else "(\n%s\n)" % script)
        script = "\n".join(parts).replace("/var/lib/filestoraged", self.data_dir)
        script = script.replace("127.0.0.1:9000", "127.0.0.1:%d" % self.s3_port)
        env = {name: value for name, value in os.environ.items()  # nothing that points a tool elsewhere
               if not name.startswith(("AWS_", "RCLONE_", "RESTIC_", "S3CMD")) and name != "S3"}
        env.update(HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
        ran = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(ran.returncode, 0, "docs/s3.md stopped here:\n%s" % ran.stderr[-6000:])
        # What the page did, as a reader would check it.
        self.assertIn("+ curl --fail http://127.0.0.1:%d/site/index.html" % self.s3_port, ran.stderr)  # read, public
        self.assertEqual(self.s3("GET", "/site/index.html").status, 403)  # then closed again by s3cmd
        with open(os.path.join(work, "out.jpg"), "rb") as got:
            self.assertEqual(got.read(), b"a picture")  # the older version, read by its id
        self.assertEqual({token.name for token in self.app.tokens.list()}, {"ops", "backup-host"})
        vault = [entry for entry in self.app.keys.page("vault").items]
        self.assertEqual(len(vault), 1)
        lock = vault[0][1].lock
        self.assertEqual((lock["mode"], lock["hold"]), ("COMPLIANCE", True))
