"""The systemd unit: what the daemon relies on is there, and systemd itself accepts the file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

UNIT = ROOT / "systemd" / "telephrase.service"
EXEC = "/usr/bin/telephrase"

# Groups of Debian's base-passwd, present on every Debian and Ubuntu system; a group missing on
# the machine makes systemd refuse to start the service (216/GROUP).
STATIC_GROUPS = {"adm", "audio", "cdrom", "dialout", "floppy", "plugdev", "video"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value, in order (a unit may repeat a key)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text())


def test_what_the_daemon_relies_on(unit):
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["Type"] == "notify"
    assert service["ExecStart"] == f"{EXEC} daemon --config /etc/telephrase/telephrase.toml"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert int(service["RestartSec"]) > 0
    assert int(service["WatchdogSec"]) == 30
    assert int(service["TimeoutStartSec"]) >= 300
    assert service["User"] == service["Group"] == "telephrase"
    assert service["StateDirectory"] == service["CacheDirectory"] == service["LogsDirectory"] == "telephrase"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_hardening_that_leaves_the_hardware_reachable(unit):
    service = {key: values[-1] for key, values in unit["Service"].items()}
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"),
                       ("ProtectControlGroups", "yes"), ("RestrictNamespaces", "yes"),
                       ("LockPersonality", "yes"), ("CapabilityBoundingSet", "")]:
        assert service.get(key) == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    # Sound cards, serial ports and the GPU must stay reachable; the unit's comments say why.
    for key in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock", "PrivateUsers",
                "MemoryDenyWriteExecute"):
        assert key not in service, key


def test_supplementary_groups_exist_on_every_system(unit):
    groups = set(unit["Service"]["SupplementaryGroups"][-1].split())
    assert {"audio", "dialout"} <= groups <= STATIC_GROUPS


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return path


def checkable_copy(tmp_path: Path) -> Path:
    """The unit as systemd-analyze can check it here: verify insists that ExecStart exists, so
    where telephrase is not installed this runs the Python interpreter instead."""
    text = UNIT.read_text()
    if not Path(EXEC).exists():
        text = text.replace(f"ExecStart={EXEC} ", f"ExecStart={sys.executable} ")
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    return copy


def test_systemd_analyze_verify_finds_nothing(tmp_path):
    result = subprocess.run([systemd_analyze(), "verify", str(checkable_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    # Only what concerns this unit: on a busy host verify may also mention other units.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_systemd_analyze_security_exposure_stays_low(tmp_path):
    analyze = systemd_analyze()
    version = subprocess.run([analyze, "--version"], capture_output=True, text=True).stdout
    if int(re.match(r"systemd (\d+)", version).group(1)) < 250:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or later")
    result = subprocess.run([analyze, "security", "--offline=yes", "--threshold=30", "--no-pager",
                             str(checkable_copy(tmp_path))], capture_output=True, text=True, timeout=60)
    overall = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert result.returncode == 0 and overall, result.stdout + result.stderr
    assert float(overall.group(1)) <= 3.0
