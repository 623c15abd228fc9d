"""Links that carry frames.  Version 1 has the in-memory link used by loopback and tests.

A link moves whole frames and counts every byte it carries, so reported air time includes
headers and CRCs, not just payload.
"""

from __future__ import annotations

from collections import deque


class MemoryLink:
    """A perfect link inside one process: frames come out in the order they went in."""

    def __init__(self) -> None:
        self._queue: deque[bytes] = deque()
        self.bytes_sent = 0
        self.frames_sent = 0

    def send(self, frame: bytes) -> None:
        self._queue.append(bytes(frame))
        self.bytes_sent += len(frame)
        self.frames_sent += 1

    def receive(self) -> bytes | None:
        return self._queue.popleft() if self._queue else None
