"""tools/timestamp_check.py: Whisper's word timing against the exact timing of synthesized speech."""

import importlib.util

import pytest

from conftest import ROOT, SAMPLES
from telephrase.speech.synthesize import Utterance as Speech


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("timestamp_check", ROOT / "tools" / "timestamp_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthesized_word_spans_tile_the_speech(engines):
    voice = engines.synthesizer
    audio, spans = voice.speak_timed([Speech(" Hello there, over.")])
    assert len(spans) == 3 and all(a < b for a, b in spans)
    assert all(b <= c for (_, b), (c, _) in zip(spans, spans[1:])) and spans[-1][1] <= len(audio) / voice.rate


def test_words_espeak_joins_have_no_span_of_their_own(engines):
    _, spans = engines.synthesizer.speak_timed([Speech(" It is one of a kind.")])
    assert len(spans) == 6 and spans[0] is not None and None in spans


@pytest.mark.slow
def test_whisper_times_words_well_but_not_exactly(engines, tool):
    result = tool.check(engines, str(SAMPLES / "manifest.tsv"), progress=False)
    assert result["words"] >= 25 and result["skipped_words"] <= 6
    assert 0.5 < result["duration_corr"] < 0.99
    assert 0.01 < result["mean_abs_error_s"] < 0.2
