"""Languages end to end on real models, with the shipped SYNTHETIC speech (espeak-ng reading
sentences written for telephrase; see ``tools/make_language_samples.py``)."""

import csv
import json

import pytest

from telephrase.audio.files import STT_RATE, read_audio, resample
from telephrase.bench.languages import keyword_recall
from telephrase.bench.normalize import word_errors
from telephrase.config import Config, replace
from telephrase.link.base import MemoryLink
from telephrase.pipeline import round_trip
from telephrase.station.messagelog import format_entry

from conftest import SAMPLES, run_cli

LANGUAGES = SAMPLES / "languages"


def sample(name: str) -> dict:
    with open(LANGUAGES / "manifest.tsv", newline="", encoding="utf-8") as f:
        return next(r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["id"] == name)


@pytest.fixture(scope="module")
def multilingual(engines, tmp_path_factory):
    """The shipped models, detecting among English, Spanish, French and German, with an empty
    voices directory."""
    voices = tmp_path_factory.mktemp("voices")
    return engines.derived(replace(Config(), stt={"languages": "en,es,fr,de"}, tts={"voices_dir": str(voices)}))


def heard(engines, rt, language: str) -> str:
    """What the recogniser, told the language, hears at the far end."""
    transcriber = engines.transcriber.with_config(replace(Config(), stt={"language": language}).stt)
    return transcriber.transcribe(resample(rt.audio, rt.rate, STT_RATE)).text


@pytest.mark.parametrize("name, language", [("es-01", "es"), ("fr-02", "fr"), ("de-03", "de")])
def test_the_language_is_detected_and_travels(multilingual, name, language):
    rt = round_trip(multilingual, read_audio(LANGUAGES / f"{name}.flac"), MemoryLink())
    report = rt.report()
    assert report["language"] == language and report["received_language"] == language
    assert report["delivered_exactly"] and not report["translated"]
    # no voice of that language is installed: delivered as text, not read by the English voice
    assert report["spoken"] is False and len(rt.audio) == 0


def test_a_message_without_voice_is_still_spoken_when_configured(engines):
    config = replace(Config(), stt={"languages": "en,es"}, tts={"voices_dir": "", "speak_unknown_languages": True})
    spanish = engines.derived(config)
    rt = round_trip(spanish, read_audio(LANGUAGES / "es-03.flac"), MemoryLink())
    assert rt.report()["spoken"] and rt.report()["received_language"] == "es"
    assert len(rt.audio) > rt.rate


@pytest.mark.parametrize("name", ["es-01", "fr-04"])
def test_translate_mode_speaks_english_carrying_the_key_words(engines, name):
    row = sample(name)
    translating = engines.derived(replace(Config(), stt={"translate": True}))
    rt = round_trip(translating, read_audio(LANGUAGES / f"{name}.flac"), MemoryLink())
    report = rt.report()
    assert report["language"] == row["language"] and report["translated"]
    assert report["received_language"] == "en" and report["received_source_language"] == row["language"]
    assert report["spoken"] and len(rt.audio) > 0
    # Whisper base translates this synthetic speech loosely (see README, Languages): at
    # least half of the key words are in the English sent, and the far end speaks that English
    english = rt.transmission.message.text
    found, total = keyword_recall(row["keywords"], english)
    assert found >= total / 2, english
    errors, words = word_errors(english, heard(engines, rt, "en"))
    assert errors <= 0.3 * words


def test_loopback_translate_command_reports_the_languages(tmp_path):
    out = tmp_path / "heard.wav"
    result = run_cli("loopback", str(LANGUAGES / "es-01.flac"), "--translate", "--json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["language"], report["translated"], report["received_source_language"]) == ("es", True, "es")
    assert report["spoken"] and out.stat().st_size > 1000
    found, total = keyword_recall(sample("es-01")["keywords"], report["transcript"])
    assert found >= total / 2, report["transcript"]


def test_monitor_shows_the_language():
    line = format_entry({"time": "2026-11-29T10:00:00Z", "direction": "rx", "sender": 3, "text": "Hola",
                         "bits": 30, "seconds": 1.0, "language": "es", "spoken": False})
    assert "(es) Hola" in line
    line = format_entry({"time": "2026-11-29T10:00:00Z", "direction": "rx", "sender": 3, "text": "Hello",
                         "bits": 30, "seconds": 1.0, "language": "en", "source_language": "fr"})
    assert "(fr→en) Hello" in line
