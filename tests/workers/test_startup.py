"""Start-up as an operator meets it: every bad configuration or environment
is one line on stderr naming the problem and the fix, exit status 2 (bad
configuration) or 1 (an environment that will not serve), never a traceback;
under systemd log lines carry their journald priority."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

from ..support import ROOT, BytesSource, Daemon, free_port, wait_for_port, wait_until


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filestoraged", *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})))


class StartupErrorTests(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="fsd-start-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.store = os.path.join(self.folder, "store")

    def assertOneLine(self, result: subprocess.CompletedProcess, status: int, *words: str) -> None:
        self.assertEqual(result.returncode, status, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("filestoraged: "), lines[0])
        for word in words:
            self.assertIn(word, lines[0])

    def test_bad_configuration_is_exit_2(self):
        ini = os.path.join(self.folder, "bad.ini")
        with open(ini, "w") as handle:
            handle.write("port = 1\n")
        for args, words in ((["--port", "99999"], ("--port", "0-65535")), (["--port", "-1"], ("--port",)),
                            (["--log-level", "LOUD"], ("--log-level", "INFO")),
                            (["--porrt", "20108"], ("did you mean --port?",)),
                            (["--max-connections", "0"], ("--max-connections",)),
                            (["--max-size", "0"], ("--max-size",)),
                            (["--share-default-expiry", "99999999"], ("--share-max-expiry",)),
                            (["--config", ini], ("section",)), (["--repair"], ("fsck --repair",)),
                            (["fsck", "--data-dir", os.path.join(self.folder, "typo")], ("no data directory",))):
            with self.subTest(args=args):
                self.assertOneLine(run(*args, "--data-dir", self.store) if "--data-dir" not in args else run(*args),
                                   2, *words)

    def test_subcommands_never_create_a_data_directory(self):
        missing = os.path.join(self.folder, "nothing-here")
        for args in (["token", "create", "--scope", "admin"], ["token", "list"], ["fsck"], ["fsck", "--repair"]):
            with self.subTest(args=args):
                self.assertOneLine(run(*args, "--data-dir", missing), 2, "no data directory at " + missing,
                                   "--data-dir", "FILESTORAGED_DATA_DIR")
                self.assertFalse(os.path.exists(missing))
        # And from another folder with the default ./store:
        result = subprocess.run([sys.executable, "-m", "filestoraged", "token", "list"], capture_output=True,
                                text=True, timeout=60, cwd=self.folder, env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.folder, "store")))

    def test_an_environment_that_will_not_serve_is_exit_1(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            self.assertOneLine(run("--port", str(port), "--data-dir", self.store), 1, "in use", "--port")
        with open(os.path.join(self.folder, "file"), "w") as handle:
            handle.write("not a folder")
        self.assertOneLine(run("--port", "0", "--data-dir", os.path.join(self.folder, "file")), 1, "--data-dir")
        self.assertOneLine(run("--port", "0", "--host", "999.1.1.1", "--data-dir", self.store), 1, "--host")

    def test_an_s3_api_address_in_use_is_named_with_its_own_setting(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            s3_port = taken.getsockname()[1]
            result = run("--port", "0", "--s3-api", "127.0.0.1:%d" % s3_port, "--data-dir", self.store)
            # was: "port 0 on 127.0.0.1 is in use: ... pass another --port", of the main port it had bound
            self.assertOneLine(result, 1, "127.0.0.1:%d" % s3_port, "in use", "--s3-api")
            self.assertNotIn("--port", result.stderr)
        self.assertOneLine(run("--port", "0", "--s3-api", "999.1.1.1:9000", "--data-dir", self.store), 1,
                           "999.1.1.1", "--s3-api")

    def test_each_message_says_what_to_do(self):
        """What a newcomer meets first: each bad value names what a good one
        looks like, a busy data directory how to go on, and a failed start
        leaves no data directory it made behind."""
        self.assertOneLine(run("--data-dir", self.store, env={"FILESTORAGED_PORT": "abc"}), 2,
                           "FILESTORAGED_PORT", "'abc'", "whole number")  # was: invalid literal for int()
        self.assertNotIn("invalid literal", run("--data-dir", self.store, env={"FILESTORAGED_PORT": "abc"}).stderr)
        self.assertOneLine(run("--max-size", "5X", "--data-dir", self.store), 2, "5X", "50M", "4G")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            fresh = os.path.join(self.folder, "fresh")
            self.assertOneLine(run("--port", str(taken.getsockname()[1]), "--data-dir", fresh), 1, "in use")
            self.assertFalse(os.path.exists(fresh))  # was: a new, empty data directory left behind
        port = free_port()
        daemon = subprocess.Popen([sys.executable, "-m", "filestoraged", "--port", str(port), "--data-dir",
                                   self.store], env=dict(os.environ, PYTHONPATH=ROOT), stderr=subprocess.DEVNULL)
        self.addCleanup(daemon.wait, 30)
        self.addCleanup(daemon.terminate)
        wait_for_port(port, daemon)
        self.assertOneLine(run("--port", "0", "--data-dir", self.store), 1, "in use by pid %d" % daemon.pid,
                           "stop it", "--data-dir")
        self.assertTrue(os.path.isdir(self.store))  # a data directory that was there stays

    def test_fsck_names_a_corrupt_object_once(self):
        os.makedirs(self.store)
        from filestoraged.storage.disk.backend import DiskBackend
        from filestoraged.storage.names import DEFAULT

        backend = DiskBackend(self.store, 1024)
        oid = backend.put(DEFAULT, BytesSource(b"soon corrupt")).info.oid
        backend.close()
        path = next(os.path.join(folder, name) for folder, _, names in os.walk(self.store) for name in names
                    if name == oid)
        with open(path, "r+b") as handle:
            handle.write(b"S")
        result = run("fsck", "--data-dir", self.store)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual((result.stdout + result.stderr).count(oid), 1, result.stdout + result.stderr)  # was: 3
        self.assertIn("corrupt: default/%s (" % oid, result.stdout)

    def test_the_memcached_backend_without_pymemcache_says_what_to_install(self):
        code = ("import sys; sys.modules['pymemcache'] = None; from filestoraged.cli import main;"
                "sys.exit(main(['--backend', 'memcached', '--port', '0', '--data-dir', %r]))" % self.store)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertOneLine(result, 1, "pip install pymemcache")

    def test_version(self):
        result = run("--version")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout.strip(), r"^filestoraged \d+\.\d+")


class StartupLineTests(unittest.TestCase):
    def test_the_start_line_says_where_the_data_goes_and_how_to_stop(self):
        folder = tempfile.mkdtemp(prefix="fsd-start-")
        self.addCleanup(shutil.rmtree, folder, True)
        store = os.path.join(folder, "store")
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "filestoraged", "--port", str(port), "--data-dir", store],
                                   env=dict(os.environ, PYTHONPATH=ROOT), stderr=subprocess.PIPE, text=True)
        wait_for_port(port, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 0, stderr)
        # One process, or a parent with workers (auto: one per CPU), and how they share the CPUs.
        self.assertRegex(stderr, r"serving http://127\.0\.0\.1:%d, data in %s \(disk backend(, \d+ workers, "
                                 r"(sharing \d+ CPUs?|each on \d+ of \d+ CPUs))?\)"
                         % (port, re.escape(store)))
        self.assertIn("stop with Ctrl-C or SIGTERM", stderr)


class MissingTokenWarningTests(unittest.TestCase):
    def test_said_once_however_many_workers(self):
        folder = tempfile.mkdtemp(prefix="fsd-start-")
        self.addCleanup(shutil.rmtree, folder, True)
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "filestoraged", "--port", str(port), "--data-dir",
                                    os.path.join(folder, "store"), "--auth", "writes", "--workers", "3"],
                                   env=dict(os.environ, PYTHONPATH=ROOT), stderr=subprocess.PIPE, text=True)
        wait_for_port(port, process)
        for _ in range(6):  # every worker has answered (each resolves its access mode as it serves)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                sock.recv(4096)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        self.assertEqual(stderr.count("no token or user exists"), 1, stderr)  # was: once per worker


class UnreachableStoreTests(unittest.TestCase):
    def test_a_memcached_that_does_not_answer_is_said_at_start(self):
        folder = tempfile.mkdtemp(prefix="fsd-start-")
        self.addCleanup(shutil.rmtree, folder, True)
        nowhere = "127.0.0.1:%d" % free_port()  # nothing listens there
        log = os.path.join(folder, "daemon.log")
        daemon = Daemon(os.path.join(folder, "store"), "--backend", "memcached", "--memcached", nowhere,
                        "--workers", "2", log=log).start()
        self.addCleanup(daemon.stop)

        def said() -> str:
            with open(log) as handle:
                return handle.read()

        wait_until(lambda: "does not answer" in said(), "a warning naming memcached")  # was: nothing for 20 s
        line = next(line for line in said().splitlines() if "does not answer" in line)
        self.assertIn("WARNING", line)
        self.assertIn(nowhere, line)
        self.assertEqual(said().count("does not answer"), 1)  # once per daemon, not per worker


class JournalPriorityTests(unittest.TestCase):
    def test_the_start_line_and_a_failure_to_start_carry_their_priority(self):
        env = dict(os.environ, PYTHONPATH=ROOT, JOURNAL_STREAM="8:1234")
        folder = tempfile.mkdtemp(prefix="fsd-journal-")
        self.addCleanup(shutil.rmtree, folder, True)
        failed = subprocess.run([sys.executable, "-m", "filestoraged", "--port", "70000"], capture_output=True,
                                text=True, timeout=60, env=env)
        self.assertEqual(failed.returncode, 2)
        self.assertTrue(failed.stderr.startswith("<3>filestoraged: --port must be 0-65535"), failed.stderr)
        process = subprocess.Popen([sys.executable, "-m", "filestoraged", "--port", "0", "--workers", "2",
                                    "--data-dir", folder], stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(process.wait, 30)
        self.addCleanup(process.terminate)
        self.addCleanup(process.stderr.close)
        first = process.stderr.readline()
        self.assertTrue(first.startswith("<6>filestoraged "), first)
        self.assertIn(": serving http://127.0.0.1:", first)
        process.terminate()
        rest = process.stderr.read()
        self.assertNotIn("listening on", rest)  # said once, by the start line
        for line in rest.splitlines():
            self.assertRegex(line, r"^<[0-7]>")

    def test_lines_carry_their_priority_under_journald(self):
        code = ("import logging; from filestoraged import logs; logs.configure('DEBUG');"
                "log = logging.getLogger('filestoraged.x');"
                "log.error('e'); log.warning('w'); log.info('i'); log.debug('d')")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, PYTHONPATH=ROOT, JOURNAL_STREAM="8:1234"))
        self.assertEqual([line[:3] for line in result.stderr.splitlines()], ["<3>", "<4>", "<6>", "<7>"])
