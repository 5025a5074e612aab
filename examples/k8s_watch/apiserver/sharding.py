"""``shardSelector``: server-side sharded list and watch (KEP-5866, alpha in Kubernetes 1.36).

A LIST or WATCH with ``shardSelector`` returns only the objects whose
hashed metadata field falls in one of the requested ranges. The grammar is
the apiserver's (``k8s.io/apiserver/pkg/sharding.Parse``): a CEL-style
expression made only of ``shardRange()`` calls joined by ``||``::

    shardRange(object.metadata.uid, '0x0000000000000000', '0x4000000000000000')
    shardRange(object.metadata.uid, '0x0', '0x8000000000000000') || shardRange(...)

- the field path is object-rooted (``object.metadata.uid`` or
  ``object.metadata.namespace``, the two the KEP supports), not the
  ``fieldSelector`` form;
- the bounds are quoted ``0x`` hex strings, lower bound inclusive, upper
  bound exclusive, over the 64-bit FNV-1a hash of the field's value; the
  full space is ``['0x0', '0x10000000000000000')`` (2^64 as the exclusive
  top).

A LIST answered through a shard selector echoes it in
``metadata.shardInfo.selector`` (``meta/v1 ShardInfo``). A selector that
does not parse is a 400 ``BadRequest``, like a label selector that does not
(the real server's exact message may differ). uid and namespace never change,
so an object never moves between shards: a watch needs no synthetic
ADDED/DELETED for shard transitions, only the filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..fnv import SPACE, fnv1a_64  # the client's shard.py hashes with the same one

FIELDS = ("object.metadata.uid", "object.metadata.namespace")


class ShardSelectorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ShardRange:
    field: str
    start: int  # inclusive
    end: int  # exclusive, at most 2^64

    def matches(self, obj: Mapping[str, Any]) -> bool:
        md = obj.get("metadata") or {}
        value = str(md.get(self.field.rpartition(".")[2]) or "")
        return self.start <= fnv1a_64(value) < self.end


@dataclass(frozen=True, slots=True)
class ShardSelector:
    text: str
    ranges: tuple[ShardRange, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.ranges

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return not self.ranges or any(r.matches(obj) for r in self.ranges)


_CALL = re.compile(
    r"""\s*shardRange\s*\(\s*([A-Za-z_.]+)\s*,\s*(['"])(0[xX][0-9a-fA-F]+)\2\s*,"""
    r"""\s*(['"])(0[xX][0-9a-fA-F]+)\4\s*\)\s*"""
)


def _bound(text: str, expr: str) -> int:
    value = int(text, 16)
    if value > SPACE:
        raise ShardSelectorError(
            f"invalid shard selector {expr!r}: {text} is beyond the hash space (max 0x1{'0' * 16})"
        )
    return value


def parse_shard_selector(text: str | None) -> ShardSelector:
    """Parse a ``shardSelector``; an empty one selects everything.

    >>> s = parse_shard_selector("shardRange(object.metadata.uid, '0x0', '0x8000000000000000')")
    >>> s.ranges[0].end == 1 << 63
    True
    """
    if not text or not text.strip():
        return ShardSelector("")
    ranges: list[ShardRange] = []
    for term in text.split("||"):
        m = _CALL.fullmatch(term)
        if m is None:
            raise ShardSelectorError(
                f"invalid shard selector {text!r}: expected shardRange(<field>, '<0xstart>', "
                "'<0xend>') terms joined by ||"
            )
        field = m.group(1)
        if field not in FIELDS:
            raise ShardSelectorError(
                f"invalid shard selector {text!r}: unsupported field path {field!r} "
                f"(supported: {', '.join(FIELDS)})"
            )
        start, end = _bound(m.group(3), text), _bound(m.group(5), text)
        if start >= end:
            raise ShardSelectorError(
                f"invalid shard selector {text!r}: start {m.group(3)} must be below end "
                f"{m.group(5)}"
            )
        ranges.append(ShardRange(field, start, end))
    return ShardSelector(text, tuple(ranges))


__all__ = [
    "FIELDS",
    "SPACE",
    "ShardRange",
    "ShardSelector",
    "ShardSelectorError",
    "fnv1a_64",
    "parse_shard_selector",
]
