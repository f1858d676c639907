"""Moved: streaming a stored object is ``web.transfer`` (this name also
meant a serving process, in workers/). Kept so old imports work."""

from .transfer import Served, Wire, serve  # noqa: F401
