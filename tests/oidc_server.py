"""A real OpenID provider for the console's sign-in tests: npm's
``oidc-provider`` (installed by ``bin/test`` into ``.venv/oidc``) run on
Node by ``tests/oidc/provider.mjs``, serving HTTPS on loopback with a
certificate made for it, its own login and consent pages included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from typing import Dict, List

from .support import ROOT, free_port, required, wait_until
from .web.test_tls import make_certificate

MODULE = os.path.join(ROOT, ".venv", "oidc", "node_modules", "oidc-provider", "lib", "index.js")
SCRIPT = os.path.join(ROOT, "tests", "oidc", "provider.mjs")


def provider_or_skip() -> None:
    if shutil.which("node") and os.path.exists(MODULE) and shutil.which("openssl"):
        return
    message = "needs node, openssl and npm's oidc-provider (bin/test installs it into .venv/oidc)"
    if required("OIDC"):
        raise AssertionError(message + " and FILESTORAGED_REQUIRE_OIDC=1")
    raise unittest.SkipTest(message)


class OidcProvider:
    """The provider on a free port; ``issuer``, ``cert`` (the CA file to trust it by)."""

    def __init__(self, case: unittest.TestCase) -> None:
        provider_or_skip()
        self.folder = tempfile.mkdtemp(prefix="fsd-oidc-")
        case.addCleanup(shutil.rmtree, self.folder, True)
        self.cert, self.key = make_certificate(self.folder)
        self.port = free_port()
        self.issuer = "https://127.0.0.1:%d" % self.port
        self.case = case

    def start(self, client_id: str, client_secret: str, redirect_uri: str,
              accounts: Dict[str, List[str]]) -> "OidcProvider":
        """Serving, with one client and ``accounts`` (name: its groups)."""
        setup = {"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri,
                 "accounts": {name: {"groups": groups} for name, groups in accounts.items()}}
        log = open(os.path.join(self.folder, "provider.log"), "wb")
        self.case.addCleanup(log.close)
        self.process = subprocess.Popen(
            ["node", SCRIPT, str(self.port), self.issuer, self.cert, self.key], stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, OIDC_PROVIDER_MODULE=MODULE, OIDC_SETUP=json.dumps(setup)))
        self.case.addCleanup(self.stop)
        wait_until(self._listening, "the OpenID provider listens", timeout=30)
        return self

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError("the OpenID provider exited: " + self.said())
        return "listening" in self.said()

    def said(self) -> str:
        with open(os.path.join(self.folder, "provider.log"), "rb") as log:
            return log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
