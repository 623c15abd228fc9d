#!/usr/bin/env python3
"""Plot bit rate against word error rate for telephrase and the baselines, as an SVG.

Reads the JSON of ``telephrase bench --json`` (one or more runs, each a labelled point at its
on-air and payload bit rates) and of ``tools/baselines.py --json`` (Codec2 modes, and the
original audio as the floor), and draws them on a logarithmic bit-rate axis, so 30 bit/s and
3200 bit/s fit on one page.  Plain SVG, written by hand: no plotting library to install.

    tools/plot_rate_wer.py --bench out/bench.json:"telephrase" --baselines out/baselines.json -o docs/rate-wer.svg
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 30, 60
RATES = (10, 30, 100, 300, 1000, 3000, 10000)


def _x(bps: float) -> float:
    low, high = math.log10(RATES[0]), math.log10(RATES[-1])
    return LEFT + (math.log10(bps) - low) / (high - low) * (WIDTH - LEFT - RIGHT)


def _y(wer: float, top: float) -> float:
    return TOP + (1 - wer / top) * (HEIGHT - TOP - BOTTOM)


def points(bench: list[tuple[Path, str]], baselines: Path | None) -> tuple[list[tuple[str, float, float, str]], float | None]:
    """(label, bit/s, WER, colour) per point, and the WER of the original audio if known."""
    out = []
    floor = None
    for path, label in bench:
        s = json.loads(path.read_text())["summary"]
        out.append((f"{label}, on air", s["onair_bps"], s["wer_roundtrip"], "#c0392b"))
        out.append((f"{label}, payload", s["payload_bps"], s["wer_roundtrip"], "#e67e22"))
        floor = s["wer_source"]
    if baselines is not None:
        b = json.loads(baselines.read_text())
        for mode, figures in b["codec2"].items():
            out.append((f"Codec2 {mode}", figures["bps"], figures["wer"], "#2c3e50"))
        floor = b["source"]["wer"]
    return out, floor


def svg(data: list[tuple[str, float, float, str]], floor: float | None) -> str:
    top = max(0.3, max(w for _, _, w, _ in data) * 1.15)
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
    if floor is not None:
        y = _y(floor, top)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#27ae60" '
                     f'stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y - 6:.1f}" text-anchor="end" fill="#27ae60">'
                     f'original audio {100 * floor:.1f} %</text>')
    for i, (label, bps, wer, colour) in enumerate(data):
        x, y = _x(bps), _y(wer, top)
        right = x > WIDTH / 2
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        parts.append(f'<text x="{x + (-8 if right else 8):.1f}" y="{y + (-8 if i % 2 == 0 else 18):.1f}" '
                     f'text-anchor="{"end" if right else "start"}" fill="{colour}">'
                     f'{label}: {bps:.0f} bit/s, {100 * wer:.1f} %</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 15}" text-anchor="middle">'
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
