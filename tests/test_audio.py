import wave

import numpy as np
import pytest

from conftest import SAMPLES
from telephrase.audio.files import read_audio, resample, write_wav
from telephrase.errors import AudioError


def test_reads_flac_and_wav_at_16k(samples):
    for s in samples:
        audio = read_audio(SAMPLES / s["path"])
        assert audio.dtype == np.float32
        assert len(audio) / 16000 == pytest.approx(float(s["seconds"]), abs=0.02)
        assert 0.05 < np.abs(audio).max() <= 1.0


@pytest.mark.parametrize("rate, channels", [(8000, 1), (44100, 2), (48000, 1)])
def test_any_rate_and_channel_count_is_resampled(tmp_path, rate, channels):
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    pcm = (np.repeat(tone[:, None], channels, axis=1) * 32767).astype("<i2")
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    audio = read_audio(path)
    assert len(audio) == pytest.approx(16000, abs=40)
    spectrum = np.abs(np.fft.rfft(audio[1000:15000]))
    assert np.argmax(spectrum) * 16000 / len(audio[1000:15000]) == pytest.approx(440, abs=3)


def test_write_then_read(tmp_path):
    audio = 0.3 * np.sin(np.linspace(0, 200, 22050)).astype(np.float32)
    write_wav(tmp_path / "x.wav", audio, 22050)
    back = read_audio(tmp_path / "x.wav", rate=22050)
    assert np.max(np.abs(back - audio)) < 1e-3
    assert len(resample(audio, 22050, 16000)) == pytest.approx(16000, abs=40)


@pytest.mark.parametrize(
    "content, message", [(b"", "empty"), (b"RIFF\x00\x00not really a wave file" * 20, "not a readable audio file")]
)
def test_bad_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as e:
        read_audio(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "nope.flac")
