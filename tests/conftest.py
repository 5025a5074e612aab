"""Shared test setup.

Leak checks come from gochan's own pytest plugin (gochan.testing, loaded
through its pytest11 entry point, with ``gochan_leak_check = "all"`` in
pyproject.toml): every test must leave the process as it found it, with no
green task alive on any scheduler and no OS thread it started still running
(a live foreign thread rightly suppresses deadlock reports in later tests).
The plugin also shuts down blocking()'s idle pool workers and drops the
test thread's implicit scheduler after each test.
"""

from __future__ import annotations

pytest_plugins: list[str] = []
