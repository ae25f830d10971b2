"""The public endpoints a website calls with its site key: beacon events, personalization and
routing (later in this issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["public"])
