"""Content for the agent's actions: e-mails, tasks, owner alerts, ads, direct-mail notes and
landing-page variants, written from Jinja2 templates by default, optionally rewritten by an
OpenAI-compatible LLM, and always checked against the brand rules (see docs/content.md)."""

from abmkit.content.brand import check
from abmkit.content.draft import FIELDS, ContentError, Draft, Kind, kind_for_channel
from abmkit.content.llm import write
from abmkit.content.settings import BrandSettings, ContentSettings, LlmSettings
from abmkit.content.templates import available, render

__all__ = [
    "FIELDS",
    "BrandSettings",
    "ContentError",
    "ContentSettings",
    "Draft",
    "Kind",
    "LlmSettings",
    "available",
    "check",
    "kind_for_channel",
    "render",
    "write",
]
