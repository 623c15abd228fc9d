import dataclasses

import pytest

from telephrase.codec.message import Message, Phrase, message_from_transcript
from telephrase.codec.payload import TextCoding, decode_payload, encode_payload
from telephrase.codec.varint import decode_varint, encode_varint
from telephrase.errors import FrameError
from telephrase.speech.prosody import WordProsody
from telephrase.speech.transcribe import Transcript, Word

MESSAGE = Message((Phrase(" Hello there.", 0.5, 0.9), Phrase(" Over.", 0.3, 0.4)))


def test_version_1_test_vector():
    data = encode_payload(MESSAGE, TextCoding.UTF8, timing=True)
    assert data == bytes.fromhex("18 02 0d 0a 12 06 06 08") + " Hello there. Over.".encode()
    assert decode_payload(data) == MESSAGE


@pytest.mark.parametrize("coding", [TextCoding.UTF8, TextCoding.BROTLI])
@pytest.mark.parametrize("timing", [True, False])
def test_round_trip_any_unicode(coding, timing):
    text = " Grüße aus Köln, 東京 and 🚀 — ça va? Straße №5"
    message = Message((Phrase(text, 0.25, 3.15),))
    decoded = decode_payload(encode_payload(message, coding, timing))
    assert decoded.text == message.text
    if timing:
        assert decoded == message


def test_brotli_is_smaller_than_utf8_for_english():
    text = " I could not help watching your face with some anxiety when Mr. Thornton made his confession."
    message = Message((Phrase(text, 0.0, 5.0),))
    assert len(encode_payload(message, TextCoding.BROTLI)) < len(encode_payload(message, TextCoding.UTF8))


def test_unknown_version_is_refused_with_a_clear_error():
    data = bytearray(encode_payload(MESSAGE))
    data[0] = (7 << 4) | (data[0] & 0x0F)
    with pytest.raises(FrameError, match="version 7 is not supported.*versions 1 to 6"):
        decode_payload(bytes(data))


@pytest.mark.parametrize("cut", [1, 2, 4, 7])
def test_truncated_payload_never_decodes_to_a_wrong_message(cut):
    data = encode_payload(MESSAGE)
    try:
        decoded = decode_payload(data[:cut])
    except FrameError:
        return
    assert decoded.text != MESSAGE.text or decoded == MESSAGE


def test_empty_payload():
    with pytest.raises(FrameError):
        decode_payload(b"")


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value):
    data = encode_varint(value)
    assert decode_varint(data + b"\xff", 0) == (value, len(data))
    assert len(encode_varint(127)) == 1


def test_phrases_split_at_pauses():
    words = tuple(
        Word(t, s, e, 1.0)
        for t, s, e in [(" One", 0.3, 0.6), (" two.", 0.6, 0.9), (" Three", 1.5, 1.8), (" four", 1.85, 2.2)]
    )
    message = message_from_transcript(Transcript(words, "en", 1.0, 2.5, 0.1), phrase_pause=0.25)
    assert [p.text for p in message.phrases] == [" One two.", " Three four"]
    assert message.phrases[0].pause == pytest.approx(0.3)
    assert message.phrases[1].pause == pytest.approx(0.6)
    assert message.phrases[1].seconds == pytest.approx(0.7)
    assert message.text == "One two. Three four"


def load_text_model(name: str):
    """A registry text model as the pipeline loads it: unigram, word pairs (English),
    spelling priors."""
    from telephrase.codec.textcoder import load_model_files
    from telephrase.registry import Registry

    model = Registry().resolve(name)
    return load_model_files([str(model.file(f.path)) for f in model.entry.files])


@pytest.fixture(scope="module")
def words():
    return load_text_model("en-words")


def assert_timing_kept(decoded: Message, sent: Message) -> None:
    assert [p.text for p in decoded.phrases] == [p.text for p in sent.phrases]
    for got, phrase in zip(decoded.phrases, sent.phrases):
        assert got.pause == pytest.approx(phrase.pause, rel=0.13)
        assert got.seconds == pytest.approx(phrase.seconds, rel=0.05)


