"""bin/install as an operator runs it, below a scratch root: a virtualenv
with the package, the command linked where the unit looks for it, the units
copied; the installed command serves; --uninstall removes it all."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from .support import ROOT, free_port, wait_for_port

# A real install into / runs only where that is harmless: CI's throwaway
# machine, as root, where nothing is installed yet.
REAL_INSTALL = (os.environ.get("CI") == "true" and os.geteuid() == 0 and shutil.which("systemd-analyze")
                and not os.path.exists("/opt/filestoraged"))


class InstallTests(unittest.TestCase):
    def test_install_serve_uninstall(self):
        root = tempfile.mkdtemp(prefix="fsd-install-")
        self.addCleanup(shutil.rmtree, root, True)
        installed = subprocess.run([os.path.join(ROOT, "bin", "install"), "--root", root],
                                   capture_output=True, text=True, timeout=600)
        self.assertEqual(installed.returncode, 0, installed.stderr)
        command = os.path.join(root, "usr/local/bin/filestoraged")
        self.assertTrue(os.path.islink(command))
        for unit in ("filestoraged.service", "filestoraged.socket"):
            self.assertTrue(os.path.exists(os.path.join(root, "etc/systemd/system", unit)))
        with open(os.path.join(root, "etc/systemd/system/filestoraged.service")) as handle:
            self.assertIn("ExecStart=/usr/local/bin/filestoraged\n", handle.read())  # no flags: the env decides
        port = free_port()
        env = dict(os.environ, FILESTORAGED_PORT=str(port), FILESTORAGED_DATA_DIR=os.path.join(root, "data"))
        env.pop("PYTHONPATH", None)  # the venv's own copy serves, not this checkout
        process = subprocess.Popen([command], env=env, cwd=root, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, process)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/files", b"installed")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(30), 0)
        removed = subprocess.run([os.path.join(ROOT, "bin", "install"), "--root", root, "--uninstall"],
                                 capture_output=True, text=True, timeout=60)
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.assertFalse(os.path.lexists(command))
        self.assertFalse(os.path.exists(os.path.join(root, "opt/filestoraged")))


@unittest.skipUnless(REAL_INSTALL, "a real install runs in CI only (CI=true, root, nothing installed)")
class RealInstallTests(unittest.TestCase):
    def test_the_installed_units_verify(self):
        script = os.path.join(ROOT, "bin", "install")
        installed = subprocess.run([script], capture_output=True, text=True, timeout=600)
        self.addCleanup(subprocess.run, [script, "--uninstall"], capture_output=True, timeout=120)
        self.assertEqual(installed.returncode, 0, installed.stderr)
        verify = subprocess.run(["systemd-analyze", "verify", "/etc/systemd/system/filestoraged.service",
                                 "/etc/systemd/system/filestoraged.socket"], capture_output=True, text=True,
                                timeout=120)
        self.assertEqual(verify.returncode, 0, verify.stderr)
