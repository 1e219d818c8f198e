# Hadir service image. The steps mirror `make run`: the same Debian packages through
# scripts/system-deps.sh (which the test suite runs), then `pip install .`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY scripts/system-deps.sh scripts/system-deps.sh
RUN scripts/system-deps.sh runtime && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY service service
COPY signaling signaling
COPY vision vision
COPY fixtures fixtures
RUN pip install .

RUN useradd --system --create-home --uid 10001 hadir && mkdir -p /data && chown hadir /data
USER hadir
ENV HADIR_STORAGE_DATA_DIR=/data HADIR_SERVER_HOST=0.0.0.0 HADIR_SERVER_PORT=8443
VOLUME ["/data"]
EXPOSE 8443

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["hadir", "probe", "/healthz"]

CMD ["hadir", "serve"]
