"""MkDocs hook: links from docs/ to files elsewhere in the repository.

The pages link to files outside docs/ with relative links, such as
``[examples/README.md](../examples/README.md)``, so that the links work when
the Markdown is read on its own (on GitHub, in an editor). MkDocs only knows
the files under docs/, and its strict mode rejects such links. This hook
copies each linked file into the site, as is, under ``_repo/`` (so
``../examples/README.md`` is served at ``_repo/examples/README.md``), and
points the links at the copies. A link to a file that does not exist is
left alone, so MkDocs still reports it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

# A Markdown link or image target: ](path) or ](path#anchor), no scheme.
_LINK = re.compile(r"\]\((?P<target>\.\./[^)#\s]+)(?P<anchor>#[^)\s]*)?\)")
_PREFIX = "_repo"


class _RawFile(File):
    """A repository file copied into the site unrendered, even a .md one."""

    def is_documentation_page(self) -> bool:
        return False

    def is_static_page(self) -> bool:
        return False


def _outside(page_uri: str, target: str, docs: Path, repo: Path) -> str | None:
    """The repository path (posix) that ``target`` names from the page at
    ``page_uri``, if it is an existing file outside docs/."""
    path = (docs / posixpath.dirname(page_uri) / target).resolve()
    if not path.is_file() or path.is_relative_to(docs) or not path.is_relative_to(repo):
        return None
    return path.relative_to(repo).as_posix()


def _roots(config: Any) -> tuple[Path, Path]:
    docs = Path(config["docs_dir"]).resolve()
    return docs, Path(config["config_file_path"]).resolve().parent


def on_files(files: Files, config: Any) -> Files:
    docs, repo = _roots(config)
    wanted: set[str] = set()
    for f in files.documentation_pages():
        for m in _LINK.finditer(f.content_string):
            rel = _outside(f.src_uri, m["target"], docs, repo)
            if rel is not None:
                wanted.add(rel)
    for rel in sorted(wanted):
        raw = _RawFile(
            f"{_PREFIX}/{rel}",
            src_dir=None,
            dest_dir=config["site_dir"],
            use_directory_urls=config["use_directory_urls"],
        )
        raw.abs_src_path = str(repo / rel)
        raw.generated_by = "hooks/repo_files.py"
        files.append(raw)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    docs, repo = _roots(config)
    src = page.file.src_uri

    def rewrite(m: re.Match[str]) -> str:
        rel = _outside(src, m["target"], docs, repo)
        if rel is None:
            return m[0]
        copy = posixpath.relpath(f"{_PREFIX}/{rel}", posixpath.dirname(src) or ".")
        return f"]({copy}{m['anchor'] or ''})"

    return _LINK.sub(rewrite, markdown)
