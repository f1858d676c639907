"""The lowest floor: generic parts every other floor may use and none of
them owns: threads and pools, the SQLite base, an in-memory LRU, the
cross-process lock and counters, header-value checks. They import nothing
of the project but ``errors``."""
