"""A workspace: a folder with one config file, the warehouse file, the app store and outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from abmkit.config.render import render_config
from abmkit.config.settings import Settings
from abmkit.errors import ConfigError

CONFIG_NAME = "abmkit.yaml"
ENV_PREFIX = "ABM_"
SECRET_PREFIX = "ABM_SECRET_"


@dataclass(frozen=True)
class Workspace:
    """A workspace folder and the settings in force for it."""

    path: Path
    settings: Settings

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def warehouse_url(self) -> str:
        return _expand(self.settings.warehouse.url, self.path)

    @property
    def app_store_url(self) -> str:
        return _expand(self.settings.app_store.url, self.path)

    @property
    def outputs(self) -> Path:
        return self.path / "outputs"

    @property
    def statements(self) -> Path:
        """Compiled statements kept for the next process (a cache: safe to delete)."""
        return self.path / "cache" / "statements.json"


def _expand(url: str, path: Path) -> str:
    return url.replace("{workspace}", str(path.resolve()))


def init_workspace(path: Path, *, force: bool = False,
                   settings: Settings | None = None) -> Workspace:  # fmt: skip
    """Create `path` with a documented config file (of `settings`, default the defaults); an
    existing config is kept unless `force`."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / CONFIG_NAME
    if not config.exists() or force:
        config.write_text(render_config(settings or Settings()), encoding="utf-8")
    return open_workspace(path)


def open_workspace(
    path: Path, overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Workspace:
    """Settings for `path`: defaults → file → `ABM_*` environment → `overrides` (CLI flags)."""
    data = _read_file(path / CONFIG_NAME)
    _deep_merge(data, env_layer(os.environ if env is None else env))
    _deep_merge(data, overrides or {})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path / CONFIG_NAME)) from None
    return Workspace(path=path, settings=settings)


def _read_file(config: Path) -> dict[str, Any]:
    if not config.exists():
        return {}
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{config}: the top level must be a mapping of sections")
    return data


def env_layer(environ: dict[str, str] | os._Environ) -> dict[str, Any]:
    """`ABM_WAREHOUSE__URL=...` → {"warehouse": {"url": ...}}; values are read as YAML scalars."""
    layer: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key.startswith(SECRET_PREFIX):
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        node = layer
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[parts[-1]] = raw
    return layer


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _explain(exc: ValidationError, source: Path) -> str:
    details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return f"{source}: invalid settings: {details}"


def secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """A secret, read only from the environment as `ABM_SECRET_<NAME>`, never from a file."""
    return (os.environ if environ is None else environ).get(SECRET_PREFIX + name.upper())
