"""The server: a FastAPI app over the same services as the CLI — the REST API (`/v1`), the web
UI, and the public endpoints a website calls (beacon, personalization, routing)."""

from abmkit.api.app import create_app

__all__ = ["create_app"]
