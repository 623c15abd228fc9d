"""segment: phrases cut at pauses while the operator talks (real Silero VAD on real speech)."""

import numpy as np

from conftest import SAMPLES
from telephrase.audio.files import read_audio
from telephrase.speech.segment import PAD, RATE, PhraseCutter, cut_point

S = RATE


def test_waits_while_speech_goes_on():
    assert cut_point([(0, 2 * S)], int(2.3 * S), int(0.6 * S), 20 * S) is None
    assert cut_point([], 5 * S, int(0.6 * S), 20 * S) is None


def test_cuts_after_a_long_enough_pause_only():
    speech = [(0, S), (int(1.3 * S), 3 * S)]
    assert cut_point(speech, int(3.2 * S), int(0.6 * S), 20 * S) is None
    assert cut_point(speech, int(3.7 * S), int(0.6 * S), 20 * S) == 3 * S + PAD
    assert cut_point([(0, S), (2 * S, 3 * S)], int(3.2 * S), int(0.6 * S), 20 * S) == S + PAD


def test_a_phrase_without_pauses_is_cut_at_the_limit():
    assert cut_point([(0, 21 * S)], 21 * S, int(0.6 * S), 20 * S) == 20 * S
    speech = [(0, 5 * S), (int(5.2 * S), 12 * S), (int(12.5 * S), 21 * S)]
    assert cut_point(speech, 21 * S, int(0.6 * S), 20 * S) == 12 * S + PAD


def test_real_speech_with_a_pause_gives_two_phrases():
    audio = read_audio(SAMPLES / "1998-15444-0001.flac")
    talk = np.concatenate([audio, np.zeros(S, dtype=np.float32), audio])
    cutter = PhraseCutter(pause=0.6)
    phrases = []
    for i in range(0, len(talk), S // 10):
        phrases += cutter.feed(talk[i : i + S // 10])
    assert len(phrases) == 1
    assert abs(len(phrases[0].audio) - len(audio)) < 0.8 * S
    rest = cutter.flush()
    assert rest is not None and abs(len(rest.audio) - len(audio)) < 1.2 * S


def test_silence_is_not_a_phrase():
    cutter = PhraseCutter()
    assert cutter.feed(np.zeros(5 * S, dtype=np.float32)) == []
    assert len(cutter.buffer) <= S and cutter.flush() is None


def test_a_long_phrase_ends_at_a_short_pause():
    speech = [(0, 2 * S), (int(2.3 * S), 5 * S), (int(5.3 * S), 7 * S)]
    assert cut_point(speech, int(7.1 * S), int(0.6 * S), 20 * S) is None
    assert cut_point(speech, int(7.1 * S), int(0.6 * S), 20 * S, long_phrase=4 * S, short_pause=int(0.25 * S)) \
        == 5 * S + PAD
