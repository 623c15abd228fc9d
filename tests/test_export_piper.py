"""The Piper exporters: a training checkpoint to a voice the daemon loads, and the duration edit.

No real training checkpoint can be fetched here, so a tiny randomly initialised SynthesizerTrn
stands in, saved the way lightning saves one; the duration edit is tested on the joe voice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from exporters import cli  # noqa: E402
from exporters.piper_durations import VERIFY_PHONEMES  # noqa: E402
from telephrase.config import ModelsConfig, TtsConfig  # noqa: E402
from telephrase.registry import Registry  # noqa: E402
from telephrase.speech.synthesize import DURATION_SCALES, DURATIONS  # noqa: E402

TINY = dict(
    num_symbols=256, num_speakers=1, sample_rate=22050, hop_length=16, filter_length=64, win_length=64,
    segment_size=1024, inter_channels=16, hidden_channels=16, filter_channels=32, n_heads=2, n_layers=1,
    kernel_size=3, p_dropout=0.1, resblock="2", resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 2),),
    upsample_rates="(4, 4)", upsample_initial_channel=32, upsample_kernel_sizes=(8, 8), gin_channels=0,
    use_sdp=True, learning_rate=2e-4, dataset=None,
)
"""A voice of 16-channel layers and a 16-sample hop; one upsampling list as a string, as
piper's CLI stores it."""


@pytest.fixture(scope="module")
def joe() -> Path:
    model = Registry().resolve("piper-joe-medium")
    return model.file(next(f.path for f in model.entry.files if f.path.endswith(".onnx")))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, joe: Path) -> tuple[Path, Path]:
    """A checkpoint as lightning writes it (generator under model_g., the discriminator and
    training state beside it) and a config.json as piper's preprocessing writes it."""
    from piper.train.vits.models import SynthesizerTrn

    torch.manual_seed(0)
    model_g = SynthesizerTrn(
        n_vocab=TINY["num_symbols"], spec_channels=TINY["filter_length"] // 2 + 1,
        segment_size=TINY["segment_size"] // TINY["hop_length"], inter_channels=TINY["inter_channels"],
        hidden_channels=TINY["hidden_channels"], filter_channels=TINY["filter_channels"], n_heads=TINY["n_heads"],
        n_layers=TINY["n_layers"], kernel_size=TINY["kernel_size"], p_dropout=TINY["p_dropout"],
        resblock=TINY["resblock"], resblock_kernel_sizes=TINY["resblock_kernel_sizes"],
        resblock_dilation_sizes=TINY["resblock_dilation_sizes"], upsample_rates=(4, 4),
        upsample_initial_channel=TINY["upsample_initial_channel"], upsample_kernel_sizes=TINY["upsample_kernel_sizes"],
    )
    state = {f"model_g.{k}": v for k, v in model_g.state_dict().items()}
    state["model_d.discriminators.0.convs.0.bias"] = torch.zeros(16)
    folder = tmp_path_factory.mktemp("tiny")
    ckpt = folder / "epoch=0-step=1.ckpt"
    torch.save({"epoch": 0, "global_step": 1, "pytorch-lightning_version": "2.5.0", "state_dict": state,
                "hyper_parameters": TINY, "optimizer_states": [], "lr_schedulers": []}, ckpt)
    config = json.loads(joe.with_name(joe.name + ".json").read_text())
    config.update(hop_length=TINY["hop_length"], dataset="tiny")
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config, ensure_ascii=False))
    return ckpt, config_path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    (folder / "registry.toml").write_text("# test registry\n")
    return folder


@pytest.fixture(scope="module")
def exported(tiny_checkpoint: tuple[Path, Path], models_dir: Path) -> tuple[int, str]:
    ckpt, config = tiny_checkpoint
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["piper", str(ckpt), "--config", str(config), "--name", "tiny-voice",
                       "--registry", str(models_dir / "registry.toml")])
    return rc, out.getvalue()


def test_export_verifies_against_torch(exported: tuple[int, str], models_dir: Path) -> None:
    rc, out = exported
    assert rc == 0, out
    assert "largest audio difference onnxruntime vs PyTorch" in out
    graph = onnx.load(str(models_dir / "tiny-voice" / "tiny-voice.onnx"))
    assert [i.name for i in graph.graph.input] == ["input", "input_lengths", "scales"]
    assert [o.name for o in graph.graph.output] == ["output"]
    assert graph.opset_import[0].version == 15
    entry = (models_dir / "registry.toml").read_text()
    assert 'name = "tiny-voice"' in entry and 'kind = "piper-onnx"' in entry and 'role = "tts"' in entry


