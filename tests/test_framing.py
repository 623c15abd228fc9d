import math
import random

import pytest

from telephrase.errors import FrameError
from telephrase.link.framing import (
    CRC_BYTES, LONG_HEADER, SHORT_HEADER, Frame, FrameCoding, Reassembler, decode_frame, fragment, parse_body,
)


def test_version_2_test_vector():
    (frame,) = fragment(b"hi", 7, FrameCoding(parity=0, sender=0x0102))
    assert frame.encode(0) == bytes.fromhex("20 01 02 07 68 69 bd 02 6b 78")
    assert parse_body(frame.encode(0)) == frame


def test_fragment_header_test_vector():
    frames = fragment(bytes(range(10)), 200, FrameCoding(mtu=LONG_HEADER + CRC_BYTES + 4, parity=0, sender=5))
    assert [f.index for f in frames] == [0, 1, 2] and frames[0].pad == 2
    assert frames[2].encode(0)[:LONG_HEADER + 4] == bytes.fromhex("28 00 05 c8 02 03 00 02 08 09 00 00")


@pytest.mark.parametrize("parity", [0, 8, 16, 32])
@pytest.mark.parametrize("mtu", [20, 64, 237, 340])
def test_frames_fit_the_mtu_and_reassemble_in_any_order(parity, mtu):
    coding = FrameCoding(mtu=mtu, parity=parity)
    payload = random.Random(mtu + parity).randbytes(700)
    if coding.capacity(LONG_HEADER) < 1:
        with pytest.raises(FrameError, match="too small"):
            fragment(payload, 1, coding)
        return
    wire = [f.encode(parity) for f in fragment(payload, 1, coding)]
    assert all(len(w) <= mtu for w in wire)
    random.Random(0).shuffle(wire)
    r = Reassembler()
    got = [r.push(decode_frame(w, parity)) for w in wire]
    assert [g.payload for g in got if g] == [payload]


def test_single_frame_messages_use_the_short_header():
    (frame,) = fragment(b"x" * 40, 0, FrameCoding(parity=16))
    assert len(frame.encode(16)) == 40 + SHORT_HEADER + CRC_BYTES + 16


