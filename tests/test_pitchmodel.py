"""The exported CREPE model as the daemon runs it: onnxruntime and numpy decoding, no torch."""

import numpy as np
import pytest

from conftest import SAMPLES
from telephrase.audio.files import read_audio
from telephrase.config import Config, replace
from telephrase.errors import ConfigError
from telephrase.pipeline import Engines
from telephrase.speech.pitch import track_pitch
from telephrase.speech.pitchmodel import BINS, decode, frames

RATE = 16000


@pytest.fixture(scope="module")
def tracker():
    return Engines(Config()).pitch_tracker


def tone(f0: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    amplitudes = {1: 1.0, 2: 0.6, 3: 0.4, 4: 0.2}
    return 0.15 * sum(a * np.sin(2 * np.pi * k * f0 * t + k) for k, a in amplitudes.items())


@pytest.mark.parametrize("f0", [80.0, 120.0, 180.0, 260.0, 350.0])
def test_harmonic_tone_within_a_quarter_tone(tracker, f0):
    track = tracker(tone(f0))
    inner = slice(5, -5)
    assert track.voiced[inner].mean() > 0.95
    cents = 1200 * np.abs(np.log2(track.f0[inner][track.voiced[inner]] / f0))
    assert np.median(cents) < 25 and np.percentile(cents, 95) < 50


def test_frames_are_centred_every_hop_like_torchcrepe():
    x = np.arange(1600, dtype=np.float32)
    f = frames(x, 160)
    assert f.shape == (11, 1024)
    assert f[0, 512] == 0 and f[0, 511] == 0 and f[0, 513] == 1  # frame 0 is centred on sample 0
    assert f[3, 512] == 480


def test_decode_keeps_to_the_allowed_range():
    probabilities = np.zeros((2, BINS), dtype=np.float32)
    probabilities[0, 10] = 1.0   # 56 Hz: below fmin, must not win
    probabilities[0, 150] = 0.6  # softer, but in range
    probabilities[1, 150] = 0.9
    f0, periodicity = decode(probabilities, 60.0, 400.0)
    centre = 10 * 2 ** ((150 * 20 + 1997.3794084376191) / 1200)
    assert np.allclose(f0, centre, rtol=0.01)
    assert periodicity.tolist() == pytest.approx([0.6, 0.9])


def test_silence_and_noise_are_unvoiced(tracker):
    assert not tracker(np.zeros(RATE)).voiced.any()
    noise = np.random.default_rng(1).normal(0, 0.1, RATE)
    assert tracker(noise).voiced.mean() < 0.1


def test_other_rates_are_resampled(tracker):
    at_44k = tracker(tone(150.0, rate=44100), rate=44100)
    at_16k = tracker(tone(150.0))
    assert len(at_44k.f0) == len(at_16k.f0)
    both = at_44k.voiced & at_16k.voiced
    assert both.mean() > 0.9
    assert np.nanmax(np.abs(1200 * np.log2(at_44k.f0[both] / at_16k.f0[both]))) < 20


def test_agrees_with_the_dsp_tracker_on_real_speech(tracker):
    audio = read_audio(SAMPLES / "1998-15444-0001.flac")
    ours, dsp = tracker(audio), track_pitch(audio)
    n = min(len(ours.f0), len(dsp.f0))
    both = ours.voiced[:n] & dsp.voiced[:n]
    assert both.sum() > 150
    cents = 1200 * np.abs(np.log2(ours.f0[:n][both] / dsp.f0[:n][both]))
    assert np.mean(cents < 50) > 0.85


def test_empty_audio(tracker):
    track = tracker(np.zeros(0))
    assert len(track.f0) == 0


def test_yin_needs_no_model_and_a_wrong_role_is_refused():
    assert Engines(replace(Config(), codec={"pitch": "yin"})).pitch_tracker is track_pitch
    with pytest.raises(ConfigError, match="is a tts model, not a pitch tracker"):
        Engines(replace(Config(), codec={"pitch": "piper-joe-medium"})).pitch_tracker
