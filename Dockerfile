# todo-agent: one image for the API, the MCP server and the migration job (docker-compose.yml,
# deploy/k8s/). Dependencies come from requirements.lock (hash-pinned); regenerate it with
#   uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements.lock
# after changing pyproject.toml's dependencies (tests/test_deploy_image.py checks that they agree).

# --- build: a virtualenv with the locked dependencies and the package, no compilers kept ------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock
WORKDIR /build
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY mcp_server ./mcp_server
# --no-deps: every dependency is already installed, exactly as locked.
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check

# --- runtime: the virtualenv only, run by an unprivileged user ---------------------------------
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir /data && chown app:app /data
USER app
WORKDIR /home/app
# The data directory of the embedded default (todo.db and the generated secret). A volume, so a
# plain `docker run` keeps both across container restarts; with PostgreSQL and a configured
# BETTER_AUTH_SECRET nothing is written there.
# MCP_SERVER_URL: `serve` would otherwise derive it from --host 0.0.0.0, a Host header the MCP
# server's DNS-rebinding protection refuses. Compose and Kubernetes set their own.
ENV TODO_AGENT_DATA_DIR=/data \
    MCP_SERVER_URL=http://127.0.0.1:8001/mcp
VOLUME ["/data"]

EXPOSE 8000 8001
# Liveness of the API (the default command's); compose overrides it for the MCP service.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# Without compose: the embedded default (SQLite in /data, offline model).
CMD ["todo-agent", "serve", "--host", "0.0.0.0", "--port", "8000", "--mcp-port", "8001"]
