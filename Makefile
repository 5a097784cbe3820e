# Two commands do all the set-up themselves on a fresh machine:
#   make experiment   runs the main job on the shipped trace slice
#   make test         runs lint, types, layering contracts and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/experiment
STAMP  := $(VENV)/.installed

.PHONY: experiment simulate test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

experiment: $(STAMP)
	$(BIN)/autoinfra experiment --out $(OUT)

simulate: $(STAMP)
	$(BIN)/autoinfra simulate --out out/simulate

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) out .autoinfra-cache
