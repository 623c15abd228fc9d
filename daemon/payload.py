"""Payload: a message as the fewest bytes that carry it, behind a one-byte versioned header.

Format version 1 (this file).  All integers are unsigned LEB128 varints.

    offset  size  field
    0       1     header: bits 7..4 format version (1); bit 3 timing present;
                  bits 2..0 text coding: 0 = UTF-8, 1 = Brotli (quality 11, text mode)
    1       var   if timing present: phrase count N, then N times
                    chars   the phrase's length in characters of the decoded text
                    pause   silence before the phrase, units of 50 ms
                    length  duration of the phrase, units of 50 ms
    ...     rest  the text, coded as the header says (its length is implied by the payload's)

Without timing, the text is one phrase.  The receiver rejects a version it does not know with
a clear error rather than guessing, so later formats (a language-model text coder, per-word
prosody) can be added under new version numbers and coexist with this one.

Test vector (``tests/test_payload.py``): text " Hello there. Over." with phrases
(" Hello there.", 0.5 s pause, 0.9 s) and (" Over.", 0.3 s, 0.4 s), UTF-8 coding →
``18 02 0d 0a 12 06 06 08`` followed by the UTF-8 bytes of the text.
"""

from __future__ import annotations

from enum import IntEnum

import brotli

from .errors import FrameError
from .message import Message, Phrase
from .varint import decode_varint, encode_varint

VERSION = 1
UNITS_PER_SECOND = 20
"""Timing resolution: 50 ms, below what a listener notices in a pause."""
_TIMING = 0x08


class TextCoding(IntEnum):
    UTF8 = 0
    BROTLI = 1


def _encode_text(text: str, coding: TextCoding) -> bytes:
    raw = text.encode("utf-8")
    if coding is TextCoding.BROTLI:
        return brotli.compress(raw, mode=brotli.MODE_TEXT, quality=11, lgwin=10)
    return raw


def _decode_text(data: bytes, coding: TextCoding) -> str:
    try:
        raw = brotli.decompress(data) if coding is TextCoding.BROTLI else data
        return raw.decode("utf-8")
    except (brotli.error, UnicodeDecodeError) as e:
        raise FrameError(f"payload text does not decode ({e})") from None


def _units(seconds: float) -> int:
    return max(0, round(seconds * UNITS_PER_SECOND))


def encode_payload(message: Message, coding: TextCoding = TextCoding.BROTLI, timing: bool = True) -> bytes:
    text = "".join(p.text for p in message.phrases)
    header = VERSION << 4 | int(coding)
    body = bytearray()
    if timing:
        header |= _TIMING
        body += encode_varint(len(message.phrases))
        for p in message.phrases:
            body += encode_varint(len(p.text)) + encode_varint(_units(p.pause)) + encode_varint(_units(p.seconds))
    return bytes([header]) + bytes(body) + _encode_text(text, coding)


def decode_payload(data: bytes) -> Message:
    if not data:
        raise FrameError("empty payload")
    header = data[0]
    version = header >> 4
    if version != VERSION:
        raise FrameError(f"payload format version {version} is not supported (this telephrase reads version {VERSION})")
    try:
        coding = TextCoding(header & 0x07)
    except ValueError:
        raise FrameError(f"unknown text coding {header & 0x07}") from None
    offset = 1
    spans: list[tuple[int, float, float]] = []
    try:
        if header & _TIMING:
            count, offset = decode_varint(data, offset)
            for _ in range(count):
                chars, offset = decode_varint(data, offset)
                pause, offset = decode_varint(data, offset)
                length, offset = decode_varint(data, offset)
                spans.append((chars, pause / UNITS_PER_SECOND, length / UNITS_PER_SECOND))
    except ValueError as e:
        raise FrameError(f"payload timing block is corrupt ({e})") from None
    text = _decode_text(data[offset:], coding)
    if not spans:
        return Message((Phrase(text),))
    if sum(chars for chars, _, _ in spans) != len(text):
        raise FrameError("payload timing does not match its text")
    phrases, start = [], 0
    for chars, pause, length in spans:
        phrases.append(Phrase(text[start : start + chars], pause, length))
        start += chars
    return Message(tuple(phrases))
