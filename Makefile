# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv if needed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Python 3.11 or 3.10 (TensorFlow 2.14 + QKeras need Keras 2, which needs one of these).
PYTHON ?= $(shell for p in python3.11 python3.10 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3,10),(3,11)) else 1)' 2>/dev/null; then echo $$p; break; fi; done)

.PHONY: demo test test-fast mutation mutation-recheck test-slow bench venv clean reports report-default fifo-search-224 fmnist-data chromium train accuracy

$(STAMP): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.10 or 3.11 is required (TensorFlow 2.14.1/QKeras need Keras 2); install one and re-run, or pass PYTHON=/path/to/python3.11" >&2; exit 2; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<25"
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fpga-flow demo --out build/demo --force

test: $(STAMP) fmnist-data
	$(PY) -m pytest -q

# Fashion-MNIST from Debian (dataset-fashion-mnist) when this machine can install it (root + apt);
# everything else runs without it on the shipped 1,000-image sample (tests that need it skip).
fmnist-data:
	@if [ ! -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing dataset-fashion-mnist (Debian)"; \
	  timeout 600 apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { timeout 600 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	  echo "dataset-fashion-mnist not installed; tests run on the shipped sample"; fi

# Chromium from Debian, for the browser check of the html reports (make test-slow; tests/test_report_browser.py
# and fpga_flow/report/browser.py): installed when this machine can (root + apt), else those tests skip.
chromium:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium (Debian)"; \
	  timeout 900 apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	  { timeout 600 apt-get update -q >/dev/null 2>&1 && timeout 900 apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } || \
	  echo "chromium not installed; the browser checks skip"; fi

# The unit and boundary tests of the core invariants (exactness, storage audit, FIFO-depth minimum, HLS
# count thresholds, output-directory safety): marker 'fast', small builds only, under 3 minutes; part of
# 'make test' (which runs everything not marked slow).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m fast

# Mutation testing (mutmut, a benchmark, not CI): each core module mutated against its fast tests;
# writes reports/mutation.txt. MODULES=csim,audit,fifo,hls_count,fit,outdir (default: all six); SAMPLE=audit=6,csim=6
# runs every 6th mutant of those modules (all of audit.py takes hours, csim.py's comparison about 10 h on 2 cores).
MODULES ?= csim,audit,fifo,hls_count,fit,outdir
SAMPLE ?=
mutation: $(STAMP)
	$(PY) tools/mutation.py --modules $(MODULES) --sample "$(SAMPLE)" --report reports/mutation.txt

# The survivors recorded in reports/mutation.json for MODULES, rechecked against the tests as they are now
# (after tests were added for them): each mutant written into a fresh copy and its fast tests run.
mutation-recheck: $(STAMP)
	$(PY) tools/mutation.py --modules $(MODULES) --recheck-survivors --report reports/mutation.txt

test-slow: $(STAMP) chromium
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/csim_speed.py
	$(PY) benchmarks/dask_scaling.py
	$(PY) benchmarks/throughput.py

clean:
	rm -rf build .pytest_cache

# Fashion-MNIST: train every model of the accuracy table (float + QAT 8/6/4 bits; CPU) and measure it
# (float / QKeras / C-sim top-1 on the 10,000 test images) into reports/accuracy.{json,md}.
FMNIST := fmnist_squeezenet1_1 fmnist_squeezenet1_0_bypass fmnist_shufflenet_g3_w1.0 fmnist_shufflenet_g8_w0.5
train: $(STAMP) fmnist-data
	@for c in $(FMNIST); do set -e; $(VENV)/bin/fpga-flow train hls_configs/$$c.yml; done

accuracy: $(STAMP) fmnist-data
	$(VENV)/bin/fpga-flow accuracy $(foreach c,$(FMNIST),hls_configs/$(c).yml) --out reports

# Regenerate reports/ for every shipped 224x224 config (build, verify on 4 photos, md+json report).
SHIPPED := squeezenet1_1_224_w8_zcu104 squeezenet1_1_224_w8_zcu102 squeezenet1_0_bypass_224_w8_zcu102 shufflenet_g3_w1.0_224_w8_zcu102 shufflenet_g8_w0.5_224_w8_zcu104
reports: $(STAMP)
	@for c in $(SHIPPED); do \
	  set -e; mkdir -p reports/$$c; \
	  $(VENV)/bin/fpga-flow build hls_configs/$$c.yml --out build/reports/$$c --force; \
	  $(VENV)/bin/fpga-flow verify build/reports/$$c --images 4 --source photos --jobs 2 --json > reports/$$c/verify.json || true; \
	  $(VENV)/bin/fpga-flow verify build/reports/$$c --dataflow --images 2 --source photos --json > reports/$$c/dataflow.json || true; \
	  $(VENV)/bin/fpga-flow audit build/reports/$$c > reports/$$c/audit.txt || true; \
	  $(VENV)/bin/fpga-flow report build/reports/$$c --format md > reports/$$c/report.md; \
	  $(VENV)/bin/fpga-flow report build/reports/$$c --format json > reports/$$c/report.json; \
	  $(VENV)/bin/fpga-flow report build/reports/$$c --format html --out reports/$$c/html \
	    --verify-json reports/$$c/verify.json --dataflow-json reports/$$c/dataflow.json; \
	done
	$(MAKE) report-default
	$(PY) benchmarks/csim_speed.py > reports/csim_speed.txt
	$(PY) benchmarks/fifo_depths.py --no-search $(foreach c,$(SHIPPED),build/reports/$(c)) > reports/fifo_depths.txt
	$(PY) benchmarks/fifo_depths.py build/reports/$(DEFAULT) >> reports/fifo_depths.txt
	$(PY) benchmarks/dask_scaling.py > reports/dask_scaling.txt
	$(PY) benchmarks/throughput.py --json reports/throughput.json > reports/throughput.md

# Execution-minimal FIFO depths of the four 224x224 builds (the dataflow C-simulation searched per join
# FIFO: about 15 minutes per build on 2 cores); needs the builds of 'make reports'.
fifo-search-224: $(STAMP)
	$(PY) benchmarks/fifo_depths.py $(foreach c,$(SHIPPED),build/reports/$(c)) --json reports/fifo_depths_224.json > reports/fifo_depths_224.txt

# The default (make demo) build of the shipped trained weights, verified on the 1,000 shipped test images.
DEFAULT := fmnist_squeezenet1_1_w8_zcu104
report-default: $(STAMP)
	mkdir -p reports/$(DEFAULT)
	$(VENV)/bin/fpga-flow build hls_configs/$(DEFAULT).yml --out build/reports/$(DEFAULT) --force
	$(VENV)/bin/fpga-flow verify build/reports/$(DEFAULT) --images 1000 --source fmnist-sample --jobs 2 --json > reports/$(DEFAULT)/verify.json
	$(VENV)/bin/fpga-flow verify build/reports/$(DEFAULT) --dataflow --images 8 --source fmnist-sample --json > reports/$(DEFAULT)/dataflow.json
	$(VENV)/bin/fpga-flow audit build/reports/$(DEFAULT) > reports/$(DEFAULT)/audit.txt
	$(VENV)/bin/fpga-flow report build/reports/$(DEFAULT) --format md > reports/$(DEFAULT)/report.md
	$(VENV)/bin/fpga-flow report build/reports/$(DEFAULT) --format json > reports/$(DEFAULT)/report.json
	$(VENV)/bin/fpga-flow report build/reports/$(DEFAULT) --format html --out reports/$(DEFAULT)/html \
	  --verify-json reports/$(DEFAULT)/verify.json --dataflow-json reports/$(DEFAULT)/dataflow.json
	$(MAKE) chromium
	$(PY) -m fpga_flow.report.browser reports/$(DEFAULT)/html/report.html --screenshot reports/$(DEFAULT)/report_screenshot.png
