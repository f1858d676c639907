"""Configuration: command-line flags, then ``FILESTORAGED_*`` environment
variables, then an INI file (``--config``, section ``[filestoraged]``), then
defaults. Every setting is one row of ``OPTIONS``; the parser, the
environment and the INI reader are all derived from that table.
"""

from __future__ import annotations

import argparse
import configparser
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

MIB = 1024 * 1024


def _size(text: str) -> int:
    """Bytes, with an optional K/M/G suffix (powers of 1024): ``50M``."""
    text = str(text).strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError("not a size: %r" % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError("a size cannot be negative")
    return value


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    return str(text).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Option:
    name: str  # attribute name; the flag is --name-with-dashes
    kind: Callable[[str], Any]
    help: str

    @property
    def default(self) -> Any:
        return Config.__dataclass_fields__[self.name].default


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "store"
    backend: str = "disk"
    memcached: str = "127.0.0.1:11211"
    max_size: int = 50 * MIB
    max_bytes: int = 0
    max_connections: int = 256
    idle_timeout: float = 30.0
    head_timeout: float = 10.0
    min_body_rate: float = 1024.0
    shutdown_grace: float = 30.0
    kv_at_root: bool = False
    public_url: str = ""
    auth: str = "auto"
    tls_cert: str = ""
    tls_key: str = ""
    trusted_proxy: str = ""
    log_level: str = "INFO"
    kv_max_key: int = 1024
    kv_max_value: int = 1 * MIB
    kv_max_staged_keys: int = 10000
    kv_max_staged_bytes: int = 64 * MIB
    kv_cache_keys: int = 4096
    share_max_expiry: int = 30 * 24 * 3600
    share_default_expiry: int = 7 * 24 * 3600
    command: str = "serve"
    repair: bool = False
    # ``filestoraged token create|list|revoke NAME`` and its options.
    words: Tuple[str, ...] = ()
    scopes: Tuple[str, ...] = ()
    token_name: str = ""
    expires_in: float = 0.0

    @property
    def memcached_servers(self) -> List[str]:
        return [s.strip() for s in self.memcached.split(",") if s.strip()]


OPTIONS: List[Option] = [
    Option("host", str, "address to listen on"),
    Option("port", int, "TCP port; 0 picks a free one (the bound address is logged)"),
    Option("data_dir", str, "data directory: objects, metadata (meta.db), temp files"),
    Option("backend", str, "storage backend: disk or memcached"),
    Option("memcached", str, "memcached servers, HOST:PORT[,HOST:PORT...]"),
    Option("max_size", _size, "largest accepted file in bytes (K/M/G suffixes allowed)"),
    Option("max_bytes", _size, "disk quota for all objects in bytes; 0 = no quota"),
    Option("max_connections", int, "concurrent client connections; more get 503"),
    Option("idle_timeout", float, "seconds a client may stay silent before it is dropped"),
    Option("head_timeout", float, "seconds a request head may take once it started (and a body's grace)"),
    Option("min_body_rate", float, "bytes per second a request body must keep on average"),
    Option("shutdown_grace", float, "seconds in-flight requests get to finish on SIGTERM"),
    Option("kv_at_root", _bool, "serve only the key-value store, at / (drop-in mode)"),
    Option("public_url", str, "base URL for links in answers; default: from the Host header"),
    Option("auth", str, "access control: off, writes, all, or auto (off on loopback, writes elsewhere)"),
    Option("tls_cert", str, "PEM certificate (chain) for HTTPS; with --tls-key"),
    Option("tls_key", str, "PEM private key for HTTPS"),
    Option("trusted_proxy", str, "ADDR[,ADDR]: peers whose X-Forwarded-For/-Proto/-Host are believed"),
    Option("log_level", str, "DEBUG, INFO, WARNING or ERROR"),
    Option("kv_max_key", int, "longest KV key, in bytes"),
    Option("kv_max_value", _size, "largest KV value (its JSON text), in bytes"),
    Option("kv_max_staged_keys", int, "staged KV changes held before /commit"),
    Option("kv_max_staged_bytes", _size, "bytes of staged KV changes held before /commit"),
    Option("kv_cache_keys", int, "committed KV keys kept in the in-memory cache"),
    Option("share_max_expiry", int, "longest share link lifetime, seconds"),
    Option("share_default_expiry", int, "share link lifetime when none is asked, seconds"),
]



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filestoraged",
        description="Store files over HTTP and give them back byte for byte.",
        epilog="Each flag can also be set as FILESTORAGED_<NAME> in the environment "
        "(e.g. FILESTORAGED_DATA_DIR) or as <name> in the [filestoraged] section "
        "of the --config file; flags win over the environment, which wins over the file.",
    )
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "fsck", "token"],
        help="serve (the default); fsck: verify every stored object; "
        "token create|list|revoke NAME: manage API tokens",
    )
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--scope", action="append", default=[], metavar="SCOPE",
                        help="with token create: FACE[:REPOSITORY]:VERB or admin (repeatable)")
    parser.add_argument("--name", default="", help="with token create: the token's name")
    parser.add_argument("--expires-in", type=float, default=0.0, metavar="SECONDS",
                        help="with token create: lifetime in seconds (default: none)")
    parser.add_argument("--repair", action="store_true", help="with fsck: move corrupt objects to <data-dir>/.corrupt/")
    parser.add_argument("--config", metavar="FILE", help="INI file with a [filestoraged] section")
    for option in OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        if option.kind is _bool:
            parser.add_argument(flag, action="store_const", const=True, default=None,
                                help="%s (default: off)" % option.help)
        else:
            parser.add_argument(flag, type=option.kind, default=None, metavar=option.name.upper(),
                                help="%s (default: %s)" % (option.help, option.default))
    return parser


def load(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None) -> Config:
    """Parse ``argv`` and merge it with the environment, the INI file and defaults."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    ini = _read_ini(args.config or environ.get("FILESTORAGED_CONFIG"), parser)
    values: Dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(args, option.name)
        if value is None:
            raw = environ.get("FILESTORAGED_" + option.name.upper(), ini.get(option.name))
            if raw is not None:
                try:
                    value = option.kind(raw)
                except (ValueError, argparse.ArgumentTypeError) as error:
                    parser.error("bad value for %s: %s" % (option.name, error))
        values[option.name] = option.default if value is None else value
    config = Config(command=args.command, repair=args.repair, words=tuple(args.words), scopes=tuple(args.scope),
                    token_name=args.name, expires_in=args.expires_in, **values)
    if config.backend not in ("disk", "memcached"):
        parser.error("--backend must be disk or memcached")
    if args.words and config.command != "token":
        parser.error("unexpected argument %r" % args.words[0])
    if config.auth not in ("auto", "off", "writes", "all"):
        parser.error("--auth must be off, writes, all or auto")
    return config


def _read_ini(path: Optional[str], parser: argparse.ArgumentParser) -> Dict[str, str]:
    if not path:
        return {}
    reader = configparser.ConfigParser()
    if not reader.read(path):
        parser.error("cannot read config file %s" % path)
    if not reader.has_section("filestoraged"):
        return {}
    return {key.replace("-", "_"): value for key, value in reader.items("filestoraged")}
