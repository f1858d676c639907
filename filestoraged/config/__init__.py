"""Configuration: command-line flags, then ``FILESTORAGED_*`` environment
variables, then an INI file (``--config``, section ``[filestoraged]``), then
defaults. Every setting is one row of ``OPTIONS``; the parser, the
environment and the INI reader are all derived from that table.
"""

from __future__ import annotations

import argparse
import textwrap
import os
import sys
from dataclasses import dataclass, replace

from .checks import check_values, records_in_database
from .sources import ConfigError, check_flags, check_variables, read_ini
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

MIB = 1024 * 1024


def size(text: str) -> int:
    """Bytes, with an optional K/M/G suffix (powers of 1024): ``50M``."""
    original = str(text).strip()
    text = original.upper().removesuffix("B").removesuffix("I")
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a size: bytes, or a number with K, M, G or T (50M, 4G)"
                                         % original) from None
    if value < 0:
        raise argparse.ArgumentTypeError("a size cannot be negative")
    return value


# What a value of each plain kind looks like, for the one line a bad one gets.
_KINDS: Dict[Callable, str] = {int: "a whole number", float: "a number"}


def _listen_address(text: str) -> str:
    """``[HOST:]PORT`` (an IPv6 host in brackets), or empty for none."""
    text = str(text).strip()
    if not text:
        return ""
    host, sep, port = text.rpartition(":")
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535 or (sep and not host.strip("[]")):
        raise argparse.ArgumentTypeError("not [HOST:]PORT: %r" % text)
    return text


def _workers(text: str) -> str:
    """``auto`` or a whole number of worker processes, 1 to 64."""
    text = str(text).strip().lower()
    if text != "auto" and not (text.isascii() and text.isdigit() and 1 <= int(text) <= 64):
        raise argparse.ArgumentTypeError("not auto or a number from 1 to 64: %r" % text)
    return text


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
    records: str = "local"
    memcached: str = "127.0.0.1:11211"
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_api: str = ""
    s3_key_file: str = ""
    s3_public_acls: bool = False
    restic_append_only: str = ""
    webdav_macos_files: str = "refuse"
    webdav_depth_infinity: bool = False
    cache: str = ""
    max_size: int = 50 * MIB
    max_bytes: int = 0
    max_connections: int = 256
    max_client_connections: int = 128
    workers: str = "auto"
    cpu_affinity: str = "auto"
    idle_timeout: float = 30.0
    head_timeout: float = 10.0
    min_body_rate: float = 1024.0
    min_send_rate: float = 1024.0
    shutdown_grace: float = 30.0
    kv_at_root: bool = False
    public_url: str = ""
    allowed_hosts: str = ""
    auth: str = "auto"
    tls_cert: str = ""
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_ca_file: str = ""
    oidc_scopes: str = "openid profile email"
    oidc_name_claim: str = "preferred_username"
    oidc_groups_claim: str = "groups"
    tls_key: str = ""
    trusted_proxy: str = ""
    cors_origin: str = ""
    log_level: str = "INFO"
    kv_max_key: int = 1024
    kv_max_value: int = 1 * MIB
    kv_max_staged_keys: int = 10000
    kv_max_staged_bytes: int = 64 * MIB
    kv_cache_keys: int = 4096
    share_max_expiry: int = 30 * 24 * 3600
    share_default_expiry: int = 7 * 24 * 3600
    share_lease: float = 60.0
    command: str = "serve"
    repair: bool = False
    # ``filestoraged token create|list|revoke NAME`` and its options.
    words: Tuple[str, ...] = ()
    scopes: Tuple[str, ...] = ()
    token_name: str = ""
    expires_in: float = 0.0
    s3: bool = False
    # ``filestoraged user|group|policy ...``: the groups and policies named with --group and --policy.
    groups: Tuple[str, ...] = ()
    policies: Tuple[str, ...] = ()
    # The settings given (by flag, variable or file), not left to their default.
    given: Tuple[str, ...] = ()

    @property
    def memcached_servers(self) -> List[str]:
        return [s.strip() for s in self.memcached.split(",") if s.strip()]

    @property
    def s3_api_address(self) -> Optional[Tuple[str, int]]:
        """``(host, port)`` of the S3 API (``--host`` when only a port is
        given), None when it is off."""
        if not self.s3_api:
            return None
        host, _, port = self.s3_api.rpartition(":")
        return (host.strip("[]") or self.host), int(port)

    @property
    def append_only_repositories(self) -> List[Tuple[str, str]]:
        """``(bucket, key prefix)`` of each ``--restic-append-only``
        repository (the prefix empty, or ending in ``/``)."""
        found = []
        for path in self.restic_append_only.split(","):
            bucket, _, below = path.strip().strip("/").partition("/")
            if bucket:
                found.append((bucket, below.strip("/") + "/" if below.strip("/") else ""))
        return found

    @property
    def s3_key_path(self) -> str:
        """The file of the server key S3 secrets are derived from."""
        return self.s3_key_file or os.path.join(self.data_dir, "s3.key")


