"""Settings of `abm serve`: sessions, cookies, the websites allowed to call the public endpoints
(beacon, personalization, routing) and their rate limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from abmkit.config.base import Section


class SiteSettings(Section):
    """A website that embeds the snippet. Its key is public (it sits in the page's HTML): it
    names the site, while the origin allow-list and the rate limits keep others from using it."""

    key: str = Field(
        ...,
        min_length=8,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="The site key the snippet sends (public, not a secret).",
    )
    name: str = Field("", description="What the site is, for people reading the config.")
    origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call with this key, e.g. https://www.example.com "
        "(scheme, host and port; no path).",
    )  # fmt: skip

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://www.example.com")
        return [o.rstrip("/").lower() for o in value]


class ServerSettings(Section):
    """How `abm serve` signs people in and whom its public endpoints answer."""

    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="Longest a sign-in lasts; an idle one ends after "
        "two hours."
    )  # fmt: skip
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto", description="Mark the session cookie Secure: always, never, or when the request "
        "came over HTTPS (auto; behind a TLS proxy list it in trusted_proxies)."
    )  # fmt: skip
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses of reverse proxies whose X-Forwarded-For "
        "and X-Forwarded-Proto headers are believed (the visitor's IP resolves accounts)."
    )  # fmt: skip
    sites: list[SiteSettings] = Field(
        default_factory=list, description="Websites allowed to call the beacon, personalization "
        "and routing endpoints with a site key."
    )  # fmt: skip
    public_rate_limit: str = Field(
        "600/minute", pattern=r"^\d+\s*/\s*(second|minute|hour)$",
        description="Most requests one visitor IP may make to the public endpoints, e.g. "
        "600/minute.",
    )  # fmt: skip
    site_rate_limit: str = Field(
        "50000/minute", pattern=r"^\d+\s*/\s*(second|minute|hour)$",
        description="Most requests one site key may make to the public endpoints in all.",
    )  # fmt: skip
    login_rate_limit: str = Field(
        "10/minute", pattern=r"^\d+\s*/\s*(second|minute|hour)$",
        description="Most sign-in attempts per IP address (slows password guessing).",
    )  # fmt: skip
