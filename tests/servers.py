"""Moved to `tests.support.processes`; this name stays importable for code not yet moved."""

from tests.support.processes import (  # noqa: F401
    PROJECT_ROOT,
    ServiceProcess,
    closed_mcp_url,
    free_port,
    port_open,
    running,
    service_env,
)
