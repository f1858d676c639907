"""The README's quick start run as a newcomer runs it: each command as
written, in page order, against a daemon of the defaults (this test
starts it: the page's ``bin/filestoraged``), each placeholder filled
with what an earlier answer said (``<sha256>``, ``<oid>``, a share
link's ``<id>`` and ``<token>``, a resumable upload's ``<id>``). Left out,
and run elsewhere: Git LFS (``tests.lfs.test_lfs_client``), restic
(``tests.faces.test_restic``), the S3 API (``tests.s3api.test_s3_page``),
the service (``tests.test_install``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from typing import Dict, List

from ..s3api.test_s3_page import reader_home, sections
from ..support import ROOT, ServerCase

PAGE = os.path.join(ROOT, "README.md")
LEFT_OUT = ("bin/filestoraged", "printf '[lfs]", "git lfs")


def commands(blocks: List[List[str]]) -> List[str]:
    """The blocks' commands, a line continued with ``\\`` joined to the next;
    output shown as comments left out."""
    found: List[str] = []
    for block in blocks:
        joined = ""
        for line in block:
            if line.lstrip().startswith("#") and not joined:
                continue
            joined += line
            if joined.endswith("\\"):
                joined = joined[:-1] + " "
                continue
            if not joined.startswith(LEFT_OUT):
                found.append(joined)
            joined = ""
    return found


class ReadmeQuickStartTests(ServerCase):
    def test_the_quick_start_runs_in_page_order(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        with open(PAGE, encoding="utf-8") as page:
            found = dict(sections(page.read()))
        ran_lines = commands(found["Quick start"])
        self.assertGreaterEqual(len(ran_lines), 15)
        home, bin_dir = reader_home(self, {})
        report, data, iso = b"%PDF the report " * 20, b"a binary file", os.urandom(300_000)
        for name, body in (("report.pdf", report), ("a.bin", data), ("big.iso", iso)):
            with open(os.path.join(home, name), "wb") as file:
                file.write(body)
        env = dict(os.environ, HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
        said: Dict[str, str] = {}
        for command in ran_lines:
            filled = command.replace("127.0.0.1:8080", "127.0.0.1:%d" % self.port)
            for placeholder, value in said.items():
                filled = filled.replace(placeholder, value)
            self.assertNotIn("<", filled.split("#")[0], "a placeholder nothing said: %s" % command)
            done = subprocess.run(["bash", "-c", filled], cwd=home, env=env, capture_output=True, text=True,
                                  timeout=60)
            with self.subTest(command=command):
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertNotIn('"error"', done.stdout)
            for line in done.stdout.splitlines():  # what a newcomer reads off an answer
                if line.startswith("{"):
                    answer = json.loads(line)
                    if "hash" in answer and "<sha256>" not in said:
                        said["<sha256>"] = answer["hash"]
                    if "oid" in answer:
                        said["<oid>"] = answer["oid"]
                    if "delete_token" in answer:
                        said["<token>"], said["<id>"] = answer["delete_token"], answer["url"].rsplit("/", 1)[1]
                location = re.match(r"(?i)location: \S+/uploads/(\w+)", line)
                if location:
                    said["<id>"] = location.group(1)
        self.assertEqual(said["<sha256>"], hashlib.sha256(report).hexdigest())
        self.assertEqual(said["<oid>"], hashlib.sha256(data).hexdigest())
        with open(os.path.join(home, "copy.pdf"), "rb") as downloaded:  # the share link's download
            self.assertEqual(downloaded.read(), report)
        self.assertEqual(self.request("GET", "/files/" + hashlib.sha256(iso).hexdigest()).body, iso)  # tus
        self.assertEqual(self.request("GET", "/kv/thing").json(), {"thing": "value"})
