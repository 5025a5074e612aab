"""64-bit FNV-1a: the hash KEP-5866 shards by, shared by the client and the apiserver.

The one copy: `shard.py` (the client's ranges and filter) and
`apiserver/sharding.py` (the server's ``shardSelector``) both import it, so
they cannot disagree, and neither side imports the other.
"""

from __future__ import annotations

SPACE = 1 << 64  # the hash space; 2^64 is the exclusive top of the last range
_OFFSET = 0xCBF29CE484222325
_PRIME = 0x100000001B3


def fnv1a_64(data: bytes | str) -> int:
    """64-bit FNV-1a, as Go's ``hash/fnv.New64a`` (strings hashed as UTF-8).

    >>> f"{fnv1a_64('foobar'):016x}", hex(fnv1a_64(""))
    ('85944171f73967e8', '0xcbf29ce484222325')
    """
    if isinstance(data, str):
        data = data.encode()
    h = _OFFSET
    for b in data:
        h = ((h ^ b) * _PRIME) & (SPACE - 1)
    return h


__all__ = ["SPACE", "fnv1a_64"]
