"""The command-line client against a real server: put, get (checked, and
resumed with Range), rm, ls, share links; one-line errors and exit status;
a progress bar when stderr is a terminal."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import shutil
import socket
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler
from unittest import mock

from filestoraged.cli import main
from filestoraged.client.bodies import safe_name
from filestoraged.client import resume
from filestoraged.client.progress import Progress

from ..support import CuttingProxy, MIB, ROOT, ServerCase, payload, serve_in_thread, sha256, wait_until


class ClientTests(ServerCase):
    def run_client(self, *args: str):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--url", "http://127.0.0.1:%d" % self.port, *args])
        return status, out.getvalue(), err.getvalue()

    def file_with(self, data: bytes) -> str:
        handle = tempfile.NamedTemporaryFile(delete=False, dir=self.data_dir, suffix=".bin")
        handle.write(data)
        handle.close()
        return handle.name

    def test_the_token_comes_from_the_flag_too(self):
        self.app.access.mode = "writes"
        secret = self.app.tokens.create(["files:write"], "cli")[1]
        source = self.file_with(b"with --token")
        status, _, err = self.run_client("put", source)
        self.assertEqual(status, 1)
        self.assertIn("401", err)
        status, out, err = self.run_client("--token", secret, "put", source)
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(out.strip().endswith(sha256(b"with --token")))
        self.assertEqual(self.run_client("put", "--token", secret, source)[0], 0)

    def test_a_token_that_begins_with_a_dash_is_taken_by_the_flag(self):
        """One token in 64 begins with "-" (URL-safe base64): given as
        ``--token SECRET`` it was read as an option of its own."""
        self.app.access.mode = "writes"
        for _ in range(2000):
            secret = self.app.tokens.create(["files:write"])[1]
            if secret.startswith("-"):
                break
        self.assertTrue(secret.startswith("-"))
        source = self.file_with(b"a dashing token")
        for args in (("--token", secret, "put", source), ("put", source, "--token", secret)):
            status, out, err = self.run_client(*args)
            self.assertEqual((status, err), (0, ""))
            self.assertTrue(out.strip().endswith(sha256(b"a dashing token")))

    def test_ctrl_c_during_a_resumable_put_says_what_the_server_kept(self):
        """The docs' promise: a cut put says how much the server kept (the
        cut PATCH's bytes too, as the server counts them), then exit 130."""
        data = payload(9 * MIB + 1, seed=62)
        real = resume._piece

        def cut_at_3_mib(handle, length, progress):
            def pieces():
                yield from real(handle, 3 * MIB, progress)
                raise KeyboardInterrupt

            return pieces()

        cache = os.path.join(self.data_dir, "cache")
        with mock.patch.object(resume, "_piece", cut_at_3_mib), \
                mock.patch.dict(os.environ, {"XDG_CACHE_HOME": cache}):
            status, _, err = self.run_client("put", self.file_with(data))
        self.assertEqual(status, 130, err)
        with open(os.path.join(cache, "filestoraged", "uploads.json")) as state:
            upload = next(iter(json.load(state).values()))
        kept = int(self.request("HEAD", upload, headers={"Tus-Resumable": "1.0.0"}).headers["Upload-Offset"])
        self.assertGreater(kept, 0)
        self.assertIn("interrupted: %d of %d bytes are on the server" % (kept, len(data)), err)  # was: no count

    def test_get_into_a_device(self):
        data = payload(MIB + 3, seed=63)
        status, out, _ = self.run_client("put", self.file_with(data))
        self.assertEqual(status, 0)
        status, out, err = self.run_client("get", out.strip(), "-o", os.devnull)
        self.assertEqual((status, err), (0, ""))  # was: 1, "/dev/null exists"
        self.assertEqual(out.strip(), os.devnull)
        self.assertFalse(os.path.exists(os.devnull + ".part"))

    def test_a_local_file_that_cannot_be_read_or_written_is_named_plainly(self):
        missing = os.path.join(self.data_dir, "no such file.txt")
        self.assertEqual(self.run_client("put", missing),
                         (1, "", "filestoraged: %s: No such file or directory\n" % missing))
        status, out, _ = self.run_client("put", self.file_with(b"kept"))
        unwritable = os.path.join(self.data_dir, "no such folder", "copy.txt")
        self.assertEqual(self.run_client("get", out.strip(), "-o", unwritable),
                         (1, "", "filestoraged: %s.part: No such file or directory\n" % unwritable))

    def test_get_into_a_folder_names_the_file_there(self):
        data = payload(1000, seed=64)
        status, out, _ = self.run_client("put", self.file_with(data))
        self.assertEqual(status, 0)
        folder = tempfile.mkdtemp(dir=self.data_dir)
        status, saved, err = self.run_client("get", out.strip(), "-o", folder)
        self.assertEqual((status, err), (0, ""))  # was: 1, "[Errno 21] Is a directory"
        self.assertEqual(saved.strip(), os.path.join(folder, sha256(data)))
        with open(os.path.join(folder, sha256(data)), "rb") as handle:
            self.assertEqual(handle.read(), data)
        self.assertEqual(os.listdir(folder), [sha256(data)])

    def test_put_get_rm(self):
        data = payload(3 * MIB + 11, seed=61)
        status, out, _ = self.run_client("put", self.file_with(data))
        self.assertEqual(status, 0)
        self.assertEqual(out.strip(), "http://127.0.0.1:%d/files/%s" % (self.port, sha256(data)))
        target = os.path.join(self.data_dir, "copy.bin")
        self.assertEqual(self.run_client("get", out.strip(), "-o", target)[0], 0)
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), data)
        self.assertEqual(self.run_client("rm", sha256(data))[0], 0)
        status, _, err = self.run_client("get", sha256(data), "-o", target + "2")
        self.assertEqual(status, 1)
        self.assertEqual(err.strip().count("\n"), 0)
        self.assertIn("404 not_found", err)

    def test_get_resumes_a_partial_file_and_checks_the_whole(self):
        data = payload(2 * MIB + 5, seed=62)
        oid = self.run_client("put", self.file_with(data))[1].strip().rsplit("/", 1)[1]
        target = os.path.join(self.data_dir, "partial.bin")
        with open(target + ".part", "wb") as handle:  # what a cut download leaves
            handle.write(data[:MIB])
        with self.assertLogs("filestoraged.access", "INFO") as logs:
            self.assertEqual(self.run_client("get", oid, "-o", target)[0], 0)
            self.request("GET", "/healthz")
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), data)
        self.assertFalse(os.path.exists(target + ".part"))
        self.assertIn('"GET /files/%s" 206' % oid, "\n".join(logs.output))
        with open(target + "2.part", "wb") as handle:  # a partial file that is wrong: caught by the hash
            handle.write(b"x" * MIB)
        status, _, err = self.run_client("get", oid, "-o", target + "2")
        self.assertEqual(status, 1)
        self.assertIn("does not match its SHA-256", err)
        self.assertFalse(os.path.exists(target + "2"))  # never under the final name

    def test_an_existing_file_is_never_touched_without_force(self):
        data = payload(MIB + 3, seed=63)
        oid = self.run_client("put", self.file_with(data))[1].strip().rsplit("/", 1)[1]
        target = os.path.join(self.data_dir, "mine.txt")
        with open(target, "wb") as handle:
            handle.write(b"my own notes")
        status, _, err = self.run_client("get", oid, "-o", target)
        self.assertEqual(status, 1)
        self.assertIn("exists: pass --force", err)
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), b"my own notes")
        self.assertEqual(self.run_client("get", oid, "-o", target, "--force")[0], 0)
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), data)

    def test_share_link_downloads_are_checked_by_the_announced_sha256(self):
        data = b"shared bytes"
        url = self.run_client("put", "--share", "--max-downloads", "2", self.file_with(data))[1].splitlines()[0]
        target = os.path.join(self.data_dir, "shared.bin")
        self.assertEqual(self.run_client("get", url, "-o", target)[0], 0)
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), data)


    def test_repositories_and_listing(self):
        datas = [payload(1000 + i, seed=i) for i in range(3)]
        for data in datas:
            self.assertEqual(self.run_client("put", "--repo", "photos", self.file_with(data))[0], 0)
        status, out, _ = self.run_client("ls", "photos")
        self.assertEqual(status, 0)
        self.assertEqual(sorted(out.split()), sorted([sha256(d) for d in datas] + [str(len(d)) for d in datas]))
        self.assertEqual(self.run_client("get", "/data/photos/" + sha256(datas[0]),
                                         "-o", os.path.join(self.data_dir, "p"))[0], 0)

    def test_share_links_with_a_password(self):
        data = b"shared through the client"
        status, out, _ = self.run_client("put", "--share", "--password", "pw", "--max-downloads", "2",
                                         self.file_with(data))
        self.assertEqual(status, 0)
        path = out.splitlines()[0].split(str(self.port), 1)[1]
        self.assertEqual(self.request("GET", path + "?password=pw").body, data)
        self.assertEqual(self.request("GET", path).status, 401)

    def in_a_folder(self) -> str:
        folder = tempfile.mkdtemp(dir=self.data_dir)
        here = os.getcwd()
        os.chdir(folder)
        self.addCleanup(os.chdir, here)
        return folder

    def test_get_of_a_url_downloads_from_where_it_points(self):
        oid = self.run_client("put", self.file_with(b"from the URL's server"))[1].strip().rsplit("/", 1)[1]
        target = os.path.join(self.data_dir, "pointed.bin")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # --url names a dead server
            status = main(["--url", "http://127.0.0.1:9", "get", "http://127.0.0.1:%d/files/%s" % (self.port, oid),
                           "-o", target])
        self.assertEqual(status, 0, err.getvalue())
        with open(target, "rb") as handle:
            self.assertEqual(handle.read(), b"from the URL's server")

    def test_a_delete_token_never_begins_with_a_dash(self):
        # A random token began with "-" one time in 64, and then "rm URL
        # --delete-token TOKEN" was refused by the argument parser.
        from unittest import mock

        source = os.path.join(self.data_dir, "notes.txt")
        with open(source, "wb") as handle:
            handle.write(b"notes")
        draws = iter(["a" * 32, "-" + "b" * 31, "c" * 32])
        with mock.patch("filestoraged.sharing.rules.secrets.token_urlsafe", side_effect=lambda n: next(draws)):
            status, out, _ = self.run_client("put", "--share", source)
        self.assertEqual(status, 0)
        url, token_line = out.splitlines()[:2]
        self.assertEqual(token_line.split()[2], "c" * 32)
        self.assertEqual(self.run_client("rm", url, "--delete-token", "c" * 32)[0], 0)

    def test_share_links_end_to_end(self):
        source = os.path.join(self.data_dir, "report 2024.pdf")
        with open(source, "wb") as handle:
            handle.write(b"%PDF-1.4 shared end to end")
        status, out, _ = self.run_client("put", "--share", "--password", "pw", "--max-downloads", "4", source)
        self.assertEqual(status, 0)
        url, token_line, expires_line = out.splitlines()
        token = token_line.split()[2]
        self.assertEqual(token_line, "delete token: %s  (filestoraged rm %s --delete-token %s)" % (token, url, token))
        self.assertRegex(expires_line, r"^expires: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(self.request("HEAD", url.split(str(self.port), 1)[1] + "?password=pw")
                         .headers["Content-Type"], "application/pdf")  # the type guessed from the name
        folder = self.in_a_folder()
        status, _, err = self.run_client("get", url)
        self.assertEqual((status, err), (1, "filestoraged: 401 unauthorized: this link needs a password"
                                            " (--password, or ?password= in the URL)\n"))
        status, _, err = self.run_client("get", url, "--password", "not it")
        self.assertEqual((status, err), (1, "filestoraged: 401 unauthorized: wrong password\n"))
        self.assertEqual(self.run_client("get", url, "--password", "pw")[1], "report 2024.pdf\n")
        with open(os.path.join(folder, "report 2024.pdf"), "rb") as handle:
            self.assertEqual(handle.read(), b"%PDF-1.4 shared end to end")
        for pasted in (url + "?password=pw", url.replace("://", "://anyone:pw@")):
            with self.subTest(pasted=pasted):
                self.assertEqual(self.run_client("get", pasted, "-o", "copy.pdf", "--force")[0], 0)
        self.assertIn("403 forbidden", self.run_client("rm", url)[2])
        self.assertEqual(self.run_client("rm", url, "--delete-token", token)[0], 0)
        self.assertEqual(self.request("GET", url.split(str(self.port), 1)[1]).status, 410)
        status, _, err = self.run_client("get", url, "--password", "pw")  # asks the name first, with a HEAD
        self.assertEqual((status, err),
                         (1, "filestoraged: 410 gone: the link was used up, has expired or was deleted\n"))
        status, out, _ = self.run_client("put", "--share", "--json", source)
        self.assertEqual(set(json.loads(out)), {"status", "url", "delete_token", "expires_at"})

    def test_put_prints_full_urls_and_sends_the_guessed_type(self):
        source = os.path.join(self.data_dir, "notes.txt")
        with open(source, "wb") as handle:
            handle.write(b"plain notes")
        out = self.run_client("put", "--repo", "docs", source)[1].strip()
        self.assertEqual(out, "http://127.0.0.1:%d/data/docs/%s" % (self.port, sha256(b"plain notes")))
        out = self.run_client("put", source)[1].strip()
        self.assertEqual(self.request("GET", out.split(str(self.port), 1)[1]).headers["Content-Type"],
                         "text/plain")

    def test_url_goes_before_or_after_the_command(self):
        oid = self.run_client("put", self.file_with(b"url anywhere"))[1].strip().rsplit("/", 1)[1]
        url = "http://127.0.0.1:%d" % self.port
        for argv in (["get", oid, "--url", url], ["--url=" + url, "get", oid], ["get", "--url=" + url, oid]):
            with self.subTest(argv=argv):
                target = os.path.join(self.data_dir, "anywhere-%d" % len(argv[0]))
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    self.assertEqual(main(argv + ["-o", target, "--force"]), 0)

    def test_a_server_that_is_down_is_one_line_naming_the_url_and_the_variable(self):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            self.assertEqual(main(["--url", "http://127.0.0.1:9", "ls", "photos"]), 1)
        self.assertEqual(err.getvalue().count("\n"), 1)
        self.assertIn("cannot reach http://127.0.0.1:9 (the server from --url, or FILESTORAGED_URL)", err.getvalue())

    def test_usage_errors_are_exit_2(self):
        with contextlib.redirect_stderr(io.StringIO()):
            with self.assertRaises(SystemExit) as caught:
                main(["put"])
        self.assertEqual(caught.exception.code, 2)


