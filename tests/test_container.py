"""The container files, tested as far as this machine allows: no container
engine runs here, so the image is not built; what it would run is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from .support import ROOT, ServerCase


def dockerfile() -> str:
    with open(os.path.join(ROOT, "Dockerfile")) as handle:
        return handle.read()


class ContainerFileTests(ServerCase):
    def test_the_image_runs_the_daemon_as_pid_1_as_a_user_with_a_volume(self):
        text = dockerfile()
        self.assertRegex(text, r"(?m)^FROM python:3\.\d+-slim-bookworm$")
        self.assertRegex(text, r"(?m)^USER filestoraged$")
        self.assertRegex(text, r"(?m)^VOLUME /var/lib/filestoraged$")
        self.assertRegex(text, r'(?m)^ENTRYPOINT \["filestoraged"\]$')  # exec form: the daemon is PID 1
        self.assertRegex(text, r"(?m)^STOPSIGNAL SIGTERM$")
        self.assertIn("FILESTORAGED_DATA_DIR=/var/lib/filestoraged", text)

    def test_the_health_check_passes_against_a_serving_daemon(self):
        command = json.loads(re.search(r"CMD (\[.*\])", dockerfile()).group(1))
        self.assertEqual(command[:2], ["python", "-c"])
        code = command[2].replace("127.0.0.1:8080", "127.0.0.1:%d" % self.port)
        self.assertEqual(subprocess.run([sys.executable, "-c", code], timeout=30).returncode, 0)

    def test_compose_puts_memcached_beside_the_memcached_backend(self):
        with open(os.path.join(ROOT, "compose.yaml")) as handle:
            text = handle.read()
        self.assertIn("FILESTORAGED_BACKEND: memcached", text)
        self.assertIn("FILESTORAGED_MEMCACHED: memcached:11211", text)
        self.assertRegex(text, r"image: memcached:1\.6")
