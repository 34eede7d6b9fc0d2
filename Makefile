# The two commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(abspath $(VENV))/bin/python
STAMP  := $(VENV)/.sparsile-installed
# mypy needs the import name sparsile laid over the folders setuptools maps (package-dir).
TYPECHECK := build/typecheck

.PHONY: demo test lint typecheck clean aarch64-runtime

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

# The aarch64 iree-run-module (from the aarch64 runtime wheel) that runs cpu:aarch64 artifacts under qemu-user.
AARCH64_RUNTIME := build/aarch64-runtime
aarch64-runtime: $(STAMP)
	rm -rf $(AARCH64_RUNTIME) && mkdir -p $(AARCH64_RUNTIME)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 \
		--python-version 3.11 -d $(AARCH64_RUNTIME) "iree-base-runtime==$$($(PY) -c 'import importlib.metadata as m; print(m.version("iree-base-runtime"))')"
	cd $(AARCH64_RUNTIME) && $(PY) -m zipfile -e iree_base_runtime-*.whl . && chmod +x iree/_runtime_libs/iree-run-module

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
