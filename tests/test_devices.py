"""Sound devices through real PortAudio and ALSA, on sound cards made of ALSA plugins.

Each test writes an ALSA configuration and points ``ALSA_CONFIG_PATH`` at it: PortAudio lists
the PCMs it defines as devices, and ``devices.rescan`` restarts PortAudio on it (PortAudio
frees ALSA's configuration when it stops and reads it again when it starts, so one process
can go through many).  The cards:

- ``card``: a USB sound card as they come, 48 kHz only.  Its ``plug`` has no rate converter
  to load, so it opens at 48 kHz and refuses every other rate.  What is played on it lands in
  ``card-out.raw`` and what it records comes from ``card-in.raw`` (ALSA's ``file`` plugin;
  16-bit mono).  The ``null`` PCM under it runs as fast as it is read and written.
- ``speaker``: a card that takes any rate, into ``speaker-out.raw``.
- ``slowspeaker``: writes into a FIFO, so it plays only as fast as the test reads.
- ``speakeronly``: playback only (``asym``), so it is no input device.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from telephrase.audio import devices
from telephrase.audio.devices import Capture, DeviceError, Playback, Retry
from telephrase.audio.files import resample

RATE = 48000

ASOUNDRC = """\
pcm.!default {{ type plug; slave.pcm "null" }}
pcm.null {{ type null }}
pcm.card {{
    type plug
    slave {{ pcm "cardfile"; rate 48000; format S16_LE; channels 1 }}
    rate_converter "none-at-all"
}}
pcm.cardfile {{ type file; slave.pcm "null"; file "{dir}/card-out.raw"; infile "{dir}/card-in.raw"; format "raw" }}
pcm.speaker {{ type plug; slave {{ pcm "speakerfile"; format S16_LE; channels 1 }} }}
pcm.speakerfile {{ type file; slave.pcm "null"; file "{dir}/speaker-out.raw"; format "raw" }}
pcm.slowspeaker {{ type plug; slave {{ pcm "slowfile"; rate 48000; format S16_LE; channels 1 }} }}
pcm.slowfile {{ type file; slave.pcm "null"; file "{dir}/slow.fifo"; format "raw" }}
pcm.speakeronly {{ type asym; playback.pcm "speaker" }}
"""


class Cards:
    """The test's sound cards: their files, and a way to plug in one more."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.config = folder / "asound.conf"
        self.config.write_text(ASOUNDRC.format(dir=folder))
        os.mkfifo(folder / "slow.fifo")
        self.record(np.zeros(RATE, dtype=np.float32))

    def record(self, samples: np.ndarray) -> None:
        """What ``card``'s microphone will hear."""
        (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tofile(self.dir / "card-in.raw")

    def played(self, name: str) -> np.ndarray:
        return np.fromfile(self.dir / f"{name}-out.raw", dtype="<i2").astype(np.float32) / 32768

    def plug_in(self, text: str) -> None:
        """Add a card to the configuration; PortAudio sees it after a rescan."""
        with self.config.open("a") as f:
            f.write(text.format(dir=self.dir) + "\n")


@pytest.fixture
def cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "asound.conf"))
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    c = Cards(tmp_path)
    assert devices.rescan()
    yield c
    monkeypatch.undo()
    # The next user of PortAudio starts it on the machine's own configuration.
    assert devices.rescan(wait=0), "a test left a stream open"


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_lists_the_cards_alsa_defines(cards: Cards) -> None:
    found = {d.name: d for d in devices.list_devices()}
    assert {"card", "speaker", "slowspeaker", "speakeronly", "default"} <= found.keys()
    assert "null" not in found  # PortAudio hides ALSA's null PCM
    card = found["card"]
    assert (card.default_rate, card.host_api) == (48000, "ALSA")
    assert card.max_input_channels > 0 and card.max_output_channels > 0
    assert found["speakeronly"].max_input_channels == 0
    assert found["default"].default_input and found["default"].default_output
    assert not card.default_input

    table = devices.format_devices(list(found.values())).splitlines()
    assert table[0].split() == ["index", "in", "out", "rate", "api", "name"]
    row = next(line for line in table if line.endswith("  card"))
    assert row.split()[:5] == [str(card.index), str(card.max_input_channels), str(card.max_output_channels), "48000", "ALSA"]
    assert any(line.endswith("default") and "*" in line for line in table)
    assert "no audio devices" in devices.format_devices([])


