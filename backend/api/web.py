"""The todo web page: `/` and its static assets, served from the package with security headers.

The page is plain HTML/CSS/JS (no build step, no CDN). Only files that ship in `backend/static`
are served, looked up in a table built at import, so no request path ever reaches the filesystem.
The strict Content-Security-Policy is set on these routes only: Swagger UI at `/docs` loads its
script from a CDN and runs an inline one, which this policy would block.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "connect-src 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Revalidate every time (cheap with the ETag) so a new release is picked up at once.
    "Cache-Control": "no-cache",
}

# Explicit types: the platform's mimetypes table may lack some or map .js to an old type.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def _load(path: Path) -> StaticFile:
    body = path.read_bytes()
    content_type = _CONTENT_TYPES.get(path.suffix) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    return StaticFile(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _load_all(root: Path) -> dict[str, StaticFile]:
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): _load(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


STATIC_FILES = _load_all(STATIC_DIR)

router = APIRouter(include_in_schema=False)


def _respond(request: Request, file: StaticFile) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": file.etag}
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(file.body, media_type=file.content_type, headers=headers)


@router.get("/")
def index(request: Request) -> Response:
    file = STATIC_FILES.get("index.html")
    if file is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not Found")
    return _respond(request, file)


@router.get("/static/{name:path}")
def static_file(request: Request, name: str) -> Response:
    file = STATIC_FILES.get(name)
    if file is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Not Found")
    return _respond(request, file)
