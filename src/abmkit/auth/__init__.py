"""Who may use the server: users with roles, their sign-in sessions, and API keys for machines.

Every route names one permission; a user holds its role's permissions, an API key the scopes it
was created with. A sales user (or a key created for an owner) sees only the accounts it owns.
"""

from abmkit.auth.keys import create_key, find_key, list_keys, revoke_key
from abmkit.auth.roles import PERMISSIONS, ROLE_PERMISSIONS, Principal
from abmkit.auth.sessions import end_session, find_session, start_session
from abmkit.auth.users import add_user, authenticate, disable_user, list_users, set_password

__all__ = [
    "PERMISSIONS",
    "ROLE_PERMISSIONS",
    "Principal",
    "add_user",
    "authenticate",
    "create_key",
    "disable_user",
    "end_session",
    "find_key",
    "find_session",
    "list_keys",
    "list_users",
    "revoke_key",
    "set_password",
    "start_session",
]
