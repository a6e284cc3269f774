"""Browser tests: headless Debian Chromium driven by Playwright against the real API + MCP processes."""
