"""Prosody fidelity: how closely resynthesized speech follows the original's intonation and timing.

Why: the receiver is meant to reproduce the sender's word timing and pitch, not only the words,
and word error rate cannot tell a faithful rendering from the synthesizer's flat, neutral
reading.  So the benchmark pairs each word of the original with the same word in the
resynthesized audio (both transcribed with word timestamps) and correlates, over the corpus, the
two sides' per-word log-F0 (semitones, as ``prosody`` measures it) and per-word duration.

Each correlation is reported twice.  The pooled one takes all pairs of the corpus together, so
it also rewards matching each utterance's overall register and tempo; on a corpus of many
speakers those differences between utterances can dominate it.  The within-utterance one first
removes each utterance's mean from both sides, leaving only the word-to-word movement: a constant
shift into the receiver's own register (which ``prosody`` intends) costs nothing, and matching
an utterance's average pitch or tempo without its contour earns nothing.

Everything here is a pure function of its arguments and the pitch tracker it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..speech.pitch import PitchTrack, track_pitch
from ..speech.prosody import word_prosody
from ..speech.transcribe import Word
from .normalize import normalize

MIN_PAIRS = 3
"""Fewest pairs a correlation is reported for: two points always lie on a line, so r = ±1 from
them says nothing."""
FLAT_TOLERANCE = 1e-9
"""A side whose deviations from its mean are all below this fraction of its largest value is
constant: its "correlation" would be that of rounding noise, so none is reported."""


def align_words(source: Sequence[Word], output: Sequence[Word]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` where ``source[i]`` and ``output[j]`` are the same word.

    The words are normalised (``normalize``: case, punctuation, numbers spelled out) and split
    into tokens, the two token sequences are aligned by minimum edit distance, and a pair is
    reported when a word's tokens are all exact matches of all of the other word's tokens.  So
    "Books," pairs with "books" and "20" with "twenty"; "1998" does not pair with the three words
    "nineteen ninety eight", whose timing covers a different span, but the words around it still
    align; a word that normalises to nothing (a stray dash) is skipped.  Pairs come in order.
    """
    source_tokens, source_owners = _tokens(source)
    output_tokens, output_owners = _tokens(output)
    matched = Counter(
        (source_owners[a], output_owners[b]) for a, b in _matched_tokens(source_tokens, output_tokens)
    )
    source_sizes, output_sizes = Counter(source_owners), Counter(output_owners)
    return sorted((i, j) for (i, j), n in matched.items() if n == source_sizes[i] == output_sizes[j])


@dataclass
class FidelityPairs:
    """(original, resynthesized) values of the aligned words of a corpus, utterance by utterance.

    Pairs are pooled across calls to ``add`` so that the correlations are corpus-level, like the
    benchmark's other figures; each pair keeps its utterance's index for the within-utterance
    figures.  The F0 lists hold only words voiced on both sides.
    """

    tracker: Callable[[np.ndarray, int], PitchTrack] = track_pitch
    """The pitch tracker that measures both sides: the sender's own (``[codec] pitch``), so the
    figure asks whether the receiver reproduced what was measured and sent."""
    f0_source: list[float] = field(default_factory=list)
    """Original word pitch, semitones re 100 Hz."""
    f0_output: list[float] = field(default_factory=list)
    """Resynthesized word pitch, semitones re 100 Hz."""
    f0_utterance: list[int] = field(default_factory=list)
    """Index (order of ``add``) of the utterance each F0 pair belongs to."""
    duration_source: list[float] = field(default_factory=list)
    """Original word duration, seconds."""
    duration_output: list[float] = field(default_factory=list)
    """Resynthesized word duration, seconds."""
    duration_utterance: list[int] = field(default_factory=list)
    """Index of the utterance each duration pair belongs to."""
    utterances: int = 0
    """Utterances added, whether or not any of their words aligned."""

    def add(
        self,
        source_audio: np.ndarray,
        source_words: Sequence[Word],
        output_audio: np.ndarray,
        output_words: Sequence[Word],
        rate: int = 16000,
    ) -> None:
        """Append the pairs of one utterance: mono audio at ``rate`` Hz on both sides, each with
        its transcript's words (timestamps in seconds into that audio)."""
        pairs = align_words(source_words, output_words)
        utterance = self.utterances
        self.utterances += 1
        if not pairs:
            return
        source = word_prosody(source_audio, [source_words[i] for i, _ in pairs], rate,
                              track=self.tracker(source_audio, rate))
        output = word_prosody(output_audio, [output_words[j] for _, j in pairs], rate,
                              track=self.tracker(output_audio, rate))
        for s, o in zip(source, output):
            self.duration_source.append(s.duration)
            self.duration_output.append(o.duration)
            self.duration_utterance.append(utterance)
            if s.f0 is not None and o.f0 is not None:
                self.f0_source.append(s.f0)
                self.f0_output.append(o.f0)
                self.f0_utterance.append(utterance)

    def add_durations(self, source_words: Sequence[Word], output_words: Sequence[Word]) -> None:
        """Append only the duration pairs of one utterance, for output words whose timing is
        known rather than measured (the synthesizer's own spans)."""
        utterance = self.utterances
        self.utterances += 1
        for i, j in align_words(source_words, output_words):
            self.duration_source.append(source_words[i].end - source_words[i].start)
            self.duration_output.append(output_words[j].end - output_words[j].start)
            self.duration_utterance.append(utterance)

    def summary(self) -> dict:
        """Pearson correlations between original and resynthesized words, and the pair counts.

        ``f0_corr`` and ``duration_corr`` pool all pairs; ``f0_corr_within`` and
        ``duration_corr_within`` remove each utterance's mean from both sides first, and use
        only utterances with at least two pairs (one pair has no movement within its
        utterance).  A correlation is None with fewer than ``MIN_PAIRS`` pairs or when either
        side does not vary at all: an exactly flat reading has no correlation with the sender
        rather than a zero one (a reading flat but for measurement noise comes out near zero).
        """
        f0_corr, f0_corr_within = _correlations(self.f0_source, self.f0_output, self.f0_utterance)
        duration_corr, duration_corr_within = _correlations(
            self.duration_source, self.duration_output, self.duration_utterance
        )
        return {
            "utterances": self.utterances,
            "f0_pairs": len(self.f0_source),
            "f0_corr": f0_corr,
            "f0_corr_within": f0_corr_within,
            "duration_pairs": len(self.duration_source),
            "duration_corr": duration_corr,
            "duration_corr_within": duration_corr_within,
        }


