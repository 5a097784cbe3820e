# Two commands do all the set-up themselves on a fresh machine:
#   make experiment   runs the main job (autoinfra experiment) on the shipped trace slice
#   make test         runs lint, types, layering contracts and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/experiment
ARGS   ?=

.PHONY: experiment simulate test lint install install-dev servers clean

# The main job needs only the light core.
$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# Tests need every extra. torch goes first as the pinned CPU build: otherwise stable-baselines3
# pulls a multi-GB CUDA build of torch.
$(VENV)/.dev: $(VENV)/.core
	$(BIN)/pip install --quiet 'torch==2.13.0'
	$(BIN)/pip install --quiet -e '.[dev,rl,ray,api,k8s,live,bus]'
	touch $@

# The real servers the integration tests start (Debian packages). Installed only when one is
# missing; needs root (as on CI) or sudo.
SERVERS := prometheus prometheus-alertmanager prometheus-node-exporter nats-server etcd-server \
           chromium stress-ng iproute2
servers:
	@bash scripts/install-servers.sh $(SERVERS)

install: $(VENV)/.core
install-dev: $(VENV)/.dev

experiment: $(VENV)/.core
	$(BIN)/autoinfra experiment --out $(OUT) $(ARGS)

simulate: $(VENV)/.core
	$(BIN)/autoinfra simulate --out out/simulate $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# pytest exits 5 when it collects no test; make treats any non-zero exit as failure.
test: lint servers
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) out
