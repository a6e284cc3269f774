# todo-agent: one image for the API, the MCP server and the migration job (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Build from a scratch directory and install the package (runtime dependencies only, no dev
# extra); the sources are removed so the installed package is the only copy that runs.
WORKDIR /build
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY mcp_server ./mcp_server
RUN pip install . && rm -rf /build

# Run as an unprivileged user; its home holds the data directory of the embedded default.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
USER app
WORKDIR /home/app
# MCP_SERVER_URL: `serve` would otherwise derive it from --host 0.0.0.0, a Host header the MCP
# server's DNS-rebinding protection refuses. Compose sets its own (http://mcp:8001/mcp).
ENV TODO_AGENT_DATA_DIR=/home/app/.todo-agent \
    MCP_SERVER_URL=http://127.0.0.1:8001/mcp

EXPOSE 8000 8001
# Without compose: the embedded default (SQLite in the data directory, offline model).
CMD ["todo-agent", "serve", "--host", "0.0.0.0", "--port", "8000", "--mcp-port", "8001"]
