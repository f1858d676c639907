"""The real git-lfs client (Debian's) against the daemon started as a user
starts it: push, clone by another user, fsck, a clone with no credentials,
a read-only token's push refused, locks between two users, a cut download
resumed. Skipped without git and git-lfs unless
``FILESTORAGED_REQUIRE_GIT_LFS=1`` (CI), where that is a failure."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Dict, Optional

from ..support import MIB, CuttingProxy, Daemon, payload, required

REQUIRED = required("GIT_LFS")


def have_git_lfs() -> bool:
    if not shutil.which("git"):
        return False
    return subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


class GitLfsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if not have_git_lfs():
            if REQUIRED:
                raise AssertionError("git and git-lfs are needed and FILESTORAGED_REQUIRE_GIT_LFS=1")
            raise unittest.SkipTest("needs git and git-lfs (bin/test installs them as root)")
        cls.root = tempfile.mkdtemp(prefix="fsd-lfs-")
        cls.store = os.path.join(cls.root, "store")
        cls.daemon = Daemon(cls.store, "--auth", "writes", "--max-size", str(400 * MIB)).start()
        cls.tokens = {name: cls.token(name, *scopes) for name, scopes in (
            ("alice", ("data:proj:write",)), ("bob", ("data:proj:write",)), ("reader", ("data:proj:read",)))}

    @classmethod
    def tearDownClass(cls) -> None:
        cls.daemon.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def token(cls, name: str, *scopes: str) -> str:
        command = [sys.executable, "-m", "filestoraged", "token", "create", "--name", name, "--data-dir", cls.store]
        for scope in scopes:
            command += ["--scope", scope]
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=cls.daemon.env).stdout
        return out.strip().split()[-1]

    def setUp(self) -> None:
        self.work = tempfile.mkdtemp(dir=self.root)
        self.remote = os.path.join(self.work, "remote.git")
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", self.remote], check=True)

    def env(self, user: Optional[str]) -> Dict[str, str]:
        """Git as ``user`` (None: no credentials at all): a home of its own
        with git-lfs installed and, for a user, git's credential store
        holding the token as the password."""
        home = os.path.join(self.root, "home-%s" % (user or "nobody"))
        if not os.path.isdir(home):
            os.makedirs(home)
            env = dict(os.environ, HOME=home, GIT_CONFIG_NOSYSTEM="1")
            for setting in (("user.name", user or "nobody"), ("user.email", "%s@example.org" % (user or "nobody")),
                            ("init.defaultBranch", "main")):
                subprocess.run(["git", "config", "--global", *setting], check=True, env=env)
            subprocess.run(["git", "lfs", "install", "--skip-repo"], check=True, env=env, capture_output=True)
            if user:
                store = os.path.join(home, "credentials")
                with open(store, "w") as out:
                    out.write("http://%s:%s@127.0.0.1:%d\n" % (user, self.tokens[user], self.daemon.port))
                subprocess.run(["git", "config", "--global", "credential.helper", "store --file=" + store],
                               check=True, env=env)
        return dict(os.environ, HOME=home, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")

    def git(self, cwd: str, *args: str, user: Optional[str] = "alice", ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(["git", *args], cwd=cwd, env=self.env(user), capture_output=True, text=True,
                              timeout=300)
        if ok and done.returncode != 0:
            self.fail("git %s failed: %s%s" % (" ".join(args), done.stdout, done.stderr))
        return done

    def new_repo(self, user: Optional[str] = "alice", lfs_url: Optional[str] = None) -> str:
        repo = os.path.join(self.work, "repo-%s" % user)
        os.makedirs(repo)
        self.git(repo, "init", "-q", "-b", "main", user=user)
        with open(os.path.join(repo, ".lfsconfig"), "w") as out:
            out.write("[lfs]\n\turl = %s\n\tlocksverify = true\n" % (lfs_url or self.daemon.url + "/lfs/proj"))
        self.git(repo, "lfs", "track", "*.bin", user=user)
        self.git(repo, "remote", "add", "origin", self.remote, user=user)
        return repo

    def write(self, repo: str, name: str, data: bytes) -> str:
        with open(os.path.join(repo, name), "wb") as out:
            out.write(data)
        return hashlib.sha256(data).hexdigest()

    def stored(self, oid: str) -> bool:
        return os.path.exists(os.path.join(self.store, "repos", "proj", oid[:2], oid))


class GitLfsClientTests(GitLfsCase):
    def test_push_then_clone_by_another_user_and_with_no_credentials(self):
        repo = self.new_repo()
        small = self.write(repo, "small.bin", payload(300 * 1024, seed=51))
        big = self.write(repo, "big.bin", payload(160 * MIB + 5, seed=52))
        self.git(repo, "add", ".")
        self.git(repo, "commit", "-qm", "assets")
        self.git(repo, "push", "-q", "origin", "main")
        self.assertTrue(self.stored(small) and self.stored(big))
        for user in ("bob", None):
            with self.subTest(user=user):
                clone = os.path.join(self.work, "clone-%s" % user)
                self.git(self.work, "clone", "-q", self.remote, clone, user=user)
                self.assertEqual(file_sha256(os.path.join(clone, "small.bin")), small)
                self.assertEqual(file_sha256(os.path.join(clone, "big.bin")), big)
                self.assertIn("Git LFS fsck OK", self.git(clone, "lfs", "fsck", user=user).stdout)

    def test_a_read_only_token_cannot_push_and_nothing_is_stored(self):
        repo = self.new_repo("reader")
        oid = self.write(repo, "denied.bin", b"the reader may not push this\n" * 100)
        self.git(repo, "add", ".", user="reader")
        self.git(repo, "commit", "-qm", "denied", user="reader")
        pushed = self.git(repo, "push", "-q", "origin", "main", user="reader", ok=False)
        self.assertNotEqual(pushed.returncode, 0)
        self.assertIn("data:proj:write", pushed.stderr)
        self.assertFalse(self.stored(oid))

    def test_a_push_with_no_credentials_is_asked_for_them(self):
        repo = self.new_repo(None)
        oid = self.write(repo, "anon.bin", b"no credentials\n")
        self.git(repo, "add", ".", user=None)
        self.git(repo, "commit", "-qm", "anon", user=None)
        pushed = self.git(repo, "push", "-q", "origin", "main", user=None, ok=False)
        self.assertNotEqual(pushed.returncode, 0)
        self.assertFalse(self.stored(oid))

    def test_locks_between_two_users(self):
        alice = self.new_repo("alice")
        self.write(alice, "scene.bin", b"version 1\n")
        self.git(alice, "add", ".")
        self.git(alice, "commit", "-qm", "scene")
        self.git(alice, "push", "-q", "origin", "main")
        bob = os.path.join(self.work, "bob")
        self.git(self.work, "clone", "-q", self.remote, bob, user="bob")
        self.assertIn("Locked scene.bin", self.git(alice, "lfs", "lock", "scene.bin").stdout)
        listed = self.git(bob, "lfs", "locks", user="bob").stdout
        self.assertIn("scene.bin", listed)
        self.assertIn("alice", listed)
        # Bob's push of the file alice locked is refused (lfs.locksverify).
        self.write(bob, "scene.bin", b"version 2 by bob\n")
        self.git(bob, "commit", "-qam", "bob's change", user="bob")
        refused = self.git(bob, "push", "-q", "origin", "main", user="bob", ok=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("Cannot update locked files", refused.stderr)
        # Nor may bob unlock it without --force (and he may not force it).
        self.assertNotEqual(self.git(bob, "lfs", "unlock", "scene.bin", user="bob", ok=False).returncode, 0)
        self.assertNotEqual(self.git(bob, "lfs", "unlock", "--force", "scene.bin", user="bob", ok=False).returncode, 0)
        self.assertIn("Unlocked scene.bin", self.git(alice, "lfs", "unlock", "scene.bin").stdout)
        self.git(bob, "push", "-q", "origin", "main", user="bob")

    def test_a_cut_download_is_resumed(self):
        repo = self.new_repo()
        big = self.write(repo, "film.bin", payload(60 * MIB, seed=53))
        self.git(repo, "add", ".")
        self.git(repo, "commit", "-qm", "film")
        self.git(repo, "push", "-q", "origin", "main")
        # A clone whose LFS server is reached through a proxy that cuts the
        # first download after 20 MiB: git-lfs keeps what came and asks for
        # the rest with a Range.
        proxy = CuttingProxy(self.daemon.port, 20 * MIB, method=b"GET /data/", nth=1)
        self.addCleanup(proxy.close)
        clone = os.path.join(self.work, "cut")
        env_user = "bob"
        self.git(self.work, "-c", "lfs.url=http://127.0.0.1:%d/lfs/proj" % proxy.port,
                 "clone", "-q", "--no-checkout", self.remote, clone, user=env_user)
        self.git(clone, "config", "lfs.url", "http://127.0.0.1:%d/lfs/proj" % proxy.port, user=env_user)
        self.git(clone, "checkout", "-q", "main", user=env_user, ok=False)  # the cut download fails here
        self.git(clone, "lfs", "pull", user=env_user)
        self.assertEqual(proxy.cuts, 1)
        self.assertEqual(file_sha256(os.path.join(clone, "film.bin")), big)
        # The second download asked only for the rest.
        self.assertLess(proxy.sent_back, 60 * MIB + 45 * MIB)
