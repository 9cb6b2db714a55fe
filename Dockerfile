# seqguard in a container: the wheel built from this repository, installed with the
# versions the tests ran with (requirements.lock), run as a non-root user.
#
#   docker build -t seqguard:0.1.0 .
#
# The account's project folder (sql/ rules, lists, rulesets, plays; seqguard.yml) sits
# at /project: mount it read-only (`-v /srv/seqguard/acme:/project:ro`, or the `volumes`
# job variable of a Docker work pool), or bake it into an image of its own
# (`FROM seqguard:0.1.0` + `COPY acme/ /project/`). The database lives on the volume
# /data. Credentials never enter the image: they come from the environment or from the
# Prefect Secret blocks seqguard.yml names, at run time.

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
# .dockerignore lets in only what the wheel is built from
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
COPY requirements.lock /tmp/requirements.lock
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir -c /tmp/requirements.lock /tmp/wheels/seqguard-*.whl \
    && rm -rf /tmp/wheels /tmp/requirements.lock
# the project stays root's (the cycle reads it, never writes it); /data is the user's
RUN useradd --system --uid 10001 --create-home --home-dir /home/seqguard seqguard \
    && mkdir -p /project /data \
    && chown seqguard:seqguard /data
VOLUME ["/data"]
USER seqguard
WORKDIR /project
# One account's cycle served every 15 minutes (needs PREFECT_API_URL). No ENTRYPOINT: a
# Docker work pool's worker replaces this command with its own (`prefect flow-run
# execute`), which an ENTRYPOINT would be prefixed to.
CMD ["seqguard", "serve", "--db", "/data/seqguard.duckdb", "--project", "/project"]
