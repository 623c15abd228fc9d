"""Unsigned LEB128 integers: one byte up to 127, so small counts and times cost 8 bits."""

from __future__ import annotations


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, offset: int) -> tuple[int, int]:
    """Return (value, next offset); raises ValueError on truncated or over-long input."""
    value = shift = 0
    while True:
        if offset >= len(data):
            raise ValueError("truncated varint")
        if shift > 63:
            raise ValueError("varint too long")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset
