"""The message: what was said, as phrases with their timing, and per-word prosody.

A message is what crosses the link, independent of how it is coded.  The sender groups
Whisper's words into phrases at pauses; each phrase keeps its text, the silence before it and
how long it took to say, which is what the receiver needs to keep the sender's pace.  Per-word
marks (duration and pitch) and the speaker's median pitch let the receiver also follow the
sender's rhythm inside a phrase and their intonation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..speech.prosody import WordProsody
from ..speech.transcribe import Transcript


@dataclass(frozen=True)
class Phrase:
    text: str
    """Exact text, including the leading space Whisper puts before most words."""
    pause: float = 0.0
    """Silence before the phrase, in seconds."""
    seconds: float = 0.0
    """How long the phrase took to say; 0 when no timing was sent."""


@dataclass(frozen=True)
class WordMark:
    """One word's prosody: ``text`` is the word as the marks are aligned to it."""

    text: str
    duration: float | None
    """Seconds; None where the message leaves the word's length to the synthesizer (only the
    phrase's length was sent)."""
    f0: float | None = None
    """Mean pitch in semitones re 100 Hz; None where the word is unvoiced."""


@dataclass(frozen=True)
class Message:
    phrases: tuple[Phrase, ...]
    language: str = ""
    words: tuple[WordMark, ...] = ()
    """Per-word prosody in text order; empty when none was measured or sent."""
    f0_median: float | None = None
    """The speaker's median pitch (semitones re 100 Hz): the voice profile."""
    source_language: str = ""
    """The language that was spoken when the text is a translation of it (``language`` is
    then the text's, English); empty when the text is what was said."""

    @property
    def text(self) -> str:
        return self.coded_text.strip()

    @property
    def coded_text(self) -> str:
        """The phrases' text as the payload codes it: leading spaces and all."""
        return "".join(p.text for p in self.phrases)

    @property
    def seconds(self) -> float:
        return sum(p.pause + p.seconds for p in self.phrases)


def message_from_transcript(transcript: Transcript, phrase_pause: float,
                            prosody: list[WordProsody] | None = None, earlier_pitches: list[float] | None = None) -> Message:
    """Group words into phrases: a gap of at least ``phrase_pause`` seconds starts a new one.

    With ``prosody`` (one entry per transcript word) the message carries word marks and the
    speaker's median pitch, taken over these words and ``earlier_pitches`` (the voiced words
    of the transmission's earlier phrases, which this call extends by this message's)."""
    phrases: list[Phrase] = []
    group: list = []
    previous_end = 0.0

    def close() -> None:
        first, last = group[0], group[-1]
        pause = max(0.0, first.start - previous_end)
        phrases.append(Phrase("".join(w.text for w in group), pause, max(0.0, last.end - first.start)))

    for word in transcript.words:
        if group and word.start - group[-1].end >= phrase_pause:
            close()
            previous_end = group[-1].end
            group = []
        group.append(word)
    if group:
        close()
    if not prosody:
        return Message(tuple(phrases), transcript.language, source_language=transcript.source_language)
    marks = tuple(WordMark(w.text, p.duration, p.f0) for w, p in zip(transcript.words, prosody))
    pitches = earlier_pitches if earlier_pitches is not None else []
    pitches.extend(m.f0 for m in marks if m.f0 is not None)
    voiced = sorted(pitches)
    median = voiced[len(voiced) // 2] if voiced else None
    return Message(tuple(phrases), transcript.language, marks, median, transcript.source_language)
