# mptcp.lab: the two commands a newcomer needs are `make perf` and `make test`.
# Both bootstrap everything they need: Debian packages (as root, with apt),
# a virtualenv in .venv with the pinned Python deps of requirements.txt.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

# Debian packages the lab needs (make perf), and what the tests add (make test):
# mptcpd for its role, git/tar for ansible-test, shellcheck, sshd for the
# bare-metal test over SSH, chromium for the report's browser test.
PERF_PACKAGES := iproute2 iperf3 mptcpize ethtool procps util-linux python3-venv tcpdump
TEST_PACKAGES := $(PERF_PACKAGES) mptcpd git tar shellcheck openssh-client openssh-server \
	sudo chromium

# Extra arguments for ansible-playbook, e.g. make perf ARGS='-e perf_suite=smoke'
ARGS ?=

.PHONY: help bootstrap bootstrap-test system system-test venv perf provision teardown debug test sanity units integration molecule clean

help:
	@echo "make perf   run the default perf suite on the netns lab (root)"
	@echo "make test   run every test: sanity, units, integration, molecule (root)"
	@echo "make debug  write a debug bundle of every lab host to <perf_results_dir>/debug/ (root)"
	@echo "other targets: provision teardown sanity units integration molecule clean"

system:
	@scripts/bootstrap-system.sh $(PERF_PACKAGES)

system-test:
	@scripts/bootstrap-system.sh $(TEST_PACKAGES)

# The stamp records which requirements.txt was installed; editing it reinstalls.
$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

bootstrap: system venv

bootstrap-test: system-test venv

# Each playbook takes the lab's lease first: a second run on the same lab is
# refused, naming the holder, and an interrupted one (Ctrl-C) has what it
# created removed before ansible-playbook exits (roles/lab_netns/README.md).
# ansible-playbook playbooks/perf.yml exits 0, 42 (invalid test, or regression
# with perf_fail_on_regression) or another code (error); make itself can only
# exit 0 or 2, and shows the code as "Error 42".
perf: bootstrap
	ansible-playbook playbooks/perf.yml $(ARGS)

provision: bootstrap
	ansible-playbook playbooks/provision.yml $(ARGS)

teardown: bootstrap
	ansible-playbook playbooks/teardown.yml $(ARGS)

# Read-only; ARGS='-e debug_mode=reproduce' for the reproduce mode (README: "Debug bundle").
debug: bootstrap
	ansible-playbook playbooks/debug.yml $(ARGS)

# Every part runs once it exists; the first failure fails `make test`.
test: bootstrap-test
	$(MAKE) --no-print-directory sanity units integration molecule

sanity: bootstrap-test
	scripts/ansible-test.sh sanity

units: bootstrap-test
	@if [ -n "$$(find tests/unit -name 'test_*.py' -print -quit)" ]; then \
		$(BIN)/python -m pytest tests/unit; \
	else echo "units: no unit tests yet"; fi

integration: bootstrap-test
	@if [ -n "$$(find tests/integration -name 'test_*.py' -print -quit)" ]; then \
		$(BIN)/python -m pytest tests/integration; \
	else echo "integration: no integration tests yet"; fi

# MOLECULE_GLOB keeps the scenarios in the top-level molecule/ (molecule 26
# otherwise looks under extensions/molecule/ in a collection, with a warning).
molecule: bootstrap-test
	@if [ -n "$$(find molecule -name molecule.yml -print -quit)" ]; then \
		MOLECULE_GLOB='molecule/*/molecule.yml' $(BIN)/molecule test --all; \
	else echo "molecule: no scenarios yet"; fi

clean:
	rm -rf $(VENV) .cache .pytest_cache tests/output
