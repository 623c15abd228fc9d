"""Frames: a payload cut to the link's MTU, each piece with a header, a CRC and FEC.

Frame format version 2.  A frame is what one link packet carries (a KISS frame, a UDP
datagram, one raw-stream record): the link delimits it, so the frame needs no length field.
Before FEC a frame is:

    offset  size  field
    0       1     bits 7..4 frame version (2)
                  bit 3     F: fragmented (the four fragment bytes below are present)
                  bit 2     A: the message is an authenticated envelope (see ``auth``)
                  bits 1..0 message type (0 = speech payload, see ``payload``)
    1       2     sender id, big-endian (a station's number on the channel)
    3       1     message sequence number, modulo 256
    if F:
    4       1     fragment index i; i < k: data fragment, i >= k: erasure-parity fragment
    5       1     k: data fragments in the message (1..255)
    6       1     m: parity fragments in the message (0..254, k + m <= 255)
    7       1     pad: zero bytes appended to the last data fragment (all k are equally long)
    …       L     chunk
    end-4   4     CRC-32 (IEEE 802.3, as zlib.crc32), big-endian, over every byte before it

Then the whole frame is Reed–Solomon coded with ``parity`` check bytes per 255-byte codeword
and interleaved (``fec``).  An unfragmented frame costs 8 bytes plus FEC; a fragment 12.

Why CRC-32 and not CRC-16: the CRC is the last line against a frame that FEC "corrected" into
the wrong codeword or a burst of noise that happens to decode.  Over a night of a noisy HF
channel millions of damaged frames go by; CRC-16 would pass one in 65,536 of those that get
past the RS decoder, CRC-32 one in 4·10⁹.  Two extra bytes are worth a zero false-accept rate.

The receiver does not need to be told the FEC strength: it tries its configured parity first,
then what ``auto`` gives a frame of that length, then the other standard ones (``FEC_LEVELS``);
the CRC decides.

``auto`` (the default) sizes the parity to the frame, so that every frame survives about as
well: each frame body gets the fewest check bytes (an even number, at least 6) for which its
codeword fails, that is holds more byte errors than it corrects, with a chance of at most 2 %
at a bit error rate of 3·10⁻³ (2.4 % of bytes hit, binomially):

    frame body (bytes)   ≤ 37   ≤ 57   ≤ 79   ≤ 102   ≤ 127   ≤ 152   ≤ 178   ≤ 205   ≤ 231   longer
    check bytes             6      8     10      12      14      16      18      20      22       32

A fixed strength either wastes bytes on short frames or fails long ones; the earlier ladder
(8 up to 56 bytes, 16 up to 140, then 32) gave a 33-byte body 0.3 % and a 56-byte body 1.9 %,
and this one spends 2 to 6 bytes less on most of today's messages for the same worst case.
A receiver finds the strength from the frame's length (``auto_parities``).  Receivers from
before this ladder decode only the frames it gives 8, 16 or 32 check bytes; the frame body is
unchanged, so the version stays 2.

Test vector (``tests/test_framing.py``): payload ``b"hi"``, sender 0x0102, sequence 7, no FEC,
unfragmented → ``20 01 02 07 68 69`` + CRC-32 ``bd 02 6b 78``.
"""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..errors import FrameError
from .erasure import erasure_decode, erasure_encode, parity_count
from .fec import decoded_length, encoded_length, fec_decode, fec_encode

