"""Link benchmark: how often messages survive a simulated channel, for each FEC setting.

Payloads are a fixed, seeded set shaped like telephrase's own: lengths drawn from a log-normal
with the geometric mean and spread of the language-model payloads on the development corpus
(32 bytes, σ = 0.5 in log; its utterances gave 9-84 bytes), contents random, since
arithmetic-coded output is close to random.  Every payload is framed,
sent through ``channel.Channel`` and received by the same code the daemon runs
(``decode_frame`` and ``Reassembler``).  A cell of the grid is one FEC setting on one channel;
it reports messages delivered exactly, lost, and false accepts: frames or messages accepted
with content that was not sent, which must never happen.

The fuzzer mutates valid frames (bit flips, byte overwrites, truncation, extension, splices,
pure noise) and checks that decoding never crashes, never hangs and never accepts a frame
other than the one that was sent.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..codec.payload import decode_payload
from ..errors import FrameError
from ..link.channel import Channel, ChannelConfig
from ..link.framing import FEC_CHOICES, FrameCoding, Reassembler, decode_frame, fragment

BERS = (0.0, 1e-4, 1e-3, 3e-3, 1e-2)
LOSSES = (0.0, 0.05, 0.10, 0.20)
BURST_BITS = 20.0
"""Mean fade length for the burst cells: 20 bits, a fade of about half a second at 40 bit/s."""
ERASURE = 0.5
TYPICAL_PAYLOAD = 40
REFERENCE_BPS = 30.0


@dataclass(frozen=True)
class FecSetting:
    name: str
    parity: int
    erasure: float

    @property
    def label(self) -> str:
        return self.name + (f"+erasure{self.erasure:g}" if self.erasure else "")


def fec_settings() -> list[FecSetting]:
    return [FecSetting(name, parity, erasure) for name, parity in FEC_CHOICES.items() for erasure in (0.0, ERASURE)]


def payloads(count: int, seed: int = 1) -> list[bytes]:
    rng = np.random.default_rng(seed)
    sizes = np.clip(np.round(rng.lognormal(np.log(32), 0.5, count)), 8, 400).astype(int)
    return [rng.bytes(int(n)) for n in sizes]


def overhead_bytes(setting: FecSetting, mtu: int, payload_len: int = TYPICAL_PAYLOAD) -> int:
    coding = FrameCoding(mtu=mtu, parity=setting.parity, erasure=setting.erasure)
    frames = fragment(bytes(payload_len), 0, coding)
    return sum(len(f.encode(setting.parity)) for f in frames) - payload_len


def run_cell(setting: FecSetting, channel: ChannelConfig, messages: list[bytes], mtu: int) -> dict:
    coding = FrameCoding(mtu=mtu, parity=setting.parity, erasure=setting.erasure)
    link = Channel(channel)
    reassembler = Reassembler()
    delivered = lost = false_accepts = onair = 0
    for sequence, payload in enumerate(messages):
        frames = fragment(payload, sequence, coding)
        got = []
        for frame in frames:
            wire = frame.encode(setting.parity)
            onair += len(wire)
            received = link.transmit(wire).data
            if received is None:
                continue
            decoded = decode_frame(received, setting.parity)
            if decoded is None:
                continue
            if decoded != frame:
                false_accepts += 1
                continue
            if (message := reassembler.push(decoded)) is not None:
                got.append(message.payload)
        false_accepts += sum(g != payload for g in got)
        if payload in got:
            delivered += 1
        else:
            lost += 1
    payload_bytes = sum(map(len, messages))
    return {
        "fec": setting.label,
        "parity": setting.parity,
        "erasure": setting.erasure,
        "ber": channel.mean_ber,
        "burst": channel.burst,
        "loss": channel.loss,
        "messages": len(messages),
        "delivered": delivered,
        "lost": lost,
        "false_accepts": false_accepts,
        "delivered_fraction": round(delivered / len(messages), 4),
        "overhead_bytes": round((onair - payload_bytes) / len(messages), 2),
        "overhead_bytes_40": overhead_bytes(setting, mtu),
        "onair_bps_at_30": round(REFERENCE_BPS * onair / payload_bytes, 2),
    }


def channels(seed: int) -> list[ChannelConfig]:
    out = []
    for ber in BERS:
        for burst in (False, True):
            if burst and ber == 0:
                continue
            for loss in LOSSES:
                if burst:
                    out.append(ChannelConfig.gilbert_elliott(ber, BURST_BITS, loss=loss, seed=seed))
                else:
                    out.append(ChannelConfig(ber=ber, loss=loss, seed=seed))
    return out


def run_grid(count: int, mtu: int, seed: int, default_fec: str, progress: bool = True) -> dict:
    messages = payloads(count, seed)
    cells = []
    grid = [(s, c) for s in fec_settings() for c in channels(seed)]
    for setting, channel in tqdm(grid, desc="bench-link", unit="cell", disable=not progress, file=sys.stderr):
        cells.append(run_cell(setting, channel, messages, mtu))
    return {
        "default_fec": default_fec,
        "mtu": mtu,
        "messages_per_cell": count,
        "burst_bits": BURST_BITS,
        "payload_bytes_mean": round(float(np.mean([len(m) for m in messages])), 1),
        "false_accepts_total": sum(c["false_accepts"] for c in cells),
        "cells": cells,
    }


def format_grid(result: dict) -> str:
    lines = [f"MTU {result['mtu']}, {result['messages_per_cell']} messages per cell, "
             f"mean payload {result['payload_bytes_mean']} B; delivered % (loss 0 / 5 / 10 / 20 %)",
             f"{'fec':<22} {'ber':>7} {'burst':>5}  {'loss0':>6} {'5%':>6} {'10%':>6} {'20%':>6}  "
             f"{'ovh@40B':>7} {'bps@30':>6}"]
    rows: dict[tuple, list] = {}
    for c in result["cells"]:
        rows.setdefault((c["fec"], c["ber"], c["burst"]), []).append(c)
    for (fec, ber, burst), cells in rows.items():
        pct = " ".join(f"{100 * c['delivered_fraction']:>6.1f}" for c in cells)
        lines.append(f"{fec:<22} {ber:>7.0e} {'yes' if burst else 'no':>5}  {pct}  "
                     f"{cells[0]['overhead_bytes_40']:>7} {cells[0]['onair_bps_at_30']:>6.1f}")
    lines.append(f"false accepts in the whole grid: {result['false_accepts_total']}; default FEC: {result['default_fec']}")
    return "\n".join(lines)


def _mutate(rng: random.Random, wire: bytes, others: list[bytes]) -> bytes:
    data = bytearray(wire)
    kind = rng.randrange(7)
    if kind == 0:
        for _ in range(rng.randint(1, 64)):
            i = rng.randrange(len(data) * 8)
            data[i // 8] ^= 1 << (i % 8)
    elif kind == 1:
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 2:
        del data[rng.randrange(len(data)):]
    elif kind == 3:
        data += rng.randbytes(rng.randint(1, 64))
    elif kind == 4:
        other = rng.choice(others)
        cut = rng.randrange(min(len(data), len(other)) or 1)
        data = data[:cut] + other[cut:]
    elif kind == 5:
        data = bytearray(rng.randbytes(rng.randint(0, 300)))
    else:
        start = rng.randrange(len(data))
        for i in range(start, min(len(data), start + rng.randint(1, 40))):
            data[i] = rng.randrange(256)
    return bytes(data)


def fuzz(count: int, seed: int = 0, progress: bool = True) -> dict:
    """Decode ``count`` mutated frames; any accepted frame must be one that was really sent.

    (A splice of two valid frames can reproduce one of them exactly; that is not a false
    accept, since that frame was sent.)"""
    rng = random.Random(seed)
    settings = [FrameCoding(mtu=mtu, parity=p, erasure=e) for mtu in (64, 237) for p in FEC_CHOICES.values()
                for e in (0.0, ERASURE)]
    pool = []
    for i, payload in enumerate(payloads(64, seed)):
        coding = settings[i % len(settings)]
        pool += [(f, f.encode(coding.parity), coding.parity) for f in fragment(payload, i, coding)]
    others = [w for _, w, _ in pool]
    sent = {f for f, _, _ in pool}
    reassembler = Reassembler()
    accepted = false_accepts = crashes = 0
    slowest = 0.0
    for _ in tqdm(range(count), desc="fuzz", unit="frame", unit_scale=True, disable=not progress, file=sys.stderr):
        frame, wire, parity = rng.choice(pool)
        mutated = _mutate(rng, wire, others)
        started = time.perf_counter()
        try:
            decoded = decode_frame(mutated, parity)
            if decoded is not None:
                accepted += 1
                if decoded not in sent:
                    false_accepts += 1
                elif (message := reassembler.push(decoded)) is not None:
                    try:
                        decode_payload(message.payload)
                    except FrameError:
                        pass
        except Exception:  # noqa: BLE001 - the fuzzer's job is to count any crash
            crashes += 1
        slowest = max(slowest, time.perf_counter() - started)
    return {"frames": count, "accepted_after_mutation": accepted, "false_accepts": false_accepts,
            "crashes": crashes, "slowest_frame_seconds": round(slowest, 4)}
