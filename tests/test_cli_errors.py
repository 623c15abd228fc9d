"""Every bad option, setting and path of the file commands is one line on stderr that names
it and says what to use, exit status 2, no traceback, and nothing created or lost."""

from __future__ import annotations

import pytest

from conftest import SAMPLES, run_cli

SAMPLE = str(SAMPLES / "LJ001-0004.wav")


def one_line_error(result, *needles: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("telephrase: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("option, needles", [
    (["--beam-size", "0"], ["--beam-size: 0 is out of range", "use 1-64"]),
    (["--threads", "-1"], ["--threads: -1 is out of range", "0 for all cores"]),
    (["--language", "xx"], ["--language: unknown language 'xx'", "en, de"]),
    (["--languages", "en,zz"], ["--languages: unknown language(s) zz"]),
    (["--mtu", "5"], ["--mtu: 5 bytes is out of range", "at least 19 bytes"]),
    (["--mtu", "20", "--fec", "high"], ["with fec = high a frame needs at least 45 bytes"]),
    (["--erasure", "-1"], ["--erasure: -1.0 is out of range", "0.5 repairs"]),
])
def test_bad_options(tmp_path, option, needles):
    one_line_error(run_cli("encode", SAMPLE, "-o", str(tmp_path / "x.tph"), *option), *needles)
    assert not (tmp_path / "x.tph").exists()


@pytest.mark.parametrize("toml, needles", [
    ("[link]\nstation_id = 70000\n", ["link.station_id: 70000 is out of range", "0-65535"]),
    ("[stt]\nlanguages = \"en, zz, qq\"\n", ["stt.languages: unknown language(s) zz, qq"]),
    ("[stt]\nbeam_size = 0\n[link]\nerasure = 9.0\n", ["stt.beam_size: 0", "; link.erasure: 9.0"]),
    ("[link]\nreassembly_timeout = 0.0\n", ["link.reassembly_timeout"]),
])
def test_bad_settings_are_refused_when_the_config_is_loaded(tmp_path, toml, needles):
    config = tmp_path / "telephrase.toml"
    config.write_text(toml)
    for command in (["decode", str(config), "-o", str(tmp_path / "out.wav")], ["voices"], ["models"]):
        line = one_line_error(run_cli(*command, "--config", str(config)), *needles)
        assert str(config) in line


def test_a_config_that_is_not_utf8(tmp_path):
    config = tmp_path / "telephrase.toml"
    config.write_bytes(b"[link]\nmtu = 100\n# caf\xe9\n")
    one_line_error(run_cli("voices", "--config", str(config)), "not UTF-8 text (byte 22)")


def test_encode_to_a_folder_that_does_not_exist_fails_before_transcribing(tmp_path):
    result = run_cli("encode", SAMPLE, "-o", str(tmp_path / "nowhere" / "x.tph"), "-vv")
    one_line_error_in(result, f"folder {tmp_path / 'nowhere'} does not exist")
    assert "sending" not in result.stderr and "transcri" not in result.stderr.lower()


def one_line_error_in(result, needle: str) -> None:
    """With -vv other log lines come first: the error is still one line, and the last."""
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("telephrase: error: ") and needle in last, result.stderr


@pytest.fixture
def tph(tmp_path) -> str:
    path = tmp_path / "in.tph"
    path.write_bytes(b"not frames")
    return str(path)


def test_decode_into_a_folder(tmp_path, tph):
    (tmp_path / "out").mkdir()
    one_line_error(run_cli("decode", tph, "-o", str(tmp_path / "out")), "is a folder; give a file name",
                   str(tmp_path / "out" / "out.wav"))


def test_decode_never_creates_a_folder(tmp_path, tph):
    missing = tmp_path / "typo"
    one_line_error(run_cli("decode", tph, "-o", str(missing / "x.wav")), f"folder {missing} does not exist")
    assert not missing.exists()


@pytest.mark.parametrize("command, output", [("decode", "out.wav"), ("encode", "x.tph"), ("loopback", "out.wav")])
def test_a_folder_as_input_says_so(tmp_path, command, output):
    what = "a .tph file" if command == "decode" else "an audio file"
    one_line_error(run_cli(command, str(tmp_path), "-o", str(tmp_path / output)),
                   f"{tmp_path}: is a folder, not {what}")


@pytest.mark.parametrize("command", ["decode", "encode"])
def test_dev_null_as_input_says_what_it_is(tmp_path, command):
    one_line_error(run_cli(command, "/dev/null", "-o", str(tmp_path / "out")), "/dev/null: is a character device")


def test_a_missing_key_names_the_command_that_makes_one(tmp_path, tph):
    one_line_error(run_cli("decode", tph, "-o", str(tmp_path / "out.wav"), "--key", str(tmp_path / "none.key")),
                   "does not exist", "telephrase keygen FILE")


def test_decode_to_dev_null_is_allowed(tmp_path, tph):
    """Writing to a device is no folder: the run goes on (and here finds no message)."""
    one_line_error(run_cli("decode", tph, "-o", "/dev/null"), "no complete message", "0 undecodable payload(s)")
