"""Shared fixtures: the real models, loaded once per test session, and the shipped samples."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telephrase.config import Config, replace
from telephrase.pipeline import Engines

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tools" / "samples"


def read_samples() -> list[dict]:
    with open(SAMPLES / "manifest.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stations started by tests (and their subprocesses) keep counters, replay windows and
    message logs here, never in the user's own state directory."""
    path = tmp_path_factory.mktemp("state")
    os.environ["XDG_STATE_HOME"] = str(path)
    os.environ.pop("STATE_DIRECTORY", None)
    return path


@pytest.fixture(scope="session")
def samples() -> list[dict]:
    return read_samples()


@pytest.fixture(scope="session")
def engines() -> Engines:
    """Whisper base (int8, beam 5) and the joe voice, as the product ships them."""
    e = Engines(Config())
    e.transcriber, e.synthesizer
    return e


@pytest.fixture(scope="session")
def tiny_engines(engines: Engines) -> Engines:
    """Whisper tiny.en for the tests that only need a working recogniser, fast."""
    e = Engines(replace(Config(), stt={"model": "whisper-tiny.en", "beam_size": 1}))
    e.synthesizer = engines.synthesizer
    return e


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed ``telephrase`` command the way a user does."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "telephrase", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="session")
def neural(engines: Engines):
    """The neural text model (SmolLM2-135M on integer weights), loaded once."""
    return engines.neural_text
