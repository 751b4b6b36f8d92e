# Set-up is part of both targets, so each works on a fresh machine:
#   make run    the editor with the default workflow (headless: the default workflow to a PNG in ./out)
#   make test   the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build (any other spec pulls several GB of CUDA packages)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
		$(BIN)/nodeflow gui workflows/default.json; \
	else \
		echo "no display: running the default workflow headless"; \
		$(BIN)/nodeflow run workflows/default.json --out out; \
	fi

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

.PHONY: setup run test
