import math

import numpy as np
import pytest

from telephrase.speech.pitch import track_pitch
from telephrase.speech.prosody import SILENCE_DB, WordProsody, speaker_profile, word_prosody
from telephrase.speech.transcribe import Word

RATE = 16000


def semitones(hz: float) -> float:
    return 12 * math.log2(hz / 100)


def span(start: float, end: float) -> np.ndarray:
    return np.arange(round(start * RATE), round(end * RATE)) / RATE


def constructed_utterance() -> tuple[np.ndarray, list[Word]]:
    """Tones standing in for words, at known pitches, levels and times, with silent gaps.

    "one": 120 Hz at amplitude 0.5 (−9.03 dB); "two": a glide 150 Hz → +6 semitones, i.e. 15
    semitones per second, amplitude 0.3; "hiss": white noise, RMS 0.1 (−20 dB), unvoiced;
    "four": 200 Hz at amplitude 0.25 (−15.05 dB); "t": 20 ms of 200 Hz, too short for a pitch.
    """
    audio = np.zeros(round(3.0 * RATE))

    def put(start: float, end: float, signal: np.ndarray) -> None:
        audio[round(start * RATE) : round(end * RATE)] = signal

    t = span(0.30, 0.55)
    put(0.30, 0.55, 0.5 * np.sin(2 * np.pi * 120 * t))
    t = span(0.70, 1.10)
    put(0.70, 1.10, 0.3 * np.sin(2 * np.pi * np.cumsum(150 * 2 ** (15 * (t - 0.70) / 12)) / RATE))
    put(1.30, 1.50, np.random.default_rng(3).normal(0.0, 0.1, span(1.30, 1.50).size))
    t = span(1.80, 2.30)
    put(1.80, 2.30, 0.25 * np.sin(2 * np.pi * 200 * t))
    t = span(2.50, 2.52)
    put(2.50, 2.52, 0.25 * np.sin(2 * np.pi * 200 * t))
    words = [
        Word(" one", 0.30, 0.55, 0.9),
        Word(" two", 0.70, 1.10, 0.9),
        Word(" hiss", 1.30, 1.50, 0.9),
        Word(" four", 1.80, 2.30, 0.9),
        Word(" t", 2.50, 2.52, 0.9),
        Word(" gap", 2.70, 2.90, 0.9),
    ]
    return audio.astype(np.float32), words


def test_constructed_words_recover_timing_pitch_slope_and_level():
    audio, words = constructed_utterance()
    one, two, hiss, four, t, gap = word_prosody(audio, words)
    assert [p.text for p in (one, two, hiss, four, t, gap)] == [w.text for w in words]
    assert [p.duration for p in (one, two, hiss, four)] == pytest.approx([0.25, 0.40, 0.20, 0.50])
    assert [p.pause for p in (one, two, hiss, four, t, gap)] == pytest.approx([0.30, 0.15, 0.20, 0.30, 0.20, 0.18])

    assert one.f0 == pytest.approx(semitones(120), abs=0.1)
    assert four.f0 == pytest.approx(semitones(200), abs=0.1)
    assert two.f0 == pytest.approx(semitones(150) + 3.0, abs=0.2)
    assert abs(one.f0_slope) < 1.0 and abs(four.f0_slope) < 1.0
    assert two.f0_slope == pytest.approx(15.0, rel=0.1)

    assert one.energy == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.1)
    assert four.energy == pytest.approx(20 * math.log10(0.25 / math.sqrt(2)), abs=0.1)
    assert hiss.energy == pytest.approx(-20.0, abs=0.5)


def test_words_without_enough_voiced_frames_get_no_pitch():
    audio, words = constructed_utterance()
    _, _, hiss, _, t, gap = word_prosody(audio, words)
    for p in (hiss, t, gap):
        assert p.f0 is None and p.f0_slope is None
    assert gap.energy == SILENCE_DB and t.energy > -20.0


def test_a_given_track_is_used_as_is():
    audio, words = constructed_utterance()
    assert word_prosody(audio, words, track=track_pitch(audio)) == word_prosody(audio, words)
    high_only = track_pitch(audio, fmin=160.0, fmax=400.0)
    _, two, _, four, _, _ = word_prosody(audio, words, track=high_only)
    assert four.f0 == pytest.approx(semitones(200), abs=0.1) and two.f0 > semitones(160)


def test_overlapping_and_out_of_range_timestamps():
    audio = 0.1 * np.ones(RATE, dtype=np.float32)
    words = [Word(" a", 0.0, 0.6, 1.0), Word(" b", 0.5, 0.8, 1.0), Word(" c", 1.5, 2.0, 1.0)]
    a, b, c = word_prosody(audio, words)
    assert b.pause == 0.0 and c.pause == pytest.approx(0.7)
    assert a.energy == pytest.approx(-20.0, abs=0.01) and c.energy == SILENCE_DB
    assert word_prosody(audio, []) == []


def prosody(text: str, f0: float | None, duration: float = 0.3, energy: float = -20.0) -> WordProsody:
    return WordProsody(text=text, duration=duration, pause=0.1, f0=f0, f0_slope=None, energy=energy)


def test_speaker_profile_summarises_words():
    words = [prosody(" It's", 2.0), prosody(" a", None, 0.1, -30.0), prosody(" test,", 6.0, 0.6, -10.0)]
    profile = speaker_profile(words, audio_seconds=2.0)
    assert profile.f0_median == pytest.approx(4.0)
    assert profile.f0_range == pytest.approx(0.8 * 4.0)
    assert profile.words_per_second == pytest.approx(1.5)
    assert profile.chars_per_second == pytest.approx(8 / 1.0)
    assert profile.energy_median == pytest.approx(-20.0)


def test_speaker_profile_without_pitch_or_words():
    unvoiced = speaker_profile([prosody(" shh", None)], audio_seconds=1.0)
    assert unvoiced.f0_median is None and unvoiced.f0_range is None and unvoiced.energy_median == -20.0
    empty = speaker_profile([], audio_seconds=0.0)
    assert empty.words_per_second == empty.chars_per_second == 0.0 and empty.energy_median is None
