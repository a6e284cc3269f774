"""Metrics (Prometheus, always available) and traces (OpenTelemetry, the `[otel]` extra).

    metrics        the `todo_agent_*` series, /metrics, METRICS_ENABLED / METRICS_PORT
    http           ASGI middleware: requests by route template, method and status
    turns          one chat turn: outcome, duration, in flight, its span
    model          a Model wrapper: each model call's outcome, duration, tokens, span
    tools          the agent's MCP client: each tool call's outcome and duration
    database       pool gauges and checkout waits; SQL spans when tracing is on
    tracing        OpenTelemetry set-up from the standard OTEL_* variables
    agents_bridge  Agents SDK spans as OpenTelemetry spans (nothing goes to OpenAI)

See docs/observability.md.
"""
