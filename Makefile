# make demo: set up .venv, run the quickstart suite, write the report.
# make test: set up .venv, run the tests; make test-fast: the tests not marked slow.
# make data: install Debian's dataset-fashion-mnist (the real-data CI grid's images) when missing.
# make gpu-check: set up .venv, run benchmarks/gpu_check.py; writes results/gpu-check/gpu_check.json
#   (on one CUDA GPU: every GPU figure, in at most 8 minutes; without CUDA: the CPU check, --quick).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast data gpu-check clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# the distribution was called `bench` (PyPI's `bench` is another project): drop it before installing
	# robustness-bench, so the two do not both claim the `bench` package and command
	$(BIN)/python -m pip uninstall -y -q bench 2>/dev/null || true
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bench run suites/quickstart.yaml
	$(BIN)/bench report results/quickstart

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py --out results/gpu-check/gpu_check.json

# The IDX files land in /usr/share/datasets/fashion-mnist, where bench's fashion-mnist loader looks.
data:
	@if dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then \
		echo "make data: dataset-fashion-mnist is installed (/usr/share/datasets/fashion-mnist)"; \
	else \
		echo "make data: installing Debian's dataset-fashion-mnist (Fashion-MNIST IDX files -> /usr/share/datasets/fashion-mnist)"; \
		apt-get install -y -q dataset-fashion-mnist || { \
			echo "make data: package not in the apt lists; running apt-get update first"; \
			apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; \
	fi

clean:
	rm -rf $(VENV) results/quickstart build *.egg-info
