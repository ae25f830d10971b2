"""`abm serve`, and the users and API keys that may use it."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from abmkit.auth import add_user, create_key, disable_user, list_keys, list_users, revoke_key
from abmkit.auth import set_password as store_password
from abmkit.auth.roles import PERMISSIONS
from abmkit.cli.common import SetOpt, WorkspaceOpt, open_app, overrides
from abmkit.errors import AbmError
from abmkit.store.models import ROLES

console = Console()
users_app = typer.Typer(help="People who sign in to the web UI and the API.",
                        no_args_is_help=True)  # fmt: skip
keys_app = typer.Typer(help="API keys for machines (shown once, stored hashed).",
                       no_args_is_help=True)  # fmt: skip
PASSWORD_ENV = "ABM_PASSWORD"


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workspace: WorkspaceOpt = Path("."),
    set_: SetOpt = None,
) -> None:
    """Serve the REST API (/v1, OpenAPI at /v1/docs), the web UI and the public endpoints."""
    serve(workspace, overrides(set_), host, port)


def serve(workspace: Path, sets: dict, host: str, port: int) -> None:
    import uvicorn

    from abmkit.api import create_app

    app = create_app(workspace, sets)
    trusted = app.state.abm.settings.server.trusted_proxies
    console.print(f"Serving {workspace} on http://{host}:{port} (API docs at /v1/docs); "
                  "Ctrl-C stops.")  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False,
                forwarded_allow_ips=",".join(trusted) or None)  # fmt: skip


def read_password(confirm: bool = True) -> str:
    """From $ABM_PASSWORD, else a hidden prompt (twice), else one line of standard input."""
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise AbmError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The e-mail the person signs in with.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "marketer",
    owner: Annotated[str | None, typer.Option(
        help="For sales users: the CRM owner (accounts.owner) whose accounts they see.")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    workspace: WorkspaceOpt = Path("."),
) -> None:  # fmt: skip
    """Add a user. The password comes from $ABM_PASSWORD, a prompt, or standard input."""
    with open_app(workspace, None) as abm:
        user = add_user(abm.app_store, email, read_password(), role=role, name=name,
                        owner=owner)  # fmt: skip
    console.print(f"Added {user.email} ({user.role}" + (f", owner {owner}" if owner else "") + ")")


@users_app.command("list")
def users_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every user with role, owner and state."""
    with open_app(workspace, None) as abm:
        users = list_users(abm.app_store)
    table = Table("e-mail", "name", "role", "owner", "added", "state")
    for u in users:
        table.add_row(u.email, u.name, u.role, u.owner or "", f"{u.created_at:%Y-%m-%d}",
                      "disabled" if u.disabled_at else "active")  # fmt: skip
    console.print(table if users else "No users yet: `abm users add EMAIL --role admin`.")


@users_app.command("password")
def users_password(email: str, workspace: WorkspaceOpt = Path(".")) -> None:
    """Set a user's password (from $ABM_PASSWORD, a prompt, or standard input)."""
    with open_app(workspace, None) as abm:
        store_password(abm.app_store, email, read_password())
    console.print(f"Password of {email} changed")


@users_app.command("disable")
def users_disable(email: str, workspace: WorkspaceOpt = Path(".")) -> None:
    """Disable a user: no more sign-ins, and its open sessions end now."""
    with open_app(workspace, None) as abm:
        disable_user(abm.app_store, email)
    console.print(f"Disabled {email}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="What will use the key.")],
    scope: Annotated[list[str], typer.Option(
        help="A permission the key grants (repeatable): " + ", ".join(PERMISSIONS))],
    owner: Annotated[str | None, typer.Option(
        help="Limit the key to the accounts of this CRM owner.")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:  # fmt: skip
    """Create an API key and print it once (only its hash is kept)."""
    with open_app(workspace, None) as abm:
        plaintext, row = create_key(abm.app_store, name, scope, owner=owner)
    console.print(f"Key {row.id} ({', '.join(row.scopes)}). Copy it now; it is not shown again:")
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every key (never the key itself): ID, name, scopes, last use, state."""
    with open_app(workspace, None) as abm:
        keys = list_keys(abm.app_store)
    table = Table("id", "name", "scopes", "owner", "created", "last used", "state")
    for k in keys:
        table.add_row(k.id, k.name, ", ".join(k.scopes), k.owner or "",
                      f"{k.created_at:%Y-%m-%d}",
                      f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never",
                      "revoked" if k.revoked_at else "active")  # fmt: skip
    console.print(table if keys else "No API keys yet: `abm keys create NAME --scope …`.")


@keys_app.command("revoke")
def keys_revoke(key_id: str, workspace: WorkspaceOpt = Path(".")) -> None:
    """Revoke a key by its ID (or the key itself): it is refused from the next request on."""
    with open_app(workspace, None) as abm:
        row = revoke_key(abm.app_store, key_id)
    console.print(f"Revoked {row.id} ({row.name})")
