"""A Llama-architecture language model evaluated bit-exactly, to drive an arithmetic coder.

Both ends of a link must compute the same next-token frequencies to the last bit, on any CPU,
with any BLAS and thread count, or the receiver's decoder drifts and speaks garbage.  A float
forward pass does not give that (sums reorder, vector ``exp`` kernels differ).  This one keeps
every reduction exact:

- every weight matrix is stored as integers (per output row: ``W ≈ s_row · W_int``, ``|W_int|
  ≤ 63``) and every activation entering a matrix product is quantised per row to integers
  ``|x_int| ≤ 127``, so each product ``x_int · W_int`` is integer arithmetic, exact in any
  order (``intmatmul``: onnxruntime's MatMulInteger, 8-bit operands, a quarter of float32's
  memory traffic);
- attention scores, weights and the weighted sum of values are integers too (float64, exact
  below 2**53); softmax numerators are rounded to integers before they are added;
- RMS norms add their squares with ``math.fsum`` (correctly rounded, so order-free);
- ``exp``, SiLU and the rotary tables come from ``exactmath`` (elementwise IEEE operations
  only), and the scales are applied by elementwise float64 products.

What is left is elementwise IEEE arithmetic, which every conforming machine rounds alike.  The
output is an integer frequency table per position: every token at least 1, the total below the
coder's 2**30.

The forward pass of many positions at once (the sender scoring a whole sentence) and one
position at a time with a cache (the receiver decoding) give identical tables, as every row's
arithmetic depends only on its own inputs and the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import exactmath
from .intmatmul import IntegerMatrix

ACT_LEVELS = 127
"""Activations entering a matrix product: integers in ±127."""
ATTN_ONE = float(1 << 20)
"""Softmax numerators as integers: the largest is 2**20."""
MAX_POSITIONS = 2048
"""Positions (context and message) the rotary tables cover."""
PROB_ONE = 1 << 24
FREQ_TOTAL = (1 << 30) - (1 << 17)
"""The frequencies' total before each token's floor of 1 is added (the coder's limit is 2**30)."""


@dataclass(frozen=True)
class Quantized:
    """A weight matrix as integers: ``W[o, i] ≈ scale[o] · weight[i, o]`` (int8, stored
    transposed)."""

    weight: np.ndarray
    scale: np.ndarray
    product: IntegerMatrix = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "product", IntegerMatrix(self.weight))

    def apply(self, x_int: np.ndarray, x_scale: np.ndarray) -> np.ndarray:
        """``x @ W.T`` for ``x ≈ x_scale · x_int`` (rows), exactly up to the final scaling."""
        return self.product(x_int) * x_scale[:, None] * self.scale[None, :]

    def columns(self, rows: np.ndarray) -> np.ndarray:
        """``W[rows]`` as floats (an embedding lookup)."""
        return self.weight[:, rows].T.astype(np.float64) * self.scale[rows][:, None]


@dataclass(frozen=True)
class Layer:
    attn_norm: np.ndarray
    qkv: Quantized
    output: Quantized
    ffn_norm: np.ndarray
    gate_up: Quantized
    down: Quantized


@dataclass(frozen=True)
class Shape:
    width: int
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int
    norm_eps: float


@dataclass
class Cache:
    """The keys and values of the positions seen so far, per layer: integers (kv heads,
    positions, head dim) and their scales (kv heads, positions)."""

    keys: list[np.ndarray] = field(default_factory=list)
    key_scales: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    value_scales: list[np.ndarray] = field(default_factory=list)
    length: int = 0

    def copy(self) -> Cache:
        """A cache to extend independently (the arrays are replaced, never written)."""
        return Cache(list(self.keys), list(self.key_scales), list(self.values), list(self.value_scales), self.length)

    def extend(self, layer: int, keys: np.ndarray, key_scales: np.ndarray, values: np.ndarray,
               value_scales: np.ndarray) -> None:
        if layer == len(self.keys):
            self.keys.append(keys)
            self.key_scales.append(key_scales)
            self.values.append(values)
            self.value_scales.append(value_scales)
            return
        self.keys[layer] = np.concatenate([self.keys[layer], keys], axis=1)
        self.key_scales[layer] = np.concatenate([self.key_scales[layer], key_scales], axis=1)
        self.values[layer] = np.concatenate([self.values[layer], values], axis=1)
        self.value_scales[layer] = np.concatenate([self.value_scales[layer], value_scales], axis=1)


