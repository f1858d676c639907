"""Where settings come from, read strictly: a flag, an environment variable
or an INI key that is not a setting is refused by name with the closest
known one (``unknown flag --porrt (did you mean --port?)``), never ignored."""

from __future__ import annotations

import argparse
import configparser
import difflib
from typing import Dict, Mapping, Optional, Sequence


class ConfigError(Exception):
    """Bad configuration: reported as one line on stderr, exit status 2."""


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return " (did you mean %s?)" % close[0] if close else ""


def check_flags(argv: Sequence[str], parser: argparse.ArgumentParser) -> None:
    """A misspelled flag is named as such (argparse alone would complain about
    the value after it, taken for the command)."""
    known = [flag for flag in parser._option_string_actions if flag.startswith("--")]
    for word in argv:
        if word == "--":
            return
        flag = word.split("=", 1)[0]
        if flag.startswith("--") and flag not in known:
            raise ConfigError("unknown flag %s%s" % (flag, _suggest(flag, known)))


def check_variables(environ: Mapping[str, str], known: Sequence[str]) -> None:
    """``known``: every ``FILESTORAGED_*`` name that is a setting or is read elsewhere."""
    for name in environ:
        if name.startswith("FILESTORAGED_") and name not in known and not name.startswith("FILESTORAGED_REQUIRE_"):
            raise ConfigError("unknown environment variable %s%s" % (name, _suggest(name, known)))


def read_ini(path: Optional[str], known: Sequence[str]) -> Dict[str, str]:
    """The ``[filestoraged]`` section of the INI file at ``path``; ``known``: the setting names."""
    if not path:
        return {}
    reader = configparser.ConfigParser()
    try:
        if not reader.read(path):
            raise ConfigError("cannot read config file %s" % path)
    except configparser.Error as error:
        raise ConfigError("config file %s: %s" % (path, str(error).splitlines()[0])) from None
    if not reader.has_section("filestoraged"):
        raise ConfigError("config file %s has no [filestoraged] section" % path)
    values = {}
    for key, value in reader.items("filestoraged"):
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError("config file %s: unknown key %s%s" % (path, key, _suggest(name, known)))
        values[name] = value
    return values
