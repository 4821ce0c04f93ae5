# deskphone — the two commands a newcomer needs are `make run` and `make test`.
# Both set themselves up on a fresh Debian 12 with only git, make and python3: the Debian
# packages they need through tools/apt-need (as root or with sudo; otherwise it prints the
# apt-get line), the Python packages into .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ALSA_STAMP := $(VENV)/.installed-alsa
PYTEST_ARGS ?=
# What the tests drive besides Python (tests/support.py skips a test whose tool is missing,
# outside CI). `make test TEST_PACKAGES=` installs none of them.
# gcc, libasound2-dev and python3-dev build pyalsaaudio for the test that drives real ALSA.
TEST_PACKAGES ?= kamailio sip-tester linphone-cli tshark wireshark-common iproute2 tmux \
                 systemd util-linux gcc libc6-dev libasound2-dev python3-dev

.PHONY: run test test-packages lint bench fuzz demo clean image image-test flash

# Debian splits venv/ensurepip out of python3; a python3 that has them (pyenv, other
# distributions) needs nothing.
$(PY):
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
	    tools/apt-need "Debian's python3 makes no venv without it" python3-venv
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Re-install when the project's dependencies change. No C compiler needed: every dependency has
# a wheel; pyalsaaudio (real ALSA devices only) is the [alsa] extra the Pi image installs.
$(STAMP): firmware/pyproject.toml tools/pyproject.toml | $(PY)
	@echo "deskphone: installing the firmware and the test tools into $(VENV) with pip" >&2
	$(PY) -m pip install -q -e firmware -e 'tools[dev]'
	touch $(STAMP)

test-packages:
	@tools/apt-need --optional "the interop tests talk to Kamailio, SIPp, linphonec, tshark" \
	    $(TEST_PACKAGES)

# Built only where it can be: without a C compiler and the ALSA and Python headers the one
# ALSA test skips (and fails in CI, which has them).
$(ALSA_STAMP): $(STAMP) | test-packages
	@if command -v cc >/dev/null && [ -e /usr/include/alsa/asoundlib.h ] && $(PY) -c \
	    'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' \
	    2>/dev/null; then \
	    echo "deskphone: building pyalsaaudio into $(VENV) for the ALSA test" >&2; \
	    $(PY) -m pip install -q -e 'firmware[alsa]' && touch $@; \
	else \
	    echo "deskphone: no C compiler or ALSA/Python headers: pyalsaaudio not built" >&2; \
	fi

run: $(STAMP)
	$(VENV)/bin/deskphone run --sim $(ARGS)

test: $(STAMP) test-packages $(ALSA_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, mypy, then the import contracts of .importlinter (layers one way, no cycles).
lint: $(STAMP)
	$(VENV)/bin/ruff check firmware/deskphone tools tests hw boot
	$(VENV)/bin/mypy --config-file firmware/pyproject.toml firmware/deskphone tools/deskphone_tools
	$(VENV)/bin/lint-imports --config .importlinter --no-cache

bench: $(STAMP)
	$(PY) -m pip install -q -e 'tools[bench]'
	$(PY) -m deskphone_tools.bench --out bench-results.json

# Coverage-guided fuzzing (atheris) of every parser that takes bytes from outside, one process per
# target, FUZZ_RUNS inputs each; FUZZ_TARGETS picks some (see `python -m deskphone_tools.fuzz
# list`). Results and reproducers in fuzz-work/. `make test` runs a short budget of each.
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS ?=
fuzz: $(STAMP)
	$(PY) -m pip install -q -e 'tools[fuzz]'
	$(PY) -m deskphone_tools.fuzz all --runs $(FUZZ_RUNS) --workdir fuzz-work $(FUZZ_TARGETS)

demo: $(STAMP)
	$(PY) -m deskphone_tools.demo $(ARGS)

# The Raspberry Pi image (see boot/README.md). image needs root, binfmt_misc and ~4 GB free.
image:
	boot/build-image.sh --out out/image $(ARGS)

image-test:
	boot/image-test.sh --out out/image $(ARGS)

flash:
	@test -n "$(DEVICE)" || { echo "usage: make flash DEVICE=/dev/sdX"; exit 2; }
	boot/flash.sh $(DEVICE) out/image/deskphone.img

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis fuzz-work
