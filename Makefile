# Quick start: `make run` (default comparison on embedded data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel of torch lies on this project's machines; override for a CUDA build, e.g. TORCH=torch.
TORCH ?= torch==2.13.0
# uv finds the local torch wheel only when pointed at its folder.
WHEELS ?= /opt/wheels
OUTPUT ?= runs
UV_LINKS := $(if $(wildcard $(WHEELS)),--find-links $(WHEELS),)

.PHONY: run test install install-test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q uv

install: $(VENV)/bin/python
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python $(UV_LINKS) -e . "$(TORCH)"

# The test extras, Ray and ONNX: the Ray-vs-local and ONNX parity tests run in CI (each skips, saying why,
# where its extra is missing).
install-test: $(VENV)/bin/python
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python $(UV_LINKS) -e ".[test,ray,onnx]" "$(TORCH)"

run: install
	$(VENV)/bin/aecompare run quick --output $(OUTPUT)

test: install-test
	$(VENV)/bin/python -m pytest -q

# The house rules: lint, formatting, the layers (pyproject's import-linter contract), and no function of 60 lines.
LINTED := src tests benchmarks tools
lint: install-test
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python tools/function_length.py $(LINTED)

bench: install
	$(VENV)/bin/python benchmarks/quick_comparison.py

clean:
	rm -rf $(VENV) $(OUTPUT) .pytest_cache
