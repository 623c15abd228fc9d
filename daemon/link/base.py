"""Links that carry frames, behind one small interface.

A link moves whole frames (``bytes``) between two ends and counts every byte it carries, so
reported air time includes headers, CRCs and FEC, not just payload.  Transports (serial KISS,
serial raw stream, UDP) live in their own modules and implement ``Link``; ``MemoryLink`` is the
in-process link used by the loopback tool and the tests.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass
class LinkStats:
    frames_sent: int = 0
    bytes_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    errors: int = 0
    """Transport-level problems: undecodable link framing, I/O errors, reconnects."""


class Link(ABC):
    """Carries frames.  ``send`` never blocks for long; ``receive`` waits up to ``timeout``."""

    def __init__(self) -> None:
        self.stats = LinkStats()

    @abstractmethod
    def send(self, frame: bytes) -> None:
        """Queue one frame for transmission."""

    @abstractmethod
    def receive(self, timeout: float | None = 0.0) -> bytes | None:
        """Return the next received frame, or ``None`` if none arrives within ``timeout``
        seconds (``0`` polls, ``None`` waits for ever)."""

    def close(self) -> None:
        """Release the device or socket; the link is unusable afterwards."""

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryLink(Link):
    """A perfect link inside one process: frames come out in the order they went in.

    Thread-safe, so a sender thread and a receiver thread can share it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        frame = bytes(frame)
        with self._lock:
            self.stats.frames_sent += 1
            self.stats.bytes_sent += len(frame)
        self._queue.put(frame)

    def receive(self, timeout: float | None = 0.0) -> bytes | None:
        try:
            frame = self._queue.get(block=timeout != 0.0, timeout=timeout or None)
        except queue.Empty:
            return None
        with self._lock:
            self.stats.frames_received += 1
            self.stats.bytes_received += len(frame)
        return frame
