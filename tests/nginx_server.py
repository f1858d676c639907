"""A real nginx for the tests, in a folder of its own on a free loopback
port, with a configuration block taken from our documentation (so the
recipes we publish are the ones we test).

``nginx`` is a test-only part: ``bin/test`` installs it as root; without it
the tests that need it skip, unless ``FILESTORAGED_REQUIRE_NGINX=1``
(CI sets every ``FILESTORAGED_REQUIRE_*``), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
from typing import List

from .support import ROOT, free_port, required, wait_for_port

REQUIRED = required("NGINX")

CONF = """
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
{http}
}}
"""


def needs_nginx() -> None:
    """Skip (or fail, in CI) without nginx."""
    if shutil.which("nginx") is None and not os.access("/usr/sbin/nginx", os.X_OK):
        message = "needs nginx (bin/test installs it as root)"
        if REQUIRED:
            raise AssertionError(message)
        raise unittest.SkipTest(message)


def documented_block(document: str, pattern: str) -> str:
    """The text of ``document`` (a path under the checkout) that
    ``pattern`` (a regular expression with one group) names."""
    with open(os.path.join(ROOT, document)) as handle:
        found = re.search(pattern, handle.read(), re.S)
    if found is None:
        raise AssertionError("%s no longer has the block the tests run" % document)
    return found.group(1)


def balancer_block(ports: List[int]) -> str:
    """docs/SCALING.md's upstream and server blocks, pointed at daemons on
    these loopback ``ports`` (and listening on ``{port}``)."""
    block = documented_block("docs/SCALING.md", r"```nginx\n(upstream filestoraged \{.*?\n\})\n```")
    servers = iter(ports)
    block = re.sub(r"10\.0\.0\.\d:8080", lambda _: "127.0.0.1:%d" % next(servers), block)
    return block.replace("listen 80;", "listen 127.0.0.1:{port};")


class Nginx:
    """nginx running ``http_block`` (the inside of ``http {}``; ``{port}`` in
    it is the port it listens on), stopped by ``stop``."""

    def __init__(self, http_block: str) -> None:
        needs_nginx()
        self.work = tempfile.mkdtemp(prefix="fsd-nginx-")
        os.chmod(self.work, 0o755)
        self.port = free_port()
        conf = os.path.join(self.work, "nginx.conf")
        with open(conf, "w") as handle:
            handle.write(CONF.format(work=self.work, http=http_block.replace("{port}", str(self.port))))
        subprocess.run(["nginx", "-c", conf, "-p", self.work], check=True, timeout=30)
        wait_for_port(self.port)

    def errors(self) -> str:
        with open(os.path.join(self.work, "error.log"), errors="replace") as handle:
            return handle.read()

    def stop(self) -> None:
        try:
            with open(os.path.join(self.work, "nginx.pid")) as handle:
                os.kill(int(handle.read()), signal.SIGQUIT)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.work, True)
