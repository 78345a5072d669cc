# sp-sync as a container: non-root, state in a volume, health check on /healthz.
#   docker build -t sp-sync .
#   docker run -d --name sp-sync -v sp-sync-state:/var/lib/sp-sync \
#     -v /etc/sp-sync/settings.toml:/etc/sp-sync/settings.toml:ro \
#     -v /etc/sp-sync/secrets:/run/secrets/sp-sync:ro -p 127.0.0.1:9108:9108 sp-sync
# See deploy/compose.yaml (with PostgreSQL) and docs/admin-setup.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged service user (uid 10001) that owns nothing but the state volume.
RUN groupadd --system --gid 10001 sp-sync \
 && useradd --system --uid 10001 --gid sp-sync --home-dir /var/lib/sp-sync --create-home \
    --shell /usr/sbin/nologin sp-sync

WORKDIR /opt/sp-sync/src
COPY pyproject.toml README.md LICENSE ./
COPY sp_sync ./sp_sync
RUN pip install . && rm -rf /opt/sp-sync/src

# Mapping and jobs ship with the image; mount your own over /etc/sp-sync to change them.
COPY config/lists.toml /etc/sp-sync/lists.toml
COPY jobs /etc/sp-sync/jobs
WORKDIR /etc/sp-sync

ENV SP_SYNC_CONFIG=/etc/sp-sync/settings.toml \
    SP_SYNC_SECRETS_DIR=/run/secrets/sp-sync \
    SP_SYNC_LISTS_FILE=/etc/sp-sync/lists.toml \
    SP_SYNC_JOBS_DIR=/etc/sp-sync/jobs \
    SP_SYNC_STATE_URL=sqlite:////var/lib/sp-sync/sp-sync.db \
    SP_SYNC_OUTBOX_DIR=/var/lib/sp-sync/outbox \
    SP_SYNC_METRICS_HOST=0.0.0.0 \
    SP_SYNC_METRICS_PORT=9108

USER sp-sync
VOLUME ["/var/lib/sp-sync"]
EXPOSE 9108

# /healthz answers while the process lives; /readyz (scheduler, store, fresh sources) is for
# orchestrators and monitoring, not for restarts.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]

# The state store schema is migrated by `run` itself at start (Alembic, idempotent).
ENTRYPOINT ["sp-sync", "--log-format", "json"]
CMD ["run"]
