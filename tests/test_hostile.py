"""Hostile payloads and fragment floods: every decoder bounds what it produces before it
allocates, and refuses (with a reason) what claims more than its bytes could carry.

Each attack is one short payload, the kind anyone on a keyless channel can send; each test
asserts the refusal, its reason, and a memory and time bound on the decoding."""

from __future__ import annotations

import logging
import random
import time
import tracemalloc

import brotli
import pytest

from test_payload import load_text_model
from telephrase.codec import bounds
from telephrase.codec.bounds import BoundError, check_message
from telephrase.config import Config
from telephrase.droplog import DropLog
from telephrase.errors import FrameError
from telephrase.link.framing import (MAX_DONE, MAX_PENDING, MAX_PENDING_BYTES, MAX_PENDING_PER_SENDER, Frame,
                                FrameCoding, Reassembler, fragment)
from telephrase.codec.message import Message, Phrase, WordMark
from telephrase.codec.payload import TextCoding, decode_payload, encode_payload
from telephrase.codec.varint import encode_varint
from telephrase.pipeline import Engines, Receiver

MEMORY_BOUND = 4 << 20
"""Bytes of Python memory one hostile payload may cost to refuse."""
TIME_BOUND = 2.0


@pytest.fixture(scope="module")
def words():
    return load_text_model("en-words")


def refused(payload: bytes, words=None) -> BoundError:
    """Decode ``payload`` expecting a bound's refusal; asserts the cost of finding out (after
    a first decoding, which may load a text model once)."""
    with pytest.raises(BoundError):
        decode_payload(payload, words)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(BoundError) as e:
            decode_payload(payload, words)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{peak} bytes to refuse a {len(payload)}-byte payload"
    assert seconds < TIME_BOUND
    return e.value


def format1(text: bytes, coding: int = 1, spans: list[tuple[int, int, int]] | None = None,
            count: int | None = None) -> bytes:
    body = b""
    if spans is not None:
        body = encode_varint(len(spans) if count is None else count)
        body += b"".join(encode_varint(c) + encode_varint(p) + encode_varint(d) for c, p, d in spans)
    return bytes([0x10 | (0x08 if spans is not None else 0) | coding]) + body + text


def test_brotli_bomb_is_refused_before_it_expands():
    bomb = brotli.compress(b"over " * 2_000_000, quality=11)
    assert len(bomb) < 64
    assert refused(format1(bomb)).reason == "text"


def test_brotli_bomb_with_timing_is_refused():
    bomb = brotli.compress(b"a" * 10_000_000, quality=11)
    assert refused(format1(bomb, spans=[(10_000_000, 0, 0)])).reason == "text"


@pytest.mark.parametrize("pause_units", [2**62, 3600 * 20, int(bounds.MAX_PAUSE * 20) + 1])
def test_huge_pauses_are_refused(pause_units):
    assert refused(format1(b"hi", 0, [(2, pause_units, 10)])).reason == "pause"


@pytest.mark.parametrize("length_units", [2**62, 3600 * 20])
def test_phrases_longer_than_their_text_could_take_are_refused(length_units):
    assert refused(format1(b"hi", 0, [(2, 0, length_units)])).reason == "duration"


def test_a_billion_phrases_are_refused_before_they_are_read():
    assert refused(format1(b"hi", 0, [(2, 0, 10)], count=10**9)).reason == "phrases"


def test_many_pauses_cannot_add_up_past_the_message_bound():
    """Thirty phrases of one character and 30 s of silence each: 15 minutes from 99 bytes."""
    spans = [(1, int(bounds.MAX_PAUSE * 20), 1)] * 30
    assert refused(format1(b"a" * 30, 0, spans)).reason == "duration"


@pytest.mark.parametrize("header", [0x21, 0x29, 0x39, 0x49, 0x48, 0x4d])
def test_lm_streams_that_never_end_are_refused(words, header):
    """A decoder past the end of its bytes reads zeros for ever: the text bound stops it,
    in every LM format, with and without timing and word prosody."""
    assert refused(bytes([header]) + b"\x00" * 40, words).reason == "text"
    for filler in (b"\xff", b"\x55"):
        try:
            check_message(decode_payload(bytes([header]) + filler * 40, words), 41)
        except FrameError:
            pass


