"""Who is calling: the bearer token verified by the API's own code, and the tools' view of it.

Over HTTP the SDK's bearer middleware calls `JWTTokenVerifier` for every request (no token or a
bad one is a 401 before any tool runs) and puts the result in a context variable that the tools
read through `current_user_id()`. Over stdio there is no HTTP request: `authenticated_as` sets
the same context variable once for the whole process, from TODO_AGENT_TOKEN.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.mcpserver.exceptions import ToolError

from backend.auth import LEEWAY_SECONDS, AuthError, Principal, verify_token_async
from backend.config import Settings


def access_token_for(principal: Principal) -> AccessToken:
    # There is no OAuth client here: the principal is the user, so it doubles as client_id.
    # The SDK refuses a token once `expires_at` has passed, with no leeway of its own: report
    # the expiry with ours, so the API and the MCP server accept exactly the same tokens.
    return AccessToken(
        token=principal.token,
        client_id=principal.user_id,
        subject=principal.user_id,
        scopes=[],
        expires_at=principal.expires_at + LEEWAY_SECONDS,
    )


class JWTTokenVerifier(TokenVerifier):
    """The SDK's TokenVerifier protocol on top of `backend.auth.verify_token_async`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def verify_token(self, token: str) -> AccessToken | None:
        # The API's own verification: a cached key at once, a JWKS fetch on a worker thread.
        try:
            principal = await verify_token_async(token, self.settings)
        except AuthError:
            return None  # the SDK answers 401 with WWW-Authenticate: Bearer
        return access_token_for(principal)


@contextmanager
def authenticated_as(principal: Principal) -> Iterator[None]:
    """Run the enclosed code (and tasks started from it) as `principal`."""
    reset = auth_context_var.set(AuthenticatedUser(access_token_for(principal)))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


def current_user_id() -> str:
    """The verified caller of the running tool. Tools never take a user id as an argument."""
    access_token = get_access_token()
    if access_token is None or not access_token.subject:
        # Unreachable over HTTP (the middleware refuses the request first); a guard for
        # any transport that forgot to authenticate.
        raise ToolError("Not authenticated")
    # A stdio session outlives its token's lifetime; HTTP requests are checked on arrival.
    if access_token.expires_at is not None and access_token.expires_at < time.time():
        raise ToolError("The access token has expired; restart the server with a fresh token")
    return access_token.subject
