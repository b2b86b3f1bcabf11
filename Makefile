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

# Debian packages the lab needs (make perf; sockperf for the latency tests), and what the tests add (make test):
# mptcpd for its role, git/tar for ansible-test, shellcheck, sshd for the
# bare-metal test over SSH, chromium for the report's browser test.
PERF_PACKAGES := iproute2 iperf3 mptcpize ethtool procps util-linux python3-venv tcpdump sockperf jq
TEST_PACKAGES := $(PERF_PACKAGES) mptcpd git tar shellcheck openssh-client openssh-server \
	sudo chromium

# The VM lab (inventories/vm, make vmtest, make compare): QEMU, virtme-ng's
# needs (busybox for its initramfs, kmod for depmod/modprobe of the guest
# kernel's modules), sshd in the guests, util-linux's setpriv; ping for the RTT check of make vmtest.
VM_PACKAGES := qemu-system-x86 busybox-static kmod openssh-server openssh-client util-linux iperf3 mptcpize \
	iputils-ping
TEST_PACKAGES += $(VM_PACKAGES)

# make compare A=<kernel> B=<kernel> [SUITE=vm] [INV=inventories/vm]
A ?=
B ?=
SUITE ?= vm
INV ?= inventories/vm
RESULTS ?= results

# Extra arguments for ansible-playbook, e.g. make perf ARGS='-e perf_suite=smoke'
ARGS ?=

.PHONY: help bootstrap bootstrap-test system system-test system-vm venv perf provision teardown debug test sanity units integration vmtest compare molecule clean

help:
	@echo "make perf   run the default perf suite on the netns lab (root)"
	@echo "make test   run every test: sanity, units, integration, vmtest, molecule (root)"
	@echo "make debug  write a debug bundle of every lab host to <perf_results_dir>/debug/ (root)"
	@echo "make compare A=<kernel> B=<kernel> [SUITE=vm]   kernel B against kernel A on the VM lab (root)"
	@echo "other targets: provision teardown sanity units integration vmtest molecule clean"

system:
	@scripts/bootstrap-system.sh $(PERF_PACKAGES)

system-test:
	@scripts/bootstrap-system.sh $(TEST_PACKAGES)

system-vm:
	@scripts/bootstrap-system.sh $(PERF_PACKAGES) $(VM_PACKAGES)

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
# vmtest (the VM lab end to end: TCG guests, about 8 minutes here) and the
# molecule scenarios (among them the VM lab's, molecule/vm) are the slow parts.
test: bootstrap-test
	$(MAKE) --no-print-directory sanity units integration vmtest molecule

sanity: bootstrap-test
	scripts/ansible-test.sh sanity

units: bootstrap-test
	@if [ -n "$$(find tests/unit -name 'test_*.py' -print -quit)" ]; then \
		$(BIN)/python -m pytest tests/unit; \
	else echo "units: no unit tests yet"; fi

# TEST_JOBS=1 (the default) runs the test files one at a time. TEST_JOBS=2
# or more runs them on that many workers at once (pytest-xdist, each file on
# one worker, longest first: tests/integration/conftest.py; every lab,
# namespace and user of a test is its own), then the tests marked serial
# alone (their sshds see bind-mounted account files, which another test's
# useradd would replace). About 35 instead of 52 minutes on this 2-CPU
# machine, but under that load a test that asserts a throughput or a
# timeout can fail (README "Tests").
TEST_JOBS ?= 1

integration: bootstrap-test
	@if [ -n "$$(find tests/integration -name 'test_*.py' -print -quit)" ]; then \
		if [ "$(TEST_JOBS)" -gt 1 ]; then \
			$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile -m 'not serial' --durations=25 tests/integration && \
			$(BIN)/python -m pytest -m serial --durations=5 tests/integration; \
		else $(BIN)/python -m pytest --durations=25 tests/integration; fi; \
	else echo "integration: no integration tests yet"; fi

# The VM lab on this machine: boots VMs with a Debian kernel (fetched with
# apt-get download), provisions, runs the smoke suite, tears down.
vmtest: bootstrap-test
	$(BIN)/python -m pytest tests/vm

# Kernel A, then kernel B with A's run as the baseline: the verdict and
# report of B against A (the history identity of a test has no kernel).
compare: system-vm venv
	@if [ -z "$(A)" ] || [ -z "$(B)" ]; then \
		echo "usage: make compare A=<kernel> B=<kernel> [SUITE=vm] [INV=inventories/vm] [RESULTS=results]"; \
		echo "  a kernel is a path to a bzImage/vmlinuz, host, or a Debian package linux-image-*"; exit 2; fi
	ansible-playbook playbooks/perf.yml -i '$(INV)' -e lab_vm_kernel='$(A)' -e perf_suite='$(SUITE)' \
		-e perf_results_dir='$(RESULTS)' $(ARGS)
	run_a=$$(basename "$$(readlink -f '$(RESULTS)/latest')"); echo "kernel A ($(A)): run $$run_a"; \
	ansible-playbook playbooks/perf.yml -i '$(INV)' -e lab_vm_kernel='$(B)' -e perf_suite='$(SUITE)' \
		-e perf_results_dir='$(RESULTS)' -e perf_baseline="$$run_a" $(ARGS); \
	echo "kernel A ($(A)): run $$run_a; kernel B ($(B)): run $$(basename "$$(readlink -f '$(RESULTS)/latest')")"

# MOLECULE_GLOB keeps the scenarios in the top-level molecule/ (molecule 26
# otherwise looks under extensions/molecule/ in a collection, with a warning).
molecule: bootstrap-test
	@if [ -n "$$(find molecule -name molecule.yml -print -quit)" ]; then \
		MOLECULE_GLOB='molecule/*/molecule.yml' $(BIN)/molecule test --all; \
	else echo "molecule: no scenarios yet"; fi

clean:
	rm -rf $(VENV) .cache .pytest_cache tests/output
