from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from telephrase.audio.files import read_audio
from telephrase.bench.fidelity import FidelityPairs, align_words
from telephrase.bench.normalize import normalize, word_errors
from telephrase.speech.transcribe import Word

RATE = 16000
PITCHES = [120.0, 150.0, 135.0, 180.0, 110.0, 160.0, 140.0]
"""A source contour in Hz, one tone per word: rises, falls, a peak and a low."""
DURATIONS = [0.20, 0.35, 0.25, 0.40, 0.30, 0.22, 0.33]

LJ001_0004 = [
    (" produced", 0.0, 0.42), (" the", 0.42, 0.66), (" block", 0.66, 0.9), (" books,", 0.9, 1.46),
    (" which", 1.72, 1.9), (" were", 1.9, 2.06), (" the", 2.06, 2.24), (" immediate", 2.24, 2.7),
    (" predecessors", 2.7, 3.44), (" of", 3.44, 3.74), (" the", 3.74, 3.86), (" true", 3.86, 4.12),
    (" printed", 4.12, 4.5), (" book.", 4.5, 4.88),
]
"""Whisper base's word timestamps for tools/samples/LJ001-0004.wav, recorded once so that the
test needs no model."""


def words(*texts: str) -> list[Word]:
    """Words with placeholder timestamps, for the alignment tests."""
    return [Word(" " + text, float(n), n + 0.5, 0.9) for n, text in enumerate(texts)]


def tones(pitches: Sequence[float], durations: Sequence[float], gap: float = 0.15) -> tuple[np.ndarray, list[Word]]:
    """One sine burst per word at the given pitch (Hz) and duration (s), separated by silence."""
    audio = np.zeros(round((sum(durations) + gap * (len(durations) + 1)) * RATE))
    result = []
    start = gap
    for n, (hz, duration) in enumerate(zip(pitches, durations)):
        t = np.arange(round(duration * RATE)) / RATE
        first = round(start * RATE)
        audio[first : first + t.size] = 0.3 * np.sin(2 * np.pi * hz * t)
        result.append(Word(f" word{n}", start, start + duration, 0.9))
        start += duration + gap
    return audio.astype(np.float32), result


def test_identical_transcripts_pair_every_word():
    text = words("the", "cat", "sat")
    assert align_words(text, text) == [(0, 0), (1, 1), (2, 2)]


def test_insertions_deletions_and_substitutions_pair_only_the_common_words():
    source = words("he", "should", "make", "inquiries", "as", "to", "symptoms")
    output = words("so", "he", "should", "take", "inquiries", "to", "symptoms", "now")
    assert align_words(source, output) == [(0, 1), (1, 2), (3, 4), (5, 5), (6, 6)]


def test_case_and_punctuation_do_not_matter():
    source = [Word(" Books,", 0.0, 0.5, 0.9), Word(" which", 0.6, 0.8, 0.9), Word(" Mr.", 0.9, 1.1, 0.9)]
    output = [Word(" books", 0.0, 0.4, 0.9), Word(" WHICH", 0.5, 0.7, 0.9), Word(" mister", 0.8, 1.0, 0.9)]
    assert align_words(source, output) == [(0, 0), (1, 1), (2, 2)]


def test_numbers_as_digits_pair_with_the_same_number_in_words():
    assert align_words(words("at", "20", "past"), words("at", "twenty", "past")) == [(0, 0), (1, 1), (2, 2)]
    assert align_words(words("in", "1998", "."), words("in", "1998")) == [(0, 0), (1, 1)]


def test_a_word_that_spans_several_words_of_the_other_side_is_not_paired():
    source = words("in", "1998", "he", "left")
    output = words("in", "nineteen", "ninety", "eight", "he", "left")
    assert align_words(source, output) == [(0, 0), (2, 4), (3, 5)]
    assert align_words(words("in", "1998"), words("in", "nineteen", "ninety-eight")) == [(0, 0)]


def test_words_that_normalise_to_nothing_are_skipped():
    source = words("well", "—", "yes")
    output = words("well", "yes", "...")
    assert align_words(source, output) == [(0, 0), (2, 1)]


def test_empty_transcripts_align_to_nothing():
    assert align_words([], words("a")) == []
    assert align_words(words("a"), []) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "D.", "e,"]), max_size=12),
       st.lists(st.sampled_from(["A", "b", "c", "d", "f"]), max_size=12))
def test_alignment_pairs_equal_words_in_order_as_many_as_the_edit_distance_allows(source, output):
    pairs = align_words(words(*source), words(*output))
    for (i, j), (k, m) in zip(pairs, pairs[1:]):
        assert i < k and j < m
    assert all(normalize(source[i]) == normalize(output[j]) for i, j in pairs)
    errors, _ = word_errors(" ".join(source), " ".join(output))
    assert len(pairs) >= len(source) - errors


def test_an_unchanged_contour_correlates_fully():
    source, source_words = tones(PITCHES, DURATIONS)
    output, output_words = tones(PITCHES, [1.2 * d for d in DURATIONS], gap=0.3)
    pairs = FidelityPairs()
    pairs.add(source, source_words, output, output_words)
    summary = pairs.summary()
    assert summary["utterances"] == 1
    assert summary["f0_pairs"] == summary["duration_pairs"] == len(PITCHES)
    assert summary["f0_corr"] == pytest.approx(1.0, abs=1e-3)
    assert summary["f0_corr_within"] == pytest.approx(1.0, abs=1e-3)
    assert summary["duration_corr"] == pytest.approx(1.0)
    assert summary["duration_corr_within"] == pytest.approx(1.0)


