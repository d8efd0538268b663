"""The dashboard page and its assets (no auth: the page signs in through the API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"

router = APIRouter(include_in_schema=False)

_FALLBACK = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>perftiers</title></head>
<body><h1>perftiers</h1><p>The dashboard files are not installed. The API is described at
<a href="/openapi.json">/openapi.json</a>.</p></body></html>"""


@router.get("/")
def index():
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html", headers={"Cache-Control": "no-cache"})
    return HTMLResponse(_FALLBACK)
