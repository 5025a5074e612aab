"""examples/http_fetch.py and examples/trio_pipeline.py run as programs and print
exactly what they should.

Each runs in a subprocess, as a reader would start it; the whole of stdout is
compared and stderr must be empty (no warnings, no unclosed loops or sockets).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HTTP_FETCH = """\
/articles/1     200   Share memory by communicating
/articles/2     200   Concurrency is not parallelism
/articles/3     200   Go statement considered harmful
/articles/4     200   Notes on structured concurrency
/articles/404   404   no such page: /articles/404
/articles/5     200   A tour of select
/articles/6     200   Timeouts and deadlines
/articles/7     200   Green threads, again
/articles/8     200   What color is your function?
/drop           error RemoteProtocolError
summary: 10 requests by 4 green workers over one httpx.AsyncClient on uvloop: 8 ok, 2 not; tasks left besides main: 0
"""  # noqa: E501

TRIO_PIPELINE = """\
a              1 *
better         2 **
by             0
channels       2 **
communicate    5 *****
communicating  5 *****
copying        2 **
dependency     3 ***
do             1 *
instead        3 ***
is             1 *
little         2 **
memory         2 **
mutexes        3 ***
not            1 *
orchestrate    4 ****
serialize      5 *****
share          2 **
sharing        2 **
than           1 *
summary: 4 lines fed by a trio task, 24 words scored by 3 green counters, 24 collected by a trio task, 20 distinct
"""  # noqa: E501


@pytest.mark.parametrize(
    ("program", "expected"),
    [("http_fetch.py", HTTP_FETCH), ("trio_pipeline.py", TRIO_PIPELINE)],
)
def test_example_prints_the_expected_output(program: str, expected: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / program)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == expected
