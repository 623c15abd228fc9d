"""wordmap: text words matched to the synthesizer's words, run by run."""

from telephrase.speech.wordmap import align_runs, text_weight


def runs(chars, phonemes):
    return [(list(a), list(b)) for a, b in align_runs(chars, phonemes)]


def test_one_to_one_when_counts_agree():
    assert runs([2, 5, 3], [2, 6, 3]) == [([0], [0]), ([1], [1]), ([2], [2])]


def test_joined_short_words_become_one_run():
    # "He should notice the position and temperature of the body": espeak joins "of the".
    chars = [2, 6, 6, 3, 8, 3, 11, 2, 3, 4]
    phonemes = [3, 4, 7, 2, 9, 3, 11, 4, 5]
    assert runs(chars, phonemes)[7] == ([7, 8], [7])
    assert len(runs(chars, phonemes)) == 9


def test_a_number_spoken_as_several_words():
    # "in 1998 it": the year becomes "nineteen ninety eight".
    chars = [text_weight(w) for w in ("in", "1998", "it")]
    assert chars == [2, 16, 2]
    assert runs(chars, [2, 8, 6, 3, 2]) == [([0], [0]), ([1], [1, 2, 3]), ([2], [4])]


def test_impossible_matches_give_none():
    assert align_runs([3], [2, 2, 2, 2, 2, 2]) is None
    assert align_runs([3, 3, 3, 3, 3], [4]) is None
    assert align_runs([], [3]) is None
