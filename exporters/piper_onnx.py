"""Export a Piper (VITS) training checkpoint to the ONNX voice the receiver runs.

Writes NAME.onnx and NAME.onnx.json (the training config.json given with --config, which
Piper needs next to the model: phoneme map, sample rate, espeak voice) into the output folder,
checks the export against the PyTorch model and writes the voice's registry entry (role tts,
kind piper-onnx), so the daemon loads it with [tts] voice = "NAME".

The graph is the one piper's own exporter (piper/train/export_onnx.py) makes: the same
forward wrapper around SynthesizerTrn.infer, the same input names (input, input_lengths,
scales, sid), output name, dynamic axes and opset 15, so the result is an ordinary Piper
voice.  Piper's exporter gets the generator through VitsModel.load_from_checkpoint, which
needs lightning, a training-only package telephrase does not install; a lightning checkpoint
is a plain torch pickle, so the generator is built here from its hyper_parameters as
VitsModel.__init__ builds it and gets the state_dict's model_g.* weights (a strict load:
a checkpoint of another architecture fails instead of exporting noise).

It uses torch's legacy TorchScript exporter (dynamo=False): the dynamo exporter stops on
VITS's data-dependent shapes (the output length is the sum of the predicted durations, and
the duration predictor's spline asserts on tensor values), which tracing records as ops.

Verification runs onnxruntime and PyTorch on the same phoneme ids with the noise scales at 0
(both deterministic) on a sentence of another length than the traced one, and fails when
the audio lengths differ or a sample differs by more than the tolerance.

Example:
  telephrase-export piper epoch=2164-step=1355540.ckpt --config config.json --name piper-amy-low
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import math
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExportError
from .registry_entry import ExportedModel, default_registry, write_entry
from .steps import Steps

log = logging.getLogger(__name__)

HELP = "Piper (VITS) training checkpoint (.ckpt) -> ONNX voice, verified, with its registry entry"

OPSET_VERSION = 15
"""As piper/train/export_onnx.py (which cannot be imported without lightning)."""
TOLERANCE = 1e-3
"""Largest allowed difference between onnxruntime's and PyTorch's audio samples (full scale
±1).  Both run float32: a randomly initialised generator of the medium voices' size differed
by 2.6e-8, the tests' tiny one by 3.7e-8 (kernels summing in another order); a wrong graph
differs by tenths.  The margin is for trained weights, whose activations are larger."""
VERIFY_PHONEMES = "ðɪs ɪz ɐ vˈɔɪs ɛkspˈɔːɹtɪd fɹʌm tˈɔːɹtʃ, ænd tʃˈɛkt."
"""Phonemes of the verification sentence: 107 ids, unlike the 50 random ones traced, so a
shape frozen at export time shows."""
ARCHITECTURE = (
    "num_symbols", "num_speakers", "hop_length", "filter_length", "segment_size", "inter_channels",
    "hidden_channels", "filter_channels", "n_heads", "n_layers", "kernel_size", "p_dropout",
    "resblock", "resblock_kernel_sizes", "resblock_dilation_sizes", "upsample_rates",
    "upsample_initial_channel", "upsample_kernel_sizes", "gin_channels", "use_sdp",
)
"""The hyper_parameters SynthesizerTrn is built from; lightning saves all of VitsModel's."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="lightning checkpoint of piper's training (.ckpt)")
    parser.add_argument("--config", type=Path, required=True,
                        help="the training's config.json (phoneme map, sample rate); becomes NAME.onnx.json")
    parser.add_argument("--name", required=True, help="registry name of the voice, and its file names")
    parser.add_argument("--output-dir", type=Path,
                        help="folder for the files, under the registry's folder (default: models/NAME)")
    parser.add_argument("--registry", type=Path, help="registry.toml to write the entry into "
                        "(default: the checkout's models/registry.toml)")
    parser.add_argument("--license", default="see the voice's training data",
                        help="license of the voice, for the registry entry")
    parser.add_argument("--description", help="one line for the registry entry")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="unpickle the checkpoint fully, running any code it names (needed when "
                             "its hyper_parameters hold objects other than plain values)")


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: F401  (first: without the export extra, cli says what to install)

    registry = args.registry or default_registry()
    output_dir = args.output_dir or registry.parent / args.name
    onnx_path = output_dir / f"{args.name}.onnx"
    steps = Steps(5)
    with steps(f"reading {args.checkpoint.name} and {args.config.name}"):
        checkpoint = _load_checkpoint(args.checkpoint, args.trust_checkpoint)
        voice_config = _read_config(args.config)
        hparams = _hyper_parameters(checkpoint, args.checkpoint)
        _check_config(hparams, voice_config, args.config)
    with steps("building the generator and loading its weights"):
        model_g = build_generator(hparams, checkpoint["state_dict"], args.checkpoint)
    with steps(f"exporting {onnx_path}"):
        output_dir.mkdir(parents=True, exist_ok=True)
        export(model_g, onnx_path)
        shutil.copyfile(args.config, onnx_path.with_name(onnx_path.name + ".json"))
    with steps("comparing onnxruntime with PyTorch (noise scales 0)"):
        ids = verification_ids(voice_config)
        difference = max_difference(model_g, onnx_path, ids)
    print(f"largest audio difference onnxruntime vs PyTorch: {difference:.2e} (tolerance {TOLERANCE:.0e}, "
          f"{len(ids)} phoneme ids)")
    if difference > TOLERANCE:
        raise ExportError(f"the exported voice differs from the checkpoint by {difference:.2e} "
                          f"(> {TOLERANCE:.0e}); {onnx_path} is not usable (fix: report it with the checkpoint)")
    with steps(f"writing the registry entry to {registry}"):
        write_entry(ExportedModel(
            name=args.name, role="tts", kind="piper-onnx",
            description=args.description or f"Piper VITS voice exported from {args.checkpoint.name}, "
                                            f"{voice_config['audio']['sample_rate']:,} Hz",
            license=args.license,
            origin=f"Piper training checkpoint {args.checkpoint.name} (telephrase-export piper)",
            directory=output_dir,
            files=[onnx_path.name, onnx_path.name + ".json"],
        ), registry)
    return 0


