"""KISS framing, as hardware TNCs and Dire Wolf speak it over a serial line or pty.

A TNC turns each KISS frame it receives from the computer into one transmission and hands
each frame it hears back the same way, so KISS only delimits frames on the serial line: it
adds nothing on air.  Frames are wrapped in FEND bytes and the two special bytes are escaped
inside them (KA9Q/K3MC, "The KISS TNC", 1987):

    byte   name    meaning
    0xC0   FEND    frame delimiter, before and after every frame
    0xDB   FESC    escape: the next byte is TFEND or TFESC
    0xDC   TFEND   after FESC, stands for a data byte 0xC0
    0xDD   TFESC   after FESC, stands for a data byte 0xDB

The first byte inside a frame is the command byte: bits 7..4 the TNC port (a radio channel
on multi-port TNCs and Dire Wolf), bits 3..0 the command, 0 for data.  Other commands (TX
delay, persistence, 0xFF "leave KISS mode") configure the TNC; a TNC does not normally send
them back, so the decoder counts and skips them rather than mistaking them for data.  The
command byte is escaped like the rest: data for port 12 starts with 0xC0.

Test vectors (``tests/test_kiss.py``):

    kiss_encode(b"hi", port=2)          → c0 20 68 69 c0
    kiss_encode(b"\\xc0\\x01\\xdb")        → c0 00 db dc 01 db dd c0
    kiss_encode(b"hi", port=12)         → c0 db dc 68 69 c0
"""

from __future__ import annotations

FEND = 0xC0
FESC = 0xDB
TFEND = 0xDC
TFESC = 0xDD
DATA = 0x0
MAX_FRAME = 4096
"""Largest frame the decoder keeps, so a line that never sends FEND cannot fill memory."""


def kiss_encode(frame: bytes, port: int = 0) -> bytes:
    """One data frame for TNC port ``port`` (0..15), delimited and escaped."""
    if not 0 <= port <= 15:
        raise ValueError(f"KISS port must be 0..15, not {port}")
    body = bytes([port << 4 | DATA]) + bytes(frame)
    escaped = body.replace(bytes([FESC]), bytes([FESC, TFESC])).replace(bytes([FEND]), bytes([FESC, TFEND]))
    return bytes([FEND]) + escaped + bytes([FEND])


class KissDecoder:
    """Turns a KISS byte stream, cut anywhere, back into ``(port, frame)`` pairs.

    Bytes before the first FEND are discarded: the decoder may start listening in the middle
    of a frame, and half a frame must not pass for a whole one.  A FEND always ends a frame,
    so after damage the decoder is back in step at the next FEND.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.frames = 0
        """Data frames returned."""
        self.commands = 0
        """Non-data command frames skipped."""
        self.errors = 0
        """Frames dropped for an invalid escape or for exceeding ``max_frame``."""
        self.discarded = 0
        """Bytes skipped while waiting for the first FEND."""
        self.reset()

    def reset(self) -> None:
        """Forget any partial frame and wait for a FEND again, as after reopening the line."""
        self._synced = False
        self._buffer = bytearray()
        self._escaped = False
        self._damaged = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Consume ``data``; return the data frames it completes, oldest first."""
        out: list[tuple[int, bytes]] = []
        for byte in data:
            if byte == FEND:
                if self._synced:
                    self._finish(out)
                self._synced = True
            elif not self._synced:
                self.discarded += 1
            elif self._damaged:
                continue
            elif self._escaped:
                self._escaped = False
                if byte == TFEND:
                    self._append(FEND)
                elif byte == TFESC:
                    self._append(FESC)
                else:
                    self._damaged = True
            elif byte == FESC:
                self._escaped = True
            else:
                self._append(byte)
        return out

    def _append(self, byte: int) -> None:
        if len(self._buffer) > self.max_frame:
            self._damaged = True
        else:
            self._buffer.append(byte)

    def _finish(self, out: list[tuple[int, bytes]]) -> None:
        """Close the frame a FEND has just ended; back-to-back FENDs give nothing."""
        buffer, damaged, escaped = self._buffer, self._damaged, self._escaped
        self._buffer, self._damaged, self._escaped = bytearray(), False, False
        if damaged or escaped:
            self.errors += 1
        elif not buffer:
            return
        elif buffer[0] & 0x0F != DATA:
            self.commands += 1
        else:
            self.frames += 1
            out.append((buffer[0] >> 4, bytes(buffer[1:])))
