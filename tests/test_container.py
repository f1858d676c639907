"""The container files, tested as far as this machine allows: no container
engine runs here, so the image is not built; what it would run is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from filestoraged.config import Config

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

    def test_compose_defaults_to_the_disk_backend_and_outlasts_the_drain(self):
        with open(os.path.join(ROOT, "compose.yaml")) as handle:
            text = handle.read()
        active = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        self.assertNotIn("FILESTORAGED_BACKEND", active)  # the disk backend: durable in the volume
        self.assertNotIn("memcached", active)
        # The memcached backend stays as a commented alternative, with memcached beside it.
        self.assertIn("#   FILESTORAGED_BACKEND: memcached", text)
        self.assertRegex(text, r"#   image: memcached:1\.6")
        grace = int(re.search(r"^\s*stop_grace_period: (\d+)s$", active, re.M).group(1))
        self.assertGreater(grace, Config().shutdown_grace)  # the drain ends before the container is killed
