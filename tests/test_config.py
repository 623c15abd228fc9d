import pytest

from telephrase.config import Config, load_config
from telephrase.errors import ConfigError


def test_defaults_without_a_file():
    config = load_config(None)
    assert config == Config()
    assert config.stt.model == "whisper-base" and config.link.mtu == 237


def test_toml_overrides_and_int_to_float(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[stt]\nmodel = "whisper-tiny.en"\nbeam_size = 1\n[codec]\nphrase_pause = 1\n')
    config = load_config(path)
    assert config.stt.model == "whisper-tiny.en" and config.stt.beam_size == 1
    assert config.codec.phrase_pause == 1.0 and config.tts == Config().tts


@pytest.mark.parametrize(
    "text, message",
    [
        ("[stt]\nbeam = 3\n", r"stt: unknown setting 'beam'"),
        ("[stt]\nbeam_size = 'five'\n", r"stt.beam_size: expected int"),
        ("[radio]\nx = 1\n", r"unknown setting 'radio'"),
        ("stt = 3\n", r"stt: expected a \[stt\] table"),
        ("[stt\n", r"t.toml"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="none.toml: no such file"):
        load_config(tmp_path / "none.toml")


def test_example_config_documents_every_default():
    import dataclasses
    import typing

    from conftest import ROOT
    from telephrase.config import tomllib

    path = ROOT / "packaging" / "telephrase.toml"
    assert load_config(path) == Config()
    data = tomllib.loads(path.read_text())
    for name, cls in typing.get_type_hints(Config).items():
        assert set(data[name]) == {f.name for f in dataclasses.fields(cls)}