VERSION = 2
SHORT_HEADER = 4
LONG_HEADER = 8
CRC_BYTES = 4
MAX_FRAGMENTS = 255
FEC_LEVELS = {"none": 0, "low": 8, "medium": 16, "high": 32}
"""Named FEC strengths: check bytes per codeword (corrects half as many byte errors)."""
AUTO = -1
FEC_CHOICES = {"auto": AUTO, **FEC_LEVELS}
AUTO_STEPS = ((37, 6), (57, 8), (79, 10), (102, 12), (127, 14), (152, 16), (178, 18), (205, 20), (231, 22))
"""(largest frame body, check bytes) for ``auto``; longer bodies get 32.  Derived in the
module docstring; ``tests/test_framing.py`` derives it again from the same rule."""
AUTO_TARGET = (3e-3, 0.02)
"""``auto``'s rule: (bit error rate, largest chance that a codeword fails)."""
MAX_PENDING_PER_SENDER = 8
"""Incomplete messages held for one sender id: a station sends one message at a time, and
a few more cover phrases queued behind a slow, lossy one."""
MAX_PENDING = 64
MAX_PENDING_BYTES = 1 << 20
"""1 MiB: seventeen of the largest messages (255 fragments of 237 bytes) at once."""
MAX_DONE = 4096
"""Delivered messages whose frames are recognised as duplicates (at most 255 digests each)."""
_FRAGMENTED = 0x08
_AUTHENTICATED = 0x04


@dataclass(frozen=True)
class Frame:
    sender: int
    sequence: int
    chunk: bytes
    type: int = 0
    authenticated: bool = False
    index: int = 0
    data_fragments: int = 1
    parity_fragments: int = 0
    pad: int = 0

    @property
    def fragmented(self) -> bool:
        return self.data_fragments + self.parity_fragments > 1

    def body(self) -> bytes:
        """The frame before FEC: header, chunk, CRC-32."""
        flags = VERSION << 4 | (_FRAGMENTED if self.fragmented else 0) | (_AUTHENTICATED if self.authenticated else 0)
        head = struct.pack(">BHB", flags | self.type, self.sender, self.sequence)
        if self.fragmented:
            head += bytes([self.index, self.data_fragments, self.parity_fragments, self.pad])
        data = head + self.chunk
        return data + struct.pack(">I", zlib.crc32(data))

    def encode(self, parity: int) -> bytes:
        body = self.body()
        return fec_encode(body, frame_parity(parity, len(body)))


def frame_parity(parity: int, body_length: int) -> int:
    """Check bytes per codeword for a frame body: ``parity``, or the ``auto`` choice."""
    if parity != AUTO:
        return parity
    return next((p for limit, p in AUTO_STEPS if body_length <= limit), FEC_LEVELS["high"])


def parse_body(data: bytes) -> Frame | None:
    """Parse a frame after FEC; ``None`` unless the CRC and every header field check out."""
    if len(data) < SHORT_HEADER + CRC_BYTES + 1:
        return None
    (crc,) = struct.unpack_from(">I", data, len(data) - CRC_BYTES)
    if zlib.crc32(data[:-CRC_BYTES]) != crc:
        return None
    flags, sender, sequence = struct.unpack_from(">BHB", data)
    if flags >> 4 != VERSION:
        return None
    if not flags & _FRAGMENTED:
        return Frame(sender, sequence, bytes(data[SHORT_HEADER:-CRC_BYTES]), flags & 0x03, bool(flags & _AUTHENTICATED))
    if len(data) < LONG_HEADER + CRC_BYTES + 1:
        return None
    index, k, m, pad = data[SHORT_HEADER:LONG_HEADER]
    chunk = bytes(data[LONG_HEADER:-CRC_BYTES])
    if k == 0 or k + m > MAX_FRAGMENTS or k + m < 2 or index >= k + m or pad >= len(chunk):
        return None
    return Frame(sender, sequence, chunk, flags & 0x03, bool(flags & _AUTHENTICATED), index, k, m, pad)


def auto_parities(length: int) -> list[int]:
    """The check bytes ``auto`` may have given a frame of ``length`` bytes on air (usually one)."""
    candidates = [p for _, p in AUTO_STEPS] + [FEC_LEVELS["high"]]
    return [p for p in candidates
            if (body := decoded_length(length, p)) > 0 and frame_parity(AUTO, body) == p]


