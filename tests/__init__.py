"""The filestoraged test suite (unittest). Run it with ``bin/test``."""
