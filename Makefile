# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs labelspace with its offline assets, runs the tour
#   make test   installs what the tests need and runs them
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist

.PHONY: demo test install install-dev data benchmarks clean

demo: install data
	$(VENV)/bin/labelspace demo

test: install-dev data
	$(PY) -m pytest -q

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

benchmarks: install-dev data
	$(PY) benchmarks/features.py
	$(PY) benchmarks/devise.py

clean:
	rm -rf $(VENV) runs
