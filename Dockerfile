# syntax=docker/dockerfile:1
#
# qworker with all three backends (embedded SQLite, Redis, Amazon SQS).
#
#   docker build -t qworker .
#   docker run --rm -v "$PWD/examples/sam:/app" qworker run --template template.yaml
#
# Your own image: FROM this one, copy your handlers and their qworker.toml or SAM template into
# /app (the working directory), and set CMD, e.g.
#   FROM qworker
#   COPY --chown=10001:10001 . /app
#   CMD ["run", "--template", "template.yaml"]
#
# PID 1 is tini: it forwards SIGTERM to qworker, which stops receiving and drains running batches
# for --graceful-timeout (25 s, below Kubernetes' 30 s terminationGracePeriodSeconds), and it reaps
# zombies (handlers run with --isolation process). The entry point is exec form, so no shell sits
# between tini and qworker to swallow the signal.

ARG PYTHON_VERSION=3.12

# -- stage 1: wheels for qworker (the core and its three backends) and every dependency ----------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY qworker/ qworker/
COPY backends/ backends/
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[redis,sqs]'

# -- stage 2: the runtime ---------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    QWORKER_LOG_FORMAT=json \
    QWORKER_METRICS_PORT=9090 \
    QWORKER_METRICS_HOST=0.0.0.0

RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 qworker \
    && useradd --system --no-log-init --uid 10001 --gid qworker --home-dir /app --shell /usr/sbin/nologin qworker \
    && mkdir -p /app \
    && chown qworker:qworker /app

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels 'qworker[redis,sqs]'

WORKDIR /app
USER 10001:10001

# /metrics (Prometheus), /livez and /readyz (Kubernetes probes); the health check asks /livez
# (`qworker check` validates a configuration; it does not tell whether the running worker is alive)
EXPOSE 9090
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('QWORKER_METRICS_PORT', '9090'), timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--", "qworker"]
# with no HANDLER, `qworker run` serves the functions of /app/qworker.toml (or pyproject.toml's
# [tool.qworker]); pass `run --template template.yaml` for a SAM project
CMD ["run"]
