"""Log lines for dropped input, rate-limited: the first of a kind at once, then a summary.

Anyone on the channel can send junk, and noise sends it all night: one log line per junk
frame buried the journal (7,134 lines for 10,000 datagrams).  Each kind of drop (frames beyond
repair, refused payloads, refused authentication) logs its first occurrence as it comes, then
at most one line per ``interval`` saying how many more there were, so an operator still sees
what happens and how often, and every single one is in the debug log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Kind:
    since: float
    suppressed: int = 0
    level: int = logging.INFO
    last: str = ""


class DropLog:
    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._kinds: dict[str, _Kind] = {}

    def drop(self, kind: str, level: int, message: str) -> None:
        """One dropped input of ``kind``: logged at ``level`` unless one was this interval."""
        now = self.clock()
        state = self._kinds.get(kind)
        if state is None or now - state.since >= self.interval:
            self._summarise(kind, now)
            self._kinds[kind] = _Kind(now, level=level)
            self.logger.log(level, "%s", message)
            return
        state.suppressed += 1
        state.level, state.last = level, message
        self.logger.debug("%s", message)

    def flush(self) -> None:
        """Summarise every kind whose interval is over (call when the link is quiet)."""
        now = self.clock()
        for kind in [k for k, s in self._kinds.items() if now - s.since >= self.interval]:
            self._summarise(kind, now)
            del self._kinds[kind]

    def _summarise(self, kind: str, now: float) -> None:
        state = self._kinds.get(kind)
        if state is None or not state.suppressed:
            return
        self.logger.log(state.level, "%d more %s in the last %.0f s (latest: %s)", state.suppressed, kind,
                        now - state.since, state.last)