def _load_checkpoint(path: Path, trust: bool) -> dict[str, Any]:
    """The checkpoint dict, loaded without running pickled code unless the user trusts it."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except FileNotFoundError:
        raise ExportError(f"{path} does not exist") from None
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0]
        raise ExportError(f"{path} holds more than weights and plain values ({first}) "
                          "(fix: --trust-checkpoint if it comes from your own training)") from None
    except ModuleNotFoundError as e:
        raise ExportError(f"{path} pickles objects of '{e.name}', which is not installed "
                          f"(fix: pip install {e.name})") from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read the voice config {path}: {e}") from None


def _hyper_parameters(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """VitsModel's init arguments, with the string forms its CLI stores parsed as it does."""
    if "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise ExportError(f"{path} is not a lightning training checkpoint (no state_dict/hyper_parameters); "
                          "an .onnx voice needs no export")
    hparams = dict(checkpoint["hyper_parameters"])
    missing = [k for k in ARCHITECTURE if k not in hparams]
    if missing:
        raise ExportError(f"{path}: hyper_parameters lack {', '.join(missing)}; is it a piper VITS checkpoint?")
    for key in ("resblock_kernel_sizes", "resblock_dilation_sizes", "upsample_rates", "upsample_kernel_sizes"):
        if isinstance(hparams[key], str):
            hparams[key] = ast.literal_eval(hparams[key])
    if math.prod(hparams["upsample_rates"]) != hparams["hop_length"]:
        raise ExportError(f"{path}: upsample_rates {hparams['upsample_rates']} do not multiply to hop_length "
                          f"{hparams['hop_length']}; the checkpoint's hyper_parameters are inconsistent")
    if hparams["num_speakers"] > 1 and hparams["gin_channels"] <= 0:
        hparams["gin_channels"] = 512  # as VitsModel.__init__ for multi-speaker voices
    return hparams


def _check_config(hparams: dict[str, Any], config: dict[str, Any], path: Path) -> None:
    """The config must describe this checkpoint: Piper maps phonemes and times alignments by it."""
    pairs = [
        ("num_symbols", config.get("num_symbols"), hparams["num_symbols"]),
        ("num_speakers", config.get("num_speakers", 1), hparams["num_speakers"]),
        ("hop_length", config.get("hop_length", 256), hparams["hop_length"]),
    ]
    if "sample_rate" in hparams:
        pairs.append(("audio.sample_rate", config.get("audio", {}).get("sample_rate"), hparams["sample_rate"]))
    for key, in_config, in_checkpoint in pairs:
        if in_config != in_checkpoint:
            raise ExportError(f"{path} says {key} = {in_config}, the checkpoint {in_checkpoint} "
                              "(fix: give the config.json of this checkpoint's training)")
    if "phoneme_id_map" not in config:
        raise ExportError(f"{path} has no phoneme_id_map (fix: give the training's config.json)")


