import pytest

from telephrase.bench.normalize import normalize, number_words, word_errors


@pytest.mark.parametrize(
    "text, expected",
    [
        ('Margaret," said Mr. Hale.', "margaret said mister hale"),
        ("MISTER HALE'S shop-boy", "mister hale's shop boy"),
        ("In 1998 I paid $5", "in nineteen ninety eight i paid five dollars"),
        ("the 21st of 1905, 3.5%", "the twenty first of nineteen oh five three point five percent"),
        ("2005 and 12,000", "two thousand five and twelve thousand"),
        ("'Hello,' she said — colour", "hello she said color"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_number_words():
    assert number_words(0) == "zero"
    assert number_words(115) == "one hundred fifteen"
    assert number_words(1_000_042) == "one million forty two"


def test_word_errors_counts_substitutions_insertions_deletions():
    assert word_errors("MISTER HALE SAID HELLO", "Mr. Hale said, hello!") == (0, 4)
    assert word_errors("a b c d", "a x c") == (2, 4)
    assert word_errors("a b", "a b c d") == (2, 2)
    assert word_errors("a b", "") == (2, 2)
