"""The application store (SQLAlchemy 2 + Alembic): transactional rows such as the audit log.

SQLite in the workspace by default, PostgreSQL for a team server. The schema is created and
upgraded only by Alembic migrations (`migrations/versions`), never by `create_all`.
"""

from abmkit.store.db import AppStore, open_app_store

__all__ = ["AppStore", "open_app_store"]
