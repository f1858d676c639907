"""Whether the settings agree: each within its range, with each other
(``--records s3`` needs the S3 backend), and with the environment (the S3
backend's credentials); the first that does not is a ``ConfigError``
naming it. Asked once, as the settings are loaded."""

from __future__ import annotations

import os
from typing import Tuple

from .sources import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def records_in_database(records: str) -> bool:
    """Whether ``--records`` names a PostgreSQL database."""
    return records.startswith(("postgresql://", "postgres://"))


def check_values(config) -> None:
    """``ConfigError`` naming the first setting of ``config`` that is out of
    its range or disagrees with another, or with the environment."""
    checks = [
        (config.backend in ("disk", "memcached", "s3"), "--backend must be disk, memcached or s3"),
        (config.records in ("local", "s3") or records_in_database(config.records),
         "--records must be local, s3 or postgresql://USER@HOST[:PORT]/DATABASE"),
        (config.records != "s3" or config.backend == "s3", "--records s3 needs --backend s3 (the bucket holds them)"),
        (not records_in_database(config.records) or config.backend == "s3",
         "--records postgresql:// needs --backend s3 (the bytes are shared by every daemon there)"),
        (config.backend != "s3" or (config.s3_endpoint.startswith(("http://", "https://")) and config.s3_bucket),
         "--backend s3 needs --s3-endpoint http(s)://HOST[:PORT] and --s3-bucket NAME"),
        (config.cache in ("", "memcached") and not (config.cache and config.backend == "memcached"),
         "--cache must be memcached (in front of the disk or s3 backend), or not set"),
        (config.backend != "s3" or config.command not in ("serve", "token", "user", "group", "policy", "bucket")
         or all(_aws_credentials()),
         "--backend s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"),
        (config.auth in ("auto", "off", "writes", "all"), "--auth must be off, writes, all or auto"),
        (config.cpu_affinity in ("auto", "one", "off"), "--cpu-affinity must be auto, one or off"),
        (config.webdav_macos_files in ("refuse", "keep"), "--webdav-macos-files must be refuse or keep"),
        (config.log_level in LOG_LEVELS, "--log-level must be one of " + ", ".join(LOG_LEVELS)),
        (0 <= config.port <= 65535, "--port must be 0-65535 (0 picks a free one), not %d" % config.port),
        (config.max_connections >= 1, "--max-connections must be at least 1"),
        (config.max_size >= 1, "--max-size must be at least 1 byte"),
        (min(config.idle_timeout, config.head_timeout, config.shutdown_grace) > 0,
         "--idle-timeout, --head-timeout and --shutdown-grace must be above 0"),
        (config.min_body_rate > 0 and config.min_send_rate > 0, "--min-body-rate and --min-send-rate must be above 0"),
        (config.max_client_connections >= 0, "--max-client-connections must be 0 (no cap) or more"),
        (config.share_lease >= 3, "--share-lease must be at least 3 seconds"),
        (1 <= config.share_default_expiry <= config.share_max_expiry,
         "--share-default-expiry (%d) must be from 1 to --share-max-expiry (%d)"
         % (config.share_default_expiry, config.share_max_expiry)),
        (not config.oidc_issuer or (config.oidc_client_id and config.oidc_client_secret),
         "--oidc-issuer needs --oidc-client-id and --oidc-client-secret"),
        (not config.oidc_issuer or _oidc_issuer_ok(config.oidc_issuer),
         "--oidc-issuer must be https://HOST[/PATH] (http:// only on a loopback address)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _oidc_issuer_ok(issuer: str) -> bool:
    from ..errors import BadRequest
    from ..wire.oidc import check_issuer

    try:
        check_issuer(issuer)
    except BadRequest:
        return False
    return True


def _aws_credentials() -> Tuple[str, str]:
    return os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_SECRET_ACCESS_KEY", "")
