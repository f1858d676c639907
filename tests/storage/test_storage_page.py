"""docs/storage.md in page order: the memcached library's example (its
fenced Python block) run as written, as a reader's script in a folder of
its own holding a ``bigoldfile.dat``, against a real memcached (its
address put in for the page's ``127.0.0.1:11211``): the copy has the same
bytes, and the delete leaves nothing. Marked, not run: the storage
layout (a listing of files, not a command) and the daemon's memcached
command line (it serves until stopped: ``tests.faces.test_memcached_http``
serves through the same backend)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from ..memcached_server import MemcachedMixin
from ..page_runs import blocks
from ..support import ROOT, payload

PAGE = "docs/storage.md"


class StoragePageTests(MemcachedMixin, unittest.TestCase):
    def test_the_librarys_example_runs_as_written(self):
        found = blocks(PAGE)
        self.assertEqual([block[0].split()[0] for block in found], ["store/ab/abcdef…", "filestoraged",
                                                                    "store.store(\"bigoldfile.dat\",",
                                                                    "for"])  # a new block: run it, or say why not
        with open(os.path.join(ROOT, PAGE), encoding="utf-8") as page:
            examples = re.findall(r"```python\n(.*?)```", page.read(), re.S)
        self.assertEqual(len(examples), 1)
        home = tempfile.mkdtemp(prefix="fsd-storage-page-")
        self.addCleanup(shutil.rmtree, home, True)
        data = payload(3 * 1024 * 1024 + 17, seed=5)
        with open(os.path.join(home, "bigoldfile.dat"), "wb") as file:
            file.write(data)
        script = examples[0].replace("127.0.0.1:11211", self.addresses[0])
        ran = subprocess.run([sys.executable, "-c", script], cwd=home, capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(ran.returncode, 0, ran.stderr)
        with open(os.path.join(home, "copy.dat"), "rb") as file:
            self.assertEqual(file.read(), data)
        self.assertEqual(self.keys_held(), [])  # the delete took the file's every item away


if __name__ == "__main__":
    unittest.main()
