"""Erasure coding across the fragments of one message, so a lost fragment does not lose it.

A message cut into k equal-length data fragments gets m parity fragments; any k of the k + m
fragments rebuild the message.  Byte j of every fragment forms one Reed–Solomon codeword
(k data symbols, m check symbols, GF(256) as in ``fec``); a fragment that never arrived is an
erasure at a known position, and RS corrects up to m erasures, twice what it corrects in
unknown positions.  Per-frame FEC repairs bit errors, this repairs lost frames: the two add.

Limits: k + m ≤ 255 fragments.
"""

from __future__ import annotations

from reedsolo import ReedSolomonError

from .fec import CODEWORD, rs_codec


def parity_count(data_fragments: int, ratio: float) -> int:
    """Parity fragments for a message: ``ratio`` of its data fragments, at least one if any."""
    if ratio <= 0:
        return 0
    return min(max(1, round(data_fragments * ratio + 0.4999)), CODEWORD - data_fragments)


def erasure_encode(chunks: list[bytes], parity: int) -> list[bytes]:
    """Return ``parity`` parity chunks for equal-length data ``chunks``."""
    if parity == 0:
        return []
    if len(chunks) + parity > CODEWORD:
        raise ValueError(f"{len(chunks)} + {parity} fragments exceed the code length {CODEWORD}")
    codec, k = rs_codec(parity), len(chunks)
    out = [bytearray() for _ in range(parity)]
    for column in zip(*chunks):
        codeword = codec.encode(bytes(column))
        for i in range(parity):
            out[i].append(codeword[k + i])
    return [bytes(p) for p in out]


def erasure_decode(received: dict[int, bytes], data_fragments: int, parity: int) -> list[bytes] | None:
    """Rebuild the data chunks from any ``data_fragments`` of the fragments (index → chunk).

    ``None`` when too few arrived or they are inconsistent (different lengths).
    """
    k, n = data_fragments, data_fragments + parity
    if all(i in received for i in range(k)):
        return [received[i] for i in range(k)]
    if len(received) < k or parity == 0:
        return None
    lengths = {len(c) for c in received.values()}
    if len(lengths) != 1:
        return None
    (length,) = lengths
    missing = [i for i in range(n) if i not in received]
    codec = rs_codec(parity)
    data = [bytearray() for _ in range(k)]
    blank = bytes(length)
    rows = [received.get(i, blank) for i in range(n)]
    for column in zip(*rows):
        try:
            message, _, _ = codec.decode(bytes(column), erase_pos=missing, only_erasures=True)
        except ReedSolomonError:
            return None
        for i in range(k):
            data[i].append(message[i])
    return [bytes(d) for d in data]
