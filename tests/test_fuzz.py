"""Fuzzing the receive path: no crash, no hang, no frame accepted that was not sent.

The benchmark (``telephrase bench-link --fuzz 1000000``) runs the mutation fuzzer over a
million frames; here a bounded run and hypothesis keep every change honest.
"""

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from telephrase.bench.link import fuzz
from telephrase.codec.payload import decode_payload
from telephrase.errors import FrameError
from telephrase.link.framing import FEC_LEVELS, FrameCoding, Reassembler, decode_frame, fragment
from telephrase.link.kiss import KissDecoder
from telephrase.link.rawstream import RawStreamDecoder


def test_mutation_fuzzer_finds_no_false_accept():
    started = time.perf_counter()
    result = fuzz(20_000, seed=7, progress=False)
    assert result["crashes"] == 0 and result["false_accepts"] == 0
    assert result["accepted_after_mutation"] > 0
    assert result["slowest_frame_seconds"] < 1.0
    assert time.perf_counter() - started < 120


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(sorted(FEC_LEVELS.values())))
def test_arbitrary_bytes_never_crash_the_receiver(data, parity):
    frame = decode_frame(data, parity)
    if frame is not None:
        delivered = Reassembler().push(frame)
        if delivered is not None:
            try:
                decode_payload(delivered.payload)
            except FrameError:
                pass
    KissDecoder().feed(data)
    RawStreamDecoder().feed(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.sampled_from(sorted(FEC_LEVELS.values())),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=30))
def test_damaged_frames_are_repaired_or_refused_never_altered(payload, parity, damage):
    for frame in fragment(payload, 1, FrameCoding(parity=parity)):
        wire = bytearray(frame.encode(parity))
        for position, flip in damage:
            wire[position % len(wire)] ^= flip
        assert decode_frame(bytes(wire), parity) in (None, frame)
