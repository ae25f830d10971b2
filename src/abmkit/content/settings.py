"""Settings of the content the agent's actions carry: who sells what, where workspace templates
live, the optional LLM endpoint and the brand rules every output is checked against.

This module imports only the settings base, so the settings tree can import it without a cycle.
"""

from __future__ import annotations

from pydantic import Field

from abmkit.config.base import Section

OPT_OUT_LINE = "If this is not relevant, reply 'no' and I will not write again."


class LlmSettings(Section):
    """An OpenAI-compatible chat-completions endpoint that rewrites the template draft. Its API
    key is read only from the environment, `ABM_SECRET_LLM_API_KEY` (none: no Authorization
    header, as local servers expect)."""

    enabled: bool = Field(
        False, description="Ask the LLM to rewrite each draft; off: templates only."
    )
    base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="Base URL of the endpoint; requests go to {base_url}/chat/completions.",
    )
    model: str = Field(
        "local-model", description="Model name sent with each request (a local server may "
        "ignore it)."
    )  # fmt: skip
    timeout_s: float = Field(
        10.0, gt=0, description="Seconds to wait for a reply before using the template draft."
    )
    max_tokens: int = Field(600, ge=16, description="Most tokens the LLM may write per reply.")
    temperature: float = Field(
        0.3, ge=0, le=2, description="Sampling temperature: low keeps the copy close to the facts."
    )


class BrandSettings(Section):
    """Rules every output is checked against. An LLM output that breaks one is discarded for the
    template draft, with the reason recorded; the built-in templates keep all of them."""

    banned_phrases: list[str] = Field(
        ["synergy", "game-changer", "revolutionary", "guaranteed", "best-in-class",
         "cutting-edge", "just checking in"],
        description="Words and phrases never used (whole words, any case).",
    )  # fmt: skip
    max_subject_chars: int = Field(
        78, ge=1, description="Most characters in an e-mail subject (longer ones get cut off)."
    )
    max_body_words: int = Field(
        180, ge=1, description="Most words in an e-mail or direct-mail body, sign-off included."
    )
    max_headline_chars: int = Field(
        70, ge=1, description="Most characters in an ad headline (LinkedIn single-image ads "
        "show about 70 before cutting)."
    )  # fmt: skip
    required_lines: list[str] = Field(
        [OPT_OUT_LINE],
        description="Lines every e-mail body contains word for word (the built-in templates "
        "end with them), e.g. an opt-out; empty: none.",
    )
    no_invented_numbers: bool = Field(
        True, description="Every number in an output must appear in the facts it was given."
    )


class ContentSettings(Section):
    """How messages, ads and landing-page variants are written: Jinja2 templates by default,
    optionally rewritten by an LLM, always checked against the brand rules."""

    seller_name: str = Field("Example Co", description="Your company, as messages name it.")
    product: str = Field("Example Platform", description="What you sell, as messages name it.")
    sender_name: str = Field(
        "Alex Rivera", description="The person e-mails and notes are signed by."
    )
    templates_dir: str = Field(
        "templates",
        description="Workspace folder (relative to the workspace, or absolute) whose .j2 files "
        "replace the built-in templates of the same path, e.g. templates/email/surge_intro.j2.",
    )
    llm: LlmSettings = Field(
        default_factory=LlmSettings, description="The optional OpenAI-compatible LLM."
    )
    brand: BrandSettings = Field(
        default_factory=BrandSettings, description="Rules every output is checked against."
    )