@pytest.mark.parametrize("parity", [8, 16, 32])
def test_fec_repairs_byte_errors_up_to_half_the_parity(parity):
    (frame,) = fragment(bytes(range(100)), 3, FrameCoding(parity=parity))
    wire = bytearray(frame.encode(parity))
    rng = random.Random(parity)
    for i in rng.sample(range(len(wire)), parity // 2):
        wire[i] ^= rng.randrange(1, 256)
    assert decode_frame(bytes(wire), parity) == frame


def test_receiver_detects_the_senders_fec_strength():
    (frame,) = fragment(b"hello", 3, FrameCoding(parity=32))
    assert decode_frame(frame.encode(32), parity=8) == frame


def test_every_single_bit_error_is_caught_without_fec():
    wire = fragment(b"telephrase frame", 200, FrameCoding(parity=0))[0].encode(0)
    for bit in range(len(wire) * 8):
        damaged = bytearray(wire)
        damaged[bit // 8] ^= 1 << (bit % 8)
        assert decode_frame(bytes(damaged), 0) is None, f"bit {bit} went undetected"


def test_erasure_coding_survives_lost_fragments():
    coding = FrameCoding(mtu=60, parity=8, erasure=0.5)
    payload = random.Random(1).randbytes(400)
    frames = fragment(payload, 9, coding)
    k, m = frames[0].data_fragments, frames[0].parity_fragments
    assert m == -(-k // 2)
    for trial in range(20):
        kept = random.Random(trial).sample(frames, k)
        r = Reassembler()
        got = [r.push(decode_frame(f.encode(8), 8)) for f in kept]
        assert got[-1] is not None and got[-1].payload == payload
    r = Reassembler()
    assert all(r.push(f) is None for f in frames[: k - 1])


def test_erasure_on_a_single_frame_message_sends_a_spare():
    frames = fragment(b"short", 1, FrameCoding(erasure=0.5))
    assert len(frames) == 2
    assert Reassembler().push(frames[1]).payload == b"short"


def test_duplicates_are_delivered_once_and_wrapped_sequences_are_new():
    coding = FrameCoding(mtu=40, parity=0, erasure=0.5)
    frames = fragment(b"a" * 100, 4, coding)
    r = Reassembler()
    got = [r.push(f) for f in frames + frames]
    assert sum(g is not None for g in got) == 1
    assert r.stats.duplicates == len(frames) + len(frames) - frames[0].data_fragments
    again = fragment(b"b" * 100, 4 + 256, coding)
    assert [g.payload for f in again if (g := r.push(f))] == [b"b" * 100]


def test_incomplete_messages_time_out():
    now = [0.0]
    r = Reassembler(timeout=10, clock=lambda: now[0])
    frames = fragment(b"z" * 300, 2, FrameCoding(mtu=64))
    r.push(frames[0])
    assert r.incomplete == 1
    now[0] = 11
    assert r.expire() == 1 and r.stats.timeouts == 1 and r.incomplete == 0


def test_conflicting_fragments_restart_the_message():
    a = fragment(b"x" * 300, 2, FrameCoding(mtu=64))
    b = fragment(b"y" * 200, 2, FrameCoding(mtu=64))
    r = Reassembler()
    r.push(a[0])
    for f in b:
        result = r.push(f)
    assert result.payload == b"y" * 200 and r.stats.conflicts == 1


def test_bad_input_is_refused():
    with pytest.raises(FrameError, match="empty"):
        fragment(b"", 0, FrameCoding())
    with pytest.raises(FrameError, match="at most 255"):
        fragment(b"x" * 300, 0, FrameCoding(mtu=LONG_HEADER + CRC_BYTES + 1, parity=0))
    assert decode_frame(b"", 16) is None and decode_frame(b"\x00" * 300, 16) is None


def test_header_fields_are_checked():
    good = Frame(1, 1, b"abc", index=0, data_fragments=2, parity_fragments=0, pad=0)
    assert parse_body(good.body()) == good
    for bad in (Frame(1, 1, b"abc", index=2, data_fragments=2), Frame(1, 1, b"abc", index=0, data_fragments=2, pad=3)):
        assert parse_body(bad.body()) is None


def test_auto_fec_sizes_parity_to_the_frame():
    from telephrase.link.framing import AUTO, frame_parity

    assert [frame_parity(AUTO, n) for n in (10, 37, 38, 57, 58, 140, 231, 232, 300)] == [6, 6, 8, 8, 10, 16, 22, 32, 32]
    coding = FrameCoding(mtu=237)
    for size in (10, 60, 150, 600):
        payload = random.Random(size).randbytes(size)
        frames = fragment(payload, 1, coding)
        wire = [f.encode(AUTO) for f in frames]
        assert all(len(w) <= 237 for w in wire)
        r = Reassembler()
        assert [d.payload for w in wire if (d := r.push(decode_frame(w, AUTO)))] == [payload]
    (short,) = fragment(b"x" * 40, 0, coding)
    assert len(short.encode(AUTO)) == 40 + SHORT_HEADER + CRC_BYTES + 8


def test_auto_ladder_follows_its_rule():
    """Each step is the fewest check bytes (even, at least 6) whose codeword fails at most 2 %
    of the time at BER 3e-3, recomputed here from the binomial tail."""
    from telephrase.link.framing import AUTO, AUTO_STEPS, AUTO_TARGET, frame_parity

    ber, limit = AUTO_TARGET
    byte_error = 1 - (1 - ber) ** 8

    def fails(n: int, parity: int) -> float:
        return 1 - sum(math.comb(n, k) * byte_error**k * (1 - byte_error) ** (n - k) for k in range(parity // 2 + 1))

    for body in range(1, AUTO_STEPS[-1][0] + 1):
        fewest = next(p for p in range(6, 64, 2) if fails(body + p, p) <= limit)
        assert frame_parity(AUTO, body) == fewest, body


def test_any_receiver_setting_decodes_auto_frames_of_every_length():
    from telephrase.link.framing import AUTO, FEC_LEVELS

    for size in range(1, 224, 3):
        (frame,) = fragment(bytes(range(256))[:size], 5, FrameCoding(mtu=255))
        wire = bytearray(frame.encode(AUTO))
        wire[len(wire) // 2] ^= 0xFF
        for parity in (AUTO, *FEC_LEVELS.values()):
            assert decode_frame(bytes(wire), parity) == frame, (size, parity)
