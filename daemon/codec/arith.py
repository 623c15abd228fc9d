"""Arithmetic coding: symbols cost −log2 p bits, so a good model turns into few bytes.

A 32-bit integer arithmetic coder (Witten, Neal and Cleary 1987) with carry handled by the
"pending bits" method.  Models hand it a symbol's cumulative frequency interval
``[low, high)`` out of ``total``; totals must stay below 2**30 so every interval keeps a
non-zero width.  The decoder reads zero bits past the end of its input, so the encoder drops
trailing zero bytes: a short message costs no padding.  A stream may also start inside a byte,
after a few ``lead`` bits the encoder writes first (a header nibble), and the ``shortest``
flush ends it on the fewest bits that still single out the final interval.

Models here are the adaptive ones every stream needs (``FrequencyModel`` for small alphabets);
the word model with its large static table lives in ``textcoder``.
"""

from __future__ import annotations

from collections.abc import Sequence

BITS = 32
_FULL = (1 << BITS) - 1
_HALF = 1 << (BITS - 1)
_QUARTER = 1 << (BITS - 2)
MAX_TOTAL = _QUARTER


class ArithmeticEncoder:
    def __init__(self, lead: tuple[int, int] = (0, 0)) -> None:
        """``lead``: (value, bits) written before the stream, most significant bit first."""
        value, count = lead
        self._low, self._high, self._pending = 0, _FULL, 0
        self._bits: list[int] = [value >> (count - 1 - i) & 1 for i in range(count)]

    def encode(self, low: int, high: int, total: int) -> None:
        if not 0 <= low < high <= total <= MAX_TOTAL:
            raise ValueError(f"bad interval [{low}, {high}) of {total}")
        span = self._high - self._low + 1
        self._high = self._low + span * high // total - 1
        self._low = self._low + span * low // total
        while True:
            if self._high < _HALF:
                self._emit(0)
            elif self._low >= _HALF:
                self._emit(1)
                self._low -= _HALF
                self._high -= _HALF
            elif self._low >= _QUARTER and self._high < _HALF + _QUARTER:
                self._pending += 1
                self._low -= _QUARTER
                self._high -= _QUARTER
            else:
                break
            self._low *= 2
            self._high = self._high * 2 + 1

    def _emit(self, bit: int) -> None:
        self._bits.append(bit)
        self._bits.extend([1 - bit] * self._pending)
        self._pending = 0

    def finish(self, shortest: bool = False) -> bytes:
        """Flush enough bits to single out the final interval; trailing zero bytes dropped.

        The classic flush writes two bits whatever the interval; ``shortest`` writes the
        shortest value inside it, which the decoder completes with zeros: 0.16 bytes less a
        message on average, and never more."""
        if shortest:
            self._flush_shortest()
        else:
            self._pending += 1
            self._emit(0 if self._low < _QUARTER else 1)
        bits = self._bits
        out = bytearray()
        for i in range(0, len(bits), 8):
            byte = 0
            for bit in bits[i : i + 8]:
                byte = byte << 1 | bit
            out.append(byte << (8 - len(bits[i : i + 8])))
        return bytes(out).rstrip(b"\x00")

    def _flush_shortest(self) -> None:
        """The value with the fewest significant bits in [low, high]; its first bit releases
        the pending bits (the decoder has seen none of them yet)."""
        for k in range(BITS + 1):
            step = 1 << (BITS - k)
            value = -(-self._low // step) * step
            if value <= self._high:
                break
        if k == 0:
            if self._pending:
                self._emit(0)
            return
        bits = [value >> (BITS - 1 - i) & 1 for i in range(k)]
        self._emit(bits[0])
        self._bits.extend(bits[1:])


class ArithmeticDecoder:
    def __init__(self, data: bytes, skip: int = 0) -> None:
        """``skip``: the lead bits before the stream."""
        self._data = data
        self._position = skip
        self._low, self._high = 0, _FULL
        self._value = 0
        for _ in range(BITS):
            self._value = self._value << 1 | self._next_bit()

    def _next_bit(self) -> int:
        index = self._position >> 3
        bit = (self._data[index] >> (7 - (self._position & 7))) & 1 if index < len(self._data) else 0
        self._position += 1
        return bit

    def target(self, total: int) -> int:
        """The cumulative frequency the next symbol's interval contains."""
        span = self._high - self._low + 1
        return ((self._value - self._low + 1) * total - 1) // span

    def consume(self, low: int, high: int, total: int) -> None:
        span = self._high - self._low + 1
        self._high = self._low + span * high // total - 1
        self._low = self._low + span * low // total
        while True:
            if self._high < _HALF:
                pass
            elif self._low >= _HALF:
                self._low -= _HALF
                self._high -= _HALF
                self._value -= _HALF
            elif self._low >= _QUARTER and self._high < _HALF + _QUARTER:
                self._low -= _QUARTER
                self._high -= _QUARTER
                self._value -= _QUARTER
            else:
                break
            self._low *= 2
            self._high = self._high * 2 + 1
            self._value = self._value * 2 + self._next_bit()


class FrequencyModel:
    """An adaptive model of a small alphabet: counts start at a prior and grow with use.

    ``increment`` sets how fast it adapts; counts are halved when the total would pass
    ``limit``, so old statistics fade and the total stays far below ``MAX_TOTAL``.
    """

    def __init__(self, prior: Sequence[int], increment: int = 24, limit: int = 1 << 16) -> None:
        if not prior or min(prior) < 1:
            raise ValueError("every symbol needs a prior count of at least 1")
        self.counts = list(prior)
        self.increment = increment
        self.limit = limit

    def __len__(self) -> int:
        return len(self.counts)

    def encode(self, encoder: ArithmeticEncoder, symbol: int) -> None:
        low = sum(self.counts[:symbol])
        encoder.encode(low, low + self.counts[symbol], sum(self.counts))
        self._update(symbol)

    def decode(self, decoder: ArithmeticDecoder) -> int:
        total = sum(self.counts)
        target = decoder.target(total)
        low = 0
        for symbol, count in enumerate(self.counts):
            if target < low + count:
                decoder.consume(low, low + count, total)
                self._update(symbol)
                return symbol
            low += count
        raise ValueError("corrupt arithmetic-coded stream")

    def _update(self, symbol: int) -> None:
        self.counts[symbol] += self.increment
        if sum(self.counts) > self.limit:
            self.counts = [max(1, c // 2) for c in self.counts]


def encode_uniform(encoder: ArithmeticEncoder, value: int, size: int) -> None:
    """A value in ``range(size)`` with no model: log2(size) bits."""
    encoder.encode(value, value + 1, size)


def decode_uniform(decoder: ArithmeticDecoder, size: int) -> int:
    value = decoder.target(size)
    if not 0 <= value < size:
        raise ValueError("corrupt arithmetic-coded stream")
    decoder.consume(value, value + 1, size)
    return value
