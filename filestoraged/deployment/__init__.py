"""The deployment modes (``--records``): one machine's workers over
``meta.db`` (``local``), or any number of daemons over one bucket (``s3``)
or over one PostgreSQL database (``postgresql://…``, the bytes in an S3
store). ``deployment_for`` is the one place that asks which."""

from __future__ import annotations

import time
from typing import Callable

from ..config.checks import records_in_database
from .base import Deployment


def deployment_for(config, clock: Callable[[], float] = time.time) -> Deployment:
    """The deployment the configuration names."""
    from .bucket import SharedBucket
    from .database import SharedDatabase
    from .local import OneMachine

    if records_in_database(config.records):
        return SharedDatabase(config, clock)
    modes = {"local": OneMachine, "s3": SharedBucket}
    return modes[config.records](config, clock)
