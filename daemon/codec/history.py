"""The recent messages of each sender, by frame sequence number: the neural text coder's
conversation context, kept alike at both ends.

A format 5 or 6 payload coded after its sender's previous messages names how many; both ends
look them up here by the sequence numbers just before the message's own.  Beside each text
lies the carry its format 6 payload left (the counts its prosody models ended with), where the
next message built on it starts.  A message that was lost
(or is older than the window) is simply not here, so the receiver refuses the next one for
missing context instead of decoding it against the wrong text.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from .payload import Carry

PER_SENDER = 8
MAX_SENDERS = 256
SEQUENCES = 256


class MessageHistory:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._senders: collections.OrderedDict[int, dict[int, tuple[float, str, Carry | None]]] = collections.OrderedDict()

    def add(self, sender: int, sequence: int, text: str, carry: Carry | None = None) -> None:
        messages = self._senders.pop(sender, {})
        messages[sequence] = (self.clock(), text, carry)
        while len(messages) > PER_SENDER:
            del messages[min(messages, key=lambda s: messages[s][0])]
        self._senders[sender] = messages
        while len(self._senders) > MAX_SENDERS:
            self._senders.popitem(last=False)

    def before(self, sender: int, sequence: int, count: int) -> list[str] | None:
        """The texts of ``sender``'s ``count`` messages before ``sequence``, oldest first; None
        unless every one of them is here and recent."""
        messages = self._senders.get(sender, {})
        now = self.clock()
        texts = []
        for back in range(count, 0, -1):
            entry = messages.get((sequence - back) % SEQUENCES)
            if entry is None or now - entry[0] > self.seconds:
                return None
            texts.append(entry[1])
        return texts

    def carry(self, sender: int, sequence: int) -> Carry | None:
        """The carry of ``sender``'s message just before ``sequence`` (None: none left)."""
        entry = self._senders.get(sender, {}).get((sequence - 1) % SEQUENCES)
        return None if entry is None else entry[2]
