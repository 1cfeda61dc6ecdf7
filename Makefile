# phigate: every target bootstraps .venv from the lock file by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/phigate demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/run.py

FUZZ_SECONDS ?= 60
# Coverage-guided fuzzing of the input front (JSON, XML, search parameters, whole requests).
# The working corpus grows in a temporary folder; the committed seeds stay as they are.
fuzz: $(STAMP)
	corpus=$$(mktemp -d) && cp fuzz/seeds/* $$corpus/ && \
	$(BIN)/python fuzz/fuzz_input.py -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$$corpus/ $$corpus

clean:
	rm -rf $(VENV) .phigate-demo
