"""Install test of make wheels' artefacts: every one installs and works.

    python .ci/check_wheels.py dist/

For each artefact in the directory, a fresh venv with the matching Python
(``.ci/find-python``), ``pip install <artefact>`` (greenlet comes from the
package index), then, from a directory outside the checkout:

* .ci/wheel_smoke.py prints its known line and finds the build expected;
* ``python -m gochan`` names that build and the venv's Python;
* a compiled wheel: every module of hatch_build.COMPILED is an extension
  module (``gochan._runtime.chan.__file__`` ends with ``.so``), and so is
  mypyc's shared library ``gochan__mypyc``;
* a pure wheel: none is.

The compiled wheels are tried with their own Python, the pure wheel with the
oldest and the newest supported, the sdist with 3.11, where it must build
the compiled gochan (make wheels runs where a C compiler is). dist/ must
hold exactly one compiled wheel per Python of PYTHONS, one pure wheel and
one sdist: a missing or extra artefact fails the check too.

Not collected by pytest (it lives outside tests/): make wheels runs it.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / ".ci" / "wheel_smoke.py"
PYTHONS = ("3.11", "3.12", "3.13")
EXPECTED = "sum of squares 285 from 3 workers; select: default then timer; after: fired"


def compiled_modules() -> list[str]:
    """hatch_build.COMPILED, read without importing hatchling."""
    tree = ast.parse((ROOT / "hatch_build.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            names = ast.literal_eval(node.value)
            expect(isinstance(names, list) and bool(names), f"COMPILED is {names!r}")
            return [str(n) for n in names]
    raise SystemExit("check_wheels: no COMPILED list in hatch_build.py")


def find_python(version: str) -> str:
    return subprocess.run(
        [str(ROOT / ".ci" / "find-python"), version],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"check_wheels: FAILED: {what}")


def run(cmd: list[str], cwd: Path) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if r.returncode != 0:
        raise SystemExit(
            f"check_wheels: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
        )
    return r.stdout


# Prints, for each runtime module, whether it was loaded from an extension module.
PROBE = """
import importlib, importlib.machinery, sys
ext = tuple(importlib.machinery.EXTENSION_SUFFIXES)
for name in sys.argv[1:]:
    m = importlib.import_module(name)
    print(name, m.__file__, m.__file__.endswith(ext))
"""


def check(artefact: Path, version: str, build: str, work: Path) -> None:
    start = time.monotonic()
    venv = work / f"venv-{artefact.name}-{version}"
    run([find_python(version), "-m", "venv", str(venv)], work)
    py = str(venv / "bin" / "python")
    run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(artefact)], work)

    name = f"{artefact.name} on Python {version}"
    out = run([py, str(SMOKE), build], work).strip()
    expect(out == EXPECTED, f"{name}: the smoke test printed {out!r}")

    report = run([py, "-m", "gochan"], work).splitlines()
    first = report[0]
    # a compiled build also names the mypyc that compiled it (hatch_build.COMPILED_WITH)
    made = r"compiled build, mypyc [\d.]+" if build == "compiled" else "pure build"
    want = rf"gochan \S+ \({made}\), CPython {re.escape(version)}\.\d+"
    expect(re.fullmatch(want, first) is not None, f"{name}: python -m gochan says {first!r}")
    expect(report[1] == f"python: {py}", f"{name}: python -m gochan says {report[1]!r}")

    modules = [f"gochan._runtime.{m}" for m in compiled_modules()]
    chan = run([py, "-c", "import gochan._runtime.chan as c; print(c.__file__)"], work).strip()
    suffix = ".so" if build == "compiled" else ".py"
    expect(chan.endswith(suffix), f"{name}: gochan._runtime.chan is {chan}")
    if build == "compiled":
        modules.append("gochan__mypyc")
    for line in run([py, "-c", PROBE, *modules], work).splitlines():
        module, path, is_ext = line.split()
        expect(is_ext == str(build == "compiled"), f"{name}: {module} is {path}")
        # The venv's own copy, not a checkout's.
        expect(path.startswith(str(venv)), f"{name}: {module} imported from {path}")
    print(f"ok  {name}: {first} ({time.monotonic() - start:.0f} s)")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    dist = Path(sys.argv[1]).resolve()
    artefacts = sorted(dist.iterdir())
    plan: list[tuple[Path, str, str]] = []
    for tag in (f"cp{v.replace('.', '')}" for v in PYTHONS):
        found = [a for a in artefacts if a.name.endswith(".whl") and f"-{tag}-{tag}-" in a.name]
        if len(found) != 1:
            raise SystemExit(f"check_wheels: want one {tag} wheel in {dist}, found {found}")
        plan.append((found[0], f"{tag[2]}.{tag[3:]}", "compiled"))
    pure = [a for a in artefacts if a.name.endswith("-py3-none-any.whl")]
    sdist = [a for a in artefacts if a.name.endswith(".tar.gz")]
    if len(pure) != 1 or len(sdist) != 1:
        raise SystemExit(f"check_wheels: want one pure wheel and one sdist, found {pure}, {sdist}")
    plan += [(pure[0], PYTHONS[0], "pure"), (pure[0], PYTHONS[-1], "pure")]
    plan.append((sdist[0], PYTHONS[0], "compiled"))
    extra = set(artefacts) - {a for a, _, _ in plan}
    if extra:
        raise SystemExit(f"check_wheels: unexpected artefacts in {dist}: {sorted(extra)}")

    with tempfile.TemporaryDirectory(prefix="gochan-check-wheels-") as tmp:
        for artefact, version, build in plan:
            check(artefact, version, build, Path(tmp))
    print(f"check_wheels: all {len(plan)} installs passed")


if __name__ == "__main__":
    main()
