"""Does this machine compute the neural text model's frequencies to the last bit as others do?

Run as ``python -m telephrase.bench.lmcheck`` (under different ``OPENBLAS_NUM_THREADS``,
``OPENBLAS_CORETYPE`` or ``NPY_DISABLE_CPU_FEATURES``, or on another CPU): it feeds a fixed
text through the model at once (as a sender does) and token by token (as a receiver does),
hashes the integer frequency tables, and prints one JSON line with the digests and the BLAS
kernel in use.  Every run anywhere must print the same digests: ``REFERENCE`` is what the
development machine printed, and the test suite checks it.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from ..codec.neuraltext import NeuralTextModel

TEXT = " Then Moses was afraid, and said: surely the thing is known! Over to you, station two."
REFERENCE = "a4bfb8d951a68a00268db3e82b0b2e3be549079d9cff6d3d76d627a128086c1f"
"""sha256 of the tables for ``TEXT`` (both ways give the same), from the development machine."""


def tables(model: NeuralTextModel, text: str = TEXT, stepwise: bool = False) -> np.ndarray:
    """The frequency tables of every token of ``text`` after the priming prefix."""
    cache, last = model.start()
    tokens = [last, *model.tokenizer.encode(text)]
    if not stepwise:
        return model.lm.forward(tokens, cache)
    return np.concatenate([model.lm.forward([t], cache) for t in tokens])


def digest(table: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<i8").tobytes()).hexdigest()


def blas_info() -> dict:
    """The BLAS library and kernel numpy uses (threadpoolctl where installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    return next(({k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                 for i in threadpool_info() if i.get("user_api") == "blas"), {})


def main() -> int:
    from ..codec.lmweights import load_text_model
    from ..config import Config
    from ..registry import Registry

    config = Config()
    model = load_text_model(Registry(config.models), config.codec.neural_model)
    at_once, stepwise = digest(tables(model)), digest(tables(model, stepwise=True))
    print(json.dumps({"at_once": at_once, "stepwise": stepwise, "blas": blas_info(),
                      "matches_reference": at_once == stepwise == REFERENCE}))
    return 0 if at_once == stepwise else 1


if __name__ == "__main__":
    sys.exit(main())