def decode_frame(data: bytes, parity: int) -> Frame | None:
    """Undo FEC and parse; tries ``parity`` first, then what ``auto`` gives a frame this long,
    then the other standard strengths, so any sender's setting is understood."""
    first = [] if parity == AUTO else [parity]
    for p in dict.fromkeys([*first, *auto_parities(len(data)), *sorted(FEC_LEVELS.values(), key=lambda v: v == 0)]):
        body = fec_decode(data, p)
        if body is not None and (frame := parse_body(body)) is not None:
            return frame
    return None


@dataclass(frozen=True)
class FrameCoding:
    """How the sender cuts and protects messages."""

    mtu: int = 237
    parity: int = AUTO
    erasure: float = 0.0
    """Parity fragments per data fragment (0.5: one lost fragment in three is repaired)."""
    sender: int = 1

    def capacity(self, header: int) -> int:
        """Largest chunk whose frame still fits the MTU after FEC."""
        data = self.mtu
        while data > 0 and encoded_length(data, frame_parity(self.parity, data)) > self.mtu:
            data -= 1
        return data - header - CRC_BYTES


def min_mtu(parity: int) -> int:
    """Smallest MTU whose frames carry at least one byte of a fragmented message with this FEC."""
    mtu = LONG_HEADER + CRC_BYTES + 1
    while FrameCoding(mtu, parity).capacity(LONG_HEADER) < 1:
        mtu += 1
    return mtu


