# sohoa in one image: the watcher (default), `sohoa worker`, `sohoa serve`, the CLI.
# Configuration only through the environment (SOHOA_*), or a role's file named by
# SOHOA_ROLE_FILE (compose.yaml mounts the one `sohoa office init` wrote for the service);
# MinIO, PostgreSQL and Redis run elsewhere (compose.yaml builds them from
# configs/containers/). BASE lets a machine without a registry build from a local Debian 12
# base (scripts/base-image.sh makes one with debootstrap).
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}

ARG PIP_CERT=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd \
      poppler-utils qpdf fonts-noto-core fonts-dejavu-core ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# The account every sohoa process runs as; its home holds SOHOA_HOME and the inbox, so
# volumes mounted there start out as its own.
RUN groupadd --system --gid 10001 sohoa \
 && useradd --system --create-home --home-dir /srv/sohoa --uid 10001 --gid 10001 sohoa \
 && install -d -o sohoa -g sohoa -m 700 /srv/sohoa/var /srv/sohoa/inbox
WORKDIR /opt/sohoa
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
RUN if [ -z "$PIP_CERT" ]; then unset PIP_CERT; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && rm -rf /opt/sohoa
COPY configs/containers/sohoa-entry.sh /usr/local/bin/sohoa-entry
RUN chmod 755 /usr/local/bin/sohoa-entry

ENV PATH=/opt/venv/bin:$PATH \
    SOHOA_HOME=/srv/sohoa/var \
    SOHOA_INBOX=/srv/sohoa/inbox \
    OMP_THREAD_LIMIT=1 \
    PYTHONUNBUFFERED=1
USER sohoa
WORKDIR /srv/sohoa
ENTRYPOINT ["/usr/local/bin/sohoa-entry"]
CMD ["watch"]
