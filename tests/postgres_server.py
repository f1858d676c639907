"""A real PostgreSQL for the records' tests: a cluster of its own made by
``initdb`` in a temporary folder (SCRAM-SHA-256 sign-in, a password),
served on a loopback port, stopped by its PID at exit. Two roles of the
tests' making may sign in by MD5 and by a cleartext password.

Debian's ``postgresql`` (``bin/test`` installs it). Without it the tests
that need it skip, unless ``FILESTORAGED_REQUIRE_POSTGRES=1`` (CI), where
that is a failure. One server serves the whole run; each test gets a
database of its own. As root, the server runs as the ``postgres`` user
(PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from typing import List, Optional

from filestoraged.errors import BackendUnavailable
from filestoraged.wire.postgres import Address, Connection

from .support import free_port, required
from .web.test_tls import make_certificate

REQUIRED = required("POSTGRES")
USER, PASSWORD = "filestoraged", "a password for the tests"
MD5_USER, CLEARTEXT_USER = "signs_in_by_md5", "signs_in_in_clear"
_databases = itertools.count(1)


def binaries() -> str:
    """The folder of ``initdb`` and ``postgres``; a skip without them (a
    failure under FILESTORAGED_REQUIRE_POSTGRES=1)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    on_path = shutil.which("initdb")
    if on_path:
        return os.path.dirname(os.path.realpath(on_path))
    message = "PostgreSQL is not installed (bin/test installs Debian's postgresql)"
    if REQUIRED:
        raise AssertionError(message + " and FILESTORAGED_REQUIRE_POSTGRES=1")
    raise unittest.SkipTest(message)


class Postgres:
    def __init__(self, superuser: str = USER) -> None:
        """A cluster whose superuser is ``superuser`` (the distributions':
        ``postgres``), signing in with ``PASSWORD``."""
        folder = self.binaries = binaries()
        self.superuser = superuser
        self.folder = tempfile.mkdtemp(prefix="fsd-postgres-")
        as_user: List[str] = []
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        secret = os.path.join(self.folder, "password")
        with open(secret, "w") as handle:
            handle.write(PASSWORD)
        if as_user:
            os.chown(secret, pwd.getpwnam("postgres").pw_uid, -1)
        # A certificate for 127.0.0.1, for the tests of TLS (the others connect with tls=disable).
        self.certificate, key = make_certificate(self.folder)
        os.chmod(key, 0o600)
        if as_user:
            for path in (self.certificate, key):
                os.chown(path, pwd.getpwnam("postgres").pw_uid, -1)
        data = os.path.join(self.folder, "data")
        subprocess.run(as_user + [os.path.join(folder, "initdb"), "-D", data, "-U", superuser, "--pwfile", secret,
                                  "--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        # Two roles that sign in the older ways, for the tests of those (every other role: SCRAM).
        hba = os.path.join(data, "pg_hba.conf")
        with open(hba) as handle:
            rules = handle.read()
        with open(hba, "w") as handle:  # rewritten in place: its owner stays the server's
            handle.write("host all %s 127.0.0.1/32 md5\nhost all %s 127.0.0.1/32 password\n%s"
                         % (MD5_USER, CLEARTEXT_USER, rules))
        self.port = free_port()
        self.log = open(os.path.join(self.folder, "postgres.log"), "wb")
        self.command = as_user + [os.path.join(folder, "postgres"), "-D", data, "-p", str(self.port), "-k",
                                  self.folder, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                                  "max_connections=200", "-c", "ssl=on", "-c", "ssl_cert_file=" + self.certificate,
                                  "-c", "ssl_key_file=" + key]
        self.start()

    def start(self) -> None:
        """The server started (again: on the same port, over the same data)."""
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._wait_ready()

    def halt(self) -> None:
        """The server stopped (a fast shutdown: its connections cut), its data kept."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def address(self, database: str = "postgres") -> Address:
        return Address("127.0.0.1", self.port, database, self.superuser, PASSWORD, "disable")

    def url(self, database: str) -> str:
        """``--records`` for ``database``: the password from the server's own file."""
        return "postgresql://%s@127.0.0.1:%d/%s?tls=disable&passfile=%s" % (
            self.superuser, self.port, database, os.path.join(self.folder, "password"))

    def new_database(self) -> str:
        name = "t%d_%d" % (os.getpid(), next(_databases))
        connection = Connection(self.address())
        try:
            connection.run("CREATE DATABASE %s" % name)
        finally:
            connection.close()
        return name

    def drop_database(self, name: str) -> None:
        connection = Connection(self.address())
        try:
            connection.run("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        finally:
            connection.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited: see " + self.log.name)
            try:
                Connection(self.address()).close()
                return
            except BackendUnavailable:
                time.sleep(0.1)
        raise RuntimeError("postgres did not answer within 60 s: see " + self.log.name)

    def stop(self) -> None:
        self.halt()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_shared: Optional[Postgres] = None


def postgres() -> Postgres:
    """The run's server, started on first use and stopped at exit."""
    global _shared
    if _shared is None:
        _shared = Postgres()
        atexit.register(_shared.stop)
    return _shared


class PostgresMixin:
    """A database of its own for each test (the server is shared by the run)."""

    def setUp(self) -> None:
        self.postgres = postgres()
        self.database = self.postgres.new_database()
        self.addCleanup(self.postgres.drop_database, self.database)
        super().setUp()


def class_database(cls) -> str:
    """``--records`` for a database of a test class's own (dropped with the class)."""
    server = postgres()
    database = server.new_database()
    cls.addClassCleanup(server.drop_database, database)
    return server.url(database)
