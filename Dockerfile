# syntax=docker/dockerfile:1
# The bot's production image: `bdg serve` as a non-root user, without the dev extras.
#   docker build -t bdg-bot .
# The base image is a build argument so that a mirror or a pinned digest can be used.
# Debian trixie's postgresql-client is 17: it can dump the postgres:17 server of compose.yaml
# (pg_dump refuses a server newer than itself).
ARG PYTHON_IMAGE=python:3.12-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/bdg
COPY . .
# Only the runtime dependencies: no `[dev]`.
RUN /opt/bdg/bin/pip install --upgrade pip && /opt/bdg/bin/pip install .

FROM ${PYTHON_IMAGE} AS runtime
# pg_dump / pg_restore for `bdg db backup` and `bdg db restore`; tzdata for BDG_TIMEZONE.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/bdg --create-home bdg \
    && mkdir -p /var/lib/bdg/data /var/lib/bdg/backups \
    && chown -R bdg:bdg /var/lib/bdg
COPY --from=build /opt/bdg /opt/bdg
ENV PATH=/opt/bdg/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BDG_HOST=0.0.0.0 \
    BDG_PORT=8080
WORKDIR /var/lib/bdg
USER bdg
VOLUME ["/var/lib/bdg/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BDG_PORT', '8080'), timeout=4)"]
CMD ["bdg", "serve"]