def test_finds_a_device_by_name_index_or_default(cards: Cards) -> None:
    found = {d.name: d for d in devices.list_devices()}
    assert devices.find_device("card", "input").name == "card"  # exact, though "cardfile" contains it too
    assert devices.find_device("CARD", "output").name == "card"
    assert devices.find_device("slowsp", "output").name == "slowspeaker"
    assert devices.find_device(str(found["speaker"].index), "output").name == "speaker"
    assert devices.find_device("", "input").name == "default"
    assert devices.find_device("speakeronly", "output").name == "speakeronly"

    with pytest.raises(DeviceError, match=r"'ard' matches 2 input devices \(\d+: card; \d+: cardfile\)"):
        devices.find_device("ard", "input")
    with pytest.raises(DeviceError, match="no input device matches 'speakeronly'.*telephrase devices"):
        devices.find_device("speakeronly", "input")
    with pytest.raises(DeviceError, match="no output device matches 'usb'.*plugged in.*telephrase devices"):
        devices.find_device("usb", "output")
    with pytest.raises(DeviceError, match="no output device with index 99; run 'telephrase devices'"):
        devices.find_device("99", "output")


def test_capture_gives_16khz_blocks_of_what_the_card_hears(cards: Cards) -> None:
    # A chirp: a lost, repeated or shifted block would not line up with it.
    t = np.arange(2 * RATE) / RATE
    heard = (0.4 * np.sin(2 * np.pi * (200 * t + 400 * t**2))).astype(np.float32)
    cards.record(heard)
    capture = Capture("card")
    try:
        blocks = [capture.read(timeout=5) for _ in range(15)]
        assert capture.device is not None and capture.device.default_rate == 48000
    finally:
        capture.close()
    assert all(b is not None and b.dtype == np.float32 and len(b) == 1600 for b in blocks)
    got = np.concatenate(blocks)
    want = resample(heard, RATE, 16000)[: len(got)]
    lag = max(range(40), key=lambda k: float(np.dot(got[k : k + 8000], want[: 8000])))
    assert lag < 40
    assert np.max(np.abs(got[lag:] - want[: len(got) - lag])) < 0.01


def test_playback_resamples_for_a_card_that_refuses_the_rate(cards: Cards, caplog: pytest.LogCaptureFixture) -> None:
    speech = tone(440, 0.5, 22050)
    caplog.set_level(logging.INFO, logger="telephrase.audio.devices")
    speaker = Playback("card")
    assert speaker.play(speech, 22050) is True
    out = cards.played("card")
    assert abs(len(out) - 24000) <= 48  # 0.5 s at the card's 48 kHz, not 11,025 samples
    assert abs(peak_frequency(out, RATE) - 440) < 3
    assert 0.48 < np.max(np.abs(out)) < 0.52
    assert "speaker card refuses 22050 Hz; resampling to 48000 Hz" in caplog.text
    # The card's answer is remembered: the next piece goes straight to 48 kHz.
    caplog.clear()
    assert speaker.play(speech, 22050) is True
    assert "refuses" not in caplog.text
    assert abs(len(cards.played("card")) - 24000) <= 48


def test_playback_keeps_the_rate_a_card_takes(cards: Cards) -> None:
    speech = tone(440, 0.5, 22050)
    assert Playback("speaker").play(speech, 22050) is True
    out = cards.played("speaker")
    assert len(out) == len(speech)  # played at 22,050 Hz as it came
    assert np.max(np.abs(out - speech)) < 1e-3  # mono, duplicated to stereo and mixed back down


