"""Moved to ``filestoraged.base.header_values`` (its name says its room); this name stays for whoever
imported it here."""

from ..base.header_values import (  # noqa: F401
    MAX_FILE_NAME,
    MAX_MEDIA_TYPE,
    file_name,
    is_file_name,
    is_media_type,
    media_type,
    stored_media_type,
)
