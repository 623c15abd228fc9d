"""The latency benchmark: from the release of the key to the first sound at the far end.

Two stations run in this process over UDP on 127.0.0.1 (no air time): the sender's microphone
is each corpus recording played in real time (``wav:``, keyed while it plays), the receiver's
speaker a wav sink that notes when each message starts to play.  Per utterance the latency is
that start minus the moment the recording's last sample was captured; for long utterances the
benchmark also checks that the first phrase was heard before the speaker stopped talking, and
scores the text the far end received against the reference (the station's phrase cutting
changes what the recogniser hears at once).
Timeline: the first heard message's latency split into ``STAGES`` (recognition, coding, the
link, decoding, the speaker), so that a slow setting shows which stage costs it.
Memory: the process's resident size with both stations' models loaded (Whisper, the voice and
the text model are shared, as in one daemon), and its growth from the first message to the last.
"""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..pipeline import Engines
from .corpus import Utterance
from .normalize import word_errors
from .stationpair import STAGES, StationPair

LONG = 8.0
"""Utterances longer than this (seconds) should be heard before they end."""


def rss_mb() -> float:
    """Resident set size now, in MiB (``/proc/self/statm``; the peak where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_latency(engines: Engines, utterances: list[Utterance], repeat: int = 1, progress: bool = True) -> dict:
    """Send every utterance (``repeat`` times over) from one station to the other; figures
    and one row per transmission."""
    work = Path(tempfile.mkdtemp(prefix="telephrase-latency-"))
    pair = StationPair(engines, work, work / "heard.wav")
    rows, first_rss = [], None
    try:
        for u in tqdm([u for _ in range(repeat) for u in utterances], desc="latency", unit="utt",
                      disable=not progress, file=sys.stderr):
            exchange = pair.send(u.path)
            heard = " ".join(s.message.text for s in exchange.spoken)
            row = dict(id=u.id, seconds=round(exchange.seconds, 2), messages=len(exchange.spoken), heard=heard,
                       word_errors=word_errors(u.transcript, heard))
            if exchange.latency is not None:
                row["latency_s"] = round(exchange.latency, 3)
                row["first_audio_before_release"] = exchange.latency < 0
                timeline = exchange.timeline()
                if timeline is not None:
                    row["stages_s"] = {k: round(v, 3) for k, v in timeline.items()}
                if first_rss is None:
                    first_rss = rss_mb()
            row["rss_mb"] = round(rss_mb(), 1)
            rows.append(row)
    finally:
        pair.close()
    counted = [r for r in rows if "latency_s" in r and r["seconds"] <= 15.0]
    latencies = np.array([r["latency_s"] for r in counted])
    long = [r["first_audio_before_release"] for r in rows if r["seconds"] > LONG and "latency_s" in r]
    end_rss = rss_mb()
    errors = [r["word_errors"] for r in rows]
    summary = {
        "transmissions": len(rows),
        "heard": sum(1 for r in rows if r["messages"]),
        "latency_median_s": round(float(np.median(latencies)), 3) if latencies.size else None,
        "latency_p90_s": round(float(np.percentile(latencies, 90)), 3) if latencies.size else None,
        "first_audio_before_release": round(sum(long) / len(long), 3) if long else None,
        "long_utterances": len(long),
        "wer_received": round(sum(e for e, _ in errors) / max(1, sum(n for _, n in errors)), 4),
        "rss_mb": round(end_rss, 1),
        "rss_growth_mb": round(end_rss - first_rss, 1) if first_rss is not None else None,
        "rss_growth_second_half_mb": round(end_rss - rows[len(rows) // 2]["rss_mb"], 1) if len(rows) > 1 else None,
        "stages_median_s": stage_medians(counted),
        "stages_median_one_message_s": stage_medians([r for r in counted if r["messages"] == 1]),
        "stt_model": engines.config.stt.model,
        "phrase_pause": engines.config.daemon.phrase_pause,
    }
    return {"summary": summary, "transmissions": rows}


def stage_medians(rows: list[dict]) -> dict[str, float] | None:
    """The median of each stage over ``rows``; as medians, they need not add up to the
    median latency."""
    timed = [r["stages_s"] for r in rows if "stages_s" in r]
    if not timed:
        return None
    return {stage: round(float(np.median([t[stage] for t in timed])), 3) for stage in STAGES}


def format_latency(result: dict) -> str:
    lines = [f"{'id':<20} {'sec':>6} {'msgs':>4} {'latency':>8}  early"]
    for r in result["transmissions"]:
        latency = f"{r['latency_s']:.2f}" if "latency_s" in r else "-"
        early = "" if "latency_s" not in r or r["seconds"] <= LONG else ("yes" if r["first_audio_before_release"] else "no")
        lines.append(f"{r['id']:<20} {r['seconds']:>6.2f} {r['messages']:>4} {latency:>8}  {early}")
    s = result["summary"]
    lines += ["", f"latency median   {s['latency_median_s']} s (utterances up to 15 s), p90 {s['latency_p90_s']} s",
              f"heard early      {s['first_audio_before_release']} of {s['long_utterances']} utterances over {LONG:.0f} s",
              f"WER received     {100 * s['wer_received']:.1f} % (the text the far end received, phrase by phrase)",
              f"memory           {s['rss_mb']} MB resident, {s['rss_growth_mb']} MB growth over the run "
              f"({s['rss_growth_second_half_mb']} MB in its second half)",
              f"transmissions    {s['transmissions']} ({s['heard']} heard)"]
    if s["stages_median_s"] is not None:
        one = s["stages_median_one_message_s"] or {}
        lines += ["", "where the first heard message's time went (medians, seconds):",
                  f"{'stage':<10} {'all':>6} {'one msg':>7}  what"]
        lines += [f"{stage:<10} {s['stages_median_s'][stage]:>6.3f} "
                  f"{one[stage] if stage in one else float('nan'):>7.3f}  {what}" for stage, what in STAGES.items()]
    return "\n".join(lines)
