"""Configuration: flags, then the environment, then the INI file, then defaults."""

from __future__ import annotations

import os
import re
import tempfile
import unittest

from filestoraged import config

from ..support import ROOT


class ConfigTests(unittest.TestCase):
    def test_flags_then_environment_then_file_then_defaults(self):
        with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
            ini.write("[filestoraged]\nport = 9000\nhost = 0.0.0.0\ndata-dir = /srv/files\nmax_size = 10M\n")
        self.addCleanup(os.unlink, ini.name)
        env = {"FILESTORAGED_HOST": "10.0.0.1", "FILESTORAGED_KV_AT_ROOT": "yes"}
        loaded = config.load(["--config", ini.name, "--port", "7000"], env)
        self.assertEqual(loaded.port, 7000)  # flag
        self.assertEqual(loaded.host, "10.0.0.1")  # environment over file
        self.assertEqual(loaded.data_dir, "/srv/files")  # file
        self.assertEqual(loaded.max_size, 10 * 1024 * 1024)
        self.assertTrue(loaded.kv_at_root)
        self.assertEqual(loaded.backend, "disk")  # default
        self.assertEqual(config.load([], {}).max_size, 52428800)

    def test_bad_values_are_refused(self):
        for argv, env in ((["--backend", "tape"], {}), ([], {"FILESTORAGED_PORT": "eighty"}),
                          (["--max-size", "lots"], {}), (["--cpu-affinity", "two"], {})):
            with self.subTest(argv=argv, env=env):
                with self.assertRaises(config.ConfigError):
                    config.load(argv, env)

    def test_cpu_affinity_takes_auto_one_or_off(self):
        for value in ("auto", "one", "off"):
            self.assertEqual(config.load(["--cpu-affinity", value], {}).cpu_affinity, value)

    def test_typos_are_named_with_the_closest_known_name(self):
        cases = [(["--porrt", "20108"], {}, "unknown flag --porrt (did you mean --port?)"),
                 ([], {"FILESTORAGED_DATADIR": "x"}, "FILESTORAGED_DATADIR (did you mean FILESTORAGED_DATA_DIR?)"),
                 (["--max-conections=5"], {}, "did you mean --max-connections?")]
        for argv, env, message in cases:
            with self.subTest(argv=argv, env=env), self.assertRaises(config.ConfigError) as caught:
                config.load(argv, env)
            self.assertIn(message, str(caught.exception))
        with tempfile.NamedTemporaryFile("w", suffix=".ini") as ini:
            ini.write("[filestoraged]\nmax_sise = 10M\n")
            ini.flush()
            with self.assertRaises(config.ConfigError) as caught:
                config.load(["--config", ini.name], {})
            self.assertIn("unknown key max_sise (did you mean max_size?)", str(caught.exception))
        with tempfile.NamedTemporaryFile("w", suffix=".ini") as ini:
            ini.write("port = 8080\n")
            ini.flush()
            with self.assertRaises(config.ConfigError) as caught:
                config.load(["--config", ini.name], {})
            self.assertIn("section", str(caught.exception))
        # Variables that are not daemon settings are left alone.
        config.load([], {"FILESTORAGED_URL": "http://x", "FILESTORAGED_REQUIRE_MEMCACHED": "1"})

    def test_memcached_server_list(self):
        loaded = config.load(["--memcached", "a:11211, b:11212"], {})
        self.assertEqual(loaded.memcached_servers, ["a:11211", "b:11212"])


class DocumentedSettingsTests(unittest.TestCase):
    """The facts of docs/configuration.md that drift as code changes: every
    setting in the flag table and nothing else, and the backends it names."""

    def test_the_flag_table_names_every_setting_and_only_those(self):
        with open(os.path.join(ROOT, "docs", "configuration.md")) as handle:
            text = handle.read()
        table = [line for line in text.splitlines() if line.startswith("| `--")]
        documented = set()
        for line in table:
            documented.update(re.findall(r"`(--[a-z0-9-]+)`", line.split("|")[1]))
        settings = {"--" + option.name.replace("_", "-") for option in config.OPTIONS}
        self.assertEqual(settings - documented, set(), "settings the table does not name")
        self.assertEqual(documented - settings - {"--config"}, set(), "table rows that name no setting")
        backend_row = next(line for line in table if line.startswith("| `--backend`"))
        for backend in ("disk", "memcached", "s3"):
            self.assertIn("`%s`" % backend, backend_row)

    def test_the_docs_speak_to_users_not_of_how_they_were_written(self):
        pages = ["README.md"] + ["docs/" + name for name in sorted(os.listdir(os.path.join(ROOT, "docs")))
                                 if name.endswith(".md")]
        for page in pages:
            with open(os.path.join(ROOT, page)) as handle:
                text = handle.read()
            with self.subTest(page=page):
                found = re.findall(r"(?i)\bthis session\b|\bissue #\d+|\bseed 00\d\b", text)
                self.assertEqual(found, [])
