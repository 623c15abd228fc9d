"""The pitch track computed while a phrase is captured: the offline track, mostly computed early."""

import numpy as np
import pytest

from conftest import SAMPLES
from telephrase.audio.files import read_audio
from telephrase.config import Config
from telephrase.pipeline import Engines
from telephrase.speech.pitchstream import BATCH, PitchStream
from telephrase.speech.segment import PhraseCutter

S = 16000


class Counted:
    """The real model, noting how many frames each run of it computed."""

    def __init__(self, model) -> None:
        self.model = model
        self.runs: list[int] = []

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        self.runs.append(len(batch))
        return self.model.probabilities(batch)

    def track(self, audio: np.ndarray):
        return self.model.track(audio)


@pytest.fixture(scope="module")
def model():
    return Engines(Config()).pitch_model


def phrases_of(talk: np.ndarray, model: Counted) -> list:
    """``talk`` captured in 0.1 s blocks; the phrases, each with how many frames its cut computed
    (the first run of the call that cut it: a call cuts, then updates with what is left)."""
    cutter = PhraseCutter(pause=0.6, pitch=PitchStream(model))
    out = []
    for i in range(0, len(talk), S // 10):
        before = len(model.runs)
        out += [(phrase, model.runs[before]) for phrase in cutter.feed(talk[i : i + S // 10])]
    before = len(model.runs)
    rest = cutter.flush()
    assert rest is not None
    out.append((rest, model.runs[before]))
    return out


def test_the_streamed_track_is_the_offline_one_and_mostly_done_before_the_cut(model):
    audio = read_audio(SAMPLES / "1998-15444-0001.flac")
    talk = np.concatenate([np.zeros(2 * S, dtype=np.float32), audio, np.zeros(S, dtype=np.float32), audio])
    counted = Counted(model)
    phrases = phrases_of(talk, counted)
    assert len(phrases) == 2
    for phrase, at_cut in phrases:
        offline = model.track(phrase.audio)
        track = phrase.track
        assert len(track.times) == len(offline.times) > 200
        np.testing.assert_array_equal(track.times, offline.times)
        np.testing.assert_array_equal(np.isnan(track.f0), np.isnan(offline.f0))
        np.testing.assert_allclose(track.f0, offline.f0, rtol=1e-5)
        np.testing.assert_allclose(track.voicing, offline.voicing, atol=1e-5)
        # After the cut only the frames that see past the phrase's end, and those not yet
        # gathered into a run, are left to compute.
        assert at_cut < BATCH + 1024 // 160 + 1


def test_silence_dropped_before_speech_restarts_the_frames(model):
    audio = read_audio(SAMPLES / "1998-15444-0001.flac")
    cutter = PhraseCutter(pitch=PitchStream(model))
    assert cutter.feed(np.zeros(3 * S, dtype=np.float32)) == []
    for i in range(0, len(audio), S // 10):
        assert cutter.feed(audio[i : i + S // 10]) == []
    rest = cutter.flush()
    offline = model.track(rest.audio)
    np.testing.assert_array_equal(np.isnan(rest.track.f0), np.isnan(offline.f0))
    np.testing.assert_allclose(rest.track.f0, offline.f0, rtol=1e-5)
