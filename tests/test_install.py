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
from concurrent.futures import ThreadPoolExecutor

from .support import ROOT, free_port, required, wait_for_port

# A real install into / runs only where that is harmless and asked for
# (FILESTORAGED_REQUIRE_INSTALL=1: CI's throwaway machine), as root, where
# nothing is installed yet; asked for where it cannot run, it fails.
REAL_INSTALL = required("INSTALL")
CAN_INSTALL = os.geteuid() == 0 and shutil.which("systemd-analyze") and not os.path.exists("/opt/filestoraged")


class InstallTests(unittest.TestCase):
    def install(self, root: str, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([os.path.join(ROOT, "bin", "install"), "--root", root, *args],
                              capture_output=True, text=True, timeout=600)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done

    def test_install_serve_uninstall(self):
        root = tempfile.mkdtemp(prefix="fsd-install-")
        self.addCleanup(shutil.rmtree, root, True)
        self.install(root)
        command = os.path.join(root, "usr/local/bin/filestoraged")
        # As DESTDIR: nothing installed names the scratch root.
        self.assertEqual(os.readlink(command), "/opt/filestoraged/bin/filestoraged")
        venv = os.path.join(root, "opt/filestoraged")
        with open(os.path.join(venv, "bin/filestoraged")) as handle:
            self.assertRegex(handle.readline(), r"^#!/opt/filestoraged/bin/python3?\n$")
        for name in os.listdir(os.path.join(venv, "bin")) + ["../pyvenv.cfg"]:
            path = os.path.join(venv, "bin", name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    self.assertNotIn(root.encode(), handle.read(), name)
        for unit in ("filestoraged.service", "filestoraged.socket", "filestoraged-s3.socket"):
            self.assertTrue(os.path.exists(os.path.join(root, "etc/systemd/system", unit)))
        with open(os.path.join(root, "etc/systemd/system/filestoraged.service")) as handle:
            self.assertIn("ExecStart=/usr/local/bin/filestoraged\n", handle.read())  # no flags: the env decides
        port = free_port()
        env = dict(os.environ, FILESTORAGED_PORT=str(port), FILESTORAGED_DATA_DIR=os.path.join(root, "data"))
        env.pop("PYTHONPATH", None)  # the venv's own copy serves, not this checkout
        process = subprocess.Popen([os.path.join(venv, "bin/python"), "-m", "filestoraged"], env=env, cwd=root,
                                   stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, process)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/files", b"installed")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
        finally:
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(30), 0)
        self.install(root, "--uninstall")
        self.assertFalse(os.path.lexists(command))
        self.assertFalse(os.path.exists(venv))

    def test_two_installs_at_once_both_succeed_and_write_nothing_into_the_checkout(self):
        before = sorted(os.listdir(ROOT))
        roots = [tempfile.mkdtemp(prefix="fsd-install-") for _ in range(2)]
        for root in roots:
            self.addCleanup(shutil.rmtree, root, True)
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda root: subprocess.run(
                [os.path.join(ROOT, "bin", "install"), "--root", root], capture_output=True, text=True,
                timeout=600), roots, timeout=660))
        for run in done:
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        for root in roots:
            self.assertTrue(os.path.isfile(os.path.join(root, "opt/filestoraged/bin/filestoraged")))
        self.assertEqual(sorted(os.listdir(ROOT)), before)

    def test_the_settings_file_lists_every_setting_commented_out_and_is_never_overwritten(self):
        root = tempfile.mkdtemp(prefix="fsd-install-")
        self.addCleanup(shutil.rmtree, root, True)
        self.install(root)
        settings = os.path.join(root, "etc/default/filestoraged")
        with open(settings) as handle:
            text = handle.read()
        from filestoraged.config import OPTIONS

        for option in OPTIONS:
            self.assertRegex(text, r"(?m)^# FILESTORAGED_%s=" % option.name.upper())
        self.assertIn("# FILESTORAGED_PORT=8080\n", text)
        self.assertFalse([line for line in text.splitlines() if line and not line.startswith("#")])
        with open(settings, "w") as handle:
            handle.write("FILESTORAGED_PORT=9000\n")
        self.install(root)
        with open(settings) as handle:
            self.assertEqual(handle.read(), "FILESTORAGED_PORT=9000\n")

@unittest.skipUnless(REAL_INSTALL, "a real install runs where FILESTORAGED_REQUIRE_INSTALL=1 (CI)")
class RealInstallTests(unittest.TestCase):
    def test_the_installed_units_verify(self):
        self.assertTrue(CAN_INSTALL, "FILESTORAGED_REQUIRE_INSTALL=1 needs root, systemd-analyze and "
                                     "nothing installed in /opt/filestoraged")
        script = os.path.join(ROOT, "bin", "install")
        installed = subprocess.run([script], capture_output=True, text=True, timeout=600)
        self.addCleanup(subprocess.run, [script, "--uninstall"], capture_output=True, timeout=120)
        self.assertEqual(installed.returncode, 0, installed.stderr)
        verify = subprocess.run(["systemd-analyze", "verify", "/etc/systemd/system/filestoraged.service",
                                 "/etc/systemd/system/filestoraged.socket",
                                 "/etc/systemd/system/filestoraged-s3.socket"], capture_output=True, text=True,
                                timeout=120)
        self.assertEqual(verify.returncode, 0, verify.stderr)
