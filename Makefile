# refusal-audit — the README's two commands: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test install install-dev browser bench lint clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The local model extra builds llama-cpp-python from source once (about 6 minutes on 2 cores);
# pip caches the wheel afterwards.
$(VENV)/.installed-local: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[dev,local]'
	touch $@ $(VENV)/.installed-local

install: $(VENV)/.installed-local
install-dev: $(VENV)/.installed-dev

## demo: audit a real local model (SmolLM2-135M-Instruct via llama-cpp-python) and write a report
demo: $(VENV)/.installed-local
	$(VENV)/bin/refusal-audit demo

## browser: Debian's chromium for the HTML report's browser test (needs root or sudo)
browser:
	bash scripts/install-browser.sh

## test: the whole test suite, including the local-model end-to-end test and the browser test
test: $(VENV)/.installed-dev browser
	$(PY) -m pytest -ra

bench: $(VENV)/.installed-dev
	$(PY) bench/throughput.py
	$(PY) bench/classifier_eval.py
	$(PY) bench/coverage.py
	$(PY) bench/report_speed.py
	$(PY) bench/journal_memory.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check audit flows tests bench
	$(VENV)/bin/mypy audit

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
