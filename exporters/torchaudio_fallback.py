"""A stand-in for torchaudio where its compiled library does not match the torch build.

torchcrepe and transformers import torchaudio when it is installed, only for audio-file
helpers the exporters never call (they read audio with ``telephrase.audio.files``).  The torchaudio
that pip pairs with the CPU build of torch 2.13 fails to load its library (OSError); without
a stand-in neither package would import at all.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import sys
import types

from .errors import ExportError

log = logging.getLogger(__name__)


def _unusable(*_args, **_kwargs):
    raise ExportError("torchaudio is not usable with this torch build; read audio with telephrase.audio.files")


def ensure_torchaudio() -> None:
    """Import torchaudio, or put a stand-in in its place whose functions raise ``ExportError``.

    The stand-in has a module spec, since transformers asks importlib for torchaudio's before
    importing it."""
    if "torchaudio" in sys.modules:
        return
    try:
        importlib.import_module("torchaudio")
    except ImportError:
        return
    except OSError as e:
        log.info("torchaudio does not load (%s); using a stand-in without its file functions", e)
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        stand_in = types.ModuleType("torchaudio")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        stand_in.load = _unusable
        sys.modules["torchaudio"] = stand_in
