"""What ``filestoraged fsck`` checks of share links: values that go into
response headers (a link's content type and file name) must still be
valid, whatever wrote the records."""

from __future__ import annotations

import os
from typing import List

from ..base.header_values import is_file_name, is_media_type
from ..records.local import LocalRecords
from .sweep import LINKS

_CHECKED = {"content_type": ("content type", is_media_type), "filename": ("file name", is_file_name)}

def check_links(path: str, repair: bool) -> List[str]:
    """Share links in ``meta.db`` (``--records local``) keep their own
    content type and file name: each value no header may carry, as a line
    for the report (cleared with ``repair``)."""
    refused_values: List[str] = []
    if not os.path.exists(path):
        return refused_values
    records = LocalRecords(path)
    try:
        for key in list(records.keys(LINKS)):
            record = records.get(key)
            if record is None:
                continue
            refused = [field for field in _CHECKED if record.value.get(field) is not None
                       and not _CHECKED[field][1](record.value[field])]
            for field in refused:
                refused_values.append("link %s: %s %s" % (key[len(LINKS):], _CHECKED[field][0],
                                                          ascii(record.value[field][:120])))
            if refused and repair:
                records.update(key, lambda value, refused=refused: None if value is None else
                               dict(value, **{field: None for field in refused}))
    finally:
        records.close()
    return refused_values
