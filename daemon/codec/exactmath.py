"""Elementary functions that give the same bits on every machine.

An arithmetic decoder stays in step with its encoder only if both compute the very same
probabilities.  IEEE 754 makes ``+ − × ÷`` and ``sqrt`` correctly rounded, so an elementwise
chain of them gives identical results on any CPU, whatever the SIMD path; ``exp``, ``cos`` and
friends from libm or numpy's vector kernels do not (their last bit differs between builds and
instruction sets).  The functions here are built from the exact operations only: range
reduction with ``floor``/``rint`` and ``ldexp`` (exact), then a fixed polynomial evaluated by
Horner's rule in float64.  They are accurate to about 1e-12 relative, far more than a language
model needs, and, what matters, reproducible to the last bit.

Sums are the other trap: a float sum depends on the order of its terms, which BLAS and
numpy's SIMD reductions choose per machine.  ``row_sums`` adds each row with ``math.fsum``,
whose result is the correctly rounded exact sum, so the order cannot matter.
"""

from __future__ import annotations

import math

import numpy as np

LN2 = 0.6931471805599453
LOG2E = 1.4426950408889634
TWO_PI = 6.283185307179586
_EXP2_TERMS = [LN2**k / math.factorial(k) for k in range(14)]
"""Taylor coefficients of 2**f = e**(f ln 2); written out as float64 literals by ``repr``
they are the same on every machine (exact decimal parsing), and on [0, 1) 14 terms leave an
error under 1e-13."""
_EXP_LIMIT = 1000.0


def exp2(x: np.ndarray) -> np.ndarray:
    """2**x, elementwise, reproducibly; arguments are clipped to ±1000 (0 and a huge value)."""
    x = np.minimum(np.maximum(np.asarray(x, dtype=np.float64), -_EXP_LIMIT), _EXP_LIMIT)
    n = np.floor(x)
    f = x - n
    p = np.full(f.shape, _EXP2_TERMS[-1])
    for c in reversed(_EXP2_TERMS[:-1]):
        p *= f
        p += c
    return np.ldexp(p, n.astype(np.int64))


_SQRT_HALF = 0.7071067811865476
_LOG_TERMS = 24


def log2(x: np.ndarray) -> np.ndarray:
    """log2 of positive ``x``, elementwise, reproducibly: the exponent from ``frexp`` (exact),
    the mantissa ``m`` (in [√½, √2)) by the series ln m = 2·atanh((m − 1)/(m + 1))."""
    mantissa, exponent = np.frexp(np.asarray(x, dtype=np.float64))
    low = mantissa < _SQRT_HALF
    mantissa = np.where(low, mantissa * 2.0, mantissa)
    exponent = np.where(low, exponent - 1, exponent)
    z = (mantissa - 1.0) / (mantissa + 1.0)
    z2 = z * z
    series = np.full_like(z, 1.0 / (2 * _LOG_TERMS + 1))
    for k in range(_LOG_TERMS - 1, -1, -1):
        series = series * z2 + 1.0 / (2 * k + 1)
    return exponent + 2.0 * z * series * LOG2E


def exp(x: np.ndarray) -> np.ndarray:
    """e**x, reproducibly (as ``exp2(x · log2 e)``)."""
    return exp2(np.asarray(x, dtype=np.float64) * LOG2E)


def silu(x: np.ndarray) -> np.ndarray:
    """x · sigmoid(x), reproducibly."""
    x = np.asarray(x, dtype=np.float64)
    return x / (1.0 + exp(-x))


_SIN_TERMS = 24


def cos_sin(angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of ``angle`` (radians), reproducibly: reduced to [−π, π] by a whole number
    of turns, then Taylor series to order 24 (error below 1e-15 there)."""
    a = np.asarray(angle, dtype=np.float64)
    r = a - np.rint(a / TWO_PI) * TWO_PI
    r2 = r * r
    cos = np.ones_like(r)
    sin = np.ones_like(r)
    for k in range(_SIN_TERMS, 0, -2):
        cos = 1.0 - cos * r2 / ((k - 1) * k)
        sin = 1.0 - sin * r2 / (k * (k + 1))
    return cos, sin * r


def row_sums(x: np.ndarray) -> np.ndarray:
    """The sum of each row of a 2-D float array, correctly rounded (independent of order)."""
    return np.array([math.fsum(row) for row in np.asarray(x, dtype=np.float64).tolist()], dtype=np.float64)
