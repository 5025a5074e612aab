"""The apiserver's field-type check (schema.py): its quick pass agrees with the full walk.

`type_causes` first runs `_ok`, which visits a body's own fields without
spelling out paths, and only walks the body again for the causes when that
finds something. Hypothesis: for bodies shaped like every modelled kind
(mostly the right types, any JSON value here and there, unknown fields,
nulls), `_ok` is true exactly when the walk finds no cause, so the quick
pass neither lets a wrong type through nor refuses a right one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.k8s_watch.apiserver import schema  # noqa: E402

KINDS = {
    "Pod": schema.POD,
    "ConfigMap": schema.CONFIGMAP,
    "Lease": schema.LEASE,
    "Namespace": schema.NAMESPACE,
    "Event": schema.EVENT,
}

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.text(max_size=2),
)
any_json = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=2)
    ),
    max_leaves=4,
)


@st.composite
def shaped(draw: st.DrawFn, t: Any, depth: int = 0) -> Any:
    """A value for type ``t``: of that type most of the time, anything else sometimes."""
    if depth > 5 or draw(st.integers(0, 7)) == 0:
        return draw(any_json)
    if isinstance(t, str):
        return draw(
            {
                schema.S: st.text(max_size=2),
                schema.INT: st.integers(-3, 3),
                schema.B: st.booleans(),
                schema.OBJ: st.dictionaries(st.text(max_size=2), any_json, max_size=2),
            }[t]
        )
    if isinstance(t, tuple):
        item = shaped(t[1], depth + 1)
        if t[0] == "list":
            return draw(st.lists(item, max_size=3))
        return draw(st.dictionaries(st.text(max_size=2), item, max_size=3))
    keys = draw(st.lists(st.sampled_from(sorted(t)), unique=True, max_size=5))
    out = {k: draw(shaped(t[k], depth + 1)) for k in keys}
    if draw(st.booleans()):
        out[draw(st.text(max_size=3))] = draw(any_json)  # a field the type does not name
    return out


def walk_causes(value: Any, t: Any) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    schema._walk(value, t, "", out)
    return out


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(KINDS)).flatmap(lambda k: st.tuples(st.just(k), shaped(KINDS[k]))))
def test_the_quick_pass_agrees_with_the_walk(kind_and_body: tuple[str, Any]) -> None:
    kind, body = kind_and_body
    t = KINDS[kind]
    causes = walk_causes(body, t)
    assert schema._ok(body, t) == (not causes), (kind, body, causes)
    assert schema.type_causes(body, t) == causes


def test_a_wrong_type_deep_in_a_pod_is_found_by_both() -> None:
    pod = {
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "image": 5}]},
    }
    assert schema._ok(pod, schema.POD) is False
    assert schema.type_causes(pod, schema.POD) == [
        (
            "FieldValueTypeInvalid",
            "spec.containers[1].image",
            "Invalid value: 5: must be of type string",
        )
    ]
    pod["spec"]["containers"][1]["image"] = "i"
    pod["metadata"]["labels"]["n"] = 1
    assert schema.type_causes(pod, schema.POD)[0][1] == "metadata.labels[n]"
    pod["metadata"]["labels"]["n"] = None  # null is the zero value: accepted
    assert schema._ok(pod, schema.POD) and schema.type_causes(pod, schema.POD) == []
