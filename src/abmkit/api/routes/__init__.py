"""The REST API v1, one router per resource; every route depends on `require(permission)`."""

from abmkit.api.routes import auth

ROUTERS = [auth.router]
