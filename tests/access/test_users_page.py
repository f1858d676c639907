"""docs/users.md run as a reader runs it: the "Make a team" section's
shell examples in page order, in one shell, against a daemon with the S3
API (``--auth writes``), with only the daemon's addresses and data
directory put in for the page's ``127.0.0.1:9000``, ``127.0.0.1:8080``
and ``/var/lib/filestoraged``."""

from __future__ import annotations

import os
import shutil
import subprocess

from ..s3api.test_s3_page import reader_home, sections
from ..s3api_support import S3ApiCase, boto3_or_skip, tool_or_skip
from ..support import ROOT

PAGE = os.path.join(ROOT, "docs", "users.md")


class UsersPageTests(S3ApiCase):
    config_overrides = {"s3_api": "127.0.0.1:0", "auth": "writes"}

    def test_make_a_team_runs_as_written(self):
        boto3_or_skip(self)
        aws = tool_or_skip("aws")
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        with open(PAGE, encoding="utf-8") as page:
            found = dict(sections(page.read()))
        self.assertIn("Make a team", found, "docs/users.md's sections were renamed")
        home, bin_dir = reader_home(self, {"aws": aws})
        script = "set -euo pipefail\nset -x\n" + "\n".join("\n".join(block) for block in found["Make a team"])
        script = script.replace("/var/lib/filestoraged", self.data_dir)
        script = script.replace("127.0.0.1:9000", "127.0.0.1:%d" % self.s3_port)
        script = script.replace("127.0.0.1:8080", "127.0.0.1:%d" % self.port)
        env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "FILESTORAGED_"))}
        env.update(HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
        ran = subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(ran.returncode, 0, "docs/users.md stopped here:\n%s" % ran.stderr[-6000:])
        # What the page did, as a reader would check it.
        self.assertIn("AccessDenied", ran.stderr)  # bob's folder refused alice
        self.assertIn("alice/dog.jpg", self.app.keys.page("photos").items[0][0])
        self.assertEqual(ran.stdout.splitlines()[-1], "by WebDAV")  # what bob read
        self.assertEqual(sorted(name for name, _ in self.app.users.list()), ["alice", "bob"])
