# Two entry points for a fresh machine with Python 3.11: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-workspace

.PHONY: demo test install install-test bench clean

$(BIN)/chendian: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned to the CPU build (torch==2.13.0 in pyproject.toml): a looser pin pulls GBs of CUDA wheels.
	$(BIN)/pip install -q -e .
	touch $@

install: $(BIN)/chendian

# Install, then run the nightly job on the bundled example chats; the site lands in $(DEMO)/site/.
demo: install
	$(BIN)/chendian init $(DEMO)
	cp -R examples/wechat examples/qq $(DEMO)/inbox/
	$(BIN)/chendian -w $(DEMO) run
	$(BIN)/chendian -w $(DEMO) stats

install-test: install
	$(BIN)/pip install -q -e '.[test]'
	bash scripts/install-test-deps.sh

# Install test needs (Python extras, Debian chromium + CJK fonts for the browser test) and run the tests.
test: install-test
	$(BIN)/python -m pytest -q

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(DEMO) build dist *.egg-info
