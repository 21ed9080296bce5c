# Two entry points that work on a fresh machine: `make demo` and `make test`.
# Each creates .venv from nothing and installs the project with everything it needs.
# constraints/dev.txt pins torch to the CPU build (dev and CI only; the package itself does not pin it).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints/dev.txt
# A real Infinity server for tests/api/test_infinity_process.py. infinity-emb pins an older
# transformers/sentence-transformers stack, so it gets its own environment (same CPU torch).
INFINITY_VENV ?= .venv-infinity
INFINITY_EMB := infinity-emb[server,torch]==0.0.78
INFINITY_PIP := $(INFINITY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints/dev.txt

.PHONY: setup infinity-venv demo test lint docs docs-serve clean

$(VENV)/.installed: pyproject.toml constraints/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

$(INFINITY_VENV)/.installed: constraints/dev.txt
	$(PYTHON) -m venv $(INFINITY_VENV)
	$(INFINITY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(INFINITY_PIP) torch==2.13.0
	$(INFINITY_PIP) "$(INFINITY_EMB)"
	touch $@

infinity-venv: $(INFINITY_VENV)/.installed

demo: setup
	$(VENV)/bin/rag-rerankers demo

# The suite also builds the docs with --strict (tests/docs/test_docs_site.py) and runs every
# notebook (tests/docs/test_notebooks.py), and starts a real Infinity server from
# $(INFINITY_VENV) (tests/api/test_infinity_process.py): `make test` is the single CI entry point.
test: setup infinity-venv
	RAG_RERANKERS_INFINITY_VENV=$(abspath $(INFINITY_VENV)) $(PY) -m pytest -q

# The documentation site, built strictly (any warning fails) into site/.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

lint: setup
	$(PY) -m ruff check rag_rerankers langchain_rerankers llamaindex_rerankers rag_rerankers_demo tests tools

clean:
	rm -rf $(VENV) $(INFINITY_VENV) .pytest_cache .hypothesis site
