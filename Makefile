# Setup is part of every target: the first run creates .venv and installs semcom into it.
# torch is pinned to the CPU build first, so pip never pulls a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.semcom-installed
TORCH  ?= torch==2.13.0
PIP     = $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test install bench photos clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[test,ray]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/semcom run --link ev-jscc --snr 0:20 --cbr 1/48

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# the natural-photo training corpus (Debian packages; see docs/training.md); training only, tests do not need it
photos:
	$(PYTHON) scripts/install_photos.py

bench: $(STAMP)
	$(BIN)/python benchmarks/sources.py

clean-venv:
	rm -rf $(VENV)
