"""Framing for modems that pass bytes through transparently, with no KISS TNC in between.

Such a modem (a transparent serial radio, a soundcard modem in byte mode) delivers the bytes
it hears, noise included, with no frame boundaries.  Each frame therefore carries its own
marker and length:

    offset  size  field
    0       4     sync word 1a cf fc 1d
    4       2     frame length N (0..4096), big-endian
    6       1     CRC-8 over bytes 4..5: CRC-8/I-432-1 (poly 0x07, init 0x00, xorout 0x55)
    7       N     the frame

The sync word is the CCSDS attached sync marker (CCSDS 131.0-B), which spacecraft, GNU Radio
and gr-satellites use for the same job, so captures are easy to inspect with their tools.  It
was designed for low autocorrelation sidelobes: shifted by whole bytes it agrees with itself
in about half its bits (11 of 24, 7 of 16, 5 of 8), so bytes around a real marker never
complete a false one next to it, and random data matches it at a given offset with
probability 2**-32.  The header CRC is the one ATM uses to find cell boundaries
(ITU-T I.432.1); it makes a sync word that turns up inside data, or a length hit by noise,
fail with probability 255/256 more, and its xorout keeps a run of zeros from passing for an
empty frame.  The frame itself is not checked here: ``framing`` gives every frame a CRC-32 and FEC.

The header has no FEC of its own, yet at a bit error rate of 3·10⁻³ one header in seven is hit.
So the decoder accepts a sync word with up to ``SYNC_ERRORS`` (2) wrong bits, and corrects a
single wrong bit in the length or its CRC (CRC-8/I-432-1 has Hamming distance 4 over these 24
bits, so one error is found unambiguously).  A false sync in noise then needs 30 of 32 bits
right and a header CRC to match: about 1 in 2·10⁹ byte offsets.  After a bad header the
decoder moves on by one byte and searches again, so a damaged frame costs that frame only.  Test vector (``tests/test_rawstream.py``):

    raw_encode(b"hi")  → 1a cf fc 1d 00 02 5b 68 69
"""

from __future__ import annotations

import struct

SYNC = bytes.fromhex("1acffc1d")
SYNC_ERRORS = 2
_SYNC_INT = int.from_bytes(SYNC, "big")
HEADER = len(SYNC) + 3
MAX_FRAME = 4096
"""Largest frame carried; also bounds the decoder's buffer."""


def crc8(data: bytes) -> int:
    """CRC-8/I-432-1; ``crc8(b"123456789") == 0xA1``."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x07 if crc & 0x80 else crc << 1) & 0xFF
    return crc ^ 0x55


def raw_encode(frame: bytes) -> bytes:
    """Sync word, length, header CRC and ``frame``."""
    if len(frame) > MAX_FRAME:
        raise ValueError(f"frame of {len(frame)} bytes exceeds the raw stream limit of {MAX_FRAME}")
    length = struct.pack(">H", len(frame))
    return SYNC + length + bytes([crc8(length)]) + bytes(frame)


class RawStreamDecoder:
    """Finds frames in a byte stream cut anywhere, skipping noise between and inside them."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.frames = 0
        """Frames returned."""
        self.errors = 0
        """Sync words found with a header that failed its CRC or gave a length over ``max_frame``."""
        self.discarded = 0
        """Bytes that were not part of any frame."""
        self._buffer = bytearray()

    def reset(self) -> None:
        """Forget buffered bytes, as after reopening the line: they belong to a lost stream."""
        self.discarded += len(self._buffer)
        self._buffer.clear()

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the frames it completes, oldest first."""
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while True:
            start = _find_sync(buffer)
            if start < 0:
                # Keep a tail that may be the start of a sync word split across reads.
                drop = max(0, len(buffer) - (len(SYNC) - 1))
                self._skip(drop)
                return out
            self._skip(start)
            if len(buffer) < HEADER:
                return out
            length = _header_length(bytes(buffer[len(SYNC) : HEADER]))
            if length is None or length > self.max_frame:
                self.errors += 1
                self._skip(1)
                continue
            if len(buffer) < HEADER + length:
                return out
            out.append(bytes(buffer[HEADER : HEADER + length]))
            del buffer[: HEADER + length]
            self.frames += 1

    def _skip(self, count: int) -> None:
        del self._buffer[:count]
        self.discarded += count


def _find_sync(buffer: bytearray) -> int:
    """Offset of the first sync word with at most ``SYNC_ERRORS`` wrong bits, or −1."""
    exact = buffer.find(SYNC)
    end = len(buffer) - len(SYNC) + 1 if exact < 0 else exact
    for i in range(max(0, end)):
        if (int.from_bytes(buffer[i : i + len(SYNC)], "big") ^ _SYNC_INT).bit_count() <= SYNC_ERRORS:
            return i
    return exact


def _header_length(header: bytes) -> int | None:
    """The frame length from length + CRC-8, correcting one wrong bit; ``None`` if damaged more."""
    if crc8(header[:2]) == header[2]:
        return int.from_bytes(header[:2], "big")
    value = int.from_bytes(header, "big")
    for bit in range(24):
        candidate = (value ^ (1 << bit)).to_bytes(3, "big")
        if crc8(candidate[:2]) == candidate[2]:
            return int.from_bytes(candidate[:2], "big")
    return None
