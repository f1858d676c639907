"""The ``filestoraged`` command: serve (the default); the operator's
subcommands (fsck, token, user, group, policy, bucket, backup, restore,
move-to-s3, move-records:
``subcommands``); the client's put, get, rm and ls (``client``)."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from . import config as config_module
from . import logs
from .workers import process, worker_count
from .workers.startup import fail, guarded

CLIENT_COMMANDS = ("put", "get", "rm", "ls")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit status 0; 2 for bad configuration, 1 for an environment that will
    not serve (a port in use, a data directory that cannot be written, a
    missing dependency): each one line on stderr, never a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .client.arguments import first_word

    if first_word(argv) in CLIENT_COMMANDS:  # the client: put, get, rm, ls
        from .client.arguments import main as client_main

        return client_main(argv)
    if argv and argv[0] in ("fsck", "token", "user", "group", "policy", "bucket", "backup", "restore",
                            "move-to-s3", "move-records") and (
            "--help" in argv or "-h" in argv):
        from .subcommands.help import SUBCOMMAND_HELP

        words = [word for word in argv if not word.startswith("-")][:2]
        print(SUBCOMMAND_HELP.get(" ".join(words), SUBCOMMAND_HELP[argv[0]]), end="")
        return 0
    try:
        config = config_module.load(argv)
    except config_module.ConfigError as error:
        return fail(str(error), 2)
    logs.configure(config.log_level)
    if config.command == "serve":
        return guarded(config, lambda: run_daemon(config, argv))
    from .base.ownership import for_its_owner
    from .errors import FileStoreError

    from .subcommands.buckets import run_bucket
    from .subcommands.copies import run_backup, run_move, run_move_records
    from .subcommands.fsck import run_fsck
    from .subcommands.teams import run_teams
    from .subcommands.token import run_token

    try:
        with for_its_owner(config.data_dir):  # run as root on the service's folder: what it makes stays the service's
            if config.command == "fsck":
                return guarded(config, lambda: run_fsck(config))
            if config.command == "token":
                return run_token(config)
            if config.command in ("user", "group", "policy"):
                return run_teams(config)
            if config.command == "bucket":
                return run_bucket(config)
            if config.command in ("backup", "restore"):
                return guarded(config, lambda: run_backup(config))
            if config.command == "move-records":
                return guarded(config, lambda: run_move_records(config))
            return guarded(config, lambda: run_move(config))
    except FileStoreError as error:
        return fail("filestoraged %s: %s" % (config.command, error.text), 1)


def run_daemon(config, argv: Sequence[str]) -> int:
    """One process, or a parent with worker processes (``--workers``)."""
    from .base.memory import tune_malloc

    tune_malloc()  # before any thread or worker starts: they inherit it
    from .deployment import deployment_for

    deployment_for(config).check_store()  # before any fork: a store that would race silently is one line, exit 1
    count = worker_count(config.workers)
    if count == 1:
        return process.serve_process(config)
    from .workers.arbiter import Arbiter

    return Arbiter(config, argv).run()
