"""``transport.loads_json``: the transports' JSON decode is ``json.loads``, exactly.

Every transport (and the W9 bench's thread baseline) decodes answers and watch
lines with ``loads_json``, a shortcut past ``json.loads``'s encoding guess and
blank stripping for UTF-8 JSON with nothing around it. What this proves, with
hypothesis: for any JSON value, encoded as UTF-8, UTF-16 or UTF-32, with or
without a BOM, with or without blanks around it, the result equals
``json.loads``'s; for any bytes at all (bad JSON, bad UTF-8, trailing junk, an
empty body) it raises the same exception with the same message, or returns the
same value when ``json.loads`` accepts them.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from examples.k8s_watch.transport import decode_event, loads_json

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
ENCODINGS = st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"]
)
BLANKS = st.text(alphabet=" \t\r\n", max_size=3)


def outcome(fn: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "value", fn(raw)
    except Exception as e:  # the type and the message must match
        return type(e).__name__, str(e)


@given(JSON_VALUES, ENCODINGS, BLANKS, BLANKS, st.booleans())
def test_any_json_value_in_any_encoding_decodes_as_json_loads_does(
    value: Any, encoding: str, before: str, after: str, ascii_only: bool
) -> None:
    text = before + json.dumps(value, ensure_ascii=ascii_only) + after
    raw = text.encode(encoding)
    assert outcome(loads_json, raw) == outcome(json.loads, raw)


@given(st.binary(max_size=40))
def test_any_bytes_give_json_loads_result_or_error(raw: bytes) -> None:
    assert outcome(loads_json, raw) == outcome(json.loads, raw)


@given(JSON_VALUES, st.binary(min_size=1, max_size=8))
def test_junk_after_a_value_is_json_loads_error(value: Any, junk: bytes) -> None:
    raw = json.dumps(value).encode() + junk
    assert outcome(loads_json, raw) == outcome(json.loads, raw)


def test_a_pod_decodes_to_the_same_dict_and_a_watch_line_to_its_event() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "wéb"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    raw = json.dumps(pod).encode()
    assert loads_json(raw) == pod == json.loads(raw)
    line = json.dumps({"type": "ADDED", "object": pod}).encode()
    assert decode_event(line) == {"type": "ADDED", "object": pod}


def test_bad_json_is_the_json_loads_error() -> None:
    for raw in (b"", b"{", b'{"a": }', b"[1] [2]", b"\xff\xfe\x00", b"nul"):
        assert outcome(loads_json, raw) == outcome(json.loads, raw)
        assert outcome(loads_json, raw)[0] != "value"


def test_the_decoders_doctests() -> None:
    import doctest

    from examples.k8s_watch import transport, transports

    for module in (transport, transports):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