@pytest.mark.parametrize("vector", ["28 ac d0 b5 25 c7 02 61 70", "29 a3 6a ec 71 6d 6d ab 3c e0"])
def test_version_2_test_vectors_still_decode(words, vector):
    """Format 2 (English only, no language field), as telephrase sent it before format 3."""
    decoded = decode_payload(bytes.fromhex(vector), words)
    assert_timing_kept(decoded, MESSAGE)
    assert decoded.language == ""


@pytest.mark.parametrize("vector", ["3a a4 34 3b 05 da 44 40 e0", "3b 9b 66 91 98 31 0f 60 bb a0"])
def test_version_3_test_vectors_still_decode(words, vector):
    """Format 3, as telephrase sent it before format 4: the whole model's word pairs were
    en-bigrams then, and still are for this format."""
    decoded = decode_payload(bytes.fromhex(vector), None, lambda language: words if language == "en" else None)
    assert_timing_kept(decoded, MESSAGE)
    assert decoded.language == "en"


@pytest.mark.parametrize("lm, vector", [(0, "4a a4 34 3b 05 da 44 40 e0"), (1, "4b 9c 49 d9 88 bd dd e7 b9 80")])
def test_version_4_test_vectors(words, lm, vector):
    message = dataclasses.replace(MESSAGE, language="en")
    data = encode_payload(message, TextCoding.LM, timing=True, words=words if lm else words.unigram(), own_model=True)
    assert data.hex(" ") == vector
    decoded = decode_payload(data, None, lambda language: words if language == "en" else None)
    assert_timing_kept(decoded, message)
    assert decoded.language == "en"


def test_version_3_word_pitch_test_vector_still_decodes(words):
    """Format 3's ``balanced``: every word's pitch level, as telephrase sent it before contours."""
    decoded = decode_payload(bytes.fromhex("3f 9b 66 91 97 9f 0c 5d 34 8e 05"), words, lambda language: words)
    assert [(w.text, w.duration, w.f0) for w in decoded.words] == [("Hello", None, 5.0), ("there", None, 1.0),
                                                                     ("over", None, 3.0)]
    assert decoded.f0_median == 3.0 and decoded.text == "Hello there, over."


def test_version_4_pitch_contour_test_vector(words):
    """Preset ``balanced``: a line per phrase (first phrase falling from +2 to −2 semitones,
    the second a single word) and each word's accent off it."""
    from telephrase.codec.message import WordMark

    message = Message((Phrase(" Hello there,", 0.5, 0.9), Phrase(" over.", 0.3, 0.4)), "en",
                      words=(WordMark(" Hello", None, 5.0), WordMark(" there,", None, 1.5), WordMark(" over.", None, 2.0)),
                      f0_median=3.2)
    data = encode_payload(message, TextCoding.LM, True, words, word_prosody=True, word_durations=False, own_model=True)
    assert data.hex(" ") == "4f 9c 49 d9 86 3e d7 c7 e4 02 ac"
    decoded = decode_payload(data, words, lambda language: words)
    assert [(w.text, w.duration, w.f0) for w in decoded.words] == [("Hello", None, 5.0), ("there", None, 1.0),
                                                                     ("over", None, 3.0)]


def test_language_model_1_needs_the_word_pairs(words):
    data = encode_payload(MESSAGE, TextCoding.LM, True, words)
    with pytest.raises(FrameError, match="only its unigram"):
        decode_payload(data, words.unigram())


def test_word_pairs_and_spelling_priors_save_bits(words):
    """A sentence from Alice's Adventures in Wonderland (not in the test corpus), and a name
    the vocabulary lacks, spelled out."""
    text = (" So she was considering in her own mind, as well as she could, whether the pleasure of making a"
            " daisy-chain would be worth the trouble of getting up and picking the daisies, when suddenly"
            " a White Rabbit with pink eyes ran close by her. Said Brangwyn Tregothnan.")
    message = Message((Phrase(text, 0.0, 12.0),))
    full = len(encode_payload(message, TextCoding.LM, False, words))
    assert full < 0.96 * len(encode_payload(message, TextCoding.LM, False, words.unigram()))


