import random

import pytest

from telephrase.errors import FrameError
from telephrase.framing import OVERHEAD, Reassembler, StreamStats, fragment, parse_frame, split_stream


def test_version_1_test_vector():
    (frame,) = fragment(b"hi", sequence=7, mtu=237)
    assert frame.to_bytes() == bytes.fromhex("11 07 00 02 68 69 27 8c")


def test_fragments_respect_the_mtu_and_reassemble_out_of_order():
    payload = bytes(range(256)) * 3
    frames = fragment(payload, sequence=3, mtu=40)
    assert all(len(f.to_bytes()) <= 40 for f in frames)
    assert len(frames) == -(-len(payload) // (40 - OVERHEAD))
    wire = [f.to_bytes() for f in frames]
    random.Random(1).shuffle(wire)
    r = Reassembler()
    results = [r.push(parse_frame(w)[0]) for w in wire]
    assert results[:-1] == [None] * (len(wire) - 1)
    assert results[-1] == payload
    assert r.incomplete == 0


def test_a_missing_fragment_keeps_the_message_incomplete():
    frames = fragment(b"x" * 100, sequence=1, mtu=30)
    r = Reassembler()
    assert all(r.push(f) is None for f in frames[:-2] + frames[-1:])
    assert r.incomplete == 1


def test_every_single_bit_error_is_detected():
    wire = fragment(b"telephrase frame", sequence=200, mtu=64)[0].to_bytes()
    for bit in range(len(wire) * 8):
        damaged = bytearray(wire)
        damaged[bit // 8] ^= 1 << (bit % 8)
        parsed = parse_frame(bytes(damaged))
        assert parsed is None or parsed[1] != len(wire), f"bit {bit} went undetected"


def test_stream_resynchronises_after_damage():
    frames = [f.to_bytes() for f in fragment(bytes(range(200)), sequence=9, mtu=50)]
    damaged = bytearray(frames[1])
    damaged[6] ^= 0xFF
    stream = b"\x00noise" + frames[0] + bytes(damaged) + frames[2] + frames[3] + frames[4]
    stats = StreamStats()
    got = split_stream(stream, stats)
    assert [f.index for f in got] == [0, 2, 3, 4]
    assert stats.skipped_bytes == 6 + len(damaged)


def test_bad_mtu_and_oversized_messages_are_refused():
    with pytest.raises(FrameError, match="too small"):
        fragment(b"abc", 0, mtu=OVERHEAD)
    with pytest.raises(FrameError, match="at most 256"):
        fragment(b"x" * 257, 0, mtu=OVERHEAD + 1)
    with pytest.raises(FrameError, match="empty"):
        fragment(b"", 0, mtu=100)
