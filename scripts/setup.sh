#!/usr/bin/env bash
# Install what sohoa needs on a fresh Debian machine; every step is skipped when already done.
#   Debian packages: Tesseract with Vietnamese + OSD, poppler (pdfsig too), qpdf, fonts that cover
#                    Vietnamese (Noto Sans draws the signature box)
#   MinIO server:    built from source with `go install` (pinned), cached under .cache/minio
#   Python:          a venv in .venv with sohoa installed in editable mode
# Set SOHOA_SETUP_TEST=1 to also install what the test suite needs (Chromium, Playwright, veraPDF,
# the EU DSS validator, SoftHSM2 and the NSS/OpenSC tools of the signing tests, PostgreSQL 15,
# Redis, iproute2).
set -euo pipefail
cd "$(dirname "$0")/.."

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
MINIO_BIN=".cache/minio/minio-${MINIO_VERSION}"
SHARED_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sohoa"

log() { printf '[setup] %s\n' "$*" >&2; }

apt_packages=(tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd poppler-utils qpdf
              fonts-noto-core fonts-dejavu-core hunspell-vi)
if [ "${SOHOA_SETUP_TEST:-0}" = 1 ]; then
  # signing tests: SoftHSM2 token, pkcs11-tool (opensc) to store certificates on it,
  # certutil (libnss3-tools) for pdfsig's trust database
  apt_packages+=(softhsm2 opensc libnss3-tools)
  # The office tests start their own PostgreSQL 15 and Redis (never the packaged services)
  # and make network namespaces with iproute2.
  apt_packages+=(chromium postgresql-15 redis-server iproute2 util-linux curl)
  # compose.yaml brought up for real (tests/test_office_compose.py): podman and buildah,
  # runc (crun cannot run on hybrid cgroups), CNI with DNS, debootstrap for the base image
  apt_packages+=(podman buildah runc debootstrap containernetworking-plugins
                 golang-github-containernetworking-plugin-dnsname)
  # a JDK: veraPDF runs on Java, and the DSS validator program is compiled with javac
  command -v javac >/dev/null || apt_packages+=(default-jdk-headless)
  command -v mvn >/dev/null || apt_packages+=(maven)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d 101: the packaged PostgreSQL and Redis services are not started (tests run
  # their own servers on free ports and stop them; nothing is left running).
  norc="$(mktemp -d)"; printf '#!/bin/sh\nexit 101\n' > "$norc/policy-rc.d"; chmod +x "$norc/policy-rc.d"
  if [ ! -e /usr/sbin/policy-rc.d ]; then $SUDO cp "$norc/policy-rc.d" /usr/sbin/policy-rc.d; placed=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "${placed:-0}" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  rm -rf "$norc"
fi

if [ ! -x "$MINIO_BIN" ]; then
  mkdir -p .cache/minio "$SHARED_CACHE"
  if [ -x "$SHARED_CACHE/minio-${MINIO_VERSION}" ]; then
    log "reusing MinIO ${MINIO_VERSION} from $SHARED_CACHE"
    cp "$SHARED_CACHE/minio-${MINIO_VERSION}" "$MINIO_BIN"
  else
    # No package registry serves the MinIO server (it publishes source only): built once,
    # then copied from $SHARED_CACHE; Go keeps the modules and the compiled packages in its
    # own caches ($(go env GOMODCACHE), $(go env GOCACHE)), so a rebuild is quicker.
    log "building MinIO ${MINIO_VERSION} with go install, once (about 10 minutes on 2 cores;"
    log "  kept in $SHARED_CACHE and Go's module and build caches)"
    tmpbin="$(mktemp -d)"
    t0=$(date +%s)
    GOBIN="$tmpbin" GOFLAGS=-mod=mod go install -v "github.com/minio/minio@${MINIO_VERSION}" \
      2> "$tmpbin/build.log" &
    build=$!
    told=$t0
    while kill -0 "$build" 2>/dev/null; do
      sleep 2
      if [ $(( $(date +%s) - told )) -ge 30 ] && kill -0 "$build" 2>/dev/null; then
        told=$(date +%s)
        log "  MinIO: $(( (told - t0) / 60 )) min, $(grep -vc '^go: downloading' "$tmpbin/build.log") packages compiled so far"
      fi
    done
    if ! wait "$build"; then
      tail -n 20 "$tmpbin/build.log" >&2
      log "building MinIO failed"
      exit 1
    fi
    mv "$tmpbin/minio" "$MINIO_BIN"
    rm -rf "$tmpbin"
    log "MinIO built in $(( $(date +%s) - t0 )) s"
    cp "$MINIO_BIN" "$SHARED_CACHE/minio-${MINIO_VERSION}" || true
  fi
fi
ln -sf "minio-${MINIO_VERSION}" .cache/minio/minio

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
extras=""
[ "${SOHOA_SETUP_TEST:-0}" = 1 ] && extras="[test]"
stamp=".venv/.sohoa-installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing the Python package${extras}"
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

if [ "${SOHOA_SETUP_TEST:-0}" = 1 ] && [ -f scripts/get-verapdf.sh ]; then
  bash scripts/get-verapdf.sh >/dev/null || log "veraPDF not available; PDF/A validation tests will skip"
fi
if [ "${SOHOA_SETUP_TEST:-0}" = 1 ] && [ -f scripts/get-dss.sh ]; then
  bash scripts/get-dss.sh >/dev/null || log "EU DSS validator not available; the signing tests that ask it will fail"
fi
log "ready: tesseract $(tesseract --version 2>&1 | head -1 | awk '{print $2}'), MinIO at $MINIO_BIN"
