"""docs/security.md's token lines run as written, in page order, against a
daemon under ``--auth writes`` (its address and data directory put in for
the page's): the token made, used three ways, listed, rotated and
revoked; each use answered as it says."""

from __future__ import annotations

import json

from ..page_runs import as_reader, blocks
from ..support import ServerCase


class SecurityPageTests(ServerCase):
    config_overrides = {"auth": "writes"}

    def test_the_token_lines_run_in_page_order(self):
        tokens = [block for block in blocks("docs/security.md")
                  if block[0].startswith("TOKEN=$(filestoraged token create")]
        self.assertEqual(len(tokens), 1)
        ran = as_reader(self, "\n".join(tokens[0]), self.data_dir, self.port,
                        {"a.bin": b"some bytes", "a.pdf": b"%PDF a document"})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        answers = [line for line in ran.stdout.splitlines() if line.startswith("{")]
        self.assertEqual(len(answers), 3, ran.stdout)
        said = [json.loads(answer) for answer in answers]
        self.assertEqual([("hash" in answer, "delete_token" in answer) for answer in said],
                         [(True, False), (True, False), (False, True)])  # two uploads and a share link: no 401
        self.assertIn("token ci: files:write share:create", ran.stderr)
        self.assertIn("ci\tfiles:write share:create", ran.stdout)  # the list
        self.assertEqual([token.name for token in self.app.tokens.list()], [])  # revoked at the end
