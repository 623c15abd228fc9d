"""Two Dire Wolf software TNCs joined by their audio, for tests and benchmarks without radios.

Dire Wolf reads its receive audio from a UDP port (``ADEVICE UDP:port``) and plays what it
transmits to an ALSA device.  Here each instance's ALSA device is a ``file`` plugin: A's
writes into a FIFO, which ``AudioRelay`` reads and sends, with noise mixed in if asked, to
B's UDP audio port (and silence between transmissions, as a receiver hears on a quiet
channel).  Each instance serves KISS over TCP, so telephrase stations connect to them as they
connect to Dire Wolf at a real radio.  B's transmit audio is kept in a file, unused: the pair
carries A to B.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TelephraseError
from ..link.ax25 import DEFAULT_DESTINATION, HEADER, Address, Ax25Link
from ..link.framing import FEC_CHOICES, FrameCoding, Reassembler, decode_frame, fragment
from ..link.kiss_tcp import KissTcpLink
from .link import payloads

RATE = 44100
CHUNK = 882
"""Samples per UDP datagram: 20 ms."""

ASOUND = """\
pcm.!default {{ type plug; slave.pcm "null" }}
pcm.null {{ type null }}
pcm.txa {{ type plug; slave {{ pcm "txafile"; rate {rate}; format S16_LE; channels 1 }} }}
pcm.txafile {{ type file; slave.pcm "null"; file "{dir}/a.fifo"; format "raw" }}
pcm.txb {{ type plug; slave {{ pcm "txbfile"; rate {rate}; format S16_LE; channels 1 }} }}
pcm.txbfile {{ type file; slave.pcm "null"; file "{dir}/b-tx.raw"; format "raw" }}
"""

CONFIG = """\
ADEVICE UDP:{audio_port} {device}
ARATE {rate}
ACHANNELS 1
CHANNEL 0
MYCALL {call}
MODEM {baud}
KISSPORT {kiss_port}
AGWPORT 0
TXTAIL {txtail}
"""
TXTAIL = 40
"""Flags after each transmission, in 10 ms: ALSA's file plugin holds back the last part of
the audio it was given until more comes, so the tail pushes the frame's end out to the relay.
With a radio the default 10 is enough."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free port below 49152: Dire Wolf refuses KISS ports in the ephemeral range."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 49000)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@dataclass
class RelayStats:
    samples: int = 0
    """Samples of A's transmit audio carried to B."""
    transmissions: int = 0


class AudioRelay:
    """A's transmit audio (FIFO) to B's receive port (UDP), with white noise at ``noise``
    times the signal's RMS (0: none); silence, with the same noise, in between."""

    def __init__(self, fifo: Path, port: int, noise: float = 0.0, level: float = 0.5, seed: int = 0) -> None:
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.port = port
        self.noise = noise
        self.level = level
        self.rng = np.random.default_rng(seed)
        self.stats = RelayStats()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._rms: float | None = None
        self.busy = False
        """A's audio is being carried now."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audio relay", daemon=True)
        self._thread.start()

    def _send(self, samples: np.ndarray) -> None:
        samples = samples * self.level
        if self.noise and self._rms:
            samples = samples + self.rng.normal(0.0, self.noise * self._rms * self.level, len(samples))
        pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
        for i in range(0, len(pcm), 2 * CHUNK):
            self.sock.sendto(pcm[i : i + 2 * CHUNK], ("127.0.0.1", self.port))

    def _run(self) -> None:
        """Every 20 ms one chunk goes out, A's audio while there is some, else silence: the
        channel runs in real time, as on air (a burst would overflow B's socket buffer)."""
        pending = b""
        idle = True
        tick = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], max(0.0, tick - time.monotonic()))
            if ready:
                try:
                    pending += os.read(self.fd, 65536)
                except BlockingIOError:
                    pass
            if time.monotonic() < tick:
                continue
            tick += CHUNK / RATE
            if len(pending) >= 2:
                size = min(len(pending) // 2, CHUNK)
                samples = np.frombuffer(pending[: 2 * size], dtype="<i2").astype(np.float64)
                pending = pending[2 * size :]
                if idle:
                    self.stats.transmissions += 1
                    idle = False
                self.busy = True
                if self._rms is None:
                    self._rms = float(np.sqrt(np.mean(samples**2))) or None
                self.stats.samples += samples.size
                self._send(samples)
            else:
                idle = True
                self.busy = False
                self._send(np.zeros(CHUNK))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self.fd)
        self.sock.close()


