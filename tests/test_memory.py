"""The process-wide malloc arena cap (``station.memory``): threads that allocate share the
capped arenas, counted from glibc's own ``malloc_stats`` report in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from telephrase.station import memory

THREADS = 8

CHILD = f"""
import ctypes, sys, threading
from telephrase.station.memory import limit_arenas
if sys.argv[1] == "limit":
    assert limit_arenas()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
start = threading.Barrier({THREADS})
def allocate():
    start.wait()
    blocks = [libc.malloc(4096) for _ in range(64)]
    start.wait()
threads = [threading.Thread(target=allocate) for _ in range({THREADS})]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.malloc_stats()
"""


def arenas(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return len(re.findall(r"^Arena \d+:", done.stderr, flags=re.M))


@pytest.mark.skipif(memory._LIBC is None, reason="the C library is not glibc")
def test_threads_share_the_capped_arenas() -> None:
    assert arenas("default") > memory.ARENAS
    assert arenas("limit") == memory.ARENAS
