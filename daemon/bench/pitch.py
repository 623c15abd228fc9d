"""``telephrase bench-pitch``: the CREPE export against the DSP tracker on a corpus.

Why: the sender's word pitch comes from one tracker or the other (``[codec] pitch``), and no
reference F0 exists for the corpus.  Where two trackers built on different principles (a
network trained on many voices; YIN's autocorrelation with Viterbi smoothing) agree, both are
probably right; where they part, it is mostly by an octave.  Reported over all frames: how
often they agree on voicing; over the frames both call voiced: the share within 50 cents (a
quarter tone) and the share more than 200 cents apart (gross errors, octave jumps among them);
and what each costs per second of speech.  Word-level agreement is what the payload carries:
the correlation of the per-word pitch the two give.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from ..audio.files import STT_RATE, read_audio
from ..speech.pitch import PitchTrack, track_pitch
from .corpus import Utterance

CLOSE_CENTS = 50.0
GROSS_CENTS = 200.0


def _word_pitches(track: PitchTrack, seconds: float, span: float = 0.3) -> np.ndarray:
    """Mean semitones over successive ``span``-second stretches (``nan`` if under 3 voiced
    frames): word-sized pieces, without needing a transcript."""
    semitones = 12 * np.log2(track.f0 / 100.0)
    edges = np.arange(0.0, seconds + span, span)
    out = []
    for start, end in zip(edges[:-1], edges[1:]):
        part = semitones[(track.times >= start) & (track.times < end)]
        part = part[~np.isnan(part)]
        out.append(part.mean() if part.size >= 3 else np.nan)
    return np.array(out)


def run_pitch_bench(model: Callable[[np.ndarray], PitchTrack], utterances: list[Utterance],
                    progress: bool = True) -> dict:
    rows = []
    totals = {"frames": 0, "voicing_agree": 0, "both_voiced": 0, "close": 0, "gross": 0,
              "model_voiced": 0, "dsp_voiced": 0, "seconds": 0.0, "model_s": 0.0, "dsp_s": 0.0}
    word_model, word_dsp = [], []
    for u in tqdm(utterances, desc="pitch", unit="utt", disable=not progress):
        audio = read_audio(u.path)
        seconds = len(audio) / STT_RATE
        start = time.perf_counter()
        ours = model(audio)
        model_s = time.perf_counter() - start
        start = time.perf_counter()
        dsp = track_pitch(audio)
        dsp_s = time.perf_counter() - start
        n = min(len(ours.f0), len(dsp.f0))
        a, b = ours.f0[:n], dsp.f0[:n]
        both = ~np.isnan(a) & ~np.isnan(b)
        cents = 1200 * np.abs(np.log2(a[both] / b[both]))
        row = {
            "id": u.id, "seconds": round(seconds, 2), "frames": n,
            "voicing_agree": int(np.sum(np.isnan(a) == np.isnan(b))), "both_voiced": int(both.sum()),
            "close": int(np.sum(cents <= CLOSE_CENTS)), "gross": int(np.sum(cents > GROSS_CENTS)),
            "model_voiced": int(np.sum(~np.isnan(a))), "dsp_voiced": int(np.sum(~np.isnan(b))),
            "model_s": round(model_s, 4), "dsp_s": round(dsp_s, 4),
        }
        rows.append(row)
        for key in totals:
            totals[key] += seconds if key == "seconds" else row[key]
        pieces_model, pieces_dsp = _word_pitches(ours, seconds), _word_pitches(dsp, seconds)
        keep = ~np.isnan(pieces_model) & ~np.isnan(pieces_dsp)
        word_model += list(pieces_model[keep])
        word_dsp += list(pieces_dsp[keep])

    def share(key: str, of: str) -> float | None:
        return totals[key] / totals[of] if totals[of] else None

    summary = {
        "utterances": len(rows),
        "seconds": round(totals["seconds"], 1),
        "voicing_agreement": share("voicing_agree", "frames"),
        "model_voiced_share": share("model_voiced", "frames"),
        "dsp_voiced_share": share("dsp_voiced", "frames"),
        "within_50_cents": share("close", "both_voiced"),
        "gross_over_200_cents": share("gross", "both_voiced"),
        "word_pitch_corr": float(np.corrcoef(word_model, word_dsp)[0, 1]) if len(word_model) > 2 else None,
        "model_rtf": totals["model_s"] / totals["seconds"] if totals["seconds"] else None,
        "dsp_rtf": totals["dsp_s"] / totals["seconds"] if totals["seconds"] else None,
    }
    return {"summary": summary, "utterances": rows}


def format_pitch(result: dict) -> str:
    s = result["summary"]

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f} %"

    corr = "–" if s["word_pitch_corr"] is None else f"{s['word_pitch_corr']:.3f}"
    lines = [
        f"{s['utterances']} utterances, {s['seconds']} s",
        "| figure | value |",
        "|---|---|",
        f"| voicing agreement (all frames) | {pct(s['voicing_agreement'])} |",
        f"| voiced: model / DSP | {pct(s['model_voiced_share'])} / {pct(s['dsp_voiced_share'])} |",
        f"| both voiced: within {CLOSE_CENTS:g} cents | {pct(s['within_50_cents'])} |",
        f"| both voiced: over {GROSS_CENTS:g} cents apart | {pct(s['gross_over_200_cents'])} |",
        f"| word-sized pitch correlation | {corr} |",
        f"| real-time factor: model / DSP | {s['model_rtf']:.4f} / {s['dsp_rtf']:.4f} |",
    ]
    return "\n".join(lines)