class DireWolfPair:
    """Dire Wolf A (``call_a``) transmitting into Dire Wolf B (``call_b``); ``kiss_a`` and
    ``kiss_b`` are their KISS TCP ports on 127.0.0.1."""

    def __init__(self, work: Path, baud: int = 1200, noise: float = 0.0, call_a: str = "N0CALL-1",
                 call_b: str = "N0CALL-2", seed: int = 0) -> None:
        binary = shutil.which("direwolf")
        if binary is None:
            raise TelephraseError("direwolf is not installed: apt-get install direwolf")
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        fifo = work / "a.fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        (work / "asound.conf").write_text(ASOUND.format(dir=work, rate=RATE))
        audio_a, audio_b = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
        self.kiss_a, self.kiss_b = free_port(), free_port()
        self.relay = AudioRelay(fifo, audio_b, noise, seed=seed)
        env = dict(os.environ, ALSA_CONFIG_PATH=str(work / "asound.conf"))
        self.processes = []
        self.logs = {}
        for name, audio, kiss, call in (("a", audio_a, self.kiss_a, call_a), ("b", audio_b, self.kiss_b, call_b)):
            config = work / f"{name}.conf"
            config.write_text(CONFIG.format(audio_port=audio, device=f"tx{name}", rate=RATE, call=call, baud=baud,
                                            kiss_port=kiss, txtail=TXTAIL))
            self.logs[name] = work / f"{name}.log"
            with open(self.logs[name], "wb") as log:
                self.processes.append(subprocess.Popen([binary, "-c", str(config), "-t", "0", "-q", "h"],
                                                       stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work))
        self._wait_for_kiss()

    def _wait_for_kiss(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.kiss_a, self.kiss_b):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                        self.close()
                        raise TelephraseError(f"Dire Wolf did not open KISS port {port}: "
                                              + self.logs["a"].read_text(errors="replace")[-500:]) from None
                    time.sleep(0.1)

    def decoded(self) -> int:
        """AX.25 frames Dire Wolf B has decoded so far (its ``[0.x]`` receive lines)."""
        text = self.logs["b"].read_text(errors="replace")
        return sum(1 for line in text.splitlines() if line.startswith("[0"))

    def close(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.relay.close()


NOISE_LEVELS = (0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0)
"""White noise RMS as a multiple of the AFSK signal's: 0.5 is an SNR of 6 dB over the audio
band, 1.0 0 dB, 2.0 -6 dB."""
HDLC = 4
"""FCS (2 bytes) and the closing and opening flags around one AX.25 frame, without bit stuffing."""
SETTLE = 1.0
"""Seconds of a quiet channel after a transmission after which nothing more of it is coming."""


def _deliver(pair: DireWolfPair, messages: list[bytes], coding: FrameCoding) -> tuple[int, float]:
    """Send ``messages`` from A and count those B delivers exactly; the air seconds per message."""
    sender = Ax25Link(KissTcpLink("127.0.0.1", pair.kiss_a), Address("N0CALL", 1), Address(DEFAULT_DESTINATION))
    receiver = Ax25Link(KissTcpLink("127.0.0.1", pair.kiss_b), Address("N0CALL", 2), Address(DEFAULT_DESTINATION))
    reassembler = Reassembler()
    delivered = 0
    try:
        deadline = time.monotonic() + 10
        while not (sender.inner.connected and receiver.inner.connected) and time.monotonic() < deadline:
            time.sleep(0.05)
        for sequence, payload in enumerate(messages):
            for frame in fragment(payload, sequence, coding):
                sender.send(frame.encode(coding.parity))
            started, quiet_since = time.monotonic(), time.monotonic()
            while time.monotonic() - quiet_since < SETTLE and time.monotonic() - started < 60:
                data = receiver.receive(0.05)
                if data is None:
                    if pair.relay.busy or pair.relay.stats.transmissions <= sequence:
                        quiet_since = time.monotonic()
                    continue
                frame = decode_frame(data, coding.parity)
                done = reassembler.push(frame) if frame is not None else None
                if done is not None and done.payload == messages[done.sequence]:
                    delivered += 1
                    break
    finally:
        sender.close()
        receiver.close()
    return delivered, pair.relay.stats.samples / RATE / max(1, len(messages))


def run_direwolf_bench(work: Path, count: int, baud: int = 1200, noise_levels=NOISE_LEVELS, seed: int = 1,
                       fec: str = "auto", progress: bool = True) -> dict:
    """Per noise level: telephrase messages sent through Dire Wolf at ``baud``, how many AX.25
    frames Dire Wolf decoded, how many messages were delivered exactly, and air time."""
    from tqdm import tqdm

    messages = payloads(count, seed)
    coding = FrameCoding(parity=FEC_CHOICES[fec])
    rows = []
    for noise in tqdm(noise_levels, desc=f"Dire Wolf {baud} baud", disable=not progress):
        pair = DireWolfPair(work / f"noise-{noise:g}", baud=baud, noise=noise, seed=seed)
        try:
            delivered, air = _deliver(pair, messages, coding)
            frames = sum(len(fragment(p, i, coding)) for i, p in enumerate(messages))
            rows.append({"noise_rms": noise, "snr_db": round(-20 * np.log10(noise), 1) + 0.0 if noise else None,
                         "messages": count, "frames_sent": frames, "frames_decoded_by_direwolf": pair.decoded(),
                         "delivered": delivered, "delivered_pct": round(100 * delivered / count, 1),
                         "air_seconds_per_message": round(air, 2)})
        finally:
            pair.close()
    sizes = [len(p) for p in messages]
    on_air = [sum(len(f.encode(coding.parity)) + HEADER + HDLC for f in fragment(p, i, coding))
              for i, p in enumerate(messages)]
    return {"baud": baud, "fec": fec, "mean_payload_bytes": round(float(np.mean(sizes)), 1),
            "mean_ax25_bytes": round(float(np.mean(on_air)), 1),
            "frame_seconds": round(float(np.mean(on_air)) * 8 / baud, 3),
            "txdelay_s": 0.3, "txtail_s": TXTAIL / 100, "rows": rows}


def format_direwolf(result: dict) -> str:
    lines = [f"Dire Wolf AFSK {result['baud']} baud, fec {result['fec']}, payloads of {result['mean_payload_bytes']} bytes on average, "
             f"{result['mean_ax25_bytes']} bytes in AX.25 ({result['frame_seconds']:.2f} s a frame, plus TXDELAY "
             f"{result['txdelay_s']:g} s and TXTAIL {result['txtail_s']:g} s a transmission)",
             f"{'noise/signal':>12} {'SNR dB':>7} {'AX.25 decoded':>14} {'delivered':>10} {'air s/msg':>10}"]
    for r in result["rows"]:
        snr = "-" if r["snr_db"] is None else f"{r['snr_db']:g}"
        lines.append(f"{r['noise_rms']:>12g} {snr:>7} {r['frames_decoded_by_direwolf']:>6}/{r['frames_sent']:<7} "
                     f"{r['delivered_pct']:>9.1f}% {r['air_seconds_per_message']:>10.2f}")
    return "\n".join(lines)
