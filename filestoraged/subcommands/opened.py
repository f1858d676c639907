"""The store's records as a subcommand that manages who may do what
(``token``, ``user``, ``group``, ``policy``) opens them: the daemon's own,
beside a serving daemon, probed as the daemon probes them."""

from __future__ import annotations

import os
import sys
from typing import Optional

from ..workers.startup import no_data_dir


def open_records(config):
    """The records, or an exit status (the reason said on stderr)."""
    from ..deployment import deployment_for
    from ..errors import FileStoreError

    if not os.path.isdir(config.data_dir):  # never a new, empty store the service will not see
        return no_data_dir(config)
    deployment = deployment_for(config)
    records, throttle = deployment.open_records()
    if throttle is not records:
        throttle.close()
    try:  # as the daemon does: a store that writes blind would let two take the same name
        deployment.probe(records)
    except FileStoreError as error:
        records.close()
        print("filestoraged %s: %s" % (config.command, error.text), file=sys.stderr)
        return 1
    return records


def when(stamp: Optional[float]) -> str:
    from ..base.timestamps import iso_utc

    return "-" if stamp is None else iso_utc(stamp)
