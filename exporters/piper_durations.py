"""Give a Piper voice per-phoneme duration control: an ONNX graph edit, no retraining.

VITS predicts how many frames each phoneme id lasts (w), rounds them up (Ceil: w_ceil) and
expands the phonemes by those counts before the flow and the vocoder.  This edit adds

  input  duration_scales  float [batch, phonemes]: an id gets ceil(w_ceil × scale) frames
                          instead of w_ceil; optional, its default [[1.0]] broadcasts
                          (an initializer that is also a graph input), so a caller that
                          does not feed it gets the voice's own timing, sample for sample;
  output durations        float [batch, phonemes]: the frames each id got, what piper's
                          add_alignment_output exposes (w_ceil) when the scales are 1; times
                          the config's hop_length it is samples, so PiperVoice's alignments
                          work as before.

The scale multiplies the rounded frames and is rounded again, rather than multiplying w
before the Ceil as length_scale does: that rounds every id up once more, so doubling made
the check sentence only 1.71x as long, and no caller could ask for a number of frames.  This
way doubling doubles exactly, and a caller that wants n frames for an id with f feeds
(n - 0.25) / f and gets n.

The receiver uses it to give each word the sender's length inside the vocoder, instead of
rendering at another length_scale and time-stretching the audio afterwards.

No torch: onnx for the edit, onnxruntime and piper's helpers for the checks, all in the base
install, as set-up builds the joe voice's variant on a box without the export extra.  The
output is the same bytes on every run, so the registry's sha256 for it can be committed.
Verification, with the noise scales at 0: the neutral control renders exactly the original
voice's samples and its durations output equals piper's alignment output; doubled durations
render twice as long.

Example:
  telephrase-export piper-durations piper-joe-medium --name piper-joe-medium-durations
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from telephrase.speech.synthesize import DURATION_SCALES, DURATIONS

from .errors import ExportError
from .registry_entry import ExportedModel, default_registry, sha256_file, write_entry
from .steps import Steps

log = logging.getLogger(__name__)

HELP = "add per-phoneme duration control to a Piper ONNX voice (graph edit, no torch)"

VERIFY_PHONEMES = "ðə nˈɔːɹθ wˈɪnd ænd ðə sˈʌn wɜː dɪspjˈuːtɪŋ wˈɪtʃ wʌz ðə stɹˈɔŋɡɚ."
"""A sentence of the voice's phonemes (espeak IPA) for the checks."""
DOUBLED_TOLERANCE = 0.01
"""Doubled durations must give 2x the length within this share (the frames double exactly;
the audio is frames × hop_length)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("voice", nargs="?", default="piper-joe-medium",
                        help="registry name of a Piper voice, or its .onnx file (with the .onnx.json "
                             "beside it); default piper-joe-medium")
    parser.add_argument("--name", required=True, help="registry name of the new voice, and its file names")
    parser.add_argument("--output-dir", type=Path,
                        help="folder for the files, under the registry's folder (default: models/NAME)")
    parser.add_argument("--registry", type=Path, help="registry.toml to read VOICE from and write the entry "
                        "into (default: the checkout's models/registry.toml)")
    parser.add_argument("--match-registry", action="store_true",
                        help="leave the registry as it is and require the files to match its entry for "
                             "NAME; skip the build when they already do (what set-up runs)")


@dataclass(frozen=True)
class Check:
    """What verification measured."""

    neutral_difference: float
    """Largest sample difference, neutral control vs the original voice (0 when exact)."""
    doubled_ratio: float
    """Length with every duration doubled over the original length."""
    alignment_equal: bool
    """The durations output equals the original's w_ceil (piper's alignment output)."""


def run(args: argparse.Namespace) -> int:
    import onnx

    registry = args.registry or default_registry()
    output_dir = args.output_dir or registry.parent / args.name
    onnx_path = output_dir / f"{args.name}.onnx"
    config_path = onnx_path.with_name(onnx_path.name + ".json")
    if args.match_registry and _matches_entry(registry, args.name, [onnx_path, config_path]):
        print(f"{onnx_path} is up to date (matches {registry})")
        return 0
    source = _source(args.voice, registry)
    steps = Steps(3)
    tmp = onnx_path.with_name(onnx_path.name + ".tmp")
    with steps(f"adding duration control to {source.onnx.name}"):
        model = onnx.load(str(source.onnx))
        ceil = add_duration_control(model)
        output_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(model.SerializeToString())
        del model
        shutil.copyfile(source.config, config_path)
    log.debug("duration scales applied to the frames of %s", ceil)
    try:
        with steps("checking it against the original (noise scales 0)"):
            check = verify(source.onnx, tmp, config_path)
        print(f"neutral control vs original: largest sample difference {check.neutral_difference:.1e}; "
              f"durations output {'equals' if check.alignment_equal else 'DIFFERS from'} the alignment; "
              f"doubled durations: {check.doubled_ratio:.3f}x the length")
        if check.neutral_difference != 0.0 or not check.alignment_equal:
            raise ExportError(f"the edited {source.onnx.name} does not render the original voice when durations "
                              "are not scaled (fix: report it with the voice)")
        if abs(check.doubled_ratio - 2.0) > 2.0 * DOUBLED_TOLERANCE:
            raise ExportError(f"doubled durations made the edited {source.onnx.name} {check.doubled_ratio:.2f}x "
                              "as long, not about 2x (fix: report it with the voice)")
        tmp.replace(onnx_path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{onnx_path}: sha256 {sha256_file(onnx_path)}")
    with steps(f"{'checking' if args.match_registry else 'writing'} the registry entry in {registry}"):
        if args.match_registry:
            if not _matches_entry(registry, args.name, [onnx_path, config_path]):
                raise ExportError(f"{onnx_path} was built but does not match the entry for {args.name} in "
                                  f"{registry} (an onnx version that serialises differently?) (fix: run "
                                  "without --match-registry to write the entry, and commit it)")
        else:
            write_entry(ExportedModel(
                name=args.name, role="tts", kind="piper-onnx",
                description=f"{source.label} with per-phoneme duration control (input {DURATION_SCALES}, output "
                            f"{DURATIONS}), so the receiver sets each word's length in the vocoder",
                license=source.license,
                origin=f"{source.origin}; graph edited by telephrase-export piper-durations",
                directory=output_dir,
                files=[onnx_path.name, config_path.name],
            ), registry)
    return 0


def add_duration_control(model) -> str:
    """Edit ``model`` in place; returns the name of the Ceil whose frames are scaled."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if any(i.name == DURATION_SCALES for i in graph.input):
        raise ExportError(f"the voice already has a {DURATION_SCALES} input (it is a duration voice)")
    ceils = [n for n in graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        raise ExportError(f"expected one Ceil (the rounded phoneme durations) in the voice, found {len(ceils)}; "
                          "is it a Piper VITS voice?")
    ceil = ceils[0]
    rounded = ceil.output[0]
    prefix = f"/{DURATION_SCALES}"
    axes, scales_3d, scaled, frames = (f"{prefix}/axes", f"{prefix}/Unsqueeze_output_0", f"{prefix}/Mul_output_0",
                                       f"{prefix}/Ceil_output_0")
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == rounded:
                node.input[k] = frames
    graph.input.append(helper.make_tensor_value_info(DURATION_SCALES, TensorProto.FLOAT, ["batch_size", "phonemes"]))
    graph.initializer.extend([
        numpy_helper.from_array(np.ones((1, 1), dtype=np.float32), DURATION_SCALES),
        numpy_helper.from_array(np.array([1], dtype=np.int64), axes),
    ])
    position = list(graph.node).index(ceil) + 1
    new_nodes = [
        helper.make_node("Unsqueeze", [DURATION_SCALES, axes], [scales_3d], name=f"{prefix}/Unsqueeze"),
        helper.make_node("Mul", [rounded, scales_3d], [scaled], name=f"{prefix}/Mul"),
        helper.make_node("Ceil", [scaled], [frames], name=f"{prefix}/Ceil"),
    ]
    for offset, node in enumerate(new_nodes):
        graph.node.insert(position + offset, node)
    graph.node.append(helper.make_node("Squeeze", [frames, axes], [DURATIONS], name=f"/{DURATIONS}/Squeeze"))
    graph.output.append(helper.make_tensor_value_info(DURATIONS, TensorProto.FLOAT, ["batch_size", "phonemes"]))
    return ceil.name


def verify(original: Path, controlled: Path, config_path: Path) -> Check:
    """Render the check sentence with both voices; see ``Check``."""
    import onnx
    import onnxruntime
    from piper.patch_voice_with_alignment import add_alignment_output
    from piper.phoneme_ids import phonemes_to_ids

    with open(config_path, encoding="utf-8") as f:
        id_map = json.load(f)["phoneme_id_map"]
    ids = phonemes_to_ids([p for p in VERIFY_PHONEMES if p in id_map], id_map)
    feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
             "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3  # not the note that an overridable initializer is not folded
    graph = onnx.load(str(original))
    add_alignment_output(graph)
    reference = onnxruntime.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    del graph
    audio, alignment = reference.run(None, feeds)
    session = onnxruntime.InferenceSession(str(controlled), options, providers=["CPUExecutionProvider"])
    neutral, durations = session.run(None, feeds)
    doubled, _ = session.run(None, {**feeds, DURATION_SCALES: np.full((1, len(ids)), 2.0, dtype=np.float32)})
    if neutral.shape != audio.shape:
        difference = float("inf")
    else:
        difference = float(np.max(np.abs(neutral - audio)))
    return Check(difference, doubled.shape[-1] / audio.shape[-1],
                 bool(np.array_equal(durations.reshape(-1), alignment.reshape(-1))))


@dataclass(frozen=True)
class _Voice:
    onnx: Path
    config: Path
    label: str
    license: str
    origin: str


def _source(voice: str, registry: Path) -> _Voice:
    """The voice's files (verified when named through the registry) and its provenance."""
    if voice.endswith(".onnx"):
        path = Path(voice)
        label, license, origin = path.stem, "as the voice " + path.name, path.name
    else:
        from telephrase.config import ModelsConfig
        from telephrase.errors import TelephraseError
        from telephrase.registry import Registry

        try:
            model = Registry(ModelsConfig(registry=str(registry))).resolve(voice)
        except TelephraseError as e:
            raise ExportError(str(e)) from None
        if model.entry.role != "tts":
            raise ExportError(f"{voice} is a {model.entry.role} model, not a voice")
        path = model.file(next(f.path for f in model.entry.files if f.path.endswith(".onnx")))
        label, license, origin = voice, model.entry.license, model.entry.origin
    config = path.with_name(path.name + ".json")
    for p in (path, config):
        if not p.is_file():
            raise ExportError(f"{p} does not exist (a Piper voice is NAME.onnx with NAME.onnx.json beside it)")
    return _Voice(path, config, label, license, origin)


def _matches_entry(registry: Path, name: str, files: list[Path]) -> bool:
    """Whether ``registry`` has an entry ``name`` listing exactly ``files`` with their hashes."""
    from telephrase.registry import load_registry

    entry = load_registry(registry).get(name) if registry.is_file() else None
    if entry is None:
        return False
    expected = {f.path: f.sha256 for f in entry.files}
    if set(expected) != {p.name for p in files}:
        return False
    return all(p.is_file() and sha256_file(p) == expected[p.name] for p in files)
