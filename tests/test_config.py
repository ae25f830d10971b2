"""The settings tree: every setting documented, `abm init` output, layering, secrets, errors."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from abmkit.config import Settings, init_workspace, open_workspace, secret
from abmkit.config.workspace import CONFIG_NAME, env_layer
from abmkit.errors import ConfigError


def _models_in(annotation) -> list[type[BaseModel]]:
    """Pydantic models inside a field's type (`Persona`, `list[Persona]`, `X | None`...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _undocumented(model: type[BaseModel], prefix: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if not (field.description or "").strip():
            missing.append(path)
        for sub in _models_in(field.annotation):
            missing += _undocumented(sub, path + ".")
    return missing


def test_every_setting_has_a_description():
    assert _undocumented(Settings) == []
    # the walk reaches nested sections and models inside lists
    assert len(Settings.model_fields) > 5
    assert "personas" in Settings.model_fields


def test_the_documentation_check_catches_an_undocumented_field():
    from pydantic import Field

    class Inner(BaseModel):
        documented: int = Field(1, description="yes")
        bare: int = 2

    class Outer(BaseModel):
        inner: list[Inner] = Field(default_factory=list, description="nested")

    assert _undocumented(Outer) == ["inner.bare"]


def test_init_writes_a_documented_yaml_that_round_trips_to_the_defaults(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    text = ws.config_file.read_text(encoding="utf-8")
    assert ws.config_file.name == CONFIG_NAME
    assert "# Fuzzy company-name score" in text  # help text is written above each setting
    data = yaml.safe_load(text)
    assert Settings.model_validate(data) == Settings()
    assert open_workspace(ws.path, env={}).settings == Settings()


def test_init_keeps_an_existing_config_unless_forced(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.config_file.write_text("resolve:\n  name_match_threshold: 70\n", encoding="utf-8")
    assert init_workspace(ws.path).settings.resolve.name_match_threshold == 70
    forced = init_workspace(ws.path, force=True)
    assert forced.settings.resolve.name_match_threshold == Settings().resolve.name_match_threshold


def test_layering_file_then_env_then_overrides(tmp_path):
    ws = init_workspace(tmp_path / "ws").path
    (ws / CONFIG_NAME).write_text(
        "resolve:\n  name_match_threshold: 70\n  duplicate_threshold: 88\n"
        "ingest:\n  date_order: DMY\n",
        encoding="utf-8",
    )
    file_only = open_workspace(ws, env={}).settings
    assert file_only.resolve.name_match_threshold == 70
    assert file_only.resolve.duplicate_threshold == 88

    env = {"ABM_RESOLVE__NAME_MATCH_THRESHOLD": "80", "ABM_INGEST__MAX_PROBLEMS_SHOWN": "5",
           "OTHER_VAR": "ignored"}  # fmt: skip
    with_env = open_workspace(ws, env=env).settings
    assert with_env.resolve.name_match_threshold == 80  # env beats file
    assert with_env.resolve.duplicate_threshold == 88  # file kept where env is silent
    assert with_env.ingest.max_problems_shown == 5
    assert with_env.ingest.date_order == "DMY"

    top = open_workspace(ws, {"resolve": {"name_match_threshold": 85}}, env=env).settings
    assert top.resolve.name_match_threshold == 85  # overrides (CLI flags) beat env
    assert top.ingest.max_problems_shown == 5


def test_env_layer_reads_the_process_environment(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "ws").path
    monkeypatch.setenv("ABM_RESOLVE__NAME_MATCH_THRESHOLD", "80")
    assert open_workspace(ws).settings.resolve.name_match_threshold == 80


def test_secrets_come_only_from_abm_secret_env(tmp_path, monkeypatch):
    env = {"ABM_SECRET_HUBSPOT_TOKEN": "s3cret", "ABM_HUBSPOT_TOKEN": "not-a-secret"}
    assert secret("hubspot_token", env) == "s3cret"
    assert secret("HUBSPOT_TOKEN", env) == "s3cret"
    assert secret("missing", env) is None
    assert "secret_hubspot_token" not in env_layer(env)  # a secret never enters the settings
    monkeypatch.setenv("ABM_SECRET_LINKEDIN_KEY", "k")
    assert secret("linkedin_key") == "k"
    # a secret written into the config file is refused, not silently read
    ws = init_workspace(tmp_path / "ws").path
    (ws / CONFIG_NAME).write_text("secret_linkedin_key: k\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="secret_linkedin_key"):
        open_workspace(ws, env={})
    # and ABM_SECRET_* vars do not break settings validation
    (ws / CONFIG_NAME).write_text("", encoding="utf-8")
    assert open_workspace(ws, env={"ABM_SECRET_X": "1"}).settings == Settings()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("resolve:\n  name_match_threshold: 150\n", "resolve.name_match_threshold"),
        ("ingest:\n  date_order: YMD\n", "ingest.date_order"),
        ("resolve:\n  name_match_thresold: 80\n", "resolve.name_match_thresold"),
        ("tiers:\n  tier1_capacity: many\n", "tiers.tier1_capacity"),
    ],
)
def test_invalid_config_names_the_field(tmp_path, text, field):
    ws = init_workspace(tmp_path / "ws").path
    (ws / CONFIG_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        open_workspace(ws, env={})
    assert field in str(info.value)
    assert str(ws / CONFIG_NAME) in str(info.value)


def test_invalid_env_value_names_the_field(tmp_path):
    ws = init_workspace(tmp_path / "ws").path
    with pytest.raises(ConfigError, match=r"resolve\.name_match_threshold"):
        open_workspace(ws, env={"ABM_RESOLVE__NAME_MATCH_THRESHOLD": "abc"})


def test_config_that_is_not_yaml_or_not_a_mapping(tmp_path):
    ws = init_workspace(tmp_path / "ws").path
    (ws / CONFIG_NAME).write_text("resolve: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        open_workspace(ws, env={})
    (ws / CONFIG_NAME).write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        open_workspace(ws, env={})


def test_warehouse_url_expands_the_workspace(tmp_path):
    ws = open_workspace(Path(tmp_path), env={})
    assert ws.warehouse_url == f"duckdb:///{tmp_path.resolve()}/warehouse.duckdb"
