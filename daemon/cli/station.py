"""Running a station: ``daemon``, the ``devices`` it can use, and ``monitor`` of its messages."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import load_config

log = logging.getLogger("telephrase")

DEFAULT_CONFIG = "/etc/telephrase/telephrase.toml"


def cmd_daemon(args: argparse.Namespace) -> int:
    from ..station.service import install_signal_handlers, setup_logging
    from ..station.station import Station

    setup_logging(logging.WARNING - 10 * min(args.verbose + 1, 2))
    path = args.config
    if path == DEFAULT_CONFIG and not Path(path).exists():
        log.warning("%s does not exist: running on the built-in defaults (see packaging/telephrase.toml)", path)
        path = None
    config = load_config(path)
    signals = install_signal_handlers()
    return Station(config, config_path=path).run(signals)


def cmd_devices(args: argparse.Namespace) -> int:
    from ..audio.devices import format_devices, list_devices

    print(format_devices(list_devices()))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from ..station.messagelog import default_path, follow, format_entry

    path = Path(args.log) if args.log else Path(load_config(args.config).daemon.message_log or default_path())
    print(f"following {path} (Ctrl-C to stop)", file=sys.stderr)
    for entry in follow(path, from_start=args.all):
        print(format_entry(entry), flush=True)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daemon", help="run the station: microphone to radio, radio to speaker",
                       description="Transmit what the operator says while the push-to-talk key is down and speak "
                       "what the link brings, until SIGTERM; under systemd with Type=notify, watchdog and journald "
                       "logging. SIGHUP reloads the configuration.")
    p.add_argument("--config", metavar="TOML", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG}; "
                   "built-in defaults if it does not exist)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug log output")
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("devices", help="list the audio devices the station can use",
                       description="List PortAudio's capture and playback devices with their index, channels, "
                       "rate and host API; [audio] input and output take an index or (part of) a name.")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("monitor", help="print the station's messages as they are sent and received",
                       description="Follow the daemon's message log (JSON lines) like tail -F and print each "
                       "message: time, direction, station, text and bits.")
    p.add_argument("--log", metavar="FILE", help="message log (default: the configured or the service's)")
    p.add_argument("--all", action="store_true", help="start from the beginning of the log, not its end")
    p.add_argument("--config", metavar="TOML", help="configuration file naming the log")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_monitor)
