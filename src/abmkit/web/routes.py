"""The web UI's pages (later in this issue)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the UI's routes, static assets and HTML error pages to the app."""
