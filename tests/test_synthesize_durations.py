"""The receiver's timing through a duration voice (piper-joe-medium-durations): words get the
sender's lengths in the vocoder, the plain path stays as it was."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from telephrase.config import TtsConfig
from telephrase.registry import Registry
from telephrase.speech.synthesize import RETAKE_TOLERANCE, Synthesizer, Utterance, WordTarget, _matched, allot, allot_word

TEXT = " He should notice the position and temperature of the body,"
LENGTHS = [0.2, 0.2, 0.5, 0.1, 0.6, 0.2, 0.8, 0.15, 0.1, 0.4]
"""One length per text word, each within the 0.5-2x of its natural length that is followed;
espeak joins "of the", so nine spoken words."""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="module")
def plain(registry: Registry) -> Synthesizer:
    return Synthesizer(TtsConfig(threads=2), registry)


@pytest.fixture(scope="module")
def timed(registry: Registry) -> Synthesizer:
    voice = Synthesizer(TtsConfig(voice="piper-joe-medium-durations", threads=2), registry)
    assert voice.predictor is not None
    return voice


def test_allot_keeps_the_total_and_every_phoneme() -> None:
    natural = np.array([1, 3, 7, 1, 12, 2])
    assert np.array_equal(allot(natural, natural.sum()), natural)
    assert np.array_equal(allot(natural, 2 * natural.sum()), 2 * natural)
    for share in (allot, allot_word):
        for total in (6, 9, 13, 20, 26, 51, 3):
            got = share(natural, total)
            assert got.sum() == max(total, len(natural)) and got.min() >= 1
    assert np.array_equal(allot_word(np.array([1, 1, 2, 8, 1]), 13), [2, 1, 2, 6, 2])


def test_without_targets_the_duration_voice_is_the_plain_voice(plain: Synthesizer, timed: Synthesizer) -> None:
    for utterances in ([Utterance(TEXT)], [Utterance(" Yes.", None, 0.4)]):
        assert np.array_equal(timed.speak(utterances), plain.speak(utterances))


@pytest.mark.parametrize("text", [TEXT, " Yes. I really like that account of himself, better than anything else."])
@pytest.mark.parametrize("stretch", [0.8, 1.02, 1.3])
def test_the_plain_voice_renders_a_phrase_once_as_its_second_take_was(plain: Synthesizer, text: str,
                                                                      stretch: float) -> None:
    """The plain voice's phrase length used to come from a first take at its own pace; its
    duration predictor gives that take's length exactly, so one take makes the same samples."""
    sentences = plain._sentences(text)
    first = plain._render(sentences)[0]
    assert sum(int(plain._predict(s).sum()) for s in sentences) * plain.hop == len(first)
    u = Utterance(text, stretch * len(first) / plain.rate)
    scale = stretch if abs(stretch - 1.0) > RETAKE_TOLERANCE else 1.0
    assert np.array_equal(plain._speak_one(u, sentences)[0], plain._render(sentences, scale)[0])


def test_words_last_as_the_sender_said(timed: Synthesizer) -> None:
    """Each spoken word within a frame of its target; with the words' own pitch targets
    absent nothing else touches the audio."""
    u = Utterance(TEXT, None, 0.0, tuple(WordTarget(s) for s in LENGTHS))
    sentences = timed._sentences(u.text)
    audio, spans = timed._render(sentences, scales=timed._timed_scales(u, sentences))
    phonemes = Counter(w for s in sentences for w in s.word_of_id if w >= 0)
    matched = _matched(u, spans, [phonemes[j] for j in range(len(spans))])
    assert matched is not None and len(matched) == 9
    frame = timed.hop / timed.rate
    for j, target in matched:
        assert (spans[j][1] - spans[j][0]) / timed.rate == pytest.approx(target.seconds, abs=frame)
    assert np.array_equal(timed.speak([u]), audio * (0.89 / float(np.max(np.abs(audio)))))


def test_phrase_lasts_as_the_sender_said(timed: Synthesizer) -> None:
    frame = timed.hop / timed.rate
    for seconds in (1.8, 4.0):
        audio = timed.speak([Utterance(TEXT, seconds, 0.5)])
        assert len(audio) / timed.rate == pytest.approx(0.5 + seconds, abs=frame)


