"""Per-word prosody: how long, after what pause, at what pitch, with what contour, how loud.

Why: the receiver re-synthesises the transcript in its own voice.  Text alone comes out in the
synthesizer's flat, neutral reading; with a handful of numbers per word it can instead stretch
the words the sender drew out, keep the sender's pauses, raise the word the sender stressed and
end a question on a rise.  This module turns audio plus Whisper's word timestamps into those
numbers; quantising and sending them is the payload's business.

Pitch is in semitones re 100 Hz (12·log2(F0/100)) because that is how pitch is heard: a rise of
two semitones sounds the same from a bass and a soprano, so the receiver can apply it relative
to its own voice's register.  Levels are RMS in dB re full scale (a full-scale square wave is
0 dB, a full-scale sine −3 dB).  Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .pitch import PitchTrack, track_pitch
from .transcribe import Word

MIN_VOICED_FRAMES = 3
"""A word needs this many voiced 10 ms frames for a pitch and a slope: fewer is an unvoiced
word ("st", "h") or a voicing blip at its edge, and would send noise as intonation."""
SILENCE_DB = -100.0
"""Lowest level reported, and the level of a word with no signal at all (digital silence, or an
empty time span), so the field is always a finite number."""
PITCH_REFERENCE_HZ = 100.0
"""0 semitones: a round frequency inside every adult voice's range."""


@dataclass(frozen=True)
class WordProsody:
    """The prosody of one word, aligned with the ``Word`` it was measured on."""

    text: str
    """The word as transcribed (kept so a profile can count characters)."""
    duration: float
    """Seconds from the word's start to its end: the receiver stretches or squeezes the
    synthesized word to it, which carries emphasis by lengthening and the sender's tempo."""
    pause: float
    """Seconds of silence before the word (since the previous word's end, or since the start of
    the audio for the first word; 0 if the timestamps overlap): the receiver reproduces phrasing,
    hesitation and the breath before a new sentence."""
    f0: float | None
    """Mean pitch over the word's voiced frames, semitones re 100 Hz, or None when the word has
    fewer than ``MIN_VOICED_FRAMES`` voiced frames: the receiver places the word's pitch at the
    same distance from its own voice's median as this is from the speaker's (accent, stress)."""
    f0_slope: float | None
    """Least-squares slope of pitch over the word's voiced frames, semitones per second, or None
    like ``f0``: the receiver bends the word's contour, e.g. the final rise of a question."""
    energy: float
    """RMS level over the word, dB re full scale (``SILENCE_DB`` for silence): relative to the
    speaker's median it marks stressed and swallowed words."""


@dataclass(frozen=True)
class SpeakerProfile:
    """One utterance's speaker in a few numbers: the reference the per-word values are read
    against, so the receiver maps the sender's intonation into its own voice's range."""

    f0_median: float | None
    """Median of the words' pitches, semitones re 100 Hz; None when no word had a pitch."""
    f0_range: float | None
    """Spread of the words' pitches, 90th minus 10th percentile, semitones: a lively and a
    monotonous reader differ here, so the receiver scales its pitch excursions by it."""
    words_per_second: float
    """Words per second of audio, pauses included: the overall speaking rate."""
    chars_per_second: float
    """Letters and digits per second of word time, pauses excluded: an articulation rate that,
    unlike words per second, does not count "a" and "extraordinary" alike, so the receiver can
    set its synthesizer's speed."""
    energy_median: float | None
    """Median word level, dB re full scale; None without words.  The reference for stress."""


def word_prosody(
    audio: np.ndarray, words: Sequence[Word], rate: int = 16000, track: PitchTrack | None = None
) -> list[WordProsody]:
    """Measure each of ``words`` (timestamps in seconds into ``audio``) in mono ``audio``.

    ``track`` is the pitch track of ``audio`` when the caller already has one; otherwise it is
    computed here with the default F0 range.
    """
    samples = np.asarray(audio, dtype=np.float64)
    if track is None:
        track = track_pitch(samples, rate)
    semitones = 12.0 * np.log2(track.f0 / PITCH_REFERENCE_HZ)
    result: list[WordProsody] = []
    previous_end = 0.0
    for word in words:
        first, last = np.searchsorted(track.times, [word.start, word.end])
        voiced = np.flatnonzero(~np.isnan(semitones[first:last])) + first
        f0: float | None = None
        slope: float | None = None
        if voiced.size >= MIN_VOICED_FRAMES:
            f0 = float(np.mean(semitones[voiced]))
            slope = float(np.polyfit(track.times[voiced], semitones[voiced], 1)[0])
        result.append(
            WordProsody(
                text=word.text,
                duration=max(word.end - word.start, 0.0),
                pause=max(word.start - previous_end, 0.0),
                f0=f0,
                f0_slope=slope,
                energy=_level_db(samples, word.start, word.end, rate),
            )
        )
        previous_end = max(previous_end, word.end)
    return result


def speaker_profile(prosodies: Sequence[WordProsody], audio_seconds: float) -> SpeakerProfile:
    """Summarise the words of one utterance (``audio_seconds`` long) as a ``SpeakerProfile``."""
    pitches = np.array([p.f0 for p in prosodies if p.f0 is not None])
    speaking = sum(p.duration for p in prosodies)
    characters = sum(sum(ch.isalnum() for ch in p.text) for p in prosodies)
    f0_median: float | None = None
    f0_range: float | None = None
    if pitches.size:
        low, f0_median, high = (float(v) for v in np.percentile(pitches, [10, 50, 90]))
        f0_range = high - low
    return SpeakerProfile(
        f0_median=f0_median,
        f0_range=f0_range,
        words_per_second=len(prosodies) / audio_seconds if audio_seconds > 0 else 0.0,
        chars_per_second=characters / speaking if speaking > 0 else 0.0,
        energy_median=float(np.median([p.energy for p in prosodies])) if prosodies else None,
    )


def _level_db(samples: np.ndarray, start: float, end: float, rate: int) -> float:
    """RMS level of ``samples`` between ``start`` and ``end`` seconds, dB re full scale."""
    first = min(max(round(start * rate), 0), samples.size)
    last = min(max(round(end * rate), first), samples.size)
    mean_square = float(np.mean(np.square(samples[first:last]))) if last > first else 0.0
    if mean_square <= 0.0:
        return SILENCE_DB
    return max(10.0 * math.log10(mean_square), SILENCE_DB)
