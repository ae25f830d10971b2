"""Settings and workspaces."""

from abmkit.config.settings import Settings
from abmkit.config.workspace import Workspace, init_workspace, open_workspace, secret

__all__ = ["Settings", "Workspace", "init_workspace", "open_workspace", "secret"]