def build_generator(hparams: dict[str, Any], state_dict: dict[str, Any], path: Path):
    """SynthesizerTrn as VitsModel.__init__ builds it, with the checkpoint's weights, ready
    for inference (eval mode, weight norm folded into the weights as piper's export does)."""
    import torch
    from piper.train.vits.models import SynthesizerTrn

    with warnings.catch_warnings():
        # piper's training code builds with torch.nn.utils.weight_norm, whose checkpoint
        # layout (weight_g, weight_v) is what this loads; the deprecation is piper's to act on.
        warnings.simplefilter("ignore", FutureWarning)
        model_g = _synthesizer(SynthesizerTrn, hparams)
    weights = {k[len("model_g."):]: v for k, v in state_dict.items() if k.startswith("model_g.")}
    try:
        model_g.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise ExportError(f"{path}: the model_g weights do not fit the architecture in its "
                          f"hyper_parameters ({str(e).splitlines()[1].strip()})") from None
    model_g.eval()
    with torch.no_grad():
        model_g.dec.remove_weight_norm()
    return model_g


def _synthesizer(synthesizer_class, hparams: dict[str, Any]):
    """The arguments VitsModel.__init__ gives SynthesizerTrn."""
    return synthesizer_class(
        n_vocab=hparams["num_symbols"],
        spec_channels=hparams["filter_length"] // 2 + 1,
        segment_size=hparams["segment_size"] // hparams["hop_length"],
        inter_channels=hparams["inter_channels"],
        hidden_channels=hparams["hidden_channels"],
        filter_channels=hparams["filter_channels"],
        n_heads=hparams["n_heads"],
        n_layers=hparams["n_layers"],
        kernel_size=hparams["kernel_size"],
        p_dropout=hparams["p_dropout"],
        resblock=hparams["resblock"],
        resblock_kernel_sizes=hparams["resblock_kernel_sizes"],
        resblock_dilation_sizes=hparams["resblock_dilation_sizes"],
        upsample_rates=hparams["upsample_rates"],
        upsample_initial_channel=hparams["upsample_initial_channel"],
        upsample_kernel_sizes=hparams["upsample_kernel_sizes"],
        n_speakers=hparams["num_speakers"],
        gin_channels=hparams["gin_channels"],
        use_sdp=hparams["use_sdp"],
    )


def export(model_g, onnx_path: Path) -> None:
    """Trace ``model_g`` to ``onnx_path`` as piper/train/export_onnx.py does."""
    import torch

    def infer_forward(text, text_lengths, scales, sid=None):
        return model_g.infer(text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
                             noise_scale_w=scales[2], sid=sid)[0].unsqueeze(1)

    torch.manual_seed(1234)
    sequences = torch.randint(low=0, high=model_g.n_vocab, size=(1, 50), dtype=torch.long)
    sid = torch.LongTensor([0]) if model_g.n_speakers > 1 else None
    model_g.forward = infer_forward
    try:
        with warnings.catch_warnings():
            # The tracer's notes on Python branches over tensor values in attention and the
            # duration spline: the same as for piper's own export, and checked below.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model=model_g,
                args=(sequences, torch.LongTensor([sequences.size(1)]), torch.FloatTensor([0.667, 1.0, 0.8]), sid),
                f=str(onnx_path),
                opset_version=OPSET_VERSION,
                input_names=["input", "input_lengths", "scales", "sid"],
                output_names=["output"],
                dynamic_axes={
                    "input": {0: "batch_size", 1: "phonemes"},
                    "input_lengths": {0: "batch_size"},
                    "output": {0: "batch_size", 2: "time"},
                },
                dynamo=False,
            )
    finally:
        del model_g.forward


def verification_ids(voice_config: dict[str, Any]) -> list[int]:
    """Phoneme ids of the verification sentence, by the voice's own map."""
    from piper.phoneme_ids import phonemes_to_ids

    id_map = voice_config["phoneme_id_map"]
    return phonemes_to_ids([p for p in VERIFY_PHONEMES if p in id_map], id_map)


def max_difference(model_g, onnx_path: Path, ids: list[int]) -> float:
    """Largest absolute sample difference between onnxruntime and PyTorch, noise off."""
    import onnxruntime
    import torch

    text = np.array([ids], dtype=np.int64)
    feeds = {"input": text, "input_lengths": np.array([len(ids)], dtype=np.int64),
             "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}
    if model_g.n_speakers > 1:
        feeds["sid"] = np.array([0], dtype=np.int64)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    exported = session.run(None, feeds)[0].reshape(-1)
    with torch.no_grad():
        sid = torch.from_numpy(feeds["sid"]) if "sid" in feeds else None
        original = model_g.infer(torch.from_numpy(text), torch.from_numpy(feeds["input_lengths"]),
                                 sid=sid, noise_scale=0.0, length_scale=1.0, noise_scale_w=0.0)[0]
    original = original.numpy().reshape(-1)
    log.debug("verification audio: %d samples onnxruntime, %d PyTorch", len(exported), len(original))
    if len(exported) != len(original):
        raise ExportError(f"the exported voice renders {len(exported)} samples where the checkpoint renders "
                          f"{len(original)}; {onnx_path} is not usable (fix: report it with the checkpoint)")
    return float(np.max(np.abs(exported - original))) if len(original) else 0.0