def test_word_durations_are_bounded(words):
    message = Message((Phrase(" yes", 0.0, 0.4),), "en", (WordMark(" yes", 3600.0, None),))
    with pytest.raises(BoundError) as e:
        check_message(message, 10)
    assert e.value.reason == "duration"


def test_the_encoder_never_makes_what_the_decoder_refuses(words, neural):
    """A recording with a minute of silence in it: format 1 clips the pause, the LM formats'
    bins stop at 8 s; both decode."""
    message = Message((Phrase(" Hello there.", 0.0, 0.9), Phrase(" Over.", 60.0, 0.4)), "en")
    for coding in TextCoding:
        payload = encode_payload(message, coding, words=words, neural=neural)
        assert decode_payload(payload, words, neural=lambda: neural).text == message.text


def test_a_message_longer_than_any_receiver_accepts_is_refused_at_the_sender(words):
    long = Message(tuple(Phrase(" talk", 0.0, 30.0) for _ in range(40)), "en")
    with pytest.raises(FrameError, match="split the recording"):
        encode_payload(long, TextCoding.LM, words=words)


# Fuzzing through the real encoders: real payloads of every format, their fields mutated.

MESSAGES = [
    Message((Phrase(" Hello there.", 0.5, 0.9), Phrase(" Over.", 0.3, 0.4)), "en"),
    Message((Phrase(" He should make inquiries as to symptoms,", 0.0, 2.6),
             Phrase(" and time at which food or medicine must last taken.", 0.4, 3.0)), "en"),
]


def with_marks(message: Message, rng: random.Random) -> Message:
    import re

    tokens = re.findall(r"\S+", message.text)
    marks = []
    for phrase in message.phrases:
        for m in re.finditer(r"\s*\S+", phrase.text):
            marks.append(WordMark(m.group(), 0.05 + 0.1 * rng.random() * len(m.group()),
                                  rng.choice([None, rng.uniform(-2, 12)])))
    assert len(marks) == len(tokens)
    return Message(message.phrases, message.language, tuple(marks), 4.0)


def real_payloads(words) -> list[bytes]:
    rng = random.Random(3)
    out = []
    for message in MESSAGES:
        marked = with_marks(message, rng)
        out.append(encode_payload(message, TextCoding.UTF8))
        out.append(encode_payload(message, TextCoding.BROTLI))
        out.append(encode_payload(message, TextCoding.BROTLI, timing=False))
        out.append(encode_payload(message, TextCoding.LM, words=words))
        out.append(encode_payload(message, TextCoding.LM, False, words))
        out.append(encode_payload(marked, TextCoding.LM, words=words, word_prosody=True, word_durations=False))
        out.append(encode_payload(marked, TextCoding.LM, words=words, word_prosody=True, word_durations=True))
    return out