def test_long_messages_stop_growing_the_cache(words):
    import random

    rng = random.Random(5)
    vocabulary = [*words.words[:3000], "zorblax", "quendrith", "mrrp"]
    text = " " + " ".join(rng.choice(vocabulary) for _ in range(1500)) + "."
    message = Message((Phrase(text, 0.0, 600.0),))
    for model in (words, words.unigram()):
        assert decode_payload(encode_payload(message, TextCoding.LM, True, model), words).text == message.text


@pytest.mark.parametrize("text", [
    " Hello there. Over.", "", " ", "...", ' "Quoted," he said; then—nothing!', " Grüße aus Köln, 東京 and 🚀 №5",
    " 1998 McDonald's iPhone NASA I I I", "a_b\n\tc", " Zarathustra Zarathustra zarathustra ZARATHUSTRA",
])
@pytest.mark.parametrize("timing", [True, False])
@pytest.mark.parametrize("lm", [0, 1])
def test_lm_coding_is_lossless_for_any_text(words, text, timing, lm):
    message = Message((Phrase(text, 0.2, 1.0),))
    model = words if lm else words.unigram()
    assert decode_payload(encode_payload(message, TextCoding.LM, timing, model), words).text == message.text


def test_lm_coding_keeps_phrases_even_without_spaces(words):
    message = Message((Phrase(" 東京", 0.2, 0.5), Phrase("大阪 and", 0.1, 0.7), Phrase(" more", 0.3, 0.2)))
    decoded = decode_payload(encode_payload(message, TextCoding.LM, True, words), words)
    assert decoded.text == message.text and len(decoded.phrases) == 2
    assert decoded.phrases[0].seconds == pytest.approx(1.3, rel=0.05)


def test_lm_coding_beats_brotli_on_english(words):
    text = " I could not help watching your face with some anxiety when Mr. Thornton made his confession."
    message = Message((Phrase(text, 0.0, 5.0),))
    lm = len(encode_payload(message, TextCoding.LM, False, words))
    assert lm < 0.6 * len(encode_payload(message, TextCoding.BROTLI, False))


def test_lm_coding_without_the_model_is_a_clear_error(words):
    data = encode_payload(MESSAGE, TextCoding.LM, True, words)
    with pytest.raises(FrameError, match="needs the en-words"):
        decode_payload(data)


def test_word_prosody_round_trip(words):
    from telephrase.codec.message import WordMark

    message = Message(
        (Phrase(" Hello there,", 0.5, 0.9), Phrase(" shop-boy over.", 0.3, 0.8)),
        words=(WordMark(" Hello", 0.4, 3.0), WordMark(" there,", 0.5, 5.5), WordMark(" shop-boy", 0.5, None),
               WordMark(" over.", 0.3, 1.0)),
        f0_median=3.2,
    )
    data = encode_payload(message, TextCoding.LM, True, words, word_prosody=True)
    assert data[0] == 0x4D and len(data) > len(encode_payload(message, TextCoding.LM, True, words))
    decoded = decode_payload(data, words)
    assert decoded.f0_median == 3.0
    assert [w.text for w in decoded.words] == ["Hello", "there", "shop", "boy", "over"]
    assert [w.f0 for w in decoded.words] == [3.0, 5.0, None, None, 1.0]
    for got, want in zip(decoded.words, (0.4, 0.5, 0.5 * 4 / 7, 0.5 * 3 / 7, 0.3)):
        assert got.duration == pytest.approx(want, rel=0.1)


def test_word_prosody_needs_marks_that_match_the_text(words):
    from telephrase.codec.message import WordMark

    message = Message((Phrase(" Hello there.", 0.1, 0.9),), words=(WordMark(" Hi", 0.4, 3.0),), f0_median=3.0)
    data = encode_payload(message, TextCoding.LM, True, words, word_prosody=True)
    assert data[0] == 0x49 and decode_payload(data, words).words == ()


