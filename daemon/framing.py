"""Frames: a payload cut to the link's MTU, each piece with a header and a CRC.

Frame format version 1.  A frame is self-delimiting, so a byte stream of frames (a ``.tph``
file, a transparent serial link) can be split again, and a damaged frame is found by its CRC
and skipped without losing the ones after it.

    offset  size  field
    0       1     bits 7..4 frame version (1); bits 3..1 type (0 = message fragment);
                  bit 0 last fragment of the message
    1       1     message sequence number, modulo 256
    2       1     fragment index within the message (0..255)
    3       1     chunk length L (1..255)
    4       L     chunk of the payload
    4+L     2     CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), big-endian, over bytes 0..3+L

Overhead is 6 bytes a frame.  CRC-16 rather than CRC-32: frames are at most 261 bytes, where
CRC-16/CCITT detects every burst up to 16 bits and all 1-3 bit errors, and on a 30-50 bit/s
link two extra bytes a frame are 0.3-0.5 s of air time.

Test vector (``tests/test_framing.py``): payload ``b"hi"``, sequence 7, MTU 237 →
``11 07 00 02 68 69`` + CRC ``27 8c``.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

from .errors import FrameError

VERSION = 1
HEADER = 4
TRAILER = 2
OVERHEAD = HEADER + TRAILER
MAX_CHUNK = 255
MAX_FRAGMENTS = 256
_LAST = 0x01


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class Frame:
    sequence: int
    index: int
    last: bool
    chunk: bytes

    def to_bytes(self) -> bytes:
        head = bytes([VERSION << 4 | (_LAST if self.last else 0), self.sequence, self.index, len(self.chunk)])
        body = head + self.chunk
        return body + struct.pack(">H", crc16(body))


def fragment(payload: bytes, sequence: int, mtu: int) -> list[Frame]:
    """Cut ``payload`` into frames of at most ``mtu`` bytes on air."""
    if mtu < OVERHEAD + 1:
        raise FrameError(f"MTU {mtu} is too small: a frame needs {OVERHEAD} bytes of header and CRC plus data")
    if not payload:
        raise FrameError("nothing to send: empty payload")
    size = min(mtu - OVERHEAD, MAX_CHUNK)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
    if len(chunks) > MAX_FRAGMENTS:
        raise FrameError(
            f"message of {len(payload)} bytes needs {len(chunks)} frames at MTU {mtu}; at most {MAX_FRAGMENTS} fit"
        )
    return [Frame(sequence % 256, i, i == len(chunks) - 1, c) for i, c in enumerate(chunks)]


def parse_frame(data: bytes, offset: int = 0) -> tuple[Frame, int] | None:
    """Parse one frame at ``offset``; ``None`` if the bytes there are not a valid frame."""
    if len(data) - offset < OVERHEAD + 1:
        return None
    flags, sequence, index, length = data[offset : offset + HEADER]
    end = offset + HEADER + length + TRAILER
    if flags >> 4 != VERSION or flags & 0x0E or length == 0 or end > len(data):
        return None
    (crc,) = struct.unpack_from(">H", data, end - TRAILER)
    if crc16(data[offset : end - TRAILER]) != crc:
        return None
    return Frame(sequence, index, bool(flags & _LAST), bytes(data[offset + HEADER : end - TRAILER])), end


@dataclass
class StreamStats:
    frames: int = 0
    skipped_bytes: int = 0
    """Bytes that were not part of any valid frame (noise, damaged frames)."""


def split_stream(data: bytes, stats: StreamStats | None = None) -> list[Frame]:
    """Recover every valid frame from a byte stream, resynchronising after damage."""
    stats = stats if stats is not None else StreamStats()
    frames, offset = [], 0
    while offset < len(data):
        parsed = parse_frame(data, offset)
        if parsed is None:
            offset += 1
            stats.skipped_bytes += 1
            continue
        frame, offset = parsed
        frames.append(frame)
        stats.frames += 1
    return frames


@dataclass
class Reassembler:
    """Collects fragments per sequence number and hands out complete payloads in order received."""

    completed: int = 0

    def __post_init__(self) -> None:
        self._pending: dict[int, dict[int, Frame]] = {}

    @property
    def incomplete(self) -> int:
        return len(self._pending)

    def push(self, frame: Frame) -> bytes | None:
        parts = self._pending.setdefault(frame.sequence, {})
        parts[frame.index] = frame
        last = next((f.index for f in parts.values() if f.last), None)
        if last is None or len(parts) != last + 1 or any(i not in parts for i in range(last + 1)):
            return None
        del self._pending[frame.sequence]
        self.completed += 1
        return b"".join(parts[i].chunk for i in range(last + 1))
