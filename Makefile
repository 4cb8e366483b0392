# lamina: two set-up commands (see README): `make demo` and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
# The distro's interpreter when there is one: Debian builds it with PGO and LTO, which takes 3.5 ms off
# every command against a plain source build such as pyenv's (docs/benchmarks.md).
BASE_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
APT_PACKAGES := busybox-static crun skopeo umoci docker-registry btrfs-progs openssl file make containernetworking-plugins iptables golang-github-containers-common tini python3-venv golang-github-containernetworking-plugin-dnsname dnsmasq-base
DEMO_ROOT ?= /var/tmp/lamina-demo

.PHONY: deps venv demo test lint check bench clean

deps:  ## Debian packages the engine and its tests use
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Byte-compile: start-up is on every command's path, and PYTHONDONTWRITEBYTECODE may be set.
venv: $(VENV)/.installed
	@$(PY) -m compileall -q -j 0 src >/dev/null

demo: deps venv  ## make a busybox base image offline and inspect it
	./scripts/demo.sh $(DEMO_ROOT)

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: deps venv lint  ## the whole suite (CI runs exactly this)
	$(PY) -m pytest -q -p no:cacheprovider $(if $(SLOW),,-m "not slow") $(PYTEST_ARGS)

bench: deps venv
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
