"""The REST API v1, one router per resource; every route depends on `require(permission)`."""

from abmkit.api.routes import accounts, actions, auth, models, plays, reports, settings

ROUTERS = [auth.router, accounts.router, actions.router, plays.router, models.router,
           reports.router, settings.router]  # fmt: skip