def test_daemon_speaks_with_the_exported_voice(exported: tuple[int, str], models_dir: Path) -> None:
    from telephrase.speech.synthesize import Synthesizer, Utterance

    assert exported[0] == 0
    registry = Registry(ModelsConfig(registry=str(models_dir / "registry.toml"), cache_dir=str(models_dir / "cache")))
    voice = Synthesizer(TtsConfig(voice="tiny-voice", threads=1), registry)
    audio = voice.speak([Utterance("hello")])
    assert voice.rate == 22050
    assert len(audio) > 0 and np.all(np.isfinite(audio))


def test_mismatched_config_is_refused(tiny_checkpoint: tuple[Path, Path], models_dir: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    ckpt, config = tiny_checkpoint
    wrong = models_dir / "wrong.json"
    wrong.write_text(json.dumps({**json.loads(config.read_text()), "hop_length": 256}))
    rc = cli.main(["piper", str(ckpt), "--config", str(wrong), "--name", "wrong",
                   "--registry", str(models_dir / "registry.toml")])
    assert rc == 2
    assert "hop_length" in capsys.readouterr().err


@pytest.fixture(scope="module")
def durations_voice(joe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("durations")
    registry = folder / "registry.toml"
    registry.write_text("")
    assert cli.main(["piper-durations", str(joe), "--name", "joe-durations", "--registry", str(registry)]) == 0
    return folder / "joe-durations" / "joe-durations.onnx"


@pytest.fixture(scope="module")
def sessions(joe: Path, durations_voice: Path) -> tuple[onnxruntime.InferenceSession, onnxruntime.InferenceSession]:
    """The joe voice with piper's alignment output, and its duration-controlled variant."""
    from piper.patch_voice_with_alignment import add_alignment_output

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3
    graph = onnx.load(str(joe))
    add_alignment_output(graph)
    original = onnxruntime.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    controlled = onnxruntime.InferenceSession(str(durations_voice), options, providers=["CPUExecutionProvider"])
    return original, controlled


@pytest.fixture(scope="module")
def feeds(joe: Path) -> dict[str, np.ndarray]:
    from piper.phoneme_ids import phonemes_to_ids

    id_map = json.loads(joe.with_name(joe.name + ".json").read_text())["phoneme_id_map"]
    ids = phonemes_to_ids([p for p in VERIFY_PHONEMES[:30] if p in id_map], id_map)
    return {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}


def test_neutral_durations_render_the_original(sessions, feeds) -> None:
    original, controlled = sessions
    audio, alignment = original.run(None, feeds)
    same, durations = controlled.run(None, feeds)
    assert same.shape == audio.shape and np.array_equal(same, audio)
    assert np.array_equal(durations.reshape(-1), alignment.reshape(-1))


def test_doubled_durations_double_the_length(sessions, feeds) -> None:
    original, controlled = sessions
    audio, _ = original.run(None, feeds)
    doubled, _ = controlled.run(None, {**feeds, DURATION_SCALES: np.full(feeds["input"].shape, 2.0, np.float32)})
    assert doubled.shape[-1] / audio.shape[-1] == pytest.approx(2.0, rel=0.1)


def test_per_phoneme_frames_are_exact(sessions, feeds) -> None:
    """Feeding (n - 0.25) / f gives an id of f frames exactly n, which the receiver relies on."""
    _, controlled = sessions
    _, natural = controlled.run(None, feeds)
    rng = np.random.default_rng(1)
    wanted = rng.integers(1, 12, size=natural.shape).astype(np.float32)
    _, got = controlled.run(None, {**feeds, DURATION_SCALES: (wanted - 0.25) / natural})
    assert np.array_equal(got, wanted)
    assert [o.name for o in controlled.get_outputs()] == ["output", DURATIONS]


def test_durations_build_is_byte_for_byte_repeatable(joe: Path, durations_voice: Path, tmp_path: Path) -> None:
    registry = tmp_path / "registry.toml"
    shutil.copyfile(durations_voice.parent.parent / "registry.toml", registry)
    (tmp_path / "joe-durations").mkdir()
    assert cli.main(["piper-durations", str(joe), "--name", "joe-durations", "--registry", str(registry),
                     "--match-registry"]) == 0
    assert (tmp_path / "joe-durations" / "joe-durations.onnx").read_bytes() == durations_voice.read_bytes()