class ClientProcessTests(ServerCase):
    """The client as a user runs it: a process of its own."""

    def client(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "filestoraged", *args], capture_output=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT), **kwargs)

    def test_output_to_standard_output_is_checked_too(self):
        data = payload(MIB + 9, seed=64)
        with open(self.file(), "wb") as handle:
            handle.write(data)
        url = self.client("--url", "http://127.0.0.1:%d" % self.port, "put", handle.name).stdout.decode().strip()
        done = self.client("get", url, "-o", "-")
        self.assertEqual((done.returncode, done.stdout, done.stderr), (0, data, b""))

    def test_a_cut_share_download_fails_and_keeps_no_file(self):
        data = payload(3 * MIB, seed=65)
        for output in ("kept.bin", "-"):
            with self.subTest(output=output):
                link = self.request("PUT", "/file/cut.bin", data, {"Max-Downloads": "5"}).body.decode().strip()
                proxy = CuttingProxy(self.port, MIB, method=b"GET /file/", nth=1)
                self.addCleanup(proxy.close)
                target = os.path.join(self.data_dir, output) if output != "-" else "-"
                done = self.client("get", link.replace(":%d/" % self.port, ":%d/" % proxy.port), "-o", target)
                self.assertEqual(proxy.cuts, 1)
                self.assertEqual(done.returncode, 1, done)
                self.assertIn(b"cut", done.stderr)
                self.assertFalse(output != "-" and os.path.exists(target))

    def test_a_cut_answer_that_said_no_length_fails_too(self):
        """An answer ended by its connection's close (a proxy may send one):
        a cut looks like its end, so its length is asked with a HEAD."""
        import http.server

        data = payload(MIB, seed=66)

        class CloseDelimited(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(data[:len(data) // 2] if "cut" in self.path else data)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CloseDelimited)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        base = "http://127.0.0.1:%d/file/" % server.server_address[1]
        for output in ("kept.bin", "-"):
            with self.subTest(output=output):
                target = os.path.join(self.data_dir, output) if output != "-" else "-"
                done = self.client("get", base + "cut" + "x" * 29, "-o", target)
                self.assertEqual(done.returncode, 1, done.stderr)
                self.assertIn(b"cut after 524288 of 1048576 bytes", done.stderr)
                self.assertFalse(output != "-" and (os.path.exists(target) or os.path.exists(target + ".part")))
                whole = self.client("get", base + "w" * 32, "-o", target)
                self.assertEqual(whole.returncode, 0, whole.stderr)
                if output != "-":
                    with open(target, "rb") as handle:
                        self.assertEqual(handle.read(), data)
                    os.unlink(target)

    def file(self) -> str:
        handle = tempfile.NamedTemporaryFile(delete=False, dir=self.data_dir)
        handle.close()
        return handle.name

    def test_subcommands_print_their_own_help(self):
        for words, wanted, unwanted in ((("fsck", "--help"), "--repair", "--idle-timeout"),
                                        (("token", "--help"), "token revoke NAME", "--idle-timeout"),
                                        (("token", "create", "--help"), "--expires-in SECONDS", "token list")):
            with self.subTest(words=words):
                done = self.client(*words)
                self.assertEqual(done.returncode, 0)
                text = done.stdout.decode()
                self.assertTrue(text.startswith("usage: filestoraged " + words[0]))
                self.assertIn(wanted, text)
                self.assertIn("--data-dir", text)
                self.assertNotIn(unwanted, text)  # not the daemon's whole help

    def test_help_names_every_command_and_the_url(self):
        text = self.client("--help").stdout.decode()
        for word in ("put", "get", "rm", "ls", "token", "fsck", "--url", "FILESTORAGED_URL"):
            with self.subTest(word=word):
                self.assertIn(word, text.split("options:")[0] if word != "FILESTORAGED_URL" else text)
        for flag in ("--scope", "--repair", "--expires-in", "--s3 "):  # the subcommands', in their own help
            with self.subTest(flag=flag):
                self.assertNotIn(flag, text)
        text = self.client("put", "--help").stdout.decode()
        self.assertIn("--expires-in SECONDS", text)
        self.assertIn("--max-downloads COUNT", text)

    def test_ctrl_c_is_exit_130_and_one_line(self):
        stalled = threading.Event()

        class Slow(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(10 * MIB))
                self.end_headers()
                self.wfile.write(b"x" * (1024 * 1024))  # more than the client's first read
                self.wfile.flush()
                stalled.wait(30)  # and never more

            def log_message(self, *args):
                pass

        server = serve_in_thread(self, Slow)
        self.addCleanup(stalled.set)
        folder = tempfile.mkdtemp(dir=self.data_dir)
        process = subprocess.Popen([sys.executable, "-m", "filestoraged", "--url",
                                    "http://127.0.0.1:%d" % server.server_address[1], "get", "/files/" + "a" * 64],
                                   cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(os.environ, PYTHONPATH=ROOT), preexec_fn=_interruptible)
        part = os.path.join(folder, "a" * 64 + ".part")
        wait_until(lambda: os.path.exists(part) and os.path.getsize(part) > 0, "the download began")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130)
        self.assertNotIn(b"Traceback", err)
        self.assertEqual(err.strip().count(b"\n"), 0, err)
        self.assertIn(b"interrupted (a download resumes from its .part file", err)


class InterruptedPutTests(unittest.TestCase):
    def test_ctrl_c_during_a_put_speaks_of_the_put(self):
        # A server that takes the request head and then reads nothing more:
        # the client is stuck sending when Ctrl-C comes.
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        folder = tempfile.mkdtemp(prefix="fsd-put-")
        self.addCleanup(shutil.rmtree, folder, True)
        source = os.path.join(folder, "big.bin")
        with open(source, "wb") as handle:
            handle.write(payload(6 * MIB, seed=64))
        process = subprocess.Popen([sys.executable, "-m", "filestoraged", "--url",
                                    "http://127.0.0.1:%d" % listener.getsockname()[1], "put", source],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(os.environ, PYTHONPATH=ROOT), preexec_fn=_interruptible)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        listener.settimeout(30)
        conn, _ = listener.accept()
        self.addCleanup(conn.close)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.recv(4096)  # the head and a little of the body
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130)
        self.assertIn(b"interrupted", err)
        self.assertNotIn(b".part", err)
        self.assertIn(b"put", err)


def _interruptible() -> None:
    """Ctrl-C as a terminal gives it: a suite started in the background
    (``bin/test &`` from a script) runs with SIGINT ignored, and Python
    keeps an ignored SIGINT ignored in its children."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class NameAndBarTests(unittest.TestCase):
    def test_a_share_links_name_is_a_plain_file_name_here(self):
        for disposition, name in (
                ("attachment; filename=\"report.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf",
                 "résumé 2024.pdf"),
                ('attachment; filename="../../etc/passwd"', "passwd"),
                ("attachment; filename*=UTF-8''..%2F..%2F.bashrc", "bashrc"),
                ('attachment; filename="a\x1b[31mb.txt"', "a[31mb.txt"),
                ('attachment; filename="C:\\Users\\x\\notes.txt"', "notes.txt"),
                ("attachment", None), ('attachment; filename=".."', None)):
            with self.subTest(disposition=disposition):
                self.assertEqual(safe_name(disposition), name)

    def test_the_bar_keeps_its_figures_within_80_columns(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        screen = Terminal()
        bar = Progress("get " + "a-very-long-file-name-" * 6 + ".iso", 10 * MIB, screen)
        bar.advance(3 * MIB)
        bar.finish()
        line = screen.getvalue().split("\r")[-1].rstrip("\n")
        self.assertLessEqual(len(line), 79)
        self.assertRegex(line, r"\.\.\. \[#{6} {14}\]  30% 3\.0 MiB/10\.0 MiB .+/s \d+s left")


class ProgressTests(ServerCase):
    def test_a_terminal_sees_a_progress_bar_and_a_pipe_does_not(self):
        path = os.path.join(self.data_dir, "big.bin")
        with open(path, "wb") as handle:
            handle.write(payload(8 * MIB, seed=63))
        command = [sys.executable, "-m", "filestoraged", "--url", "http://127.0.0.1:%d" % self.port, "put", path]
        env = dict(os.environ, PYTHONPATH=ROOT)
        master, slave = pty.openpty()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                piece = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not piece:
                break
            seen += piece
        self.assertEqual(process.wait(30), 0)
        process.stdout.close()
        os.close(master)
        self.assertIn(b"put big.bin [", seen)
        self.assertIn(b"100%", seen)
        self.assertRegex(seen, rb"MiB/s")
        piped = subprocess.run(command, env=env, capture_output=True, timeout=60)
        self.assertEqual((piped.returncode, piped.stderr), (0, b""))


class HostileServerTests(unittest.TestCase):
    """A broken or hostile server cannot make the client damage a file."""

    def serve(self, answer):
        """A server that answers every request with ``answer(handler)``."""
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                answer(self)

            def log_message(self, *args):
                pass

        server = serve_in_thread(self, Handler)
        return "http://127.0.0.1:%d" % server.server_address[1]

    def run_client(self, url, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--url", url, *args])
        return status, out.getvalue(), err.getvalue()

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="fsd-client-")
        self.addCleanup(shutil.rmtree, self.folder, True)

    def test_a_servers_message_cannot_drive_the_terminal(self):
        said = b'{"error": "not_found", "message": "gone \\u001b[2J\\u001b]0;pwned\\u0007\\nnext line"}'

        def answer(handler):
            handler.send_response(404)
            handler.send_header("Content-Length", str(len(said)))
            handler.end_headers()
            handler.wfile.write(said)

        status, _, err = self.run_client(self.serve(answer), "get", "/files/" + "a" * 64, "-o",
                                         os.path.join(self.folder, "out"))
        self.assertEqual(status, 1)
        self.assertNotIn("\x1b", err)  # was: the escape sequences, acted on by the terminal
        self.assertNotIn("\x07", err)
        self.assertEqual(err.strip().count("\n"), 0, err)
        self.assertIn("gone \\x1b[2J", err)

    def test_a_206_at_another_offset_is_refused(self):
        data = b"0123456789"

        def answer(handler):
            handler.send_response(206)
            handler.send_header("Content-Range", "bytes 0-9/10")  # asked for bytes=4-
            handler.send_header("Content-Length", "10")
            handler.end_headers()
            handler.wfile.write(data)

        url = self.serve(answer)
        target = os.path.join(self.folder, "out")
        with open(target + ".part", "wb") as handle:
            handle.write(data[:4])
        status, _, err = self.run_client(url, "get", sha256(data), "-o", target)
        self.assertEqual(status, 1)
        self.assertIn("not resuming", err)
        self.assertFalse(os.path.exists(target))
        with open(target + ".part", "rb") as handle:
            self.assertEqual(handle.read(), data[:4])  # untouched

    def test_wrong_bytes_never_take_the_final_name(self):
        def answer(handler):
            handler.send_response(200)
            handler.send_header("Content-Length", "5")
            handler.send_header("ETag", '"%s"' % sha256(b"right"))
            handler.end_headers()
            handler.wfile.write(b"wrong")

        url = self.serve(answer)
        target = os.path.join(self.folder, "link.bin")
        status, _, err = self.run_client(url, "get", url + "/file/" + "a" * 32, "-o", target)
        self.assertEqual(status, 1)
        self.assertFalse(os.path.exists(target))
        self.assertFalse(os.path.exists(target + ".part"))

    def test_a_listing_that_repeats_a_page_stops(self):
        def answer(handler):
            body = b'[{"oid": "%s", "size": 1}]' % sha256(b"x").encode()
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Link", '</data/r?limit=1000&after=0>; rel="next"')
            handler.end_headers()
            handler.wfile.write(body)

        status, out, err = self.run_client(self.serve(answer), "ls", "r")
        self.assertEqual(status, 1)
        self.assertIn("a page it had sent before", err)
        self.assertLessEqual(out.count("\n"), 2)
