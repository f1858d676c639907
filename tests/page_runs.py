"""Running a page's shell examples as its reader would: its blocks read in
page order (``blocks``), run by bash in a reader's home with
``filestoraged`` on the PATH, the daemon's data directory and address put
in for the page's (``as_reader``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import unittest
from typing import Dict, List, Optional

from .s3api.test_s3_page import reader_home, sections
from .support import ROOT


def blocks(page: str) -> List[List[str]]:
    """Every indented block of ``page`` (a path under the checkout), in page order."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as text:
        return [block for _, found in sections(text.read()) for block in found]


def as_reader(case: unittest.TestCase, script: str, data_dir: str, port: int,
              files: Dict[str, bytes], tools: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """``script`` run by bash (stopping at the first failure) in a new home
    holding ``files``, ``/var/lib/filestoraged`` and ``127.0.0.1:8080``
    being ``data_dir`` and the daemon on ``port``, ``tools`` (name: path)
    on its PATH; the test skips without curl."""
    if shutil.which("curl") is None:
        case.skipTest("curl is not installed")
    home, bin_dir = reader_home(case, tools or {})
    for name, data in files.items():
        with open(os.path.join(home, name), "wb") as file:
            file.write(data)
    script = "set -euo pipefail\n" + script.replace("/var/lib/filestoraged", data_dir)
    script = script.replace("127.0.0.1:8080", "127.0.0.1:%d" % port)
    env = dict(os.environ, HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
    return subprocess.run(["bash", "-c", script], cwd=home, env=env, capture_output=True, text=True, timeout=120)
