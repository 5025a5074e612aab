"""Griffe extension: gochan's plain-text docstrings as Markdown for mkdocstrings.

gochan's docstrings are written for ``help()`` and for doctest, in a light
reStructuredText style. Rendered as Markdown, a doctest session would turn
into nested block quotes (``>>>``) and ``Chan[int](1)`` into a link. This
extension, run on every object before mkdocstrings renders it:

* fences each doctest session (a ``>>>`` line up to the next blank line) as
  a ``pycon`` code block, keeping its indentation;
* turns Sphinx roles (``:class:`Name```) into code spans;
* turns a paragraph's closing ``::`` (reST's literal-block marker) into
  ``:``, the indented block after it being a Markdown code block already.

Docstrings themselves stay as they are: ``help()`` and doctest read them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj):`~?([^`]+)`")


def markdown(text: str) -> str:
    """The Markdown form of a docstring (see the module's docstring)."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            fence = not fence
        if not fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        if not fence:
            line = _ROLE.sub(r"``\1``", line)
            if line.rstrip().endswith("::") and not line.rstrip().endswith(":::"):
                line = line.rstrip()[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


class DocstringsAsMarkdown(griffe.Extension):
    """Rewrite each docstring's text with :func:`markdown`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
