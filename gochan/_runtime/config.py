"""Process-wide runtime switches."""

from __future__ import annotations

import os

# When true, channels check their invariants after every operation.
# Set by run(debug=True) for the duration of the run, or by GOCHAN_DEBUG=1.
DEBUG = os.environ.get("GOCHAN_DEBUG", "") not in ("", "0")
