"""Each worker's counters in a file, so that ``/metrics`` from any worker
shows the totals of all.

A worker writes its snapshot (``Metrics.snapshot``) to
``<data-dir>/run/metrics/<pid>.json`` from its accept loop, at most every
``FLUSH_EVERY`` seconds and only when something was counted, and once more
as it stops; a scrape reads the others' files. So another worker's counts
are at most that old. The parent renames a dead worker's file
``retired-<pid>.json``: its counters still count (totals never go back),
its gauges (connections, memory) no longer do.
"""

from __future__ import annotations

import json
import logging
import os
from typing import List, Tuple

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.5  # seconds
_RETIRED = "retired-"


class MetricsFiles:
    def __init__(self, run_dir: str) -> None:
        self.folder = os.path.join(run_dir, "metrics")
        os.makedirs(self.folder, exist_ok=True)
        self._failing = False  # the last write failed: said once, until one succeeds

    def clear(self) -> None:
        """Forget every file (the parent, before the first worker starts)."""
        for name in os.listdir(self.folder):
            os.unlink(os.path.join(self.folder, name))

    def write(self, snapshot: dict) -> bool:
        """Replace this worker's file; False when it cannot be written (a
        full disk, a read-only one): the old file stays, and the worker
        serves on (the accept loop that calls this must never die of it)."""
        path = os.path.join(self.folder, "%d.json" % snapshot["pid"])
        temporary = path + ".new"
        try:
            with open(temporary, "w") as out:
                json.dump(snapshot, out, separators=(",", ":"))
            os.replace(temporary, path)  # readers see the old file or the new one, never half
        except OSError as error:
            if not self._failing:
                log.warning("cannot write the metrics file %s (%s): other workers' /metrics show older counts "
                            "until it can be written again", path, error)
            self._failing = True
            try:
                os.unlink(temporary)
            except OSError:
                pass
            return False
        if self._failing:
            log.warning("the metrics file %s is written again", path)
        self._failing = False
        return True

    def others(self, pid: int) -> List[Tuple[dict, bool]]:
        """The snapshots of every worker but ``pid``, each with whether it runs."""
        found = []
        for name in os.listdir(self.folder):
            if not name.endswith(".json") or name == "%d.json" % pid:
                continue
            try:
                with open(os.path.join(self.folder, name)) as source:
                    found.append((json.load(source), not name.startswith(_RETIRED)))
            except (OSError, ValueError):  # renamed or retired meanwhile: the next scrape has it
                log.debug("metrics file %s skipped", name)
        return found

    def retire(self, pid: int) -> None:
        """Keep a dead worker's counters, but no longer its gauges."""
        try:
            os.replace(os.path.join(self.folder, "%d.json" % pid),
                       os.path.join(self.folder, "%s%d.json" % (_RETIRED, pid)))
        except FileNotFoundError:
            pass
