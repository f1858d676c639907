"""WebDAV: the store mounted as a drive (``face``), its XML (``props``) and a
bucket seen as folders and files (``tree``)."""