OPTIONS: List[Option] = [
    Option("host", str, "address to listen on"),
    Option("port", int, "TCP port; 0 picks a free one (the bound address is logged)"),
    Option("data_dir", str, "data directory: objects, metadata (meta.db), temp files"),
    Option("backend", str, "storage backend: disk, memcached or s3"),
    Option("records", str, "where share links, the KV store, API tokens and the attempt limits live: local (SQLite "
           "in the data directory), s3 (the bucket, shared by every daemon; with --backend s3) or "
           "postgresql://USER@HOST[:PORT]/DATABASE[?tls=require&passfile=FILE] (a database every daemon shares; "
           "with --backend s3; the password from passfile or PGPASSWORD)"),
    Option("memcached", str, "memcached servers, HOST:PORT[,HOST:PORT...]"),
    Option("s3_endpoint", str, "the S3 backend's endpoint, http(s)://HOST[:PORT] (credentials: AWS_ACCESS_KEY_ID, "
           "AWS_SECRET_ACCESS_KEY)"),
    Option("s3_bucket", str, "the S3 backend's bucket (it must exist)"),
    Option("s3_region", str, "the S3 backend's region, for signing"),
    Option("s3_api", _listen_address, "[HOST:]PORT: also serve the S3 API there (path-style; HOST defaults to "
           "--host); off when empty"),
    Option("s3_key_file", str, "the server key the S3 API's secrets are derived from (made, 0600, when missing; "
           "several daemons over one --records s3 bucket share one); default: <data-dir>/s3.key"),
    Option("s3_public_acls", _bool, "let the S3 API's canned ACLs (public-read, public-read-write, "
           "authenticated-read) and bucket policies open a bucket or an object to every caller; off: refused "
           "unless the access mode makes them true (a bucket's public access block may close them again)"),
    Option("restic_append_only", str, "REPO[,REPO...] (BUCKET or BUCKET/PATH): restic repositories whose files, "
           "through every face, are added and never replaced or removed, but for their locks/ (see docs/restic.md)"),
    Option("webdav_macos_files", str, "refuse or keep: what the WebDAV face does with the files macOS's Finder "
           "leaves in every folder it opens (.DS_Store, ._NAME); refused, none is made (see docs/webdav.md)"),
    Option("webdav_depth_infinity", _bool, "answer a WebDAV PROPFIND of Depth: infinity (a whole folder tree, "
           "sent as it is read); off: refused with propfind-finite-depth"),
    Option("cache", str, "memcached: hot objects up to 1 MiB served from --memcached over the disk or S3 tier"),
    Option("max_size", size, "largest accepted file in bytes (K/M/G suffixes allowed)"),
    Option("max_bytes", size, "disk quota for all objects in bytes; 0 = no quota"),
    Option("max_connections", int, "concurrent client connections per worker; more get 503"),
    Option("max_client_connections", int,
           "concurrent connections from one client address, all workers together (0: no cap; "
           "trusted proxies are exempt); more get 503"),
    Option("workers", _workers, "worker processes serving one socket: a number, or auto (one per CPU)"),
    Option("cpu_affinity", str, "auto: each worker keeps its own share of the CPUs the daemon was given (where "
           "there are as many CPUs as workers); one: also each worker's own threads keep one CPU of its share, "
           "its helpers the share (least CPU a request, where the CPUs serve the daemon alone); "
           "off: every worker runs on them all"),
    Option("idle_timeout", float, "seconds a client may stay silent before it is dropped"),
    Option("head_timeout", float, "seconds a request head may take once it started (and a body's grace)"),
    Option("min_body_rate", float, "bytes per second a request body must keep on average"),
    Option("min_send_rate", float, "bytes per second a client must keep reading a response at, on average"),
    Option("shutdown_grace", float, "seconds in-flight requests get to finish on SIGTERM"),
    Option("kv_at_root", _bool, "serve only the key-value store, at / (drop-in mode)"),
    Option("public_url", str, "base URL for links in answers; default: from the Host header"),
    Option("auth", str, "access control: off, writes, all, or auto (off on loopback, writes elsewhere)"),
    Option("allowed_hosts", str, "NAME[,NAME] (.example.org: it and the names under it; *: any): with access control "
           "off, the host names answered besides loopback names, IP addresses and --public-url's (DNS rebinding)"),
    Option("tls_cert", str, "PEM certificate (chain) for HTTPS; with --tls-key"),
    Option("oidc_issuer", str, "the console's sign-in through an OpenID Connect provider: its issuer URL "
           "(https://, or http:// on loopback); with --oidc-client-id and --oidc-client-secret"),
    Option("oidc_client_id", str, "this daemon's client id at the OpenID provider"),
    Option("oidc_client_secret", str, "this daemon's client secret at the OpenID provider (better as "
           "FILESTORAGED_OIDC_CLIENT_SECRET or in --config's file than on the command line)"),
    Option("oidc_ca_file", str, "PEM certificates the OpenID provider's is checked against (default: the "
           "system's)"),
    Option("oidc_scopes", str, "the scopes the sign-in asks the OpenID provider for"),
    Option("oidc_name_claim", str, "the ID token's claim that names the user (else its sub)"),
    Option("oidc_groups_claim", str, "the ID token's claim that lists the user's groups (those of this store's "
           "groups it names apply)"),
    Option("tls_key", str, "PEM private key for HTTPS"),
    Option("trusted_proxy", str, "ADDR[,ADDR]: peers whose X-Forwarded-For/-Proto/-Host are believed"),
    Option("cors_origin", str, "ORIGIN[,ORIGIN] (or *): browser apps on other origins allowed to call (CORS)"),
    Option("log_level", str, "DEBUG, INFO, WARNING or ERROR"),
    Option("kv_max_key", int, "longest KV key, in bytes"),
    Option("kv_max_value", size, "largest KV value (its JSON text), in bytes"),
    Option("kv_max_staged_keys", int, "staged KV changes held before /commit"),
    Option("kv_max_staged_bytes", size, "bytes of staged KV changes held before /commit"),
    Option("kv_cache_keys", int, "committed KV keys kept in the in-memory cache"),
    Option("share_max_expiry", int, "longest share link lifetime, seconds"),
    Option("share_default_expiry", int, "share link lifetime when none is asked, seconds"),
    Option("share_lease", float, "with --records s3: seconds a download's reservation outlives a daemon that "
           "died serving it (renewed while the transfer runs)"),
]