def test_word_pitch_without_word_durations(words):
    """Preset ``balanced``: pitch per word, lengths left to the phrase's pace."""
    from telephrase.codec.message import WordMark

    message = Message((Phrase(" Hello there, over.", 0.5, 1.2),),
                      words=(WordMark(" Hello", 0.4, 3.0), WordMark(" there,", 0.5, 5.5), WordMark(" over.", 0.3, None)),
                      f0_median=3.2)
    both = encode_payload(message, TextCoding.LM, True, words, word_prosody=True)
    pitch = encode_payload(message, TextCoding.LM, True, words, word_prosody=True, word_durations=False)
    assert len(pitch) < len(both)
    decoded = decode_payload(pitch, words)
    assert [(w.text, w.duration, w.f0) for w in decoded.words] == [("Hello", None, 3.0), ("there", None, 5.0),
                                                                     ("over", None, None)]
    assert decoded.f0_median == 3.0 and decoded.phrases[0].seconds == pytest.approx(1.2, rel=0.05)


def test_pitch_contours_follow_each_phrase_and_its_accents(words):
    """A long phrase falling eight semitones with one word said five semitones above the fall,
    an unvoiced word, and a second phrase that starts high again: each phrase gets its own
    line, the accent stays above it, and contours cost under half of what ``expressive``'s
    length and level of every word take."""
    from telephrase.codec.message import WordMark

    first = " We had to leave the harbour before the storm came in over the hills,"
    second = " and nobody knew."
    tokens = first.split() + second.split()
    pitches = [4.0 - 8.0 * i / 13 for i in range(14)] + [5.0, 4.0, 2.0]
    pitches[6] += 5.0
    pitches[3] = None
    marks = tuple(WordMark(" " + t, 0.3, f0) for t, f0 in zip(tokens, pitches))
    message = Message((Phrase(first, 0.2, 4.0), Phrase(second, 0.4, 1.0)), "en", words=marks, f0_median=0.0)
    contour = encode_payload(message, TextCoding.LM, True, words, word_prosody=True, word_durations=False)
    decoded = decode_payload(contour, words)
    got = [w.f0 for w in decoded.words]
    assert got[3] is None
    for i, (want, have) in enumerate(zip(pitches, got)):
        if want is not None:
            assert have == pytest.approx(want, abs=2.5 if i != 6 else 4.0), i
    assert got[6] - (got[5] + got[7]) / 2 >= 3.0
    assert got[14] > got[13] + 3.0
    detail = encode_payload(message, TextCoding.LM, True, words, word_prosody=True, word_durations=True)
    plain = encode_payload(message, TextCoding.LM, True, words)
    assert len(contour) - len(plain) < 0.5 * (len(detail) - len(plain))


def test_a_transmissions_phrases_share_the_speakers_median_pitch():
    """The second phrase's own words sit high; its voice profile is the whole transmission's."""

    def phrase(pitches):
        words = tuple(Word(f" w{i}", 0.3 * i, 0.3 * i + 0.25, 1.0) for i in range(len(pitches)))
        prosody = [WordProsody(w.text, 0.25, 0.0, f0, 0.0, -20.0) for w, f0 in zip(words, pitches)]
        return Transcript(words, "en", 1.0, 1.0, 0.1), prosody

    def message(pitches, earlier=None):
        transcript, prosody = phrase(pitches)
        return message_from_transcript(transcript, 0.25, prosody, earlier)

    earlier: list[float] = []
    first = message([0.0, 1.0, 2.0, None], earlier)
    second = message([9.0, 10.0], earlier)
    alone = message([9.0, 10.0])
    assert first.f0_median == 1.0
    assert earlier == [0.0, 1.0, 2.0, 9.0, 10.0]
    assert second.f0_median == 2.0 and alone.f0_median == 10.0