def test_stop_cuts_playback_short(cards: Cards) -> None:
    received = []

    def listen() -> None:  # reads the card's output at about 4x real time
        with open(cards.dir / "slow.fifo", "rb") as f:
            while data := f.read(4096):
                received.append(len(data))
                time.sleep(0.01)

    listener = threading.Thread(target=listen)
    listener.start()
    speaker = Playback("slowspeaker")
    result = []
    player = threading.Thread(target=lambda: result.append(speaker.play(tone(300, 10.0, RATE), RATE)))
    player.start()
    time.sleep(0.3)
    stopped_at = time.monotonic()
    speaker.stop()
    player.join(timeout=5)
    assert not player.is_alive()
    assert time.monotonic() - stopped_at < 0.5
    listener.join(timeout=5)
    assert result == [False]
    assert 0 < sum(received) < 0.5 * 10.0 * RATE * 2  # well short of 10 s of 16-bit samples


def test_a_card_plugged_in_later_is_found_while_the_microphone_runs(cards: Cards) -> None:
    speaker = Playback("usbcard")
    with pytest.raises(DeviceError, match="no output device matches 'usbcard'"):
        speaker.play(tone(440, 0.1, 22050), 22050)
    capture = Capture("card")
    try:
        assert capture.read(timeout=5) is not None
        # 'card' records faster than real time and nobody reads it: its queue is full, and
        # the capture thread waiting on it must still let go for the rescan.
        deadline = time.monotonic() + 5
        while not capture._blocks.full() and time.monotonic() < deadline:
            time.sleep(0.01)
        cards.plug_in('pcm.usbcard {{ type plug; slave {{ pcm "usbfile"; format S16_LE; channels 1 }} }}\n'
                      'pcm.usbfile {{ type file; slave.pcm "null"; file "{dir}/usbcard-out.raw"; format "raw" }}')
        # PortAudio must restart to see it, so the microphone lets go for a moment.
        assert speaker.play(tone(440, 0.1, 22050), 22050) is True
        assert np.max(np.abs(cards.played("usbcard") - tone(440, 0.1, 22050))) < 1e-3
        assert capture.read(timeout=5) is not None  # and it records again
    finally:
        capture.close()


def test_capture_waits_for_a_missing_microphone_and_logs_once(cards: Cards, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telephrase.audio.devices")
    cards.plug_in('pcm.latemic {{ type file; slave.pcm "null"; file "/dev/null"; infile "{dir}/latemic.raw"; '
                  'format "raw" }}')
    # Until its recording exists, 'latemic' does not open for capture: no input device.
    capture = Capture("latemic", retry=Retry("microphone latemic", first=0.02, longest=0.05))
    try:
        assert capture.read(timeout=0.5) is None
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "microphone latemic: no input device matches 'latemic'" in warnings[0].getMessage()

        (tone(1000, 1.0, 44100) * 0.5 * 32767).astype("<i2").tofile(cards.dir / "latemic.raw")
        block = capture.read(timeout=5)
        assert block is not None and len(block) == 1600
        assert "microphone latemic works again" in caplog.text
    finally:
        capture.close()


def test_retry_backs_off_and_logs_each_change_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="telephrase.audio.devices")
    retry = Retry("speaker usb", first=0.5, longest=4.0)
    delays = [retry.failed("busy") for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    retry.failed("missing")
    retry.succeeded()
    retry.succeeded()
    assert retry.failed("missing") == 0.5  # a new outage starts over
    messages = [r.getMessage() for r in caplog.records if r.name == "telephrase.audio.devices"]
    assert messages == [
        "speaker usb: busy; retrying until it works",
        "speaker usb: now missing; still retrying",
        "speaker usb works again after 0 s",
        "speaker usb: missing; retrying until it works",
    ]


def test_reopen_tries_until_the_device_opens_or_stop() -> None:
    attempts = []

    def attempt() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise OSError(16, "Device or resource busy")
        return "open"

    stop = threading.Event()
    assert devices.reopen(attempt, Retry("x", first=0.01, longest=0.01), stop) == "open"
    assert len(attempts) == 3 and attempts[2] - attempts[0] >= 0.02
    stop.set()
    assert devices.reopen(attempt, Retry("x"), stop) is None
    assert len(attempts) == 3
