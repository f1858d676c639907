"""Records: small JSON documents under keys, each change a compare-and-swap
against the version read, in SQLite (``local``, one machine) or in the S3
bucket beside the objects (``bucket``, every daemon sharing it).

What rides on them (share links, tokens, the KV store, quota and attempt
limits) needs nothing but this interface, so every face can work on every
daemon over one durable store (``--records s3``).
"""
