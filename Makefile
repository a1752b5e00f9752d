# The README's two commands: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# Install the CPU build of torch first: an unpinned torch pulls gigabytes of CUDA wheels.
# Off this build farm, add e.g. TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu".
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
DATE    ?= 2024-03-12
RECORDS ?= 10000
SAMPLE  ?= data/sample.parquet
LAKE    ?= ./lakehouse

.PHONY: demo test install install-dev check-java bench bench-rules models multi-core vi-domain clean help

help:
	@echo "make demo   install nerlake and run the nightly job on $(RECORDS) generated records"
	@echo "make test   install nerlake with the train and dev extras and run the test suite"
	@echo "make bench  run the benchmark scripts (JSON on stdout)"
	@echo "make bench-rules  rule-stage throughput of the compiled build (NERLAKE_COMPILE=1)"
	@echo "make models retrain the shipped models (multi-core, vi-domain) from ../shared/data"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.py | $(VENV)/bin/python
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.installed-dev: setup.py | $(VENV)/bin/python
	$(PIP) install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[train,dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

check-java:
	@if ! command -v java >/dev/null 2>&1 && [ ! -x "$$JAVA_HOME/bin/java" ]; then \
	  echo "Spark needs Java 17 and none was found (no java on PATH, no JAVA_HOME)."; \
	  echo "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless"; \
	  echo "  macOS:         brew install openjdk@17"; \
	  exit 1; fi

demo: install check-java
	$(VENV)/bin/nerlake generate-sample --records $(RECORDS) --out $(SAMPLE)
	$(VENV)/bin/nerlake extract --date $(DATE) --input $(SAMPLE) --lake $(LAKE)

test: install-dev check-java
	$(PY) -m pytest -q -p no:cacheprovider tests

# --- shipped models: one recipe each (needs ../shared/data; each <= 45 min on 2 cores) ---
DATA_ROOT   ?= ../shared/data
RECIPE_LAKE ?= ./lakehouse-recipes
RUNS        ?= ./runs
NERLAKE     := $(VENV)/bin/nerlake
UNER_TRAIN  := uner_zh_gsd uner_zh_gsdsimp uner_hr_set uner_da_ddt uner_pt_bosque uner_sr_set uner_sk_snk uner_sv_talbanken
UNER_ALL    := $(UNER_TRAIN) uner_en_ewt

models: multi-core vi-domain

multi-core: install-dev check-java
	rm -rf $(RUNS)/multi-core models/multi-core
	$(NERLAKE) ingest $(foreach d,$(UNER_ALL) btc wikigold,--dataset $(d)) --sample 8000 --data-root $(DATA_ROOT) --lake $(RECIPE_LAKE)
	$(NERLAKE) train --schedule conf/recipes/multi-core.yaml --out $(RUNS)/multi-core --threads 1 --lake $(RECIPE_LAKE)
	$(NERLAKE) export --checkpoint $(RUNS)/multi-core/low-resource/best --out models/multi-core --name multi-core \
	  --version 0.1.0 --dev uner_pt_bosque --label-level core --lake $(RECIPE_LAKE)
	$(NERLAKE) evaluate --model models/multi-core $(foreach d,$(UNER_ALL) vi_generated,--gold $(d)) --label-level core \
	  --write-card --lake $(RECIPE_LAKE)

vi-domain: install-dev
	rm -rf models/vi-domain
	$(NERLAKE) build-model --out models/vi-domain --records 30000 --preset small --steps 1500 --batch-size 32 \
	  --lr 5e-4 --threads 1

bench: install-dev check-java
	$(PY) bench/extract_throughput.py --records 5000

# The rule stage as a cluster should run it: compiled (NERLAKE_COMPILE=1, see setup.py) in
# a regular install, which needs a venv of its own (the dev venv is an editable install).
# PYTHON picks the interpreter, and its build matters as much: see the README's Benchmarks.
COMPILED_VENV ?= .venv-compiled
RULE_SOURCES  := $(wildcard udfs/*.py udfs/rules/*.py conf/rules/*.yaml)

$(COMPILED_VENV)/.installed: setup.py $(RULE_SOURCES)
	rm -rf $(COMPILED_VENV)
	$(PYTHON) -m venv $(COMPILED_VENV)
	$(COMPILED_VENV)/bin/python -m pip --disable-pip-version-check install -q "cython>=3.0" setuptools wheel
	NERLAKE_COMPILE=1 $(COMPILED_VENV)/bin/python -m pip --disable-pip-version-check install -q --no-build-isolation .
	@touch $@

bench-rules: $(COMPILED_VENV)/.installed
	$(COMPILED_VENV)/bin/python bench/rules_throughput.py --records 20000

clean:
	rm -rf $(LAKE) data spark-warehouse .pytest_cache
