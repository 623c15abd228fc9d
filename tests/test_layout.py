"""The package's layout keeps its promises: a station receiving and speaking a message loads
none of the benchmark modules, and every module sits in the stage package it belongs to."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import telephrase

STATION = """
import socket, sys, threading, time
from telephrase.cli import main  # the daemon's entry point, as the telephrase command loads it
from telephrase.codec.message import Message, Phrase
from telephrase.codec.payload import TextCoding, encode_payload
from telephrase.config import Config, replace
from telephrase.link.framing import FrameCoding, fragment
from telephrase.station.station import Station

tmp, port = sys.argv[1], int(sys.argv[2])
config = replace(Config(), link={"udp_bind": f"127.0.0.1:{port}", "udp_peer": "127.0.0.1:9"},
                 audio={"output": f"wav:{tmp}/out.wav"}, daemon={"message_log": f"{tmp}/log.jsonl"})
station = Station(config)
thread = threading.Thread(target=station.run, daemon=True)
thread.start()
assert station.ready.wait(120)
payload = encode_payload(Message((Phrase("Meet at the north gate.", 0.2, 1.8),), "en"), TextCoding.LM,
                         words=station.engines.word_model)
coding = FrameCoding(sender=7)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for frame in fragment(payload, 1, coding):
        s.sendto(frame.encode(coding.parity), ("127.0.0.1", port))
deadline = time.monotonic() + 60
while station.stats.spoken < 1 and time.monotonic() < deadline:
    time.sleep(0.05)
station.stop.set()
thread.join(60)
print(station.stats.spoken, sorted(m for m in sys.modules if m.startswith("telephrase.bench")))
"""


def test_a_station_that_receives_and_speaks_loads_no_benchmark(tmp_path):
    from test_station import free_port

    result = subprocess.run([sys.executable, "-c", STATION, str(tmp_path), str(free_port())],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 []", result.stdout + result.stderr


def test_every_module_is_in_its_stage_package():
    top = {m.name for m in pkgutil.iter_modules(telephrase.__path__)}
    assert top == {"__main__", "audio", "bench", "cli", "codec", "config", "droplog", "errors", "link", "paths",
                   "pipeline", "registry", "speech", "station"}
    packages = {m.name for m in pkgutil.iter_modules(telephrase.__path__) if m.ispkg}
    assert packages == {"audio", "bench", "cli", "codec", "link", "speech", "station"}
