"""Upload-request links ("file drops"): a link an owner makes for a folder
of a bucket, through which whoever holds it sends files in, and nothing
else (``links``: the records; ``names``: where each file lands)."""
