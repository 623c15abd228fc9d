"""Registry entries written by the exporters: the daemon reads them, people's edits survive."""

import pytest

from exporters.registry_entry import ExportedModel, write_entry
from telephrase.config import ModelsConfig
from telephrase.registry import Registry, load_registry

HEAD = """# A registry someone keeps by hand.

[[model]]
name = "first"
role = "stt"
kind = "ct2-whisper"
packages = []
license = "MIT"

  [[model.files]]
  path = "a.bin"
  source = "first/a.bin"
  sha256 = "00"
"""
TAIL = """
# the last one, with a comment
[[model]]
name = "last"
role = "tts"
kind = "piper-onnx"
packages = []
license = "MIT"

  [[model.files]]
  path = "b.onnx"
  source = "last/b.onnx"
  sha256 = "11"
"""


def model(folder, name="mine", content=b"weights"):
    (folder / name).mkdir(exist_ok=True)
    (folder / name / "model.onnx").write_bytes(content)
    return ExportedModel(name=name, role="pitch", kind="crepe-onnx", description='a "quoted" word',
                         license="MIT", origin="a test", directory=folder / name, files=["model.onnx"])


def test_appended_entry_loads_and_verifies(tmp_path):
    registry = tmp_path / "registry.toml"
    registry.write_text(HEAD)
    write_entry(model(tmp_path), registry)
    assert registry.read_text().startswith(HEAD)
    entries = load_registry(registry)
    assert list(entries) == ["first", "mine"] and entries["mine"].description == 'a "quoted" word'
    resolved = Registry(ModelsConfig(registry=str(registry), cache_dir=str(tmp_path / "cache"))).resolve("mine")
    assert resolved.file("model.onnx").read_bytes() == b"weights"


def test_rewriting_replaces_only_that_block(tmp_path):
    registry = tmp_path / "registry.toml"
    registry.write_text(HEAD)
    write_entry(model(tmp_path), registry)
    registry.write_text(registry.read_text() + TAIL)
    write_entry(model(tmp_path, content=b"new weights"), registry)
    text = registry.read_text()
    assert text.startswith(HEAD) and text.endswith(TAIL) and text.count('name = "mine"') == 1
    assert list(load_registry(registry)) == ["first", "mine", "last"]
    Registry(ModelsConfig(registry=str(registry), cache_dir=str(tmp_path / "cache"))).resolve("mine")


def test_files_outside_the_registry_folder_are_refused(tmp_path):
    (tmp_path / "reg").mkdir()
    with pytest.raises(ValueError, match="is not under"):
        write_entry(model(tmp_path), tmp_path / "reg" / "registry.toml")
