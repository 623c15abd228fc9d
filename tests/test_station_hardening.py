"""The real station against hostile frames, a message log it cannot write, a thread that
dies, and reloads of a broken or changed configuration (real UDP on 127.0.0.1, the real
models, the real daemon process and NOTIFY_SOCKET)."""

from __future__ import annotations

import logging
import threading
import wave

import brotli

from test_station import NotifySocket, free_port, log_entries, send_frames, start_daemon, station_config, wait_for
from telephrase.codec.message import Message, Phrase
from telephrase.codec.payload import TextCoding, encode_payload
from telephrase.codec.varint import encode_varint
from telephrase.link.auth import MessageAuth, generate_key
from telephrase.link.framing import FrameCoding, fragment
from telephrase.pipeline import SPEECH
from telephrase.station.service import Flag, SignalEvents
from telephrase.station.station import Station

TEXT = " Meet at the north gate at noon."


def frames(payload: bytes, sequence: int, sender: int = 7, authenticated: bool = False) -> list[bytes]:
    coding = FrameCoding(sender=sender)
    return [f.encode(coding.parity) for f in fragment(payload, sequence, coding, authenticated=authenticated)]


def good_payload(engines) -> bytes:
    return encode_payload(Message((Phrase(TEXT, 0.2, 2.2),), "en"), TextCoding.LM, words=engines.word_model)


def hostile_payloads() -> list[bytes]:
    bomb = bytes([0x11]) + brotli.compress(b"a" * 10_000_000)
    pause = bytes([0x18]) + encode_varint(1) + encode_varint(2) + encode_varint(2**62) + encode_varint(10) + b"hi"
    hour = bytes([0x18]) + encode_varint(1) + encode_varint(2) + encode_varint(3600 * 20) + encode_varint(10) + b"hi"
    return [bomb, pause, hour]


def start(station: Station, signals: SignalEvents | None = None) -> tuple[threading.Thread, list[int]]:
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(station.run(signals)), daemon=True)
    thread.start()
    assert station.ready.wait(60)
    return thread, status


def stop(station: Station, thread: threading.Thread) -> None:
    station.stop.set()
    thread.join(60)


def test_hostile_frames_are_refused_and_the_next_message_is_still_spoken(engines, tmp_path):
    port = free_port()
    station = Station(station_config(tmp_path, "a", port, free_port(), 1), engines)
    thread, _ = start(station)
    try:
        for sequence, payload in enumerate(hostile_payloads()):
            send_frames(frames(payload, sequence), port)
        wait_for(lambda: station.receiver.stats.bad_payloads >= 3, 20)
        send_frames(frames(good_payload(engines), 9), port)
        wait_for(lambda: station.stats.spoken >= 1, 60)
    finally:
        stop(station, thread)
    assert station.receiver.stats.refused == {"text": 1, "pause": 2}
    assert [s.message.text for s in station.spoken] == [TEXT.strip()]
    assert station.failure is None and station.stats.failed == 0


def test_a_message_log_that_cannot_be_written_costs_the_entry_not_the_message(engines, tmp_path, caplog):
    port = free_port()
    config = station_config(tmp_path, "a", port, free_port(), 1)
    station = Station(config, engines)
    thread, _ = start(station)
    log_path = tmp_path / "a.jsonl"
    try:
        send_frames(frames(good_payload(engines), 1), port)
        wait_for(lambda: station.stats.spoken >= 1, 60)
        log_path.unlink()
        log_path.mkdir()
        with caplog.at_level(logging.ERROR, logger="telephrase"):
            send_frames(frames(good_payload(engines), 2), port)
            wait_for(lambda: station.stats.spoken >= 2, 60)
    finally:
        stop(station, thread)
    assert station.stats.spoken == 2 and station.stats.log_failures == 1
    assert station.failure is None
    assert any("message not logged" in r.getMessage() and "Is a directory" in r.getMessage() for r in caplog.records)


