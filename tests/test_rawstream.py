import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephrase.link.rawstream import MAX_FRAME, SYNC, RawStreamDecoder, crc8, raw_encode


def feed_split(decoder: RawStreamDecoder, data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        step = rng.randint(1, 16)
        out += decoder.feed(data[i : i + step])
        i += step
    return out


def test_docstring_test_vector_and_crc_check_value():
    assert raw_encode(b"hi") == bytes.fromhex("1a cf fc 1d 00 02 5b 68 69")
    assert crc8(b"123456789") == 0xA1
    assert RawStreamDecoder().feed(bytes.fromhex("1a cf fc 1d 00 02 5b 68 69")) == [b"hi"]


def test_every_byte_value_round_trips():
    for value in range(256):
        assert RawStreamDecoder().feed(raw_encode(bytes([value]) * 5)) == [bytes([value]) * 5]
    frame = bytes(range(256))
    assert RawStreamDecoder().feed(raw_encode(frame)) == [frame]


def test_frames_made_of_kiss_special_bytes_and_of_sync_words():
    frames = [b"\xc0\xdb" * 40, b"\xc0" * 7, SYNC * 10, SYNC[:3], b""]
    assert RawStreamDecoder().feed(b"".join(raw_encode(f) for f in frames)) == frames


def test_byte_by_byte_and_random_splits_give_the_same_frames():
    rng = random.Random(5)
    frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120))) for _ in range(40)]
    wire = b"".join(raw_encode(f) for f in frames)
    assert RawStreamDecoder().feed(wire) == frames
    one_by_one = RawStreamDecoder()
    assert [f for b in wire for f in one_by_one.feed(bytes([b]))] == frames
    for seed in range(20):
        assert feed_split(RawStreamDecoder(), wire, random.Random(seed)) == frames


def test_garbage_before_and_between_frames_is_discarded():
    decoder = RawStreamDecoder()
    noise = bytes(random.Random(1).randrange(256) for _ in range(500)) + SYNC[:3]
    wire = noise + raw_encode(b"one") + b"\x00\xff" + SYNC[:2] + raw_encode(b"two")
    assert decoder.feed(wire) == [b"one", b"two"]
    assert decoder.discarded == len(noise) + 4
    assert decoder.frames == 2


def test_a_false_sync_with_a_bad_header_is_skipped_byte_by_byte():
    decoder = RawStreamDecoder()
    false_sync = SYNC + b"\x00\x05\x00"
    wire = false_sync + raw_encode(b"real")
    assert feed_split(decoder, wire, random.Random(2)) == [b"real"]
    assert decoder.errors == 1
    assert decoder.discarded == len(false_sync)


def test_lengths_over_the_limit_are_rejected_without_buffering():
    length = (MAX_FRAME + 1).to_bytes(2, "big")
    decoder = RawStreamDecoder()
    assert decoder.feed(SYNC + length + bytes([crc8(length)]) + raw_encode(b"after")) == [b"after"]
    assert decoder.errors == 1
    with pytest.raises(ValueError, match="4096"):
        raw_encode(bytes(MAX_FRAME + 1))


def test_endless_noise_is_discarded_not_buffered():
    decoder = RawStreamDecoder()
    rng = random.Random(4)
    for _ in range(200):
        decoder.feed(bytes(rng.randrange(256) for _ in range(100)))
    assert decoder.discarded >= 200 * 100 - (len(SYNC) - 1)


def test_reset_forgets_a_partial_frame():
    decoder = RawStreamDecoder()
    assert decoder.feed(raw_encode(b"cut off by a reconnect")[:12]) == []
    decoder.reset()
    assert decoder.feed(raw_encode(b"fresh")) == [b"fresh"]


# Frames built partly from sync words and header-like bytes, which random binary rarely holds.
frames_with_false_syncs = st.lists(
    st.one_of(st.binary(max_size=60), st.sampled_from([SYNC, SYNC[:3], b"\x00\x05", b"\x1d\x00"])), max_size=8
).map(b"".join)


@given(st.lists(frames_with_false_syncs, max_size=20), st.randoms(use_true_random=False))
def test_encode_then_split_decode_is_identity(frames, rng):
    wire = b"".join(raw_encode(frame) for frame in frames)
    assert feed_split(RawStreamDecoder(), wire, rng) == frames


def test_header_bit_errors_are_tolerated():
    from telephrase.link.rawstream import SYNC_ERRORS

    frame = bytes(range(40))
    for bits in ([0], [3, 17], [33], [44], [50]):
        wire = bytearray(raw_encode(frame))
        for bit in bits:
            wire[bit // 8] ^= 0x80 >> (bit % 8)
        assert RawStreamDecoder().feed(b"\x55" * 5 + bytes(wire)) == [frame], bits
    wire = bytearray(raw_encode(frame))
    for bit in range(SYNC_ERRORS + 1):
        wire[0] ^= 1 << bit
    assert RawStreamDecoder().feed(bytes(wire)) == []
    wire = bytearray(raw_encode(frame))
    wire[4] ^= 0x81
    assert RawStreamDecoder().feed(bytes(wire)) == []
