# streamrec worker image: `docker run IMAGE` starts `faust -A app worker`.
# Build stage: a virtualenv with streamrec and its pinned dependencies.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
# EXTRAS=train adds PyTorch, which `retrain` needs for the default model (the hybrid);
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu keeps it to the CPU build. (DL3013:
# this installs the project itself; its dependencies are pinned in pyproject.toml.)
ARG EXTRAS=""
ARG PIP_EXTRA_INDEX_URL
# hadolint ignore=DL3013
RUN pip install ".${EXTRAS:+[$EXTRAS]}" \
    && pip install --no-deps recbole==1.2.1

# Runtime stage: the virtualenv and the model registry, run as an unprivileged user.
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 streamrec \
    && useradd --system --uid 10001 --gid 10001 --home-dir /srv --no-create-home streamrec \
    && mkdir -p /srv/data \
    && chown 10001:10001 /srv/data
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
COPY models ./models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STREAMREC_DATA_DIR=/srv/data \
    STREAMREC_MODEL_DIR=/srv/models \
    STREAMREC_WEB_BIND=0.0.0.0 \
    STREAMREC_GRPC_PORT=8001
USER 10001:10001
EXPOSE 6066 8001
VOLUME ["/srv/data"]
# Over https when STREAMREC_WEB_TLS_CERTFILE is set; the certificate names the worker's
# WEB_HOST, not the loopback address this asks, so only this local check skips the name.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import os, ssl, urllib.request as u; tls = bool(os.environ.get('STREAMREC_WEB_TLS_CERTFILE')); u.urlopen(('https' if tls else 'http') + '://127.0.0.1:' + os.environ.get('STREAMREC_WEB_PORT', '6066') + '/health/live', timeout=2, context=ssl._create_unverified_context() if tls else None)"]
ENTRYPOINT ["faust", "-A", "app"]
CMD ["worker", "-l", "info"]
