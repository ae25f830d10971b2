"""Permissions, what each role holds, and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass, field

from abmkit.errors import AbmError

PERMISSIONS: dict[str, str] = {
    "accounts:read": "List accounts and read an account's scores, committee and timeline.",
    "actions:read": "Read the agent's actions and their decision log.",
    "actions:review": "Approve, reject or edit an action waiting for approval.",
    "plays:read": "Read plays and goals.",
    "models:read": "Read the model registry and back-tests.",
    "models:activate": "Make a model version the active one (a rollback).",
    "reports:read": "Read the measurement report, attribution and lift.",
    "settings:read": "Read the workspace settings (secrets are never shown).",
    "events:write": "Send beacon events, ask for personalization and routing (machines).",
}
"""Every permission a route may require, with what it allows."""

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "marketer": frozenset(PERMISSIONS) - {"models:activate"},
    "sales": frozenset({"accounts:read", "actions:read"}),
}
"""A marketer runs the program; a sales user reads its own accounts and what the agent plans
for them; an admin also rolls models back (users and keys are managed from the CLI)."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a signed-in user or an API key."""

    kind: str  # "user" or "key"
    id: str
    name: str
    role: str | None
    permissions: frozenset[str] = field(default_factory=frozenset)
    owner: str | None = None
    """Only the accounts with this CRM owner are visible (sales users, owner-bound keys)."""
    csrf: str | None = None
    """The session's CSRF token (users signed in by cookie); None for API keys."""

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> str:
        """How the audit log names it."""
        return f"{self.kind}:{self.name}"

    @property
    def owner_only(self) -> bool:
        return self.owner is not None


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in PERMISSIONS]
    if unknown:
        raise AbmError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(PERMISSIONS)}")
    if not scopes:
        raise AbmError("an API key needs at least one scope (--scope); known: "
                       + ", ".join(PERMISSIONS))  # fmt: skip
    return sorted(set(scopes))
