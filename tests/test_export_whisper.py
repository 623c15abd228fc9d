"""telephrase-export whisper: a Transformers Whisper checkpoint to the CTranslate2 model the daemon runs.

No real checkpoint can be fetched here, so a randomly initialised WhisperForConditionalGeneration
of the real architecture stands in: two narrow layers each side, the full multilingual
vocabulary, and the tokenizer of the installed whisper-base model.  Its transcripts are
garbage; the tests judge the export's agreement with Transformers and the daemon's use of it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
if importlib.util.find_spec("transformers") is None:
    pytest.skip("transformers is not installed (the export extra)", allow_module_level=True)

from conftest import ROOT, SAMPLES  # noqa: E402
from exporters import whisper_ct2  # noqa: E402
from exporters.cli import main  # noqa: E402
from telephrase.audio.files import read_audio  # noqa: E402
from telephrase.config import ModelsConfig, SttConfig  # noqa: E402
from telephrase.registry import Registry, load_registry  # noqa: E402
from telephrase.speech.transcribe import Transcriber  # noqa: E402

SAMPLE = SAMPLES / "1998-15444-0001.flac"
NAME = "whisper-test"
FILES = ["config.json", "model.bin", "preprocessor_config.json", "tokenizer.json", "vocabulary.json"]


def build_checkpoint(folder: Path) -> None:
    """A tiny Whisper saved as save_pretrained saves a real one, generation config included,
    which generate needs to know the language, task and timestamp tokens."""
    transformers = whisper_ct2.import_transformers()
    base = Registry().resolve("whisper-base")
    ct2_config = json.loads(base.file("config.json").read_text())
    tokenizer = transformers.WhisperTokenizerFast(tokenizer_file=str(base.file("tokenizer.json")))
    ids = tokenizer.convert_tokens_to_ids
    eot, sot = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    config = transformers.WhisperConfig(
        vocab_size=51865, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot, max_length=448,
        is_multilingual=True,
        lang_to_id={token: ids(token) for token in tokenizer.convert_ids_to_tokens(ct2_config["lang_ids"])},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"), prev_sot_token_id=ids("<|startofprev|>"),
        suppress_tokens=ct2_config["suppress_ids"], begin_suppress_tokens=ct2_config["suppress_ids_begin"],
        alignment_heads=[[1, 0], [1, 1]],
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)


def export(*argv: str) -> tuple[int, str, str]:
    """``telephrase-export whisper ARGV`` with torch on one thread: exit code, stdout, stderr.

    On the shared 2-core test machines torch's second thread spins while it waits for a core:
    one torch.isin in generate's token suppression took 0.45 s with two threads and 2.6 ms
    with one.  Each export's CTranslate2 run sets the OpenMP thread count it shares with torch
    back to the number of cores, hence the setting before every export.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["whisper", *argv])
    finally:
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoint")
    build_checkpoint(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A copy of the registry (silero-vad included, which the Transcriber needs) to export into."""
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(ROOT / "models" / "registry.toml", folder / "registry.toml")
    return folder


@pytest.fixture(scope="module")
def exported(checkpoint: Path, models: Path) -> tuple[int, str, str]:
    return export(str(checkpoint), "--name", NAME, "--registry", str(models / "registry.toml"))


def test_export_verifies_and_registers(exported, models):
    code, out, err = exported
    assert code == 0, err
    assert "[5/5] writing the registry entry" in err
    assert "CTranslate2 int8_float32 on cpu against Transformers float32" in out
    error = float(out.split("encoder: relative error ")[1].split()[0])
    assert error <= whisper_ct2.ENCODER_TOLERANCE["int8"]
    assert "tokens from Transformers" in out and "model.bin sha256" in out
    entry = load_registry(models / "registry.toml")[NAME]
    assert (entry.role, entry.kind, entry.license, entry.packages) == ("stt", "ct2-whisper", "MIT", ())
    assert sorted(f.path for f in entry.files) == FILES
    assert "whisper-base" in load_registry(models / "registry.toml")


def test_the_daemon_loads_it_by_name_and_transcribes(exported, models):
    registry = Registry(ModelsConfig(registry=str(models / "registry.toml"), cache_dir=str(models / "cache")))
    assert registry.resolve(NAME).directory == models / NAME
    transcriber = Transcriber(SttConfig(model=NAME, device="cpu", beam_size=1, threads=1), registry)
    audio = read_audio(SAMPLE)
    transcript = transcriber.transcribe(audio)
    assert transcript.language == "en"
    assert transcript.seconds == pytest.approx(len(audio) / 16000)
    assert all(isinstance(w.text, str) and 0 <= w.start <= w.end for w in transcript.words)


def test_float32_decodes_identically_and_force_replaces_the_entry(exported, checkpoint, models):
    registry = models / "registry.toml"
    code, _, err = export(str(checkpoint), "--name", NAME, "--registry", str(registry), "--quantization", "float32")
    assert code == 2
    assert err.strip().splitlines()[-1].endswith("(fix: --force to replace it, or another --name)")
    code, out, err = export(str(checkpoint), "--name", NAME, "--registry", str(registry),
                            "--quantization", "float32", "--force", "--origin", "a tiny random Whisper")
    assert code == 0, err
    assert "CTranslate2 float32 on cpu" in out and ", identical (tolerance 0 %)" in out
    text = registry.read_text()
    assert text.count(f'name = "{NAME}"') == 1
    entry = load_registry(registry)[NAME]
    assert entry.description.endswith("CTranslate2 float32") and entry.origin == "a tiny random Whisper"


def test_an_export_beyond_tolerance_fails_without_an_entry(checkpoint, models, monkeypatch):
    monkeypatch.setitem(whisper_ct2.ENCODER_TOLERANCE, "int8", 0.0)
    code, out, err = export(str(checkpoint), "--name", "whisper-strict", "--registry", str(models / "registry.toml"))
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(
        "telephrase-export whisper: the export disagrees with the checkpoint: the encoder output's relative error")
    assert "whisper-strict" not in load_registry(models / "registry.toml")
    assert not (models / "whisper-strict").exists()


def test_a_missing_checkpoint_is_one_line(tmp_path):
    code, out, err = export(str(tmp_path / "none"), "--name", "x", "--registry", str(tmp_path / "registry.toml"))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"telephrase-export whisper: checkpoint folder {tmp_path / 'none'} not found (give the folder that "
        "save_pretrained wrote, holding config.json and the weights)"]


def test_an_output_folder_outside_the_registry_is_refused(checkpoint, tmp_path):
    code, _, err = export(str(checkpoint), "--name", "x", "--registry", str(tmp_path / "models" / "registry.toml"),
                          "--output-dir", str(tmp_path / "elsewhere"))
    assert code == 2 and "must be a folder inside" in err and len(err.strip().splitlines()) == 1


def test_help_works_without_torch(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["whisper", "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert "int8_float16" in help_text and "Example:" in help_text and "--quantization" in help_text
    check = ("import sys, exporters.whisper_ct2; "
             "sys.exit(any(m in sys.modules for m in ('torch', 'transformers', 'ctranslate2')))")
    assert subprocess.run([sys.executable, "-c", check], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("reference, hypothesis, rate", [
    ([1, 2, 3, 4], [1, 2, 3, 4], 0.0),
    ([1, 2, 3, 4], [1, 9, 3, 4], 0.25),
    ([1, 2, 3, 4], [2, 3, 4], 0.25),
    ([1, 2], [], 1.0),
    ([], [], 0.0),
])
def test_token_error_rate(reference, hypothesis, rate):
    assert whisper_ct2.token_error_rate(reference, hypothesis) == pytest.approx(rate)

