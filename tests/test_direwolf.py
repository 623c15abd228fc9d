"""Through real Dire Wolf software TNCs: KISS over TCP, AX.25 on air, 1200 baud AFSK audio
from one instance's modulator into the other's demodulator, and two telephrase stations
speaking a real corpus sample across."""

from __future__ import annotations

import time

import pytest

from test_station import SAMPLE, exchange, heard_well, log_entries, wait_for
from telephrase.bench.direwolf import DireWolfPair
from telephrase.config import Config, replace
from telephrase.link.ax25 import Address, Ax25Link, parse_address, station_id_of
from telephrase.link.kiss_tcp import KissTcpLink
from telephrase.station.station import Station


@pytest.fixture
def pair(tmp_path):
    p = DireWolfPair(tmp_path / "direwolf")
    yield p
    p.close()


def test_frames_go_through_the_modem(pair):
    a = Ax25Link(KissTcpLink("127.0.0.1", pair.kiss_a), Address("N0CALL", 1), Address("TPHRSE"))
    b = Ax25Link(KissTcpLink("127.0.0.1", pair.kiss_b), Address("N0CALL", 2), Address("TPHRSE"))
    try:
        wait_for(lambda: a.inner.connected and b.inner.connected, 10)
        frames = [bytes([i]) * (20 + 10 * i) for i in range(3)]
        for frame in frames:
            a.send(frame)
        heard = []
        deadline = time.monotonic() + 20
        while len(heard) < len(frames) and time.monotonic() < deadline:
            frame = b.receive(0.2)
            if frame is not None:
                heard.append(frame)
    finally:
        a.close()
        b.close()
    assert heard == frames
    assert pair.decoded() == 3 and pair.relay.stats.transmissions >= 1


def test_the_link_reconnects_when_the_tnc_restarts(tmp_path):
    first = DireWolfPair(tmp_path / "one")
    link = KissTcpLink("127.0.0.1", first.kiss_a, reconnect_interval=0.2)
    try:
        wait_for(lambda: link.connected, 10)
        first.close()
        wait_for(lambda: not link.connected, 10)
        assert not link.connected and link.stats.errors >= 1
    finally:
        link.close()


def station(tmp_path, name: str, kiss: int, call: str, **sections) -> Config:
    base = replace(Config(), link={"transport": "kiss-tcp", "kiss_host": f"127.0.0.1:{kiss}", "ax25": True,
                                   "callsign": call, "station_id": -1},
                   audio={"output": f"wav:{tmp_path / (name + '.wav')}"},
                   daemon={"message_log": str(tmp_path / f"{name}.jsonl")})
    return replace(base, **sections)


def test_two_stations_speak_a_corpus_sample_across_dire_wolf(engines, pair, tmp_path):
    a = Station(station(tmp_path, "a", pair.kiss_a, "N0CALL-1", ptt={"source": "file"},
                        audio={"input": f"wav:{SAMPLE}", "output": f"wav:{tmp_path / 'a.wav'}"}), engines)
    b = Station(station(tmp_path, "b", pair.kiss_b, "N0CALL-2"), engines)
    exchange(a, b, 120)
    sent, received = log_entries(tmp_path / "a.jsonl"), log_entries(tmp_path / "b.jsonl")
    assert sent and [e["text"] for e in received] == [e["text"] for e in sent]
    assert heard_well([s.message.text for s in b.spoken])
    assert {s.sender for s in b.spoken} == {station_id_of(parse_address("N0CALL-1"))}
    assert pair.decoded() >= len(sent)
