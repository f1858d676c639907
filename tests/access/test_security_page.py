"""docs/security.md's token lines run as written, in page order, against a
daemon under ``--auth writes`` (its address and data directory put in for
the page's): the token made, used three ways, listed, rotated and
revoked; each use answered as it says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from ..s3api.test_s3_page import reader_home, sections
from ..support import ROOT, ServerCase

PAGE = os.path.join(ROOT, "docs", "security.md")


class SecurityPageTests(ServerCase):
    config_overrides = {"auth": "writes"}

    def test_the_token_lines_run_in_page_order(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        with open(PAGE, encoding="utf-8") as page:
            blocks = [block for _, found in sections(page.read()) for block in found]
        tokens = [block for block in blocks if block[0].startswith("TOKEN=$(filestoraged token create")]
        self.assertEqual(len(tokens), 1)
        home, bin_dir = reader_home(self, {})
        for name, data in (("a.bin", b"some bytes"), ("a.pdf", b"%PDF a document")):
            with open(os.path.join(home, name), "wb") as file:
                file.write(data)
        script = "set -euo pipefail\n" + "\n".join(tokens[0]).replace("/var/lib/filestoraged", self.data_dir)
        script = script.replace("127.0.0.1:8080", "127.0.0.1:%d" % self.port)
        env = dict(os.environ, HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
        ran = subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        answers = [line for line in ran.stdout.splitlines() if line.startswith("{")]
        self.assertEqual(len(answers), 3, ran.stdout)
        said = [json.loads(answer) for answer in answers]
        self.assertEqual([("hash" in answer, "delete_token" in answer) for answer in said],
                         [(True, False), (True, False), (False, True)])  # two uploads and a share link: no 401
        self.assertIn("token ci: files:write share:create", ran.stderr)
        self.assertIn("ci\tfiles:write share:create", ran.stdout)  # the list
        self.assertEqual([token.name for token in self.app.tokens.list()], [])  # revoked at the end
