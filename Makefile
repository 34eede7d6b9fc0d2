# The two commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(abspath $(VENV))/bin/python
STAMP  := $(VENV)/.sparsile-installed
# mypy needs the import name sparsile laid over the folders setuptools maps (package-dir).
TYPECHECK := build/typecheck

.PHONY: demo test lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: lint typecheck
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(PY) -m ruff check compiler dialects passes runtime tests examples benchmarks

typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/sparsile
	for f in compiler/*.py; do ln -s "$(CURDIR)/$$f" $(TYPECHECK)/sparsile/; done
	ln -s "$(CURDIR)/compiler/cli" $(TYPECHECK)/sparsile/cli
	for d in dialects passes runtime; do ln -s "$(CURDIR)/$$d" $(TYPECHECK)/sparsile/$$d; done
	cd $(TYPECHECK) && $(PY) -m mypy --config-file $(CURDIR)/pyproject.toml -p sparsile

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
