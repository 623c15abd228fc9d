"""The neural text model's weights: a GGUF file from a package, as ``exactlm``'s integers.

The GGUF (read with the ``gguf`` package, no llama.cpp) holds 4- and 8-bit blocks, each block
with its own float scale.  ``exactlm`` wants one integer matrix per weight with one scale per
output row, so each matrix is dequantised and requantised per row: ``scale = max|row| / L``,
``W_int = rint(W / scale)``.  Both steps are elementwise IEEE arithmetic and ``max``, so every
machine derives the same integers; ``digest`` hashes them, and the registry records the
digest, so a machine that derived anything else refuses to code with it rather than garble.

The derived integers are cached (``.npz`` beside the verified model files) so a restart loads
them in a fraction of a second instead of converting again.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..registry import Registry
from . import exactmath
from .bpe import Tokenizer
from .exactlm import ExactLM, Layer, Quantized, Shape
from .intmatmul import MAX_WEIGHT
from .neuraltext import NeuralTextModel

log = logging.getLogger(__name__)

WEIGHT_LEVELS = MAX_WEIGHT
"""Weights in ±63: what ``intmatmul`` multiplies exactly on every kernel."""
CACHE_VERSION = 2


def _requantize(w: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(out, in) float weights → (in, out) int8 and per-output scales."""
    w = w.astype(np.float64)
    peak = np.max(np.abs(w), axis=1)
    scale = np.where(peak > 0, peak / levels, 1.0)
    return np.rint(w / scale[:, None]).astype(np.int8).T.copy(), scale


def _read_gguf(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        import gguf
    except ImportError:
        raise ModelError("the neural text model needs the gguf package (pip install gguf)") from None
    reader = gguf.GGUFReader(str(path))
    meta = {}
    for key, value in reader.fields.items():
        if key.startswith("llama.") or key in ("general.architecture",):
            meta[key] = value.contents()
    tensors = {t.name: gguf.quants.dequantize(t.data, t.tensor_type) for t in reader.tensors}
    return meta, tensors


def _inverse_frequencies(base: float, head_dim: int) -> np.ndarray:
    """The rotary frequencies ``base ** (−2i / head_dim)``, with ``exactmath`` (numpy's own
    ``pow`` rounds the last bit differently from one release to the next; the digest caught
    that)."""
    exponent = -2.0 * np.arange(head_dim // 2, dtype=np.float64) / head_dim
    return exactmath.exp2(exponent * exactmath.log2(np.float64(base)))


def convert(path: Path) -> dict[str, np.ndarray]:
    """The GGUF at ``path`` as named integer arrays and scales (what the cache holds)."""
    meta, tensors = _read_gguf(path)
    if meta.get("general.architecture") != "llama":
        raise ModelError(f"{path}: not a Llama-architecture GGUF")
    arrays: dict[str, np.ndarray] = {
        "shape": np.array([meta["llama.embedding_length"], meta["llama.attention.head_count"],
                           meta["llama.attention.head_count_kv"], meta["llama.feed_forward_length"],
                           meta["llama.block_count"]], dtype=np.int64),
        "inverse_frequencies": _inverse_frequencies(float(meta["llama.rope.freq_base"]),
                                                    meta["llama.embedding_length"] // meta["llama.attention.head_count"]),
        "norm_eps": np.array([meta["llama.attention.layer_norm_rms_epsilon"]], dtype=np.float64),
    }
    arrays["embedding"], arrays["embedding_scale"] = _requantize(tensors["token_embd.weight"], WEIGHT_LEVELS)
    arrays["norm"] = tensors["output_norm.weight"].astype(np.float64)
    for i in range(int(meta["llama.block_count"])):
        t = {name[len(f"blk.{i}."):]: value for name, value in tensors.items() if name.startswith(f"blk.{i}.")}
        qkv = np.concatenate([t["attn_q.weight"], t["attn_k.weight"], t["attn_v.weight"]])
        gate_up = np.concatenate([t["ffn_gate.weight"], t["ffn_up.weight"]])
        for name, w, levels in (("qkv", qkv, WEIGHT_LEVELS), ("output", t["attn_output.weight"], WEIGHT_LEVELS),
                                ("gate_up", gate_up, WEIGHT_LEVELS), ("down", t["ffn_down.weight"], WEIGHT_LEVELS)):
            arrays[f"{i}.{name}"], arrays[f"{i}.{name}_scale"] = _requantize(w, levels)
        arrays[f"{i}.attn_norm"] = t["attn_norm.weight"].astype(np.float64)
        arrays[f"{i}.ffn_norm"] = t["ffn_norm.weight"].astype(np.float64)
    return arrays


def digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the arrays' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_arrays(gguf_path: Path, cache_path: Path, expected: str = "") -> dict[str, np.ndarray]:
    """The integer weights, from the cache when it holds the expected digest, else converted
    (and cached).  ``expected``: the registry's digest; a conversion that differs is refused."""
    if cache_path.is_file():
        try:
            with np.load(cache_path) as f:
                arrays = {name: f[name] for name in f.files}
            if int(arrays.pop("cache_version", [0])[0]) == CACHE_VERSION and (not expected or digest(arrays) == expected):
                return arrays
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring the text model cache %s (%s)", cache_path, e)
    log.info("converting %s to integer weights (once)", gguf_path)
    arrays = convert(gguf_path)
    found = digest(arrays)
    if expected and found != expected:
        raise ModelError(f"the integer weights derived from {gguf_path} hash to {found}, not the registry's "
                         f"{expected}: this machine's arithmetic differs, so it cannot code text with this model")
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_path.with_name(cache_path.name + ".tmp.npz")
        np.savez(temporary, cache_version=np.array([CACHE_VERSION]), **arrays)
        temporary.replace(cache_path)
    except OSError as e:
        log.warning("could not cache the integer weights at %s (%s); converting again next start", cache_path, e)
    return arrays


def build(arrays: dict[str, np.ndarray]) -> ExactLM:
    """The model from its integer arrays."""
    width, heads, kv_heads, hidden, blocks = (int(v) for v in arrays["shape"])

    def matrix(name: str) -> Quantized:
        return Quantized(arrays[name], arrays[f"{name}_scale"])

    shape = Shape(width, heads, kv_heads, width // heads, hidden, float(arrays["norm_eps"][0]))
    layers = [Layer(arrays[f"{i}.attn_norm"], matrix(f"{i}.qkv"), matrix(f"{i}.output"), arrays[f"{i}.ffn_norm"],
                    matrix(f"{i}.gate_up"), matrix(f"{i}.down")) for i in range(blocks)]
    return ExactLM(shape, matrix("embedding"), layers, arrays["norm"], arrays["inverse_frequencies"])


def load_text_model(registry: Registry, name: str) -> NeuralTextModel:
    """The registry's neural text model ``name``, verified, with its integer weights derived
    once into the cache and checked against the registry's digest."""
    model = registry.resolve(name)
    entry = model.entry
    if entry.role != "text-nn":
        raise ModelError(f"model '{name}' is a {entry.role} model, not a neural text model "
                         f"(choose one of: {', '.join(registry.names('text-nn'))})")
    gguf_path = model.file(entry.files[0].path)
    cache = registry.cache_dir / "models" / entry.name / "integer-weights.npz"
    lm = build(load_arrays(gguf_path, cache, entry.digest))
    return NeuralTextModel(lm, Tokenizer.from_gguf(str(gguf_path)))