def quantize_rows(x: np.ndarray, levels: int = ACT_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` as integers in ±levels and one scale per row (max-abs, exact)."""
    peak = np.abs(x).max(axis=-1)
    scale = np.where(peak > 0, peak / levels, 1.0)
    return np.rint(x / scale[..., None]), scale


class ExactLM:
    """The model: token embeddings (tied to the output), layers, final norm."""

    def __init__(self, shape: Shape, embedding: Quantized, layers: list[Layer], norm: np.ndarray,
                 inverse_frequencies: np.ndarray) -> None:
        self.shape = shape
        self.embedding = embedding
        """``weight`` is (width, vocabulary): the output projection; its columns embed."""
        self.layers = layers
        self.norm = norm
        self.vocabulary = embedding.weight.shape[1]
        positions = np.arange(MAX_POSITIONS, dtype=np.float64)
        self.rope_cos, self.rope_sin = exactmath.cos_sin(positions[:, None] * inverse_frequencies[None, :])
        self.score_scale = 1.0 / np.sqrt(float(shape.head_dim))

    def _norm(self, x: np.ndarray, gain: np.ndarray) -> np.ndarray:
        mean = exactmath.row_sums(x * x) / x.shape[1]
        return x * (1.0 / np.sqrt(mean + self.shape.norm_eps))[:, None] * gain[None, :]

    def _rotate(self, x: np.ndarray, first: int) -> np.ndarray:
        """Rotary embedding on adjacent pairs (GGUF's Llama layout), for the positions from
        ``first`` on."""
        n = x.shape[0]
        if first + n > self.rope_cos.shape[0]:
            raise ValueError(f"{first + n} positions: the model's tables hold {self.rope_cos.shape[0]}")
        cos, sin = self.rope_cos[first : first + n, None, :], self.rope_sin[first : first + n, None, :]
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = even * sin + odd * cos
        return out

    def _attention(self, layer: Layer, x: np.ndarray, cache: Cache, index: int) -> np.ndarray:
        s = self.shape
        n = x.shape[0]
        x_int, x_scale = quantize_rows(self._norm(x, layer.attn_norm))
        qkv = layer.qkv.apply(x_int, x_scale)
        q_width, kv_width = s.heads * s.head_dim, s.kv_heads * s.head_dim
        q = self._rotate(qkv[:, :q_width].reshape(n, s.heads, s.head_dim), cache.length)
        k = self._rotate(qkv[:, q_width : q_width + kv_width].reshape(n, s.kv_heads, s.head_dim), cache.length)
        v = qkv[:, q_width + kv_width :].reshape(n, s.kv_heads, s.head_dim)
        cache.extend(index, *quantize_rows(k.transpose(1, 0, 2)), *quantize_rows(v.transpose(1, 0, 2)))
        # Query heads sharing a kv head, grouped: (kv heads, group, positions, ...) against the
        # cache's (kv heads, 1, ...) by broadcasting.  Products of integers, so exact either way.
        group = s.heads // s.kv_heads
        keys, values = cache.keys[index][:, None], cache.values[index][:, None]
        key_scales, value_scales = cache.key_scales[index][:, None], cache.value_scales[index][:, None]
        q_int, q_scale = quantize_rows(q.transpose(1, 0, 2).reshape(s.kv_heads, group, n, s.head_dim))
        scores = q_int @ keys.transpose(0, 1, 3, 2)
        scores = scores * q_scale[..., None] * key_scales[:, :, None, :] * self.score_scale
        if n > 1:  # one new position sees every cached one: nothing to mask
            total = keys.shape[2]
            visible = np.arange(total)[None, :] <= (cache.length + np.arange(n))[:, None]
            scores = np.where(visible, scores, -np.inf)
        weights = exactmath.exp(scores - scores.max(axis=-1, keepdims=True))
        weights_int = np.rint(weights * ATTN_ONE)
        numerators = weights * value_scales[:, :, None, :]
        peak = numerators.max(axis=-1, keepdims=True)
        numerators_int = np.rint(numerators / peak * ATTN_ONE)
        out = (numerators_int @ values) * (peak / weights_int.sum(axis=-1, keepdims=True))
        o_int, o_scale = quantize_rows(out.reshape(s.heads, n, s.head_dim).transpose(1, 0, 2).reshape(n, q_width))
        return layer.output.apply(o_int, o_scale)

    def _mlp(self, layer: Layer, x: np.ndarray) -> np.ndarray:
        x_int, x_scale = quantize_rows(self._norm(x, layer.ffn_norm))
        gate_up = layer.gate_up.apply(x_int, x_scale)
        hidden = self.shape.hidden
        h_int, h_scale = quantize_rows(exactmath.silu(gate_up[:, :hidden]) * gate_up[:, hidden:])
        return layer.down.apply(h_int, h_scale)

    def forward(self, tokens: list[int], cache: Cache) -> np.ndarray:
        """Feed ``tokens`` after what ``cache`` holds (extending it); the frequency table of
        the token after each of them, (len(tokens), vocabulary) int64."""
        rows = np.asarray(tokens, dtype=np.int64)
        x = self.embedding.columns(rows)
        for index, layer in enumerate(self.layers):
            x = x + self._attention(layer, x, cache, index)
            x = x + self._mlp(layer, x)
        cache.length += len(tokens)
        h_int, h_scale = quantize_rows(self._norm(x, self.norm))
        return frequencies(self.embedding.apply(h_int, h_scale))


def frequencies(logits: np.ndarray) -> np.ndarray:
    """Integer frequencies from logits, row by row: ``floor(p · FREQ_TOTAL) + 1`` with ``p``
    from exact integer softmax numerators (the largest 2**24).  Computed a row at a time: a
    row (the vocabulary, 393 kB) stays in cache through ``exp``'s two dozen elementwise passes,
    which over a whole sentence's rows at once were bound by memory (elementwise, so the same
    bits either way)."""
    return np.concatenate([_frequencies(row[None, :]) for row in logits]) if len(logits) > 1 else _frequencies(logits)


def _frequencies(logits: np.ndarray) -> np.ndarray:
    numerators = np.floor(exactmath.exp(logits - logits.max(axis=1, keepdims=True)) * PROB_ONE).astype(np.int64)
    totals = numerators.sum(axis=1, keepdims=True)
    return numerators * FREQ_TOTAL // totals + 1