def mutations(payload: bytes, rng: random.Random):
    """Every header value, every single-bit flip, and random rewrites of byte runs."""
    for header in range(256):
        yield bytes([header]) + payload[1:]
    for i in range(len(payload) * 8):
        yield payload[: i // 8] + bytes([payload[i // 8] ^ (0x80 >> (i % 8))]) + payload[i // 8 + 1 :]
    for _ in range(200):
        start = rng.randrange(len(payload))
        run = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
        yield payload[:start] + run + payload[start + len(run) :]
        yield payload + run
        yield payload[:start]


def test_mutated_real_payloads_are_either_bounded_messages_or_clear_refusals(words):
    rng = random.Random(11)
    decoded = refusals = slowest = 0
    reasons: set[str] = set()
    for payload in real_payloads(words):
        assert decode_payload(payload, words).text
        for mutated in mutations(payload, rng):
            started = time.perf_counter()
            try:
                message = decode_payload(mutated, words)
            except FrameError as e:
                refusals += 1
                if isinstance(e, BoundError):
                    reasons.add(e.reason)
            else:
                decoded += 1
                check_message(message, len(mutated))
            slowest = max(slowest, time.perf_counter() - started)
    assert decoded > 1000 and refusals > 1000
    assert "text" in reasons
    assert slowest < TIME_BOUND


# Reassembly under a flood of fragments.

def flood(count: int, rng: random.Random, sender: int | None = None):
    for _ in range(count):
        k = rng.randrange(2, 200)
        yield Frame(rng.randrange(1 << 16) if sender is None else sender, rng.randrange(256),
                    bytes(rng.randrange(256) for _ in range(200)), index=rng.randrange(k), data_fragments=k,
                    parity_fragments=0, pad=0)


def wanted(payload: bytes, sender: int = 42) -> list[Frame]:
    return fragment(payload, 5, FrameCoding(mtu=64, sender=sender))


def test_sixty_thousand_fragments_hold_bounded_memory_and_a_real_message_still_arrives():
    reassembler = Reassembler()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        for frame in flood(60_000, random.Random(1)):
            assert reassembler.push(frame) is None
            assert reassembler.incomplete <= MAX_PENDING and reassembler.held_bytes <= MAX_PENDING_BYTES
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_PENDING_BYTES + (8 << 20)
    assert time.perf_counter() - started < 120
    assert reassembler.stats.evicted >= 60_000 - MAX_PENDING
    payload = bytes(range(256)) * 2
    delivered = [d for f in wanted(payload) if (d := reassembler.push(f)) is not None]
    assert [d.payload for d in delivered] == [payload]


def test_a_flood_under_one_sender_id_does_not_evict_another_senders_message():
    reassembler = Reassembler()
    payload = bytes(range(200))
    first, *rest = wanted(payload, sender=42)
    reassembler.push(first)
    for frame in flood(5_000, random.Random(2), sender=666):
        reassembler.push(frame)
    assert sum(1 for key in reassembler._pending if key[0] == 666) <= MAX_PENDING_PER_SENDER
    delivered = [d for f in rest if (d := reassembler.push(f)) is not None]
    assert [d.payload for d in delivered] == [payload]


def test_remembered_deliveries_are_capped():
    reassembler = Reassembler()
    for i in range(MAX_DONE + 500):
        reassembler.push(Frame(i % 65536, i % 256, b"x" + i.to_bytes(4, "big")))
    assert len(reassembler._done) == MAX_DONE


# The receiver: refusals counted by reason, junk logged as a summary.

def test_receiver_counts_refusals_by_reason_and_speaks_none(caplog):
    receiver = Receiver(Config(), Engines(Config()))
    coding = FrameCoding()
    attacks = [format1(brotli.compress(b"a" * 10_000_000)), format1(b"hi", 0, [(2, 2**62, 10)]),
               format1(b"hi", 0, [(2, 72000, 10)])]
    for sequence, payload in enumerate(attacks):
        for frame in fragment(payload, sequence, coding):
            assert receiver.accept(frame.encode(coding.parity)) is None
    assert receiver.stats.refused == {"text": 1, "pause": 2}
    assert receiver.stats.bad_payloads == 3 and receiver.stats.messages == 0


def test_junk_frames_are_logged_as_a_summary_not_one_line_each(caplog):
    clock = [0.0]
    receiver = Receiver(Config(), Engines(Config()))
    receiver.drops = DropLog(logging.getLogger("telephrase.pipeline"), 60.0, lambda: clock[0])
    rng = random.Random(5)
    with caplog.at_level(logging.INFO, logger="telephrase"):
        for i in range(10_000):
            clock[0] = i * 0.01
            receiver.accept(bytes(rng.randrange(256) for _ in range(rng.randrange(10, 60))))
        receiver.drops.flush()
        clock[0] = 200.0
        receiver.drops.flush()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert receiver.stats.bad_frames == 10_000
    assert 2 <= len(lines) <= 4, lines
    assert any("more frames beyond repair" in line for line in lines)
    total = sum(int(line.split()[0]) for line in lines if "more frames" in line) + \
        sum(1 for line in lines if line.startswith("dropped"))
    assert total == 10_000
