"""The station (``telephrase daemon``): real models, real UDP on 127.0.0.1, real processes,
a real NOTIFY_SOCKET; recordings stand in for the microphone and the speaker (``wav:``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np

from conftest import ROOT, SAMPLES
from telephrase.audio.files import read_audio
from telephrase.bench.normalize import word_errors
from telephrase.config import Config, replace
from telephrase.pipeline import Sender
from telephrase.station.station import Station

SAMPLE = SAMPLES / "1998-15444-0001.flac"
TEXT = "He should make inquiries as to symptoms and time at which food or medicine must last taken."


def heard_well(texts: list[str]) -> bool:
    """The phrases heard, together, are the sample's words but for a recognition slip or two
    (a station may cut the utterance into phrases, and Whisper hears each a little differently)."""
    errors, words = word_errors(TEXT, " ".join(texts))
    return errors <= 2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def station_config(tmp_path, name: str, port: int, peer: int, station_id: int, **sections) -> Config:
    base = replace(Config(), link={"udp_bind": f"127.0.0.1:{port}", "udp_peer": f"127.0.0.1:{peer}",
                                   "station_id": station_id},
                   audio={"output": f"wav:{tmp_path / (name + '.wav')}"},
                   daemon={"message_log": str(tmp_path / f"{name}.jsonl")})
    return replace(base, **sections) if sections else base


def run_until(station: Station, condition, timeout: float) -> threading.Thread:
    thread = threading.Thread(target=station.run, daemon=True)
    thread.start()
    wait_for(condition, timeout)
    return thread


def send_frames(frames, port: int) -> None:
    """Frames onto the station's UDP port, as a far station would send them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for frame in frames:
            s.sendto(frame, ("127.0.0.1", port))


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def exchange(a: Station, b: Station, timeout: float) -> None:
    """Run both stations until ``a`` has played its recording and sent it and ``b`` has
    spoken as many messages as ``a`` sent (or ``timeout`` passes), then stop them."""
    tb = run_until(b, lambda: False, 0)
    ta = run_until(a, lambda: a.source is not None and not a.source.playing and not a.transmitting.is_set()
                   and b.stats.spoken >= a.stats.sent, timeout)
    a.stop.set()
    b.stop.set()
    ta.join(60)
    tb.join(60)


