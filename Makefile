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

.PHONY: demo test install install-dev check-java bench models clean help

help:
	@echo "make demo   install nerlake and run the nightly job on $(RECORDS) generated records"
	@echo "make test   install nerlake with the train and dev extras and run the test suite"
	@echo "make bench  run the benchmark scripts (JSON on stdout)"

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

bench: install-dev check-java
	$(PY) bench/extract_throughput.py --records 5000

clean:
	rm -rf $(LAKE) data spark-warehouse .pytest_cache