def _tokens(words: Sequence[Word]) -> tuple[list[str], list[int]]:
    """The normalised tokens of ``words`` in order, and the index of the word each came from."""
    tokens: list[str] = []
    owners: list[int] = []
    for index, word in enumerate(words):
        for token in normalize(word.text).split():
            tokens.append(token)
            owners.append(index)
    return tokens, owners


def _matched_tokens(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of the equal tokens on a minimum-edit-distance alignment of ``a`` and ``b``.

    The table is filled a row at a time in numpy: a row's insertion chain
    ``cost[i][j] = min(cost[i][j-1] + 1, ...)`` is a running minimum of ``candidate[k] - k``,
    plus ``j``.  The backtrace takes a match before a substitution, deletion or insertion.
    """
    vocabulary = {token: n for n, token in enumerate(dict.fromkeys(a + b))}
    a_ids = np.array([vocabulary[t] for t in a], dtype=np.intp)
    b_ids = np.array([vocabulary[t] for t in b], dtype=np.intp)
    columns = np.arange(len(b) + 1)
    cost = np.empty((len(a) + 1, len(b) + 1), dtype=np.intp)
    cost[0] = columns
    for i in range(1, len(a) + 1):
        candidate = np.empty(len(b) + 1, dtype=np.intp)
        candidate[0] = i
        candidate[1:] = np.minimum(cost[i - 1, 1:] + 1, cost[i - 1, :-1] + (b_ids != a_ids[i - 1]))
        cost[i] = np.minimum.accumulate(candidate - columns) + columns
    matches: list[tuple[int, int]] = []
    i, j = len(a), len(b)
    while i > 0 and j > 0:
        if a_ids[i - 1] == b_ids[j - 1] and cost[i, j] == cost[i - 1, j - 1]:
            matches.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j - 1] + 1:
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return matches[::-1]


def _correlations(
    source: list[float], output: list[float], utterance: list[int]
) -> tuple[float | None, float | None]:
    """The pooled and the within-utterance correlation of one measure's pairs."""
    x, y, groups = np.array(source), np.array(output), np.array(utterance, dtype=np.intp)
    return _correlation(x, y, groups, within=False), _correlation(x, y, groups, within=True)


def _correlation(x: np.ndarray, y: np.ndarray, utterance: np.ndarray, within: bool) -> float | None:
    """Pearson's r of ``x`` and ``y``, after removing each utterance's means when ``within``.

    Utterances with a single pair are left out of the within-utterance figure.  None with fewer
    than ``MIN_PAIRS`` pairs or when either side is constant.
    """
    groups = utterance if within else np.zeros(x.size, dtype=np.intp)
    _, group, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    keep = sizes[group] >= 2
    if np.count_nonzero(keep) < MIN_PAIRS:
        return None
    dx = (x - (np.bincount(group, weights=x) / sizes)[group])[keep]
    dy = (y - (np.bincount(group, weights=y) / sizes)[group])[keep]
    if _flat(dx, x[keep]) or _flat(dy, y[keep]):
        return None
    return float(np.clip(dx @ dy / np.sqrt((dx @ dx) * (dy @ dy)), -1.0, 1.0))


def _flat(deviations: np.ndarray, values: np.ndarray) -> bool:
    """Whether ``deviations`` from their means are only the rounding error of ``values``.

    Judged against the values before centring, since centring equal numbers can leave
    deviations of one ulp that would otherwise look like (tiny) movement.
    """
    return bool(np.max(np.abs(deviations)) <= FLAT_TOLERANCE * np.max(np.abs(values)))
