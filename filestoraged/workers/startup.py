"""What stops a daemon from starting, as one line on stderr and an exit
status (2 for bad configuration, 1 for an environment that will not serve),
never a traceback: for the single process, the parent and each worker."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
from typing import Callable, Optional, Set

from ..access.s3keys import ServerKeyError
from ..errors import BackendUnavailable, BadRequest
from ..logs import priority
from ..records.bucket import UnsafeStore
from ..web.tls import TlsConfigError
from .dirlock import DataDirInUse
from .listeners import Unbound


# Data directories this process began to serve (their start line said so):
# never removed, whatever stops the daemon after.
_started: Set[str] = set()


def start_line(config, url: str, listening_host: str, workers: int = 1, s3_url: Optional[str] = None,
               cpus: str = "") -> None:
    """The one line a start prints: where it serves (the S3 API too, with
    ``--s3-api``), where the data goes, which access control is in force
    and why, and how to stop it."""
    from .. import __version__
    from ..access.gate import resolve_mode

    _started.add(os.path.abspath(config.data_dir))
    mode, why = resolve_mode(config.auth, listening_host, config.trusted_proxy)
    print(priority(logging.INFO) + "filestoraged %s: serving %s%s%s, data in %s (%s backend%s); "
          "access control %s (%s); stop with Ctrl-C or SIGTERM"
          % (__version__, url, " (the key-value store alone, at /)" if config.kv_at_root else "",
             " and the S3 API on %s" % s3_url if s3_url else "",
             os.path.abspath(config.data_dir), config.backend,
             ", %d workers%s" % (workers, cpus) if workers > 1 else cpus, mode, why), file=sys.stderr)


def fail(message: str, status: int) -> int:
    print(priority(logging.ERROR) + "filestoraged: " + message, file=sys.stderr)
    return status


def guarded(config, start: Callable[[], int]) -> int:
    """``start()``'s exit status, or the one for what stopped it. A start
    that failed leaves no data directory behind that it made itself."""
    fresh = not os.path.exists(config.data_dir)
    try:
        return start()
    except DataDirInUse as error:
        return fail(str(error), 1)
    except (UnsafeStore, BackendUnavailable) as error:  # --records s3: the store's answer at start-up
        message, status = error.text, 1
    except (TlsConfigError, ServerKeyError, BadRequest) as error:  # (BadRequest: --records' address)
        message, status = error.text, 2
    except ImportError as error:
        message, status = "the %s backend needs %s: pip install %s" % (config.backend, error.name, error.name), 1
    except OSError as error:
        message, status = environment_problem(config, error), 1
    if fresh and os.path.abspath(config.data_dir) not in _started:  # it never served: nothing in it is anyone's
        shutil.rmtree(config.data_dir, ignore_errors=True)
    return fail(message, status)


def environment_problem(config, error: OSError) -> str:
    if isinstance(error, Unbound):
        if error.errno == errno.EADDRINUSE:
            subject = ("port %d on %s" % (error.port, error.host) if error.setting == "--port"
                       else "the S3 API's address %s:%d" % (error.host, error.port))
            return "%s is in use: stop what holds it, or pass another %s" % (subject, error.setting)
        if error.no_such_address:
            return "cannot listen on %r: give an address of this machine with %s" % (
                error.host, "--host" if error.setting == "--port" else error.setting)
        return "cannot listen on %s:%d (%s): pass another %s" % (error.host, error.port, error.strerror,
                                                                 error.setting)
    where = getattr(error, "filename", None) or config.data_dir
    return "cannot use the data directory %s (%s): check --data-dir and its permissions" % (
        where, error.strerror or error)


def no_data_dir(config) -> int:
    """A subcommand never creates a data directory: one line naming where it looked."""
    return fail("no data directory at %s: name it with --data-dir or FILESTORAGED_DATA_DIR "
                "(the service's is /var/lib/filestoraged)" % os.path.abspath(config.data_dir), 2)
