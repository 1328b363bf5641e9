# syntax=docker/dockerfile:1
# MusicConnect container image: ghcr.io/musicconnect/musicconnect:<version> (docs/operations.md,
# "Deploying on Kubernetes"). Two stages:
#   builder  - builds wheels of the core, the CLI and every plugin (and their dependencies);
#   runtime  - python slim + Debian's ffmpeg and fpcalc, the wheels installed, nothing else.
# The process runs as uid/gid 10001 and writes only to /tmp and /var/lib/musicconnect (MC_DATA_DIR),
# so the root file system can be mounted read-only (Kubernetes: readOnlyRootFilesystem: true, with
# emptyDir or persistent volumes on those two paths). No secret is baked in: every key comes from
# the environment at run time (MC_SECRET_KEY, MC_DATABASE_URL, ...).
#
#   docker build -t ghcr.io/musicconnect/musicconnect:0.1.0 .
#   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp -v mc-data:/var/lib/musicconnect \
#       ghcr.io/musicconnect/musicconnect:0.1.0 serve --host 0.0.0.0 --port 8000

# The same base in both stages (bump both together).
FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY core/ core/
COPY cli/ cli/
COPY plugins/ plugins/
# One wheel per workspace package plus every dependency, so the runtime stage installs offline.
RUN python -m pip wheel --wheel-dir /wheels "./core[postgres]" ./cli ./plugins/*/

FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="MusicConnect" \
      org.opencontainers.image.source="https://github.com/musicconnect/musicconnect" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
# ffmpeg transcodes uploads (the streaming plugin prefers it on PATH); fpcalc (libchromaprint-tools)
# computes audio fingerprints. Debian's packages, no recommends, apt lists removed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libchromaprint-tools \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 musicconnect \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/musicconnect --no-create-home \
        --shell /usr/sbin/nologin musicconnect \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/musicconnect
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
 && musicconnect --help > /dev/null
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    MC_DATA_DIR=/var/lib/musicconnect MC_ENV=production MC_LOG_FORMAT=json \
    HOME=/var/lib/musicconnect TMPDIR=/tmp
WORKDIR /app
USER 10001:10001
VOLUME ["/var/lib/musicconnect"]
EXPOSE 8000 9300
# The API's liveness (never touches the database). For a worker container under Docker, set
# MC_HEALTHCHECK_URL=http://127.0.0.1:9300/healthz; Kubernetes ignores HEALTHCHECK and uses its probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('MC_HEALTHCHECK_URL', 'http://127.0.0.1:8000/healthz'), timeout=4)"]
ENTRYPOINT ["musicconnect"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
