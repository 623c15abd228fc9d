import time

import numpy as np
import pytest

from conftest import SAMPLES
from telephrase.audio.files import read_audio
from telephrase.speech.pitch import PitchTrack, track_pitch

RATE = 16000
EDGE = 3
"""Frames at each end whose analysis window reaches into the zero padding."""


def seconds(duration: float) -> np.ndarray:
    return np.arange(round(duration * RATE)) / RATE


def inner(track: PitchTrack) -> slice:
    return slice(EDGE, len(track.f0) - EDGE)


@pytest.mark.parametrize("f0", [60.0, 85.0, 110.0, 147.0, 220.0, 310.0, 400.0])
def test_pure_tone_within_one_percent(f0):
    track = track_pitch(0.5 * np.sin(2 * np.pi * f0 * seconds(1.0)))
    assert track.voiced[inner(track)].all()
    assert np.abs(track.f0[inner(track)] / f0 - 1).max() < 0.01


@pytest.mark.parametrize("f0", [95.0, 180.0, 260.0])
def test_harmonic_complex_with_weak_fundamental(f0):
    """A voice-like spectrum whose second and third harmonics outweigh the first: still f0, not 2·f0."""
    t = seconds(1.0)
    amplitudes = {1: 0.2, 2: 1.0, 3: 0.8, 4: 0.5, 5: 0.3, 6: 0.2, 7: 0.1}
    x = sum(a * np.sin(2 * np.pi * k * f0 * t + k) for k, a in amplitudes.items())
    track = track_pitch(0.2 * x)
    assert track.voiced[inner(track)].all()
    assert np.abs(track.f0[inner(track)] / f0 - 1).max() < 0.01


def test_glide_100_to_200_hz_has_no_octave_jumps():
    t = seconds(1.5)
    expected = 100.0 * 2 ** (t / 1.5)
    phase = 2 * np.pi * np.cumsum(expected) / RATE
    x = 0.3 * np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    track = track_pitch(x)
    f0 = track.f0[inner(track)]
    assert not np.isnan(f0).any()
    assert np.abs(f0 / (100.0 * 2 ** (track.times[inner(track)] / 1.5)) - 1).max() < 0.015
    assert np.all(np.diff(f0) > -0.5) and np.abs(np.diff(np.log2(f0))).max() < 0.05


def test_white_noise_and_silence_are_unvoiced():
    noise = np.random.default_rng(7).normal(0.0, 0.1, RATE)
    assert not track_pitch(noise).voiced.any()
    silence = track_pitch(np.zeros(RATE))
    assert not silence.voiced.any() and (silence.voicing == 0).all()


def test_quiet_hum_between_loud_tones_is_unvoiced():
    """Mains hum in the pauses is periodic; only its level, near the background, says it is not speech."""
    t = seconds(3.0)
    hum = 0.01 * np.sin(2 * np.pi * 60 * t)
    speech = np.where((t > 1.0) & (t < 2.0), 0.3 * np.sin(2 * np.pi * 150 * t), 0.0)
    track = track_pitch(hum + speech)
    inside = (track.times > 1.05) & (track.times < 1.95)
    assert track.voiced[inside].all() and not track.voiced[~((track.times > 0.95) & (track.times < 2.05))].any()


def test_frames_line_up_with_time_and_respect_the_range():
    track = track_pitch(0.5 * np.sin(2 * np.pi * 300 * seconds(0.505)), fmin=80.0, fmax=250.0, hop=0.005)
    assert track.hop == 0.005 and len(track.times) == 101
    assert np.allclose(track.times, np.arange(101) * 0.005)
    assert len(track.f0) == len(track.voicing) == 101
    voiced = track.f0[track.voiced]
    assert ((voiced >= 80.0) & (voiced <= 250.0)).all()
    assert 0.0 <= track.voicing.min() and track.voicing.max() <= 1.0


def test_empty_audio_and_bad_arguments():
    empty = track_pitch(np.zeros(0, dtype=np.float32))
    assert empty.times.size == empty.f0.size == empty.voicing.size == 0
    with pytest.raises(ValueError, match="mono"):
        track_pitch(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="fmin"):
        track_pitch(np.zeros(100), fmin=300.0, fmax=200.0)


def test_real_speech_samples_have_adult_pitch_and_plausible_voicing(samples):
    for sample in samples:
        track = track_pitch(read_audio(SAMPLES / sample["path"]))
        voiced = track.f0[track.voiced]
        assert 0.2 < voiced.size / track.f0.size < 0.8, sample["id"]
        assert 80.0 < np.median(voiced) < 280.0, sample["id"]
        jumps = np.abs(np.diff(np.log2(track.f0)))
        assert np.nanmax(jumps) < 1.0, sample["id"]


def test_faster_than_a_twentieth_of_real_time():
    audio = np.random.default_rng(1).normal(0.0, 0.1, 20 * RATE).astype(np.float32)
    started = time.perf_counter()
    track_pitch(audio)
    assert time.perf_counter() - started < 20 * 0.05
