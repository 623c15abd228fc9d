# The two commands of the README:
#   make run   set up (system packages, venv, models) and send a bundled recording through
#              the whole path: speech -> text -> bytes -> frames -> bytes -> speech
#   make test  set up and run the test suite
VENV ?= .venv
SAMPLE ?= tools/samples/1998-15444-0001.flac
OUT ?= out/loopback.wav

.PHONY: run test setup bench clean

setup:
	@VENV=$(VENV) tools/setup.sh

run: setup
	$(VENV)/bin/telephrase loopback $(SAMPLE) -o $(OUT)

test: setup
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/telephrase bench --corpus $(or $(CORPUS),../shared/corpus/manifest.tsv) --json out/bench.json

clean:
	rm -rf out build *.egg-info
