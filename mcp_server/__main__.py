"""`python -m mcp_server [--host H] [--port P] [--stdio]`, the same as `todo-agent mcp`."""

import sys

from backend.cli import main

if __name__ == "__main__":
    sys.exit(main(["mcp", *sys.argv[1:]]))
