"""Two stations on one desk: a sender keyed by a recording, a receiver writing what it plays,
and the channel simulator between them on real UDP sockets on 127.0.0.1.

Why: ``telephrase loopback --daemons`` and ``telephrase bench-latency`` run the daemon itself,
threads, half-duplex rules, streaming and all, rather than the one-process round trip.  The
sender's frames go to a relay that passes each through the ``Channel`` (bit errors, bursts,
loss, air time at a bit rate, latency), sleeping out its air time, and forwards what survives
to the receiver.  Both stations share one set of loaded models, as one daemon would.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, replace
from ..link.channel import Channel, ChannelConfig
from ..pipeline import Engines
from ..station.station import Sent, Spoken, Station

SETTLE = 30.0
"""Longest wait (seconds) for the receiver after the sender has sent everything."""


def _udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


class Relay:
    """Frames from the sender through the simulated channel to the receiver, in real time."""

    def __init__(self, channel: ChannelConfig, to_port: int) -> None:
        self.channel = Channel(channel)
        self.sock = _udp()
        self.sock.settimeout(0.2)
        self.to = ("127.0.0.1", to_port)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="channel", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = self.sock.recv(65536)
            except socket.timeout:
                continue
            delivery = self.channel.transmit(frame, time.monotonic() - start)
            time.sleep(max(0.0, start + delivery.arrival_time - time.monotonic()))
            if delivery.data is not None:
                self.sock.sendto(delivery.data, self.to)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


STAGES = {
    "queued": "from the key's release until the sender took the phrase (below 0 when the phrase was cut "
              "while the speaker went on)",
    "recognise": "Whisper on the phrase",
    "prosody": "the pitch track and the words' prosody",
    "encode": "the payload: text and prosody coding",
    "send": "sealing, framing and handing the frames to the link",
    "link": "the channel simulator and UDP to the receiver",
    "decode": "deframing and decoding the payload",
    "speak": "waiting for the speaker and rendering the first phrase",
}
"""The stages of the first heard message, in order; their lengths add up to the latency."""


@dataclass
class Exchange:
    """One recording sent from one station to the other."""

    spoken: list[Spoken]
    """What the receiver played of it, in order."""
    released: float | None
    """``time.monotonic()`` when the recording's last sample was captured."""
    seconds: float
    sent: list[Sent]
    """What the sender put on the link, in order."""

    @property
    def latency(self) -> float | None:
        """Seconds from the recording's last sample to the first sound at the far end."""
        return self.spoken[0].started_at - self.released if self.spoken and self.released is not None else None

    def timeline(self) -> dict[str, float] | None:
        """Seconds the first heard message spent in each of ``STAGES``."""
        if self.latency is None:
            return None
        first = self.spoken[0]
        sent = next((s for s in self.sent if s.sequence == first.sequence), None)
        if sent is None:
            return None
        points = [self.released, *(sent.times[k] for k in ("started", "recognised", "prosody", "encoded", "sent")),
                  first.arrived_at, first.heard_at, first.started_at]
        return {name: b - a for name, a, b in zip(STAGES, points, points[1:])}


class StationPair:
    """A receiving station running in the background and a sending station per recording."""

    def __init__(self, engines: Engines, work: Path, output: Path, channel: ChannelConfig | None = None) -> None:
        self.engines = engines
        self.work = work
        receiver_port, sender_port = _udp(), _udp()
        self.receiver_port = receiver_port.getsockname()[1]
        self.sender_port = sender_port.getsockname()[1]
        receiver_port.close()
        sender_port.close()
        self.relay = Relay(channel or ChannelConfig(), self.receiver_port)
        self.receiver = Station(self._config(self.receiver_port, self.sender_port, 2, output=f"wav:{output}",
                                             input="", ptt="none", log="receiver.jsonl"), engines)
        self._thread = threading.Thread(target=self.receiver.run, name="receiving station", daemon=True)
        self._thread.start()

    def _config(self, port: int, peer: int, station: int, *, output: str, input: str, ptt: str, log: str) -> Config:
        return replace(self.engines.config,
                       link={"transport": "udp", "udp_bind": f"127.0.0.1:{port}", "udp_peer": f"127.0.0.1:{peer}",
                             "station_id": station},
                       audio={"input": input, "output": output}, ptt={"source": ptt},
                       daemon={"message_log": str(self.work / log)})

    def send(self, recording: Path) -> Exchange:
        """Key the sender for the length of ``recording`` and wait for the receiver to speak
        every message that got through."""
        sender = Station(self._config(self.sender_port, self.relay.port, 1, output=f"wav:{self.work / 'sender.wav'}",
                                      input=f"wav:{recording}", ptt="file", log="sender.jsonl"), self.engines)
        before_frames = self.receiver.stats.received
        self.receiver.spoken.clear()
        thread = threading.Thread(target=sender.run, name="sending station", daemon=True)
        thread.start()
        while thread.is_alive() and (sender.source is None or sender.source.playing or sender.transmitting.is_set()):
            time.sleep(0.02)
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline and (self.receiver.stats.received < before_frames + sender.stats.sent
                                               or len(self.receiver.spoken) < self.receiver.stats.received - before_frames
                                               or any(s.finished_at is None for s in self.receiver.spoken)):
            time.sleep(0.02)
        sender.stop.set()
        thread.join()
        source = sender.source
        return Exchange(list(self.receiver.spoken), source.finished_at if source else None,
                        len(source.audio) / 16000 if source else 0.0, list(sender.sent))

    def close(self) -> None:
        self.receiver.stop.set()
        self._thread.join()
        self.relay.close()
