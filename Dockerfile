# sohoa in one image: the watcher (default), `sohoa worker`, `sohoa serve`, the CLI.
# Configuration only through the environment (SOHOA_*); MinIO, PostgreSQL and Redis run
# elsewhere (compose.yaml). BASE lets a machine without a registry build from a local
# Debian 12 base (scripts/test-image.sh makes one with debootstrap).
ARG BASE=debian:bookworm-slim
FROM ${BASE}

ARG PIP_CERT=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd \
      poppler-utils qpdf fonts-noto-core fonts-dejavu-core ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /srv/sohoa --uid 10001 sohoa
WORKDIR /opt/sohoa
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && rm -rf /opt/sohoa

ENV PATH=/opt/venv/bin:$PATH \
    SOHOA_HOME=/srv/sohoa/var \
    SOHOA_INBOX=/srv/sohoa/inbox \
    OMP_THREAD_LIMIT=1 \
    PYTHONUNBUFFERED=1
USER sohoa
WORKDIR /srv/sohoa
VOLUME ["/srv/sohoa"]
ENTRYPOINT ["sohoa"]
CMD ["watch"]
