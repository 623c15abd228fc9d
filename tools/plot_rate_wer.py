#!/usr/bin/env python3
"""Plot bit rate against word error rate for telephrase and the baselines, as an SVG.

Reads the JSON of ``telephrase bench --json`` (one or more runs, each labelled, drawn from its
payload to its on-air bit rate) and of ``tools/baselines.py --json`` (Codec2 modes, and the
original audio as the floor), and draws them on a logarithmic bit-rate axis, so 30 bit/s and
3200 bit/s fit on one page.  Plain SVG, written by hand: no plotting library to install.

    tools/plot_rate_wer.py --bench out/bench.json:"telephrase" --baselines out/baselines.json -o tools/rate-wer.svg
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 30, 60
RATES = (10, 30, 100, 300, 1000, 3000, 10000)


def _x(bps: float) -> float:
    low, high = math.log10(RATES[0]), math.log10(RATES[-1])
    return LEFT + (math.log10(bps) - low) / (high - low) * (WIDTH - LEFT - RIGHT)


def _y(wer: float, top: float) -> float:
    return TOP + (1 - wer / top) * (HEIGHT - TOP - BOTTOM)


PALETTE = ("#c0392b", "#e67e22", "#8e44ad", "#16a085", "#2980b9")
CHAR_WIDTH, LINE_HEIGHT = 6.6, 14


@dataclass(frozen=True)
class Point:
    """One system: its WER at a bit rate, or at a range (payload to on air) for telephrase."""

    label: str
    bps: float
    wer: float
    colour: str
    onair_bps: float | None = None

    def text(self) -> str:
        rate = f"{self.bps:.0f}" if self.onair_bps is None else f"{self.bps:.0f}–{self.onair_bps:.0f}"
        return f"{self.label}: {rate} bit/s, {100 * self.wer:.1f} %"


def points(bench: list[tuple[Path, str]], baselines: Path | None) -> tuple[list[Point], float | None]:
    """The points to draw, and the WER of the original audio if known."""
    out = []
    floor = None
    for i, (path, label) in enumerate(bench):
        s = json.loads(path.read_text())["summary"]
        out.append(Point(label, s["payload_bps"], s["wer_roundtrip"], PALETTE[i % len(PALETTE)], s["onair_bps"]))
        floor = s["wer_source"]
    if baselines is not None:
        b = json.loads(baselines.read_text())
        for mode, figures in b["codec2"].items():
            out.append(Point(f"Codec2 {mode}", figures["bps"], figures["wer"], "#2c3e50"))
        floor = b["source"]["wer"]
    return out, floor


def _place(x: float, y: float, width: float, taken: list[tuple[float, float, float, float]]) -> tuple[float, float, str]:
    """A label position near (x, y) whose box overlaps no label placed before it."""
    right = x + width + 10 > WIDTH - RIGHT
    for dy in (-10, 20, -24, 34, -38, 48):
        left = x - 10 - width if right else x + 10
        box = (left, y + dy - LINE_HEIGHT + 3, left + width, y + dy + 3)
        if not any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
            taken.append(box)
            return (x - 10 if right else x + 10), y + dy, "end" if right else "start"
    return (x - 10 if right else x + 10), y - 10, "end" if right else "start"


def svg(data: list[Point], floor: float | None) -> str:
    top = max(0.3, max(p.wer for p in data) * 1.15)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="sans-serif" font-size="12">', f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    for rate in RATES:
        x = _x(rate)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{rate}</text>')
    for step in range(0, int(top * 100) + 1, 10):
        y = _y(step / 100, top)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{step} %</text>')
    taken: list[tuple[float, float, float, float]] = []
    if floor is not None:
        y = _y(floor, top)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#27ae60" '
                     f'stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y + 16:.1f}" text-anchor="end" fill="#27ae60">'
                     f'original audio {100 * floor:.1f} %</text>')
    for p in data:
        x, y = _x(p.bps), _y(p.wer, top)
        if p.onair_bps is not None:
            x2 = _x(p.onair_bps)
            parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{p.colour}" '
                         f'stroke-width="3"/>')
            parts.append(f'<circle cx="{x2:.1f}" cy="{y:.1f}" r="5" fill="white" stroke="{p.colour}" '
                         f'stroke-width="2"/>')
            taken.append((x - 6, y - 6, x2 + 6, y + 6))
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{p.colour}"/>')
        taken.append((x - 6, y - 6, x + 6, y + 6))
    for p in data:
        text = p.text()
        tx, ty, anchor = _place(_x(p.bps), _y(p.wer, top), len(text) * CHAR_WIDTH, taken)
        parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" fill="{p.colour}">{text}</text>')
    parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 14}" text-anchor="end" fill="#555">'
                 f'telephrase: filled dot = payload, open dot = on air (frames, CRC, FEC)</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
                 f'bit rate (bit/s, logarithmic)</text>')
    parts.append(f'<text x="18" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 18 {(TOP + HEIGHT - BOTTOM) / 2})">word error rate (Whisper base)</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", action="append", default=[], metavar="JSON:LABEL",
                   help="a telephrase bench --json result and its label (repeatable)")
    p.add_argument("--baselines", type=Path, metavar="JSON", help="tools/baselines.py --json result")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.svg")
    args = p.parse_args()
    bench = [(Path(spec.split(":", 1)[0]), spec.split(":", 1)[1] if ":" in spec else "telephrase")
             for spec in args.bench]
    data, floor = points(bench, args.baselines)
    if not data:
        p.error("nothing to plot: give --bench and/or --baselines")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(svg(data, floor))
    print(f"wrote {args.output} ({len(data)} points)")


if __name__ == "__main__":
    main()
