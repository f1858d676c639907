"""Memory the daemon frees goes back to the system.

glibc serves an allocation of 128 KiB or more with its own ``mmap`` and
returns it to the system when freed, but after the first such free it
raises that threshold to the size freed (up to 32 MiB), so from then on a
512 KiB block buffer comes from the heap and stays there when freed: RSS
then keeps the peak of every burst for good (120 stalled downloads took a
worker from 30 to 218 MiB, and it stayed at 202 MiB once they were gone).
Fixing the threshold keeps big buffers in ``mmap`` (it fell back to 43 MiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
BIG = 128 * 1024  # glibc's own starting threshold, kept fixed


def return_big_buffers() -> bool:
    """Keep allocations of ``BIG`` bytes or more out of the heap (glibc);
    False where the C library has no ``mallopt`` (nothing to do there)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    if mallopt(M_MMAP_THRESHOLD, BIG) != 1:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
        return False
    return True
