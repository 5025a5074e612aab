"""Every ```python block in docs/**/*.md and README.md runs, and its output is checked.

The rules, kept small on purpose:

* A block fenced ```python runs as a module of its own: a fresh namespace with
  ``__name__ == "__main__"``. Blocks fenced any other way (```go, ```text,
  ```sh) are not run.
* If the next fenced block after it, with only blank lines between, is fenced
  ```output, everything the python block printed to stdout must equal that
  block's text exactly (every line, including the last newline).
* Continuation: a python block preceded by the line ``<!-- continue -->``
  (blank lines may sit between) shares its namespace with the python block
  before it on the same page. The test re-runs that earlier block (and its own
  predecessors, if it too continues one) with its output discarded, then runs
  this block, so every test stands alone and they may run in any order.
* Code runs as if it were a file named ``example.py`` holding the block (or,
  for a continuation, the blocks of its chain one after another): tracebacks,
  ``dump()`` and deadlock reports then read as they would for a reader who
  pastes the example into a file, and stay the same when the page is edited
  around the block. A failing block's test id gives the page and line.

* Every dump and deadlock report ends with a line naming gochan's version,
  build and Python; output blocks show ``DOCS_BUILD_LINE`` (tests/conftest.py)
  there, and the test puts it in place of the real one before comparing.

Tests are named ``path:line`` after the block's opening fence. Anything a block
raises fails its test; a block that means to show an exception catches it and
prints it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import linecache
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every page, docs/zh/ and docs/reference/ included.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CONTINUE = "<!-- continue -->"
# A fence as CommonMark defines it (backticks only): at least three backticks at
# the start of a line, then an info string without backticks ("```python").
OPENING = re.compile(r"(`{3,})([^`]*)$")


def _closes(line: str, fence: str) -> bool:
    s = line.strip()
    return s.startswith(fence) and set(s) == {"`"}


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository root, e.g. "docs/tasks.md"
    line: int  # 1-based line of the opening fence
    lang: str
    source: str
    continues: Block | None = None  # the python block whose namespace this one shares
    output: str | None = None  # expected stdout, from a following ```output block

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse(path: Path) -> list[Block]:
    return parse_text(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))


def parse_text(page: str, text: str) -> list[Block]:
    """All fenced blocks of a Markdown page, python blocks linked to their
    continuation and expected output."""
    lines = text.splitlines(keepends=True)
    raw: list[tuple[int, str, str, bool, int]] = []  # line, lang, text, marked, end line
    i = 0
    while i < len(lines):
        m = OPENING.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, lang = m[1], m[2].strip()
        start = i
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            j += 1
        if j == len(lines):
            raise ValueError(f"{page}:{start + 1}: code block is never closed")
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marked = k >= 0 and lines[k].strip() == CONTINUE
        raw.append((start + 1, lang, "".join(lines[start + 1 : j]), marked, j + 1))
        i = j + 1

    blocks: list[Block] = []
    last_python: Block | None = None
    for n, (line, lang, text, marked, end) in enumerate(raw):
        if lang != "python":
            if marked:
                raise ValueError(f"{page}:{line}: {CONTINUE} before a ```{lang} block")
            blocks.append(Block(page, line, lang, text))
            continue
        if marked and last_python is None:
            raise ValueError(f"{page}:{line}: {CONTINUE} but no python block before it")
        output = None
        if n + 1 < len(raw):
            nline, nlang, ntext, _, _ = raw[n + 1]
            between = lines[end : nline - 1]
            if nlang == "output" and all(not s.strip() for s in between):
                output = ntext
        block = Block(page, line, lang, text, last_python if marked else None, output)
        blocks.append(block)
        last_python = block
    return blocks


ALL_BLOCKS = [b for p in PAGES for b in parse(p)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python"]


SCRIPT = "example.py"


def run_block(block: Block) -> str:
    """Run ``block`` (after the blocks it continues) and return what it printed."""
    chain: list[Block] = []
    b: Block | None = block
    while b is not None:
        chain.append(b)
        b = b.continues
    chain.reverse()
    # Let tracebacks and dump() show the example's lines, whatever the cwd.
    source = "".join(b.source for b in chain)
    linecache.cache[SCRIPT] = (len(source), None, source.splitlines(keepends=True), SCRIPT)
    namespace: dict[str, object] = {"__name__": "__main__"}
    out = io.StringIO()
    offset = 0
    for b in chain:
        # Pad with newlines so that line numbers count from the chain's start.
        code = compile("\n" * offset + b.source, SCRIPT, "exec")
        offset += b.source.count("\n")
        with contextlib.redirect_stdout(out if b is block else io.StringIO()):
            exec(code, namespace)
    return out.getvalue()


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_block(block: Block, as_documented: Callable[[str], str]) -> None:
    printed = as_documented(run_block(block))
    if block.output is not None:
        assert printed == block.output, f"{block.id}: printed output differs from ```output"


def test_every_output_block_follows_a_python_block() -> None:
    for p in PAGES:
        blocks = parse(p)
        for prev, b in zip([None, *blocks], blocks, strict=False):
            if b.lang == "output":
                assert prev is not None and prev.output == b.source, f"{b.page}:{b.line}: stray"


CONCEPT_PAGES = ["tasks", "channels", "select", "time"]


@pytest.mark.parametrize("name", CONCEPT_PAGES)
def test_concept_pages_show_go_beside_python(name: str) -> None:
    langs = [b.lang for b in parse(ROOT / "docs" / f"{name}.md")]
    pairs = sum(1 for ab in itertools.pairwise(langs) if ab == ("go", "python"))
    assert pairs >= 3, f"docs/{name}.md: expected a ```go block followed by ```python"


def _outside_fences(text: str) -> list[str]:
    """The lines of a page that are not inside a fenced block (nor fences)."""
    kept, fence = [], ""
    for line in text.splitlines():
        m = OPENING.match(line)
        if fence:
            fence = "" if _closes(line, fence) else fence
        elif m:
            fence = m[1]
        else:
            kept.append(line)
    return kept


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    lines = _outside_fences(path.read_text("utf-8"))
    heads = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_relative_links_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
    for p in PAGES:
        prose = "\n".join(_outside_fences(p.read_text("utf-8")))
        prose = re.sub(r"(`+).*?\1", "", prose)  # code spans hold no links
        for target, anchor in link.findall(prose):
            if "://" in target or target.startswith("mailto:"):
                continue
            dest = p.parent / target if target else p
            where = f"{p.relative_to(ROOT)}: link {target}#{anchor}"
            assert dest.exists(), f"{where}: no such file"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest), f"{where}: no such heading"


def test_parser_rules() -> None:
    text = (
        "```go\nx\n```\n\n```python\nprint(1)\n```\n\n```output\n1\n```\n"
        "<!-- continue -->\n```python\nprint(2)\n```\ntext\n```output\n2\n```\n"
    )
    py = [b for b in parse_text("page.md", text) if b.lang == "python"]
    assert [b.id for b in py] == ["page.md:5", "page.md:13"]
    assert py[0].output == "1\n" and py[0].continues is None
    assert py[1].continues is py[0] and py[1].output is None  # prose in between