def log_entries(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_stations_exchange_an_utterance(engines, tmp_path):
    pa, pb = free_port(), free_port()
    a = Station(station_config(tmp_path, "a", pa, pb, 1, audio={"input": f"wav:{SAMPLE}",
                                                                 "output": f"wav:{tmp_path / 'a.wav'}"},
                               ptt={"source": "file"}), engines)
    b = Station(station_config(tmp_path, "b", pb, pa, 2), engines)
    exchange(a, b, 90)
    assert heard_well([s.message.text for s in b.spoken]) and {s.sender for s in b.spoken} == {1}
    heard = read_audio(tmp_path / "b.wav")
    assert abs(len(heard) / 16000 - sum(s.message.seconds for s in b.spoken)) < 1.5
    received, sent = log_entries(tmp_path / "b.jsonl"), log_entries(tmp_path / "a.jsonl")
    assert [(e["direction"], e["sender"], e["text"]) for e in received] == [("rx", 1, s.message.text) for s in b.spoken]
    assert [e["text"] for e in sent] == [e["text"] for e in received]
    assert all(e["direction"] == "tx" and e["onair_bytes"] > e["bits"] / 8 for e in sent)
    assert a.stats.received == 0 and not (tmp_path / "a.wav").exists()


def test_received_speech_waits_while_this_station_transmits(engines, tmp_path):
    """Half duplex: a message heard while the key is down is spoken after the transmission."""
    pa, pb = free_port(), free_port()
    a = Station(station_config(tmp_path, "a", pa, pb, 1), engines)
    thread = run_until(a, lambda: False, 0)
    a.transmitting.set()
    send_frames(Sender(replace(Config(), link={"station_id": 7}), engines).transmit(read_audio(SAMPLE)).frames, pa)
    wait_for(lambda: a.stats.received > 0, 10)
    assert a.stats.received == 1
    time.sleep(1.0)
    assert not a.spoken
    a.transmitting.clear()
    wait_for(lambda: a.stats.spoken > 0, 30)
    a.stop.set()
    thread.join(30)
    assert heard_well([s.message.text for s in a.spoken])


class NotifySocket:
    """systemd's side of sd_notify: a unix datagram socket whose reader thread collects what
    the daemon says, always draining it as systemd does (a full socket blocks the sender)."""

    def __init__(self, path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            self.messages.append(self.sock.recv(4096).decode())

    def wait_for(self, field: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(field in m.split("\n") for m in list(self.messages)):
                return True
            time.sleep(0.02)
        return False


def write_toml(path, config: dict) -> None:
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


def start_daemon(tmp_path, config: dict, notify) -> subprocess.Popen:
    toml = tmp_path / "telephrase.toml"
    write_toml(toml, config)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="1000000", PYTHONUNBUFFERED="1")
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen([sys.executable, "-m", "telephrase", "daemon", "--config", str(toml)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_daemon_tells_systemd_it_is_ready_keeps_the_watchdog_fed_reloads_and_stops_on_sigterm(tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    port = free_port()
    daemon = start_daemon(tmp_path, {"link": {"udp_bind": f"127.0.0.1:{port}", "udp_peer": "127.0.0.1:9"},
                                     "audio": {"output": f"wav:{tmp_path / 'out.wav'}"},
                                     "daemon": {"message_log": str(tmp_path / "log.jsonl")}}, notify.sock.getsockname())
    try:
        assert notify.wait_for("READY=1", 120), notify.messages
        notify.messages.clear()
        assert notify.wait_for("WATCHDOG=1", 5)
        notify.messages.clear()
        assert notify.wait_for("WATCHDOG=1", 5)
        notify.messages.clear()
        daemon.send_signal(signal.SIGHUP)
        assert notify.wait_for("RELOADING=1", 5) and notify.wait_for("READY=1", 5)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        assert notify.wait_for("STOPPING=1", 1)
    finally:
        daemon.kill()
        output = daemon.communicate()[0]
    assert "ready" in output and "configuration reloaded" in output


def test_sigterm_while_a_message_arrives_still_speaks_it(engines, tmp_path):
    """Nothing received is dropped: SIGTERM right after a message came in waits for it to be
    spoken."""
    notify = NotifySocket(tmp_path / "notify")
    port = free_port()
    out = tmp_path / "out.wav"
    daemon = start_daemon(tmp_path, {"link": {"udp_bind": f"127.0.0.1:{port}", "udp_peer": "127.0.0.1:9"},
                                     "audio": {"output": f"wav:{out}"},
                                     "daemon": {"message_log": str(tmp_path / "log.jsonl")}}, notify.sock.getsockname())
    try:
        assert notify.wait_for("READY=1", 120), notify.messages
        sent = Sender(replace(Config(), link={"station_id": 9}), engines).transmit(read_audio(SAMPLE))
        send_frames(sent.frames, port)
        wait_for(lambda: log_entries(tmp_path / "log.jsonl"), 10)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.send_signal(signal.SIGABRT)
    finally:
        output = daemon.communicate()[0]
    assert daemon.returncode == 0, output
    heard = read_audio(out)
    assert len(heard) / 16000 > 3 and np.abs(heard).max() > 0.1


def test_sound_cards_and_voice_keying_end_to_end(engines, tmp_path, monkeypatch):
    """Real PortAudio on ALSA plugin cards (``test_devices.Cards``): one station hears the
    utterance on its microphone, is keyed by its voice, and the other plays it on its card."""
    from telephrase.audio import devices
    from test_devices import RATE, Cards

    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "asound.conf"))
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    cards = Cards(tmp_path)
    speech = read_audio(SAMPLE, rate=RATE)
    cards.record(np.concatenate([np.zeros(RATE, dtype=np.float32), speech, np.zeros(4 * RATE, dtype=np.float32)]))
    assert devices.rescan()
    pa, pb = free_port(), free_port()
    a = Station(station_config(tmp_path, "a", pa, pb, 1, audio={"input": "card", "output": "speaker"},
                               ptt={"source": "vad"}), engines)
    b = Station(station_config(tmp_path, "b", pb, pa, 2, audio={"output": "card"}), engines)
    tb = run_until(b, lambda: False, 0)
    ta = run_until(a, lambda: b.stats.spoken >= 1 and not a.transmitting.is_set() and b.stats.spoken >= a.stats.sent,
                   120)
    a.stop.set()
    b.stop.set()
    ta.join(60)
    tb.join(60)
    assert heard_well([s.message.text for s in b.spoken])
    played = cards.played("card")
    assert len(played) / RATE > 3 and np.abs(played).max() > 0.1


def test_a_message_in_a_language_without_a_voice_is_logged_as_text(engines, tmp_path):
    """French heard by a station with only the English voice: in the message log with its
    language and ``spoken: false``, never read aloud as English."""
    port = free_port()
    config = station_config(tmp_path, "a", port, free_port(), 1, tts={"voices_dir": str(tmp_path)})
    station = Station(config, engines.derived(config))
    thread = run_until(station, lambda: False, 0)
    french = engines.derived(replace(Config(), stt={"languages": "en,fr"}, link={"station_id": 9}))
    sent = Sender(french.config, french).transmit(read_audio(SAMPLES / "languages" / "fr-02.flac"))
    assert sent.message.language == "fr"
    send_frames(sent.frames, port)
    wait_for(lambda: station.stats.text_only > 0, 20)
    station.stop.set()
    thread.join(30)
    assert station.stats.text_only == 1 and not station.spoken
    [entry] = log_entries(tmp_path / "a.jsonl")
    assert (entry["text"], entry["language"], entry["sender"], entry["spoken"]) == (sent.message.text, "fr", 9, False)