def test_pairs_record_semitones_and_seconds():
    source, source_words = tones(PITCHES, DURATIONS)
    pairs = FidelityPairs()
    pairs.add(source, source_words, source, source_words)
    assert pairs.f0_source == pytest.approx([12 * np.log2(hz / 100) for hz in PITCHES], abs=0.1)
    assert pairs.duration_output == pytest.approx(DURATIONS)
    assert pairs.f0_utterance == pairs.duration_utterance == [0] * len(PITCHES)


def test_a_flat_reading_has_no_correlation():
    source, source_words = tones(PITCHES, DURATIONS)
    output, output_words = tones([140.0] * len(PITCHES), [0.3] * len(PITCHES))
    pairs = FidelityPairs()
    pairs.add(source, source_words, output, output_words)
    summary = pairs.summary()
    assert summary["f0_pairs"] == len(PITCHES)
    assert summary["f0_corr"] is None and summary["f0_corr_within"] is None
    assert summary["duration_corr"] is None and summary["duration_corr_within"] is None


def test_a_constant_register_shift_still_follows_the_intonation():
    source, source_words = tones(PITCHES, DURATIONS)
    output, output_words = tones([hz * 2 ** (5 / 12) for hz in PITCHES], DURATIONS)
    pairs = FidelityPairs()
    pairs.add(source, source_words, output, output_words)
    summary = pairs.summary()
    assert summary["f0_corr"] > 0.99 and summary["f0_corr_within"] > 0.99
    assert np.mean(pairs.f0_output) - np.mean(pairs.f0_source) == pytest.approx(5.0, abs=0.1)


def test_within_utterance_figures_ignore_a_register_that_differs_between_utterances():
    low, high = PITCHES, [hz * 2 ** (9 / 12) for hz in PITCHES]
    pairs = FidelityPairs()
    for source_pitches, output_pitches in ((low, [hz * 2 ** (7 / 12) for hz in low]), (high, high)):
        source, source_words = tones(source_pitches, DURATIONS)
        output, output_words = tones(output_pitches, DURATIONS)
        pairs.add(source, source_words, output, output_words)
    summary = pairs.summary()
    assert summary["utterances"] == 2 and summary["f0_pairs"] == 2 * len(PITCHES)
    assert summary["f0_corr_within"] > 0.99
    assert summary["f0_corr"] < 0.9


def test_matching_only_each_utterances_register_earns_nothing_within():
    pairs = FidelityPairs()
    for shift in (0, 12):
        pitches = [hz * 2 ** (shift / 12) for hz in PITCHES]
        source, source_words = tones(pitches, DURATIONS)
        mean_hz = 100 * 2 ** (np.mean([np.log2(hz / 100) for hz in pitches]))
        output, output_words = tones([mean_hz] * len(pitches), [0.3] * len(pitches))
        pairs.add(source, source_words, output, output_words)
    summary = pairs.summary()
    assert summary["f0_corr"] > 0.8
    assert summary["f0_corr_within"] is None


def test_unvoiced_and_unmatched_words_give_no_f0_pairs():
    source, source_words = tones(PITCHES[:4], DURATIONS[:4])
    output, output_words = tones(PITCHES[:4], DURATIONS[:4])
    output[round(output_words[1].start * RATE) : round(output_words[1].end * RATE)] = 0.0
    output_words[3] = Word(" other", output_words[3].start, output_words[3].end, 0.9)
    pairs = FidelityPairs()
    pairs.add(source, source_words, output, output_words)
    assert pairs.duration_source == pytest.approx(DURATIONS[:3])
    assert len(pairs.f0_source) == 2 and pairs.f0_source == pytest.approx(pairs.f0_output, abs=1e-6)
    assert pairs.summary()["f0_corr"] is None


def test_an_utterance_without_common_words_adds_no_pairs():
    source, source_words = tones(PITCHES[:3], DURATIONS[:3])
    pairs = FidelityPairs()
    pairs.add(source, source_words, source, [])
    summary = pairs.summary()
    assert summary == {
        "utterances": 1, "f0_pairs": 0, "f0_corr": None, "f0_corr_within": None,
        "duration_pairs": 0, "duration_corr": None, "duration_corr_within": None,
    }


def test_real_speech_against_itself_delayed_correlates_almost_fully():
    source = read_audio(SAMPLES / "LJ001-0004.wav")
    source_words = [Word(text, start, end, 0.9) for text, start, end in LJ001_0004]
    offset = 0.123
    output = np.concatenate((np.zeros(round(offset * RATE), dtype=np.float32), source))
    output_words = [
        Word(text.upper().rstrip(",."), start + offset, end + offset, 0.9)
        for text, start, end in LJ001_0004
        if text != " immediate"
    ]
    pairs = FidelityPairs()
    pairs.add(source, source_words, output, output_words)
    summary = pairs.summary()
    assert summary["duration_pairs"] == len(LJ001_0004) - 1
    assert summary["f0_pairs"] >= 10
    assert summary["duration_corr"] == pytest.approx(1.0)
    assert summary["f0_corr"] > 0.95 and summary["f0_corr_within"] > 0.95


def test_durations_alone_pair_the_common_words_by_their_lengths():
    exact = FidelityPairs()
    source = [Word(" a", 0.0, 0.2, 1), Word(" big", 0.2, 0.6, 1), Word(" dog", 0.7, 1.0, 1), Word(" ran", 1.0, 1.5, 1)]
    output = [Word(" A", 0.0, 0.25, 1), Word(" big", 0.3, 0.75, 1), Word(" ran", 0.8, 1.35, 1)]
    exact.add_durations(source, output)
    assert exact.duration_source == pytest.approx([0.2, 0.4, 0.5])
    assert exact.duration_output == pytest.approx([0.25, 0.45, 0.55])
    figures = exact.summary()
    assert figures["duration_corr"] == pytest.approx(1.0) and figures["f0_pairs"] == 0
