"""``telephrase-export``: one subcommand per model family.

Each exporter module has ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``, and
imports torch only inside ``run``, so ``--help`` works without the export extra installed and
``piper-durations`` (onnx only) runs on a box without torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import ExportError

COMMANDS = {
    "whisper": "exporters.whisper_ct2",
    "crepe": "exporters.crepe_onnx",
    "piper": "exporters.piper_onnx",
    "piper-durations": "exporters.piper_durations",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="telephrase-export",
        description="Convert PyTorch checkpoints to the formats the telephrase daemon runs, verify "
                    "them against the original and write their model registry entries.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for command, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(command, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        modules[command] = module
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return modules[args.command].run(args) or 0
    except ExportError as e:
        print(f"telephrase-export {args.command}: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        print(f"telephrase-export {args.command}: {e.name} is not installed "
              "(fix: pip install -e '.[export]', or 'make setup-export')", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