def environment_example() -> str:
    """The settings file ``bin/install`` writes to ``/etc/default/filestoraged``:
    every setting as its environment variable, commented out, with its
    default and what it does (systemd's EnvironmentFile= reads it)."""
    lines = ["# filestoraged's settings, read by the service (EnvironmentFile=). Every one is",
             "# commented out at its default: remove the '#' and change the value to set it,",
             "# then `systemctl restart filestoraged` (or `systemctl reload filestoraged`).",
             "# The unit itself sets FILESTORAGED_HOST=127.0.0.1, FILESTORAGED_PORT=8080 and",
             "# FILESTORAGED_DATA_DIR=/var/lib/filestoraged; with socket activation",
             "# (filestoraged.socket) the address is the socket's ListenStream= instead.", ""]
    service = {"data_dir": "/var/lib/filestoraged"}
    for option in OPTIONS:
        default = service.get(option.name, option.default)
        if isinstance(default, bool):
            default = "1" if default else "0"
        lines += textwrap.wrap(option.help, 76, initial_indent="# ", subsequent_indent="# ")
        lines += ["# FILESTORAGED_%s=%s" % (option.name.upper(), default), ""]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(message + " (filestoraged --help lists every flag)")


# FILESTORAGED_* variables that are not daemon settings: the configuration
# file's path, the command-line client's, and the test suite's switches.
_OTHER_VARIABLES = ("FILESTORAGED_CONFIG", "FILESTORAGED_URL", "FILESTORAGED_TOKEN",
                    "FILESTORAGED_HANDOVER")  # the last: an upgrade in place (workers.upgrade)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="filestoraged",
        allow_abbrev=False,
        usage="filestoraged [serve] [options]\n"
              "       filestoraged fsck|token|backup|restore|move-to-s3|move-records ... (fsck --help, ...)\n"
              "       filestoraged [--url URL] put|get|rm|ls ... (filestoraged put --help, ...)",
        description="Store files over HTTP and give them back byte for byte. The options below are the "
        "daemon's (serve, the default); fsck verifies every stored object, token manages API tokens, backup "
        "and restore copy a serving store and make a store of the copy, and "
        "put, get, rm and ls are the client: each has its own --help.",
        epilog="Each flag can also be set as FILESTORAGED_<NAME> in the environment "
        "(e.g. FILESTORAGED_DATA_DIR) or as <name> in the [filestoraged] section "
        "of the --config file; flags win over the environment, which wins over the file. "
        "The client's server is --url URL, else $FILESTORAGED_URL, else http://127.0.0.1:8080.",
    )
    parser.add_argument("command", nargs="?", default="serve", help=argparse.SUPPRESS,
                        choices=["serve", "fsck", "token", "user", "group", "policy", "bucket", "backup", "restore",
                                 "move-to-s3", "move-records"])
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version="filestoraged " + __version__)
    # The subcommands' own flags: in their --help (cli.SUBCOMMAND_HELP), not the daemon's.
    parser.add_argument("--scope", action="append", default=[], metavar="SCOPE", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="", help=argparse.SUPPRESS)
    parser.add_argument("--expires-in", type=float, default=0.0, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.add_argument("--s3", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--group", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--policy", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--repair", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--to", metavar="DATABASE", help=argparse.SUPPRESS)  # move-records --to URL: its one word
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
    """Parse ``argv`` and merge it with the environment, the INI file and
    defaults; ``ConfigError`` naming the problem (and the closest known name
    for a typo) for anything it cannot take."""
    environ = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    check_flags(argv, parser)
    check_variables(environ, ["FILESTORAGED_" + option.name.upper() for option in OPTIONS] + list(_OTHER_VARIABLES))
    args = parser.parse_args(argv)
    ini = read_ini(args.config or environ.get("FILESTORAGED_CONFIG"), [option.name for option in OPTIONS])
    values: Dict[str, Any] = {}
    given: List[str] = []
    for option in OPTIONS:
        value = getattr(args, option.name)
        if value is None:
            variable = "FILESTORAGED_" + option.name.upper()
            raw = environ.get(variable, ini.get(option.name))
            if raw is not None:
                where = variable if variable in environ else "%s in %s" % (option.name, args.config or
                                                                          environ.get("FILESTORAGED_CONFIG"))
                try:
                    value = option.kind(raw)
                except argparse.ArgumentTypeError as error:
                    raise ConfigError("%s: %s" % (where, error)) from None
                except ValueError:
                    raise ConfigError("%s: %r is not %s" % (where, raw, _KINDS.get(option.kind, "a value it takes"))
                                      ) from None
        values[option.name] = option.default if value is None else value
        if value is not None:
            given.append(option.name)
    values["log_level"] = str(values["log_level"]).upper()
    config = Config(command=args.command, repair=args.repair, words=tuple(args.words), scopes=tuple(args.scope),
                    token_name=args.name, expires_in=args.expires_in, s3=args.s3, groups=tuple(args.group),
                    policies=tuple(args.policy), given=tuple(given), **values)
    if args.to is not None:
        if config.command != "move-records":
            raise ConfigError("--to goes with move-records: filestoraged move-records --to postgresql://...")
        config = replace(config, words=(args.to,) + config.words)
    if args.words and config.command not in ("token", "user", "group", "policy", "bucket", "backup", "restore",
                                             "move-records"):
        raise ConfigError("unexpected argument %r" % args.words[0])
    if config.command == "move-records" and (len(config.words) != 1 or not records_in_database(config.words[0])):
        raise ConfigError("filestoraged move-records takes the database: filestoraged move-records "
                          "postgresql://USER@HOST[:PORT]/DATABASE --data-dir DIR [--backend s3 ...]")
    if config.command in ("backup", "restore") and len(args.words) != 1:
        raise ConfigError("filestoraged %s takes one folder: filestoraged %s" % (
            config.command, "backup DEST" if config.command == "backup" else "restore BACKUP --data-dir DIR"))
    if config.repair and config.command != "fsck":
        raise ConfigError("--repair goes with fsck: filestoraged fsck --repair")
    check_values(config)
    return config