def test_pitch_still_follows_the_words(timed: Synthesizer) -> None:
    """The duration voice sets the lengths; PSOLA still moves each word's pitch."""
    from telephrase.speech.pitch import track_pitch

    def fall(pitches: list[float]) -> float:
        words = tuple(WordTarget(0.35, f0) for f0 in pitches)
        audio = timed.speak([Utterance(TEXT, None, 0.0, words)])
        track = track_pitch(audio, rate=timed.rate)
        half = track.times[-1] / 2
        first = np.nanmedian(track.f0[track.times < half * 0.8])
        last = np.nanmedian(track.f0[track.times > half * 1.2])
        return 12 * np.log2(first / last)

    assert fall([8.0] * 5 + [-4.0] * 5) > fall([2.0] * 10) + 3


def test_timed_speech_is_deterministic(timed: Synthesizer) -> None:
    u = [Utterance(TEXT, 3.0, 0.0, tuple(WordTarget(s, 1.0) for s in LENGTHS))]
    assert np.array_equal(timed.speak(u), timed.speak(u))


def test_speak_timed_reports_where_each_word_was_said(timed: Synthesizer) -> None:
    """After a pause, the words the sender's lengths were given to last those lengths, each
    known exactly; the words espeak joined ("of the") have no span of their own."""
    u = Utterance(TEXT, None, 0.4, tuple(WordTarget(s) for s in LENGTHS))
    audio, times = timed.speak_timed([u, Utterance(" Over.", 0.6, 0.3)])
    assert np.array_equal(audio, timed.speak([u, Utterance(" Over.", 0.6, 0.3)]))
    assert len(times) == len(LENGTHS) + 1 and times[7] is None and times[8] is None
    frame = timed.hop / timed.rate
    assert times[0][0] >= 0.4 and times[-1][1] <= len(audio) / timed.rate
    known = [(t, s) for t, s in zip(times, LENGTHS) if t is not None]
    assert len(known) == 8
    for (start, end), seconds in known:
        assert end - start == pytest.approx(seconds, abs=frame)
    starts = [t[0] for t in times if t is not None]
    assert starts == sorted(starts) and times[-1][0] >= times[6][1] + 0.3


def test_words_stretched_by_psola_are_followed_to_their_new_places(plain: Synthesizer) -> None:
    """The plain voice reaches the words' lengths by PSOLA afterwards: the spans move with it."""
    _, natural = plain.speak_timed([Utterance(TEXT)])
    audio, times = plain.speak_timed([Utterance(TEXT, None, 0.0, tuple(WordTarget(s) for s in LENGTHS))])
    assert [t is None for t in times] == [t is None for t in natural] and sum(t is not None for t in times) == 8
    for span, seconds in zip(times, LENGTHS):
        if span is not None:
            assert span[1] - span[0] == pytest.approx(seconds, abs=0.002)
    assert times[-1][1] <= len(audio) / plain.rate + 0.002


def test_pieces_are_the_phrases_rendered_one_at_a_time(timed: Synthesizer, monkeypatch) -> None:
    """Piece by piece, the speaker gets each phrase (with the pause before it) as soon as it is
    rendered, and the next is not rendered before it is asked for; the pieces hold the very
    samples of ``speak``, each scaled to the peak by itself."""
    phrases = [Utterance(TEXT, None, 0.0, tuple(WordTarget(s) for s in LENGTHS)), Utterance(" Over.", 0.6, 0.3)]
    whole = timed.speak(phrases)
    rendered = []
    render = timed._speak_one
    monkeypatch.setattr(timed, "_speak_one", lambda u, s: rendered.append(u) or render(u, s))
    pieces = timed.pieces(phrases)
    first = next(pieces)
    assert rendered == phrases[:1]
    second = next(pieces)
    assert rendered == phrases and next(pieces, None) is None
    assert len(first) + len(second) == len(whole)
    assert np.all(second[: int(0.3 * timed.rate)] == 0)
    for piece, part in ((first, whole[: len(first)]), (second, whole[len(first):])):
        assert float(np.max(np.abs(piece))) == pytest.approx(0.89)
        assert np.allclose(piece, part * (0.89 / float(np.max(np.abs(part)))), atol=1e-6)
