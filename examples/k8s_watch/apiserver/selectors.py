"""``labelSelector`` and ``fieldSelector``: parsing and matching.

The grammar is apimachinery's: labels take ``k``, ``!k``, ``k=v``, ``k==v``,
``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k>1``, ``k<1``, joined by
commas; fields take ``k=v``, ``k==v`` and ``k!=v`` with backslash escapes.
A parse failure raises `SelectorError`, which the REST layer turns into a
400 ``BadRequest`` like the real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        try:
            have, want = int(str(value)), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == ">" else have < want


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")


def _validate_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise SelectorError(
            f'unable to parse requirement: key: Invalid value: "{key}": prefix part must be '
            "a lowercase RFC 1123 subdomain"
        )
    if not name or len(name) > 63 or not _NAME.match(name):
        raise SelectorError(
            f'unable to parse requirement: key: Invalid value: "{key}": name part must consist '
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character"
        )


def _validate_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise SelectorError(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": a valid label '
            "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a label selector.

    >>> s = parse_label_selector("app=web, tier in (a,b), !legacy")
    >>> s.matches({"app": "web", "tier": "b"}), s.matches({"app": "web", "tier": "c"})
    (True, False)
    """
    if not text or not text.strip():
        return LabelSelector()
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip():
                raise SelectorError(f"unable to parse requirement: unexpected '{text[pos:]}'")
            break
        tokens.append(m.group(1))
        pos = m.end()
    reqs: list[Requirement] = []
    i = 0

    def expect_ident(what: str) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i] in ("==", "!=", "=", "!", "(", ")", ",", ">", "<"):
            found = tokens[i] if i < len(tokens) else ""
            raise SelectorError(f"unable to parse requirement: found '{found}', expected: {what}")
        tok = tokens[i]
        i += 1
        return tok

    while i < len(tokens):
        if tokens[i] == "!":
            i += 1
            key = expect_ident("identifier")
            _validate_key(key)
            reqs.append(Requirement(key, "!"))
        else:
            key = expect_ident("identifier")
            _validate_key(key)
            op = tokens[i] if i < len(tokens) else ","
            if op == ",":
                reqs.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                i += 1
                value = ""
                if i < len(tokens) and tokens[i] != ",":
                    value = expect_ident("identifier")
                _validate_value(value)
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            elif op in (">", "<"):
                i += 1
                value = expect_ident("integer")
                if not re.fullmatch(r"-?\d+", value):
                    raise SelectorError(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                        f"must be an integer: {value}"
                    )
                reqs.append(Requirement(key, op, (value,)))
            elif op in ("in", "notin"):
                i += 1
                if i >= len(tokens) or tokens[i] != "(":
                    found = tokens[i] if i < len(tokens) else ""
                    raise SelectorError(
                        f"unable to parse requirement: found '{found}', expected: '('"
                    )
                i += 1
                values: list[str] = []
                while True:
                    if i < len(tokens) and tokens[i] == ")" and not values:
                        break
                    value = expect_ident("identifier")
                    _validate_value(value)
                    values.append(value)
                    if i < len(tokens) and tokens[i] == ",":
                        i += 1
                        continue
                    break
                if i >= len(tokens) or tokens[i] != ")":
                    found = tokens[i] if i < len(tokens) else ""
                    raise SelectorError(
                        f"unable to parse requirement: found '{found}', expected: ')'"
                    )
                i += 1
                reqs.append(Requirement(key, op, tuple(values)))
            else:
                raise SelectorError(
                    f"unable to parse requirement: found '{op}', expected: in, notin, =, ==, "
                    "!=, gt, lt"
                )
        if i < len(tokens):
            if tokens[i] != ",":
                raise SelectorError(
                    f"unable to parse requirement: found '{tokens[i]}', expected: ','"
                )
            i += 1
            if i >= len(tokens):
                raise SelectorError("unable to parse requirement: found '', expected: identifier")
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True, slots=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal?, value)

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(f, "") == v) == eq for f, eq, v in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=!":
                raise SelectorError(f"invalid field selector: invalid escape sequence in '{value}'")
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse_field_selector(text: str | None, supported: Callable[[str], bool]) -> FieldSelector:
    """Parse a field selector; ``supported(field)`` says which field labels exist.

    >>> s = parse_field_selector("status.phase!=Failed,metadata.name=a", lambda f: True)
    >>> s.matches({"status.phase": "Running", "metadata.name": "a"})
    True
    """
    if not text or not text.strip():
        return FieldSelector()
    terms: list[tuple[str, bool, str]] = []
    for part in _split_unescaped(text, ","):
        m = re.match(
            r"^([^=!]*?)(==|!=|=)(.*)$", part.replace("\\=", "\x00").replace("\\!", "\x01")
        )
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field = m.group(1).strip()
        raw = m.group(3).replace("\x00", "\\=").replace("\x01", "\\!")
        if not field:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        if not supported(field):
            raise SelectorError(f"field label not supported: {field}")
        terms.append((field, m.group(2) != "!=", _unescape(raw)))
    return FieldSelector(tuple(terms))
