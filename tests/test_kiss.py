import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephrase.link.kiss import FEND, FESC, KissDecoder, kiss_encode


def feed_split(decoder: KissDecoder, data: bytes, rng: random.Random) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(data):
        step = rng.randint(1, 16)
        out += decoder.feed(data[i : i + step])
        i += step
    return out


def test_docstring_test_vectors():
    assert kiss_encode(b"hi", port=2) == bytes.fromhex("c0 20 68 69 c0")
    assert kiss_encode(b"\xc0\x01\xdb") == bytes.fromhex("c0 00 db dc 01 db dd c0")
    assert kiss_encode(b"hi", port=12) == bytes.fromhex("c0 db dc 68 69 c0")
    assert KissDecoder().feed(bytes.fromhex("c0 00 db dc 01 db dd c0 c0 20 68 69 c0 c0 db dc 68 69 c0")) == [
        (0, b"\xc0\x01\xdb"),
        (2, b"hi"),
        (12, b"hi"),
    ]


def test_every_byte_value_round_trips_and_only_delimiters_are_fend():
    for value in range(256):
        wire = kiss_encode(bytes([value]) * 3, port=value % 16)
        assert wire.count(FEND) == 2
        assert KissDecoder().feed(wire) == [(value % 16, bytes([value]) * 3)]
    frame = bytes(range(256))
    assert KissDecoder().feed(kiss_encode(frame)) == [(0, frame)]


def test_frames_made_only_of_special_bytes():
    rng = random.Random(7)
    frames = [bytes(rng.choice([FEND, FESC]) for _ in range(n)) for n in (1, 2, 3, 50, 300)]
    wire = b"".join(kiss_encode(f) for f in frames)
    assert KissDecoder().feed(wire) == [(0, f) for f in frames]


def test_byte_by_byte_and_random_splits_give_the_same_frames():
    rng = random.Random(3)
    frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))) for _ in range(40)]
    wire = b"".join(kiss_encode(f, port=i % 16) for i, f in enumerate(frames))
    expected = [(i % 16, f) for i, f in enumerate(frames)]
    assert KissDecoder().feed(wire) == expected
    one_by_one = KissDecoder()
    assert [pair for b in wire for pair in one_by_one.feed(bytes([b]))] == expected
    for seed in range(20):
        assert feed_split(KissDecoder(), wire, random.Random(seed)) == expected


def test_bytes_before_the_first_fend_are_discarded():
    decoder = KissDecoder()
    tail_of_a_frame = b"\x00half a frame"
    assert decoder.feed(tail_of_a_frame + kiss_encode(b"whole")) == [(0, b"whole")]
    assert decoder.discarded == len(tail_of_a_frame)
    assert decoder.frames == 1


def test_back_to_back_fends_are_skipped():
    decoder = KissDecoder()
    assert decoder.feed(b"\xc0\xc0\xc0" + kiss_encode(b"a") + b"\xc0\xc0" + kiss_encode(b"b")) == [(0, b"a"), (0, b"b")]
    assert (decoder.frames, decoder.errors, decoder.commands) == (2, 0, 0)


def test_an_empty_data_frame_is_still_a_frame():
    assert KissDecoder().feed(kiss_encode(b"")) == [(0, b"")]


def test_non_data_commands_are_counted_and_skipped():
    decoder = KissDecoder()
    tx_delay, leave_kiss = bytes.fromhex("c0 01 32 c0"), bytes.fromhex("c0 ff c0")
    assert decoder.feed(tx_delay + kiss_encode(b"data") + leave_kiss) == [(0, b"data")]
    assert decoder.commands == 2


@pytest.mark.parametrize(
    "bad", ["c0 00 61 db 00 62 c0", "c0 00 61 db db 62 c0", "c0 00 61 db c0"], ids=["FESC 00", "FESC FESC", "FESC FEND"]
)
def test_invalid_escapes_drop_the_frame_and_are_counted(bad):
    decoder = KissDecoder()
    wire = kiss_encode(b"before") + bytes.fromhex(bad) + kiss_encode(b"after")
    assert decoder.feed(wire) == [(0, b"before"), (0, b"after")]
    assert decoder.errors == 1


def test_oversized_frames_are_dropped_and_bound_memory():
    decoder = KissDecoder(max_frame=100)
    wire = kiss_encode(bytes(100)) + kiss_encode(bytes(101)) + kiss_encode(b"next")
    assert decoder.feed(wire) == [(0, bytes(100)), (0, b"next")]
    assert decoder.errors == 1


def test_reset_forgets_a_partial_frame():
    decoder = KissDecoder()
    assert decoder.feed(kiss_encode(b"lost frame")[:6]) == []
    decoder.reset()
    assert decoder.feed(b"\x00stale" + kiss_encode(b"fresh")) == [(0, b"fresh")]


def test_ports_outside_0_to_15_are_refused():
    with pytest.raises(ValueError, match="0..15"):
        kiss_encode(b"x", port=16)


@given(
    st.lists(st.tuples(st.integers(0, 15), st.binary(max_size=300)), max_size=20),
    st.randoms(use_true_random=False),
)
def test_encode_then_split_decode_is_identity(frames, rng):
    wire = b"".join(kiss_encode(frame, port) for port, frame in frames)
    assert feed_split(KissDecoder(), wire, rng) == frames
