"""Memory the daemon frees goes back to the system, or is used again.

Two settings of glibc's allocator, made once at start (workers inherit them):

- A fixed mmap threshold. glibc serves an allocation of 128 KiB or more
  with its own ``mmap`` and returns it to the system when freed, but after
  the first such free it raises that threshold to the size freed (up to
  32 MiB), so from then on a 512 KiB block buffer comes from the heap and
  stays there when freed: RSS then keeps the peak of every burst for good
  (120 stalled downloads took a worker from 30 to 218 MiB, and it stayed at
  202 MiB once they were gone). Fixed, big buffers stay in ``mmap`` (it fell
  back to 43 MiB).
- Two arenas. glibc gives a thread that finds the arena it wants locked an
  arena of its own, up to eight per core, and each arena keeps the free
  chunks its threads left between live ones. A worker's short-lived request
  threads spread over 16 arenas on two cores, and the free chunks kept in
  them grew for as long as the daemon ran (a 12-minute soak: 23 to 29 MiB
  free, still rising; with two arenas 6 to 13 MiB, and 8 MiB less RSS per
  worker after 5 minutes). Python code allocates under the GIL, so threads
  seldom contend for an arena anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter numbers (malloc.h)
M_ARENA_MAX = -8
BIG = 128 * 1024  # glibc's own starting threshold, kept fixed
ARENAS = 2


def tune_malloc() -> bool:
    """Keep allocations of ``BIG`` bytes or more out of the heap and use at
    most ``ARENAS`` arenas (glibc); False where the C library has no
    ``mallopt`` or refuses (nothing to do there)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    done = True
    for parameter, value in ((M_MMAP_THRESHOLD, BIG), (M_ARENA_MAX, ARENAS)):
        if mallopt(parameter, value) != 1:
            log.debug("mallopt(%d, %d) refused", parameter, value)
            done = False
    return done
