"""The ``telephrase`` command as a user runs it: help, file mode, loopback, bad input."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from conftest import SAMPLES, run_cli
from telephrase.audio.files import write_wav

COMMANDS = ["loopback", "encode", "decode", "bench", "bench-link", "bench-latency", "bench-direwolf", "keygen", "daemon",
            "devices", "monitor", "models"]


@pytest.mark.parametrize("command", [[]] + [[c] for c in COMMANDS])
def test_help(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "usage: telephrase" in result.stdout


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("telephrase ")


def test_models_prepare():
    result = run_cli("models", "--prepare")
    assert result.returncode == 0, result.stdout + result.stderr
    from telephrase.registry import Registry

    names = Registry().names()
    rows = {line.split()[0]: line.split()[2] for line in result.stdout.splitlines()}
    assert rows == dict.fromkeys(names, "ok")


def test_daemon_never_imports_torch():
    code = (
        "import sys, pkgutil, importlib, telephrase\n"
        "for m in pkgutil.walk_packages(telephrase.__path__, 'telephrase.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "from telephrase.pipeline import Engines\n"
        "from telephrase.config import Config\n"
        "e = Engines(Config()); e.transcriber; e.synthesizer\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'tensorflow')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_loopback_through_two_daemons(tmp_path, samples):
    out = tmp_path / "heard.wav"
    result = run_cli("loopback", str(SAMPLES / samples[1]["path"]), "-o", str(out), "--daemons", "--json",
                     "--ber", "1e-3", "--bandwidth", "300", "--prosody", "balanced")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "moses" in report["transcript"].lower()
    assert report["messages_heard"] == report["messages_sent"] >= 1 and report["latency_s"] is not None
    stages = report["stages_s"]
    assert list(stages) == ["queued", "recognise", "prosody", "encode", "send", "link", "decode", "speak"]
    assert sum(stages.values()) == pytest.approx(report["latency_s"], abs=0.01)
    assert stages["recognise"] > 0.05 and all(v >= 0 for k, v in stages.items() if k != "queued")
    assert report["bits_flipped"] >= 0 and out.stat().st_size > 44


@pytest.mark.slow
def test_loopback_json(tmp_path, samples):
    out = tmp_path / "out.wav"
    result = run_cli("loopback", str(SAMPLES / samples[1]["path"]), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("transcript", "seconds", "payload_bytes", "onair_bytes", "payload_bps", "onair_bps",
                "stt_seconds", "tts_seconds"):
        assert key in report
    assert "moses" in report["transcript"].lower() and report["delivered_exactly"]
    assert report["onair_bytes"] > report["payload_bytes"]
    with wave.open(str(out)) as w:
        assert w.getframerate() == 22050 and w.getnframes() / 22050 == pytest.approx(report["output_seconds"], abs=0.01)


@pytest.mark.slow
def test_encode_decode_file_mode(tmp_path, samples):
    tph, out = tmp_path / "msg.tph", tmp_path / "out.wav"
    result = run_cli("encode", str(SAMPLES / samples[2]["path"]), "-o", str(tph), "--json", "--mtu", "32")
    assert result.returncode == 0, result.stderr
    sent = json.loads(result.stdout)
    assert tph.stat().st_size == sent["file_bytes"] > sent["onair_bytes"] and sent["frames"] > 1
    result = run_cli("decode", str(tph), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["messages"] == [sent["transcript"]] and got["bad_frames"] == 0 and got["noise_bytes"] == 0
    assert out.stat().st_size > 44

    clean = tph.read_bytes()
    repaired = bytearray(clean)
    for i in (10, 20, 30):
        repaired[i] ^= 0x40
    tph.write_bytes(b"noise" + bytes(repaired))
    result = run_cli("decode", str(tph), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"] == [sent["transcript"]]

    wrecked = bytearray(clean)
    wrecked[10:40] = bytes(30)
    tph.write_bytes(bytes(wrecked))
    result = run_cli("decode", str(tph), "-o", str(tmp_path / "bad.wav"))
    assert result.returncode == 2
    assert "no complete message" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.wav").exists()


@pytest.mark.slow
def test_loopback_with_bit_errors_delivers_the_same_transcript(tmp_path, samples):
    path = str(SAMPLES / samples[0]["path"])
    clean = json.loads(run_cli("loopback", path, "-o", str(tmp_path / "a.wav"), "--json").stdout)
    noisy = run_cli("loopback", path, "-o", str(tmp_path / "b.wav"), "--json", "--ber", "1e-3", "--seed", "3")
    report = json.loads(noisy.stdout)
    assert report["channel"]["ber"] == 1e-3
    assert report["delivered_exactly"] and report["received"] == clean["transcript"]


@pytest.mark.parametrize(
    "content, message",
    [(b"", "file is empty"), (b"\x00\x01 definitely not audio " * 50, "not a readable audio file")],
)
def test_bad_input_one_line_error(tmp_path, content, message):
    path = tmp_path / "in.wav"
    path.write_bytes(content)
    for command in ("loopback", "encode"):
        result = run_cli(command, str(path), "-o", str(tmp_path / "out"))
        assert result.returncode == 2
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_silence_one_line_error(tmp_path):
    path = tmp_path / "silence.wav"
    write_wav(path, np.zeros(3 * 16000, dtype=np.float32), 16000)
    result = run_cli("loopback", str(path), "-o", str(tmp_path / "out.wav"))
    assert result.returncode == 2
    assert "no speech found" in result.stderr and str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_decode_of_garbage_is_refused(tmp_path):
    path = tmp_path / "junk.tph"
    path.write_bytes(bytes(range(256)) * 4)
    result = run_cli("decode", str(path), "-o", str(tmp_path / "out.wav"))
    assert result.returncode == 2 and "no complete message" in result.stderr


@pytest.mark.slow
def test_five_minute_recording(tmp_path, samples):
    """A long transmission: transcribed whole, sent as several frames, nothing lost."""
    from telephrase.audio.files import read_audio

    clips = [read_audio(SAMPLES / s["path"]) for s in samples]
    gap = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([np.concatenate([c, gap]) for c in clips] * 20)[: 300 * 16000]
    path = tmp_path / "long.wav"
    write_wav(path, audio, 16000)
    tph = tmp_path / "long.tph"
    result = run_cli("encode", str(path), "-o", str(tph), "--json",
                     "--stt-model", "whisper-tiny.en", "--beam-size", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seconds"] == pytest.approx(300, abs=0.1)
    assert report["frames"] > 1 and report["transcript"].lower().count("symptoms") >= 15
