#!/usr/bin/env bash
# Install what sohoa needs on a fresh Debian machine; every step is skipped when already done.
#   Debian packages: Tesseract with Vietnamese + OSD, poppler (pdfsig too), qpdf, fonts that cover
#                    Vietnamese (Noto Sans draws the signature box)
#   MinIO server:    built from source with `go install` (pinned), cached under .cache/minio
#   Python:          a venv in .venv with sohoa installed in editable mode
# Set SOHOA_SETUP_TEST=1 to also install what the test suite needs (Chromium, Playwright, veraPDF,
# SoftHSM2 and the NSS/OpenSC tools of the signing tests).
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
  apt_packages+=(chromium)
  command -v java >/dev/null || apt_packages+=(default-jre-headless)
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
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$MINIO_BIN" ]; then
  mkdir -p .cache/minio "$SHARED_CACHE"
  if [ -x "$SHARED_CACHE/minio-${MINIO_VERSION}" ]; then
    log "reusing MinIO ${MINIO_VERSION} from $SHARED_CACHE"
    cp "$SHARED_CACHE/minio-${MINIO_VERSION}" "$MINIO_BIN"
  else
    log "building MinIO ${MINIO_VERSION} with go install (a few minutes, once)"
    tmpbin="$(mktemp -d)"
    GOBIN="$tmpbin" GOFLAGS=-mod=mod go install "github.com/minio/minio@${MINIO_VERSION}"
    mv "$tmpbin/minio" "$MINIO_BIN"
    rmdir "$tmpbin"
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
log "ready: tesseract $(tesseract --version 2>&1 | head -1 | awk '{print $2}'), MinIO at $MINIO_BIN"
