# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default (a wheel of it lies on this machine's disk). GPU users:
#   make install TORCH_SPEC="torch==2.13.0" TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cu128
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
DEMO_WS ?= demo_workspace

.PHONY: install demo test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

demo: install
	$(VENV)/bin/adopt demo --workspace $(DEMO_WS)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check adopt jobs tests bench

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache
