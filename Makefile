# The two commands of the README:
#   make run   set up (system packages, venv, models) and send a bundled recording through
#              the whole path: speech -> text -> bytes -> frames -> bytes -> speech
#   make test  set up and run the test suite
VENV ?= .venv
EXTRAS ?= test
SAMPLE ?= tools/samples/1998-15444-0001.flac
OUT ?= out/loopback.wav

.PHONY: run test setup bench clean deb

setup:
	@VENV=$(VENV) EXTRAS=$(EXTRAS) tools/setup.sh

run: setup
	$(VENV)/bin/telephrase loopback $(SAMPLE) -o $(OUT)

test: EXTRAS = test,export
test: setup
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/telephrase bench --corpus $(or $(CORPUS),../shared/corpus/manifest.tsv) --json out/bench.json

# dist/telephrase_<version>_<arch>.deb with dpkg-deb (packaging/README.md).
deb:
	packaging/build-deb.sh

clean:
	rm -rf out build *.egg-info
