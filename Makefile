# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs labelspace with its offline assets, runs the tour
#   make test   installs what the tests need and runs them
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist

.PHONY: demo test install install-dev data browser benchmarks clean

demo: install data
	$(VENV)/bin/labelspace demo

test: install-dev data browser
	$(PY) -m pytest -q -n 2

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e ".[assets]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e ".[assets,dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package; installed when we can,
# otherwise point LABELSPACE_FASHION_MNIST (or --root) at a folder with the four IDX .gz files.
data:
	@if [ -f $(FASHION_MNIST)/t10k-images-idx3-ubyte.gz ] || [ -n "$$LABELSPACE_FASHION_MNIST" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -qq dataset-fashion-mnist || (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)) >/dev/null; \
	else echo "Fashion-MNIST not found: run 'sudo apt-get install dataset-fashion-mnist' or set LABELSPACE_FASHION_MNIST to a folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz"; fi

# The browser test drives Debian's chromium through Playwright (Playwright's own browser download is never used).
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq chromium || (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null 2>&1 \
		|| echo "chromium could not be installed: the browser test will be skipped"; \
	else echo "chromium not found: install Debian's chromium to run the browser test (it is skipped otherwise)"; fi

# Each prints ratios measured side by side in one run; zeroshot.py takes about ten minutes on 2 cores.
benchmarks: install-dev data
	$(PY) benchmarks/features.py
	$(PY) benchmarks/devise.py
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/train_clip.py
	$(PY) benchmarks/serve.py
	$(PY) benchmarks/zeroshot.py

clean:
	rm -rf $(VENV) runs