def fragment(payload: bytes, sequence: int, coding: FrameCoding, *, type: int = 0,
             authenticated: bool = False) -> list[Frame]:
    """Cut ``payload`` into frames that fit ``coding.mtu`` on air, with erasure parity if asked."""
    if not payload:
        raise FrameError("nothing to send: empty payload")
    sequence %= 256
    if coding.erasure <= 0 and len(payload) <= coding.capacity(SHORT_HEADER):
        return [Frame(coding.sender, sequence, bytes(payload), type, authenticated)]
    size = coding.capacity(LONG_HEADER)
    if size < 1:
        raise FrameError(f"MTU {coding.mtu} is too small for a fragment with FEC parity {coding.parity}")
    k = -(-len(payload) // size)
    m = parity_count(k, coding.erasure)
    if k + m > MAX_FRAGMENTS:
        raise FrameError(
            f"message of {len(payload)} bytes needs {k + m} fragments at MTU {coding.mtu}; at most {MAX_FRAGMENTS} fit"
        )
    length = -(-len(payload) // k)
    pad = k * length - len(payload)
    padded = bytes(payload) + bytes(pad)
    chunks = [padded[i * length : (i + 1) * length] for i in range(k)]
    chunks += erasure_encode(chunks, m)
    return [Frame(coding.sender, sequence, c, type, authenticated, i, k, m, pad) for i, c in enumerate(chunks)]


@dataclass
class ReassemblyStats:
    messages: int = 0
    duplicates: int = 0
    """Frames of a message already delivered (repeats, digipeated copies): ignored."""
    timeouts: int = 0
    """Messages still incomplete after the timeout: dropped, never half-spoken."""
    conflicts: int = 0
    """Fragments whose k/m/pad disagree with the rest of their message."""
    evicted: int = 0
    """Incomplete messages dropped to stay within the reassembly caps (a flood of fragments)."""


@dataclass
class _Pending:
    first_seen: float
    frame: Frame
    chunks: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivered:
    """A complete message off the link: its payload and who sent it."""

    sender: int
    sequence: int
    type: int
    authenticated: bool
    payload: bytes


def _digest(frame: Frame) -> bytes:
    return hashlib.blake2s(frame.body(), digest_size=8).digest()


class Reassembler:
    """Collects fragments per (sender, sequence) and hands out each message once.

    A message is complete when any k of its k + m fragments are in.  Messages that stay
    incomplete for ``timeout`` seconds are dropped (at 30 bit/s a 237-byte frame is a minute
    of air, so the default is generous).  Frames of a message that was already delivered are
    recognised by their digest and ignored for ``timeout`` seconds; a frame with the same
    sequence number but different content is a new message (the 8-bit sequence wrapped).

    The frame layer has no key, so anyone on the channel can open (sender, sequence) pairs:
    what is held is capped (``MAX_PENDING_PER_SENDER`` and ``MAX_PENDING`` incomplete messages,
    ``MAX_PENDING_BYTES`` of their fragments, ``MAX_DONE`` delivered messages remembered), and
    past a cap the oldest is dropped and counted (``stats.evicted``).  A flood can so cost a
    slow multi-fragment message its head start, as noise can, but never the station's memory.
    """

    def __init__(self, timeout: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self.stats = ReassemblyStats()
        self._pending: dict[tuple[int, int], _Pending] = {}
        """Insertion-ordered: the first is the oldest."""
        self._done: dict[tuple[int, int], tuple[float, set[bytes]]] = {}
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        """Bytes of fragments held for incomplete messages."""
        return self._bytes

    def _drop(self, key: tuple[int, int]) -> None:
        pending = self._pending.pop(key)
        self._bytes -= sum(map(len, pending.chunks.values()))

    def _make_room(self, incoming: int, sender: int | None = None) -> None:
        """Evict the oldest incomplete messages until ``incoming`` more bytes fit and, for a
        new message of ``sender``, one more message."""
        mine = [key for key in self._pending if key[0] == sender]
        while len(mine) >= MAX_PENDING_PER_SENDER:
            self._drop(mine.pop(0))
            self.stats.evicted += 1
        new = sender is not None
        while self._pending and ((new and len(self._pending) >= MAX_PENDING)
                                 or self._bytes + incoming > MAX_PENDING_BYTES):
            self._drop(next(iter(self._pending)))
            self.stats.evicted += 1

    @property
    def incomplete(self) -> int:
        return len(self._pending)

    def expire(self) -> int:
        """Drop what has waited too long; returns how many incomplete messages were dropped."""
        now = self.clock()
        stale = [key for key, p in self._pending.items() if now - p.first_seen > self.timeout]
        for key in stale:
            self._drop(key)
        self.stats.timeouts += len(stale)
        for key in [key for key, (t, _) in self._done.items() if now - t > self.timeout]:
            del self._done[key]
        return len(stale)

    def push(self, frame: Frame) -> Delivered | None:
        self.expire()
        key = (frame.sender, frame.sequence)
        digest = _digest(frame)
        done = self._done.get(key)
        if done is not None:
            if digest in done[1]:
                self.stats.duplicates += 1
                return None
            del self._done[key]
        pending = self._pending.get(key)
        if pending is not None and not _same_message(pending.frame, frame):
            self.stats.conflicts += 1
            self._drop(key)
            pending = None
        if pending is None:
            self._make_room(len(frame.chunk), frame.sender)
            pending = self._pending[key] = _Pending(self.clock(), frame)
        elif frame.index not in pending.chunks and self._bytes + len(frame.chunk) > MAX_PENDING_BYTES:
            self._make_room(len(frame.chunk))
            if key not in self._pending:
                return None
        if frame.index not in pending.chunks:
            pending.chunks[frame.index] = frame.chunk
            self._bytes += len(frame.chunk)
        k, m = frame.data_fragments, frame.parity_fragments
        if len(pending.chunks) < k:
            return None
        chunks = erasure_decode(pending.chunks, k, m)
        if chunks is None:
            return None
        self._drop(key)
        every = chunks + erasure_encode(chunks, m)
        while len(self._done) >= MAX_DONE:
            del self._done[next(iter(self._done))]
        self._done[key] = (self.clock(), {_digest(replace(frame, index=i, chunk=c)) for i, c in enumerate(every)})
        self.stats.messages += 1
        payload = b"".join(chunks)
        return Delivered(frame.sender, frame.sequence, frame.type, frame.authenticated,
                         payload[: len(payload) - frame.pad])


def _same_message(a: Frame, b: Frame) -> bool:
    return (a.type, a.authenticated, a.data_fragments, a.parity_fragments, a.pad) == (
        b.type, b.authenticated, b.data_fragments, b.parity_fragments, b.pad)
