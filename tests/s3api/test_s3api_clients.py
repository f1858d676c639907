"""The S3 tools people already use, each as docs/s3.md sets it up, doing
its round trip against the daemon's S3 port: the aws cli, s3cmd, rclone
and restic (boto3's own is in test_s3api)."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import tempfile
from typing import Dict, List

from ..nginx_server import documented_block
from ..s3api_support import S3ApiCase, tool_or_skip
from ..support import MIB, ROOT, payload

TIMEOUT = 180  # seconds any one command may take


class ClientCase(S3ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.work = tempfile.mkdtemp(prefix="fsd-s3-clients-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.key_id, self.secret = self.key_pair(name="tools")
        self.tree = os.path.join(self.work, "tree")
        os.makedirs(os.path.join(self.tree, "sub", "deeper"))
        files = {"small.txt": b"hello from a tool\n", "sub/empty": b"", "sub/mid.bin": payload(300000, 11),
                 "sub/deeper/big.bin": payload(20 * MIB + 12345, 12), "sp ace é.txt": b"unicode name"}
        for name, data in files.items():
            with open(os.path.join(self.tree, name), "wb") as handle:
                handle.write(data)

    def run_tool(self, command: List[str], env: Dict[str, str], stdin: bytes = b"") -> str:
        done = subprocess.run(command, env=dict(self.clean_env(), **env), input=stdin, capture_output=True,
                              timeout=TIMEOUT, cwd=self.work)
        if done.returncode != 0:
            raise AssertionError("%s failed (%d): %s %s" % (" ".join(command[:3]), done.returncode,
                                                            done.stdout[-300:].decode(errors="replace"),
                                                            done.stderr[-3000:].decode(errors="replace")))
        return done.stdout.decode(errors="replace")

    def clean_env(self) -> Dict[str, str]:
        """The environment without what could point a tool elsewhere."""
        return {name: value for name, value in os.environ.items()
                if not name.startswith(("AWS_", "RCLONE_", "RESTIC_", "S3CMD"))} | {"HOME": self.work}

    def aws(self, *args: str) -> str:
        config = os.path.join(self.work, "aws-config")
        with open(config, "w") as handle:
            handle.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
        return self.run_tool([tool_or_skip("aws"), "--endpoint-url", self.s3_url, *args],
                             {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
                              "AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})

    def rclone(self, *args: str) -> str:
        env = {"RCLONE_CONFIG_FSD_TYPE": "s3", "RCLONE_CONFIG_FSD_PROVIDER": "Other",
               "RCLONE_CONFIG_FSD_ACCESS_KEY_ID": self.key_id, "RCLONE_CONFIG_FSD_SECRET_ACCESS_KEY": self.secret,
               "RCLONE_CONFIG_FSD_ENDPOINT": self.s3_url, "RCLONE_CONFIG_FSD_REGION": "us-east-1",
               "RCLONE_CONFIG_FSD_FORCE_PATH_STYLE": "true"}
        return self.run_tool([tool_or_skip("rclone"), "--config", os.devnull, *args], env)

    def s3cmd(self, *args: str) -> str:
        config = os.path.join(self.work, "s3cfg")
        host = "127.0.0.1:%d" % self.s3_port
        with open(config, "w") as handle:
            handle.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"
                         "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
                         % (self.key_id, self.secret, host, host))
        return self.run_tool([tool_or_skip("s3cmd"), "-c", config, *args], {})

    def assertSameTree(self, left: str, right: str) -> None:
        compared = filecmp.dircmp(left, right)
        self.assertEqual((compared.left_only, compared.right_only, compared.diff_files), ([], [], []))
        for name in compared.common_dirs:
            self.assertSameTree(os.path.join(left, name), os.path.join(right, name))
        for name in compared.common_files:
            self.assertTrue(filecmp.cmp(os.path.join(left, name), os.path.join(right, name), shallow=False), name)


class AwsCliTests(ClientCase):
    def test_cp_sync_ls_and_rm_recursive(self):
        self.aws("s3", "mb", "s3://tools")
        self.aws("s3", "cp", os.path.join(self.tree, "small.txt"), "s3://tools/one/small.txt")
        self.aws("s3", "sync", self.tree, "s3://tools/tree")
        listed = self.aws("s3", "ls", "s3://tools", "--recursive")
        for name in ("one/small.txt", "tree/sub/deeper/big.bin", "tree/sp ace é.txt", "tree/sub/empty"):
            self.assertIn(name, listed)
        back = os.path.join(self.work, "back")
        self.aws("s3", "sync", "s3://tools/tree", back)  # big.bin: ranged GETs with If-Match, as the cli does
        self.assertSameTree(self.tree, back)
        self.assertEqual(self.aws("s3", "sync", self.tree, "s3://tools/tree").strip(), "")  # nothing to send again
        self.aws("s3", "rm", "s3://tools", "--recursive")
        self.assertEqual(self.aws("s3", "ls", "s3://tools", "--recursive").strip(), "")
        self.aws("s3", "rb", "s3://tools")


class S3cmdTests(ClientCase):
    def test_put_get_ls_and_del(self):
        self.s3cmd("mb", "s3://cmd")
        self.s3cmd("put", os.path.join(self.tree, "sub", "mid.bin"), "s3://cmd/mid.bin")
        self.s3cmd("put", os.path.join(self.tree, "sub", "deeper", "big.bin"), "s3://cmd/dir/big.bin")
        listed = self.s3cmd("ls", "s3://cmd")
        self.assertIn("s3://cmd/mid.bin", listed)
        self.assertIn("s3://cmd/dir/", listed)
        out = os.path.join(self.work, "got.bin")
        self.s3cmd("get", "s3://cmd/dir/big.bin", out)
        self.assertTrue(filecmp.cmp(out, os.path.join(self.tree, "sub", "deeper", "big.bin"), shallow=False))
        self.s3cmd("del", "s3://cmd/mid.bin")
        self.s3cmd("del", "s3://cmd/dir/big.bin")
        self.assertNotIn("s3://", self.s3cmd("ls", "-r", "s3://cmd"))


class RcloneTests(ClientCase):
    def test_copy_check_and_purge(self):
        self.rclone("mkdir", "fsd:clone")
        self.rclone("copy", self.tree, "fsd:clone/tree")
        self.rclone("check", self.tree, "fsd:clone/tree")  # exits non-zero on any difference
        back = os.path.join(self.work, "back")
        self.rclone("copy", "fsd:clone/tree", back)
        self.assertSameTree(self.tree, back)
        self.rclone("purge", "fsd:clone")
        self.assertNotIn("clone", self.rclone("lsd", "fsd:"))


class ResticTests(ClientCase):
    def restic(self, *args: str) -> str:
        env = {"RESTIC_REPOSITORY": "s3:%s/backups" % self.s3_url, "RESTIC_PASSWORD": "a test password",
               "AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
               "RESTIC_CACHE_DIR": os.path.join(self.work, "cache")}
        return self.run_tool([tool_or_skip("restic"), "-q", *args], env)

    def test_init_backup_check_and_restore(self):
        self.restic("init")
        self.restic("backup", self.tree)
        self.restic("check", "--read-data")
        out = os.path.join(self.work, "restored")
        self.restic("restore", "latest", "--target", out)
        self.assertSameTree(self.tree, os.path.join(out, self.tree.lstrip("/")))


class ReadmeTests(ClientCase):
    def test_the_readme_s3_example_as_written(self):
        """The README's S3 commands in a shell, pointed at this server: the
        key pair from ``token create --s3``, aws mb and sync, an rclone
        remote, copy and check."""
        block = documented_block("README.md", r"## The S3 API\n.*?\n\n(    filestoraged --s3-api.*?)\n\n")
        lines = [line[4:] for line in block.splitlines()[1:]]  # the daemon itself is this test's server
        script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
        script = script.replace("http://127.0.0.1:9000", self.s3_url).replace("./store", self.data_dir)
        script = script.replace("./pictures", self.tree)
        self.assertIn("aws --endpoint-url %s s3 sync" % self.s3_url, script)
        bins = os.pathsep.join((os.path.join(ROOT, "bin"), os.path.dirname(tool_or_skip("aws")),
                                os.path.dirname(tool_or_skip("rclone"))))
        self.run_tool(["bash", "-c", script], {"PATH": bins + os.pathsep + os.environ["PATH"]})
        keys = sorted(entry["Key"] for entry in self.client().list_objects_v2(Bucket="photos")["Contents"])
        self.assertIn("2026/sub/deeper/big.bin", keys)
        self.assertIn("2027/sub/deeper/big.bin", keys)
        self.assertEqual(len(keys), 10)
        self.assertTrue(re.search(r"\bFSD[A-Z0-9]{17}\b", self.run_tool(
            [os.path.join(ROOT, "bin", "filestoraged"), "token", "list", "--data-dir", self.data_dir], {})))


class ListingBoundaryTests(ClientCase):
    """A folder that straddles the end of a 1,000-key page (999 keys, then
    ``b/1 b/2``, then ``c0 c1 c2``) is listed once by the tools that page
    with v1's marker: it was listed twice when the marker was the folder."""

    def setUp(self) -> None:
        super().setUp()
        from filestoraged.catalog.names import encode_key

        self.app.buckets.create("edge")
        for name in ["a%04d" % n for n in range(999)] + ["b/1", "b/2", "c0", "c1", "c2"]:
            self.app.keys.records.create("s3/keys/edge/" + encode_key(name),
                                         {"oid": "0" * 64, "size": 0, "etag": "e", "modified": 0})

    def test_rclone_lists_each_folder_once(self):
        self.assertEqual(self.rclone("lsf", "--dirs-only", "fsd:edge").split(), ["b/"])
        self.assertEqual(len(self.rclone("lsf", "fsd:edge").split()), 999 + 1 + 3)

    def test_s3cmd_lists_each_folder_once(self):
        listed = self.s3cmd("ls", "s3://edge/")
        self.assertEqual(listed.count("s3://edge/b/"), 1, listed[-300:])
        self.assertEqual(len(listed.splitlines()), 999 + 1 + 3)

