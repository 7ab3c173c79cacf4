# jobbot's container image: `docker build -t jobbot .`, then `docker run --env-file .env jobbot`.
# The install steps below are the ones tests/test_container.py runs, on the same Python, without Docker.

# Build stage: jobbot and its PostgreSQL driver as wheels, from this repository (jobbot is not on PyPI).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY jobbot/ jobbot/
RUN pip wheel --no-cache-dir --wheel-dir wheels '.[postgres]'

# Runtime stage: no compiler, no pip cache, no source tree; jobbot runs as an unprivileged user.
FROM python:3.11-slim-bookworm
COPY --from=build /src/wheels /wheels
# Every wheel the build stage made, by file: jobbot, psycopg and their dependencies, nothing from an index.
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --no-log-init --uid 10001 --user-group --create-home --home-dir /home/jobbot jobbot \
    && mkdir /data \
    && chown jobbot /data
USER 10001:10001
WORKDIR /data
# PORT serves Slack's requests in HTTP mode and /healthz, /readyz and /metrics in both modes
# (JOBBOT_HEALTH_PORT, when set, moves them in Socket Mode). SQLite lives on /data: mount a volume there,
# or set JOBBOT_DATABASE_URL to PostgreSQL for replicas. Logs go to stdout unbuffered.
ENV PORT=3000 \
    JOBBOT_DATABASE_URL=sqlite:////data/jobbot.db \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('JOBBOT_HEALTH_PORT') or os.environ['PORT']), timeout=4)"]
# Exec form: jobbot is PID 1 and receives SIGTERM itself; it stops within 10 s and exits 0.
ENTRYPOINT ["jobbot"]
