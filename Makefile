# deskphone — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint bench fuzz demo clean image image-test flash

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Re-install when the project's dependencies change.
$(STAMP): firmware/pyproject.toml tools/pyproject.toml | $(PY)
	$(PY) -m pip install -q -e firmware -e 'tools[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/deskphone run --sim $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, mypy, then the import contracts of .importlinter (layers one way, no cycles).
lint: $(STAMP)
	$(VENV)/bin/ruff check firmware/deskphone tools tests hw boot
	$(VENV)/bin/mypy --config-file firmware/pyproject.toml firmware/deskphone tools/deskphone_tools
	$(VENV)/bin/lint-imports --config .importlinter --no-cache

bench: $(STAMP)
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
