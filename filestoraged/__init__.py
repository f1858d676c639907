"""filestoraged: a self-hosted file store served over HTTP by one Python process."""

__version__ = "0.1.0"
