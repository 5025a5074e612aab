"""The documentation site builds in strict mode, and no page is left out of its nav.

``mkdocs build --strict`` fails on any warning: a broken link or anchor, a
docstring mkdocstrings cannot render, a page missing from the nav
(mkdocs.yml sets ``validation.nav.omitted_files: warn``). The second test
says the last point in plain words: every Markdown page under docs/ must be
reachable from the nav, so a new page cannot be forgotten.

Both run MkDocs in a subprocess (it prints notices and warnings of its own
that have nothing to do with the tests' warning filters) and are skipped when
MkDocs is not installed; ``pip install -e '.[docs]'`` installs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -e '.[docs]')",
)

# MkDocs' plugins print banners about MkDocs 2 on every run; they say nothing
# about this site.
ENV = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}


def _mkdocs(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.timeout(300)
def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = _mkdocs("-m", "mkdocs", "build", "--strict", "--site-dir", str(site))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log.replace("WARNING: MkDocs may break", ""), log
    assert (site / "index.html").is_file()
    assert (site / "reference" / "gochan" / "index.html").is_file()
    # A file outside docs/ that a page links to is copied into the site.
    assert (site / "_repo" / "examples" / "README.md").is_file()


# Loads mkdocs.yml as `mkdocs build` does, runs the plugins' on_config and
# on_files (literate-nav resolves the nav's wildcards there) and prints the
# source path of every page the nav reaches.
NAV_PAGES = """
import json
from mkdocs.config import load_config
from mkdocs.structure.files import get_files
from mkdocs.structure.nav import get_navigation

cfg = load_config("mkdocs.yml")
cfg.plugins.on_startup(command="build", dirty=False)
try:
    cfg = cfg.plugins.on_config(cfg)
    files = cfg.plugins.on_files(get_files(cfg), config=cfg)
    nav = get_navigation(files, cfg)
finally:
    cfg.plugins.on_shutdown()
print(json.dumps([page.file.src_uri for page in nav.pages]))
"""


@pytest.mark.timeout(300)
def test_every_page_is_in_the_nav() -> None:
    proc = _mkdocs("-c", NAV_PAGES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    in_nav = json.loads(proc.stdout.strip().splitlines()[-1])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert {"index.md", "tasks.md", "reference/gochan.md"} <= set(pages)
    missing = [p for p in pages if p not in in_nav]
    assert not missing, f"pages missing from the nav in mkdocs.yml: {missing}"
    assert len(in_nav) == len(set(in_nav)), f"a page is in the nav twice: {in_nav}"
    # The nav's order starts with Home, then the tutorial.
    assert in_nav[:3] == ["index.md", "tasks.md", "channels.md"], in_nav[:3]
    zh = [p for p in in_nav if p.startswith("zh/")]
    assert not zh or zh[0] == "zh/index.md", zh
