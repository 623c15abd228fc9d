"""Progress display for exports: numbered steps with their times, on stderr.

An export is a handful of slow steps (load, convert, verify, hash); a person watching wants to
see which one it is in and how long each took, and a log file wants the same lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Steps:
    """``with steps("loading checkpoint"):`` prints ``[1/4] loading checkpoint … 2.1 s``."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        self.done += 1
        print(f"[{self.done}/{self.total}] {what} …", end="", file=self.stream, flush=True)
        start = time.monotonic()
        try:
            yield
        except BaseException:
            print(" failed", file=self.stream, flush=True)
            raise
        print(f" {time.monotonic() - start:.1f} s", file=self.stream, flush=True)
