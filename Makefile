PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint venv clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)  ## simulate a market, score it, run the agent, then serve the web UI (DEMO_ARGS=--no-serve to stop there)
	$(BIN)/abm demo --workspace .abm-demo $(DEMO_ARGS)

test: $(STAMP)  ## every test; PostgreSQL tests run when a server can be started
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)  ## benchmarks: print tables, write benchmarks/results/*.json
	$(BIN)/python benchmarks/bench_ingest.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_identity.py
	$(BIN)/python benchmarks/bench_propensity.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_score.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_rehearsal.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_attribution.py $(BENCH_ARGS) $(if $(CA_PATH),--ca-path $(CA_PATH))
	$(BIN)/python benchmarks/bench_lift.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_server.py $(BENCH_ARGS)

lint: $(STAMP)  ## ruff (lint + format check) and mypy on the core
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .abm-demo
