import time

import numpy as np
import pytest

from conftest import SAMPLES
from telephrase.audio.files import read_audio, resample
from telephrase.speech.pitch import track_pitch
from telephrase.speech.reshape import MAX_SEMITONES, MAX_STRETCH, MIN_STRETCH, Segment, moved, reshape

RATE = 22050
F0 = 120.0
HOP = round(0.01 * RATE)
"""The length tolerance the module promises callers: about one 10 ms analysis hop."""
EDGE = 0.05
"""Seconds trimmed from each end of a span before measuring its pitch, where frames straddle
a span boundary or the zero padding of the tracker."""


def vowel(seconds: float, f0: float = F0) -> np.ndarray:
    """A harmonic complex shaped by two formant-like bumps (700 and 1200 Hz), like an /a/."""
    t = np.arange(round(seconds * RATE)) / RATE
    phase = 2 * np.pi * f0 * t
    envelope = [np.exp(-((k * f0 - 700) / 400) ** 2) + 0.5 * np.exp(-((k * f0 - 1200) / 300) ** 2) for k in range(40)]
    x = sum(envelope[k] * np.sin(k * phase + 0.3 * k) for k in range(1, 40))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def median_f0(audio: np.ndarray, start: float = 0.0, end: float | None = None) -> float:
    """Median F0 over the voiced frames between ``start`` and ``end`` seconds, tracked at 16 kHz."""
    track = track_pitch(resample(audio, RATE, 16000))
    end = track.times[-1] if end is None else end
    inside = (track.times >= start + EDGE) & (track.times <= end - EDGE) & track.voiced
    assert inside.sum() >= 5
    return float(np.median(track.f0[inside]))


def semitones(f: float, reference: float) -> float:
    return 12 * np.log2(f / reference)


def max_jump(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio)).max())


def test_empty_segment_list_is_a_bit_exact_copy():
    x = vowel(0.3)
    y = reshape(x, RATE, [])
    assert y is not x and y.dtype == x.dtype and np.array_equal(y, x)


def test_identity_segments_are_a_copy():
    x = vowel(0.3)
    assert np.array_equal(reshape(x, RATE, [Segment(0, 1000), Segment(3000, x.size)]), x)


def test_stretch_two_doubles_the_length_and_keeps_the_pitch():
    x = vowel(1.0)
    y = reshape(x, RATE, [Segment(0, x.size, stretch=2.0)])
    assert abs(y.size - 2 * x.size) <= HOP
    assert abs(median_f0(y) / F0 - 1) < 0.02
    assert max_jump(y) < 1.2 * max_jump(x)


def test_shrinking_to_half_keeps_the_pitch():
    x = vowel(1.0)
    y = reshape(x, RATE, [Segment(0, x.size, stretch=0.5)])
    assert abs(y.size - x.size / 2) <= HOP
    assert abs(median_f0(y) / F0 - 1) < 0.02


def test_five_semitones_up_raises_f0_and_keeps_the_length():
    x = vowel(1.0)
    y = reshape(x, RATE, [Segment(0, x.size, semitones=5.0)])
    assert abs(y.size - x.size) <= HOP
    assert abs(semitones(median_f0(y), F0) - 5.0) < 0.3
    assert max_jump(y) < 1.2 * max_jump(x)


@pytest.mark.parametrize("shift", [-12.0, 12.0])
def test_an_octave_either_way(shift):
    x = vowel(0.6)
    y = reshape(x, RATE, [Segment(0, x.size, semitones=shift)])
    assert y.size == x.size
    assert abs(semitones(median_f0(y), F0) - shift) < 0.3


def test_piecewise_spans_get_their_own_length_and_pitch():
    """Three spans, each with its own stretch and shift, with unmodified audio around them."""
    x = vowel(1.6)
    cut = [round(s * RATE) for s in (0.1, 0.6, 1.0, 1.5)]
    plan = [(1.5, 4.0), (0.7, -3.0), (1.2, 2.0)]
    segments = [Segment(a, b, stretch, shift) for a, b, (stretch, shift) in zip(cut, cut[1:], plan)]
    y = reshape(x, RATE, segments)

    spans = [(0, cut[0], 1.0, 0.0)] + [(s.start, s.end, s.stretch, s.semitones) for s in segments]
    spans.append((cut[-1], x.size, 1.0, 0.0))
    out_edges = np.cumsum([0.0] + [(b - a) * stretch for a, b, stretch, _ in spans]) / RATE
    assert abs(y.size - out_edges[-1] * RATE) <= HOP
    for (_, _, _, shift), start, end in zip(spans[1:-1], out_edges[1:-2], out_edges[2:-1]):
        assert abs(semitones(median_f0(y, start, end), F0) - shift) < 0.3
    assert max_jump(y) < 1.5 * max_jump(x)


def test_parameters_outside_the_range_are_clamped():
    x = vowel(0.6)
    too_much = reshape(x, RATE, [Segment(0, x.size, stretch=5.0, semitones=20.0)])
    at_limit = reshape(x, RATE, [Segment(0, x.size, stretch=MAX_STRETCH, semitones=MAX_SEMITONES)])
    assert np.array_equal(too_much, at_limit)
    too_little = reshape(x, RATE, [Segment(0, x.size, stretch=0.1, semitones=-30.0)])
    assert np.array_equal(too_little, reshape(x, RATE, [Segment(0, x.size, MIN_STRETCH, -MAX_SEMITONES)]))


@pytest.mark.parametrize(
    "segments",
    [[Segment(100, 50)], [Segment(0, 200), Segment(100, 300)], [Segment(0, 10**6)], [Segment(-1, 10)]],
)
def test_bad_segments_are_rejected(segments):
    with pytest.raises(ValueError):
        reshape(vowel(0.1), RATE, segments)


def test_noise_is_stretched_without_steps():
    x = (0.1 * np.random.default_rng(3).normal(size=RATE // 2)).astype(np.float32)
    y = reshape(x, RATE, [Segment(0, x.size // 2, stretch=1.7, semitones=4.0)])
    assert y.size == round(x.size // 2 * 1.7) + x.size - x.size // 2
    assert max_jump(y) < 1.2 * max_jump(x)
    assert 0.7 < np.std(y) / np.std(x) < 1.3


def test_real_speech_is_stretched_and_raised_fast():
    """A male reader (F0 around 115 Hz): 1.3 times as long and 3 semitones up, well under 0.1× real time."""
    x = read_audio(SAMPLES / "2609-156975-0000.flac", rate=RATE)
    began = time.perf_counter()
    y = reshape(x, RATE, [Segment(0, x.size, stretch=1.3, semitones=3.0)])
    elapsed = time.perf_counter() - began
    assert abs(y.size - 1.3 * x.size) <= HOP
    assert abs(semitones(median_f0(y), median_f0(x)) - 3.0) < 0.4
    assert elapsed < 0.1 * x.size / RATE


def test_moved_follows_the_stretches():
    segments = [Segment(100, 300, 2.0, 0.0), Segment(500, 600, 0.5, 3.0)]
    assert moved([0, 100, 200, 300, 500, 600, 1000], segments, 1000).tolist() == [0, 100, 300, 500, 700, 750, 1150]
