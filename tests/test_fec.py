import itertools
import random

import pytest

from telephrase.link.erasure import erasure_decode, erasure_encode, parity_count
from telephrase.link.fec import encoded_length, fec_decode, fec_encode


@pytest.mark.parametrize("size", [1, 50, 238, 239, 240, 600, 2000])
@pytest.mark.parametrize("parity", [0, 2, 16, 32])
def test_layout_round_trip(size, parity):
    data = random.Random(size).randbytes(size)
    block = fec_encode(data, parity)
    assert len(block) == encoded_length(size, parity)
    assert fec_decode(block, parity) == data


def test_interleaving_spreads_a_burst_over_codewords():
    data = random.Random(0).randbytes(1000)
    block = bytearray(fec_encode(data, 16))
    codewords = -(-len(block) // 255)
    assert codewords == 5
    burst = 8 * codewords
    start = 300
    for i in range(start, start + burst):
        block[i] ^= 0xFF
    assert fec_decode(bytes(block), 16) == data
    block[start + burst] ^= 0xFF
    assert fec_decode(bytes(block), 16) is None


def test_beyond_repair_is_reported_not_guessed():
    """Five byte errors against four correctable: the decoder must give up, not invent data."""
    data = bytes(100)
    block = bytearray(fec_encode(data, 8))
    for i in range(5):
        block[i * 7] ^= 0x5A
    assert fec_decode(bytes(block), 8) is None


def test_bad_parity_is_refused():
    with pytest.raises(ValueError, match="even number"):
        fec_encode(b"x", 7)


@pytest.mark.parametrize("k, m", [(1, 1), (2, 1), (3, 2), (6, 3)])
def test_any_k_of_n_fragments_rebuild_the_message(k, m):
    rng = random.Random(k * 10 + m)
    chunks = [rng.randbytes(17) for _ in range(k)]
    every = dict(enumerate(chunks + erasure_encode(chunks, m)))
    for lost in itertools.combinations(range(k + m), m):
        assert erasure_decode({i: c for i, c in every.items() if i not in lost}, k, m) == chunks
    assert erasure_decode({i: every[i] for i in range(k - 1)}, k, m) is None


def test_parity_count():
    assert [parity_count(k, 0.5) for k in (1, 2, 3, 4)] == [1, 1, 2, 2]
    assert parity_count(5, 0) == 0 and parity_count(250, 1.0) == 5