def test_a_dead_speaker_thread_stops_the_watchdog_and_exits_non_zero(engines, tmp_path):
    """The speaker's output is a folder, so playing fails with an OSError nothing handles:
    the daemon must not live on, mute, feeding the watchdog; it exits 1 for systemd to restart."""
    notify = NotifySocket(tmp_path / "notify")
    port = free_port()
    (tmp_path / "speaker").mkdir()
    daemon = start_daemon(tmp_path, {"link": {"udp_bind": f"127.0.0.1:{port}", "udp_peer": "127.0.0.1:9"},
                                     "audio": {"output": f"wav:{tmp_path / 'speaker'}"},
                                     "daemon": {"message_log": str(tmp_path / "log.jsonl")}}, notify.sock.getsockname())
    try:
        assert notify.wait_for("READY=1", 120), notify.messages
        send_frames(frames(good_payload(engines), 1), port)
        status = daemon.wait(60)
        after = len(notify.messages)
        stopped = notify.wait_for("STOPPING=1", 1)
    finally:
        daemon.kill()
        output = daemon.communicate()[0]
    assert status == 1, output
    assert stopped and not any("WATCHDOG=1" in m for m in notify.messages[after:])
    assert "the speaker thread failed" in output and "IsADirectoryError" in output
    assert log_entries(tmp_path / "log.jsonl")[0]["text"] == TEXT.strip()


def reloadable(tmp_path, engines, key: str) -> tuple[Station, SignalEvents, threading.Thread, int]:
    port = free_port()
    toml = tmp_path / "telephrase.toml"
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(bytes(16000))
    toml.write_text(f'[link]\nudp_bind = "127.0.0.1:{port}"\nudp_peer = "127.0.0.1:9"\n'
                    f'[audio]\noutput = "wav:{tmp_path / "out.wav"}"\ninput = "wav:{silence}"\n'
                    f'[daemon]\nmessage_log = "{tmp_path / "log.jsonl"}"\n'
                    f'[ptt]\nsource = "file"\n'
                    f'[auth]\nkey_file = "{key}"\ncounter_file = "{tmp_path / "counter"}"\n'
                    f'replay_file = "{tmp_path / "replay"}"\n')
    from telephrase.config import load_config

    signals = SignalEvents(Flag(), Flag())
    station = Station(load_config(toml), engines, config_path=toml)
    thread, _ = start(station, signals)
    return station, signals, thread, port


def sealed(key_path, counter: int, engines) -> bytes:
    from telephrase.link.auth import load_key

    return MessageAuth(load_key(key_path)).seal(bytes([SPEECH]), counter, good_payload(engines), sender=7)


def reload(station: Station, signals: SignalEvents) -> None:
    signals.reload.set()
    wait_for(lambda: not signals.reload.is_set(), 10)


def test_sighup_with_an_unreadable_config_keeps_the_running_one(engines, tmp_path, caplog):
    key = tmp_path / "key"
    generate_key(key)
    station, signals, thread, port = reloadable(tmp_path, engines, str(key))
    try:
        before = station.config
        with caplog.at_level(logging.ERROR, logger="telephrase"):
            (tmp_path / "telephrase.toml").write_bytes(b"[link]\nmtu = 100\n# \xff\xfe not UTF-8\n")
            reload(station, signals)
            wait_for(lambda: any("keeping the running" in r.getMessage() for r in caplog.records), 5)
        assert station.config is before and thread.is_alive()
        send_frames(frames(sealed(key, 1, engines), 1, authenticated=True), port)
        wait_for(lambda: station.stats.spoken >= 1, 60)
    finally:
        stop(station, thread)
    assert station.stats.spoken == 1
    assert any("keeping the running configuration" in r.getMessage() and "not UTF-8" in r.getMessage()
               for r in caplog.records)


def test_sighup_applies_a_changed_key(engines, tmp_path):
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    generate_key(old)
    generate_key(new)
    station, signals, thread, port = reloadable(tmp_path, engines, str(old))
    try:
        toml = tmp_path / "telephrase.toml"
        toml.write_text(toml.read_text().replace(str(old), str(new)))
        reload(station, signals)
        wait_for(lambda: station.config.auth.key_file == str(new), 10)
        send_frames(frames(sealed(old, 1, engines), 1, authenticated=True), port)
        wait_for(lambda: station.receiver.stats.rejected >= 1, 20)
        send_frames(frames(sealed(new, 1, engines), 2, authenticated=True), port)
        wait_for(lambda: station.stats.spoken >= 1, 60)
    finally:
        stop(station, thread)
    assert station.receiver.stats.rejected == 1 and station.stats.spoken == 1
    assert station.sender.auth is not None and station.sender.config.auth.key_file == str(new)
