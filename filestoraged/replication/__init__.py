"""A second copy somewhere else: the sender that empties the durable
outbox (``catalog.outbox``, written by the commit of each change a
bucket's rule asks for: ``catalog.replication``) into an S3 target.
docs/replication.md."""
