# The watcher and workers in one image. Not built in CI (no Docker engine there);
# MinIO runs elsewhere and is reached through SOHOA_MINIO_* environment variables.
FROM debian:bookworm-slim

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
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir . && rm -rf /opt/sohoa

ENV PATH=/opt/venv/bin:$PATH \
    SOHOA_HOME=/srv/sohoa/var \
    SOHOA_INBOX=/srv/sohoa/inbox \
    OMP_THREAD_LIMIT=1 \
    PYTHONUNBUFFERED=1
USER sohoa
VOLUME ["/srv/sohoa"]
ENTRYPOINT ["sohoa"]
CMD ["watch"]
