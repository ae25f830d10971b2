"""The one application object every face (library, CLI, API) calls: a workspace and its stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa

from abmkit.config.workspace import Workspace, open_workspace
from abmkit.decide.plays import Play, copy_play, load_plays
from abmkit.errors import InputError, NotFoundError
from abmkit.ingest.pipeline import Source, ingest_files
from abmkit.resolve.duplicates import DuplicatePair, find_duplicate_accounts, merge_accounts
from abmkit.resolve.relink import RelinkCount, relink_all
from abmkit.score.outcomes import pipeline_per_account, win_rates
from abmkit.score.propensity import TrainResult, train
from abmkit.score.refresh import RefreshResult, latest_data_time, refresh
from abmkit.score.views import AccountView, account_view, list_accounts
from abmkit.status import Status, workspace_status
from abmkit.store import AppStore, open_app_store
from abmkit.store.models import AuditEvent, ModelVersion
from abmkit.warehouse.engine import Warehouse, open_warehouse
from abmkit.warehouse.loads import LoadRecord, list_loads, list_quarantine


class Abm:
    """A workspace opened for work. Use as a context manager, or call `close()`."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.settings = workspace.settings

    @classmethod
    def open(cls, path: Path | str = ".", overrides: dict[str, Any] | None = None) -> Abm:
        return cls(open_workspace(Path(path), overrides))

    @cached_property
    def warehouse(self) -> Warehouse:
        wh = open_warehouse(self.workspace.warehouse_url, self.settings.warehouse.memory_limit)
        wh.keep_statements_in(self.workspace.statements)
        return wh

    @cached_property
    def app_store(self) -> AppStore:
        return open_app_store(self.workspace.app_store_url)

    def ingest(
        self, table: str, files: list[Path], *, preset: str | None = None,
        mapping: Path | None = None, quarantine: bool = False,
        progress: Callable[[str, float], None] | None = None,
    ) -> list[LoadRecord | InputError]:  # fmt: skip
        source = Source(preset=preset, mapping_file=mapping)
        results = ingest_files(self.warehouse, self.settings, table, files, source,
                               quarantine=quarantine, progress=progress)  # fmt: skip
        for path, result in zip(files, results, strict=True):
            if isinstance(result, LoadRecord):
                self.app_store.record(
                    "ingest",
                    str(path),
                    "ok",
                    table=table,
                    load_id=result.load_id,
                    inserted=result.inserted,
                    updated=result.updated,
                    quarantined=result.quarantined,
                )
            else:
                self.app_store.record(
                    "ingest", str(path), "rejected", table=table, problems=len(result.problems)
                )
        return results

    def relink(self) -> list[RelinkCount]:
        counts = relink_all(self.warehouse, self.settings)
        self.app_store.record("resolve", "all", "ok",
                              changed={c.table: c.changed for c in counts})  # fmt: skip
        return counts

    def score(self, as_of: dt.datetime | None = None, *,
              incremental: bool = False) -> RefreshResult:  # fmt: skip
        """Refresh every account's scores (as of the latest data unless told otherwise), or with
        `incremental` only those touched by data loaded since the last refresh."""
        result = refresh(self.warehouse, self.settings, as_of, self.app_store.model(),
                         incremental=incremental,
                         identity_changed_at=self._identity_changed_at())  # fmt: skip
        self.app_store.record("score", result.mode, "ok", accounts=result.accounts,
                              rescored=result.rescored, inserted=result.changed.inserted,
                              updated=result.changed.updated,
                              tier_changes=result.tier_changes)  # fmt: skip
        return result

    def replay(self, weeks: int,
               progress: Callable[[str, float], None] | None = None) -> RefreshResult:  # fmt: skip
        """Score as of each of the `weeks` weeks before the latest data, oldest first, then as
        of the latest data: the stage and tier history weekly refreshes would have recorded,
        for a workspace whose data arrived all at once (the funnel report reads it)."""
        latest = latest_data_time(self.warehouse)
        if latest is not None:
            for n in range(weeks, 0, -1):
                if progress is not None:
                    progress(f"replaying week -{n}", (weeks - n) / (weeks + 1))
                self.score(latest - dt.timedelta(weeks=n))
        return self.score()

    def _identity_changed_at(self) -> dt.datetime | None:
        """When a relink last changed a link (merges are read from the warehouse itself)."""
        moved = [e.at for e in self.app_store.events("resolve", limit=20)
                 if any((e.detail.get("changed") or {}).values())]  # fmt: skip
        return max(moved, default=None)

    def train_model(self, *, activate: bool = True) -> TrainResult:
        """Train a propensity model on earlier snapshots, back-test it on the latest window,
        register it (and by default make it the active one)."""
        result = train(self.warehouse, self.settings, self.app_store,
                       self.workspace.path / "models", activate=activate)  # fmt: skip
        m = result.model
        self.app_store.record("model.train", m.version, "ok", auc=m.metrics.get("auc"),
                              lift=m.metrics.get("top_decile_lift"), active=m.active)  # fmt: skip
        return result

    def models(self) -> list[ModelVersion]:
        return self.app_store.models()

    def model(self, version: str | None = None) -> ModelVersion:
        found = self.app_store.model(version)
        if found is None:
            raise NotFoundError(f"no model version {version!r}" if version else
                           "no model is active; train one with `abm model train`")  # fmt: skip
        return found

    def activate_model(self, version: str) -> ModelVersion:
        """Make `version` the active model (a rollback when it is an older one); the next
        `abm score` uses it."""
        chosen = self.app_store.activate(version)
        self.app_store.record("model.activate", version, "ok")
        return chosen

    def accounts(self, **filters: Any) -> pa.Table:
        """Scored accounts, best first; filters: tier, stage, sales_ready, search, sort, limit."""
        return list_accounts(self.warehouse, **filters)

    def account(self, key: str) -> AccountView:
        """Everything about one account, by ID, domain or URL."""
        return account_view(self.warehouse, self.settings, key)

    def plays(self) -> dict[str, tuple[Play, str]]:
        """Every play (built-in and the workspace's own), validated, by name, with its source."""
        return load_plays(self.workspace.path, [p.name for p in self.settings.personas])

    def copy_play(self, name: str) -> Path:
        """Copy a built-in play into the workspace's `plays/` folder, to edit it there."""
        path = copy_play(self.workspace.path, name)
        self.plays()  # the copy is valid as it stands
        return path

    def status(self) -> Status:
        return workspace_status(self.warehouse)

    def duplicates(self) -> list[DuplicatePair]:
        return find_duplicate_accounts(self.warehouse, self.settings.resolve.duplicate_threshold)

    def merge(self, source_id: str, into_id: str) -> None:
        merge_accounts(self.warehouse, source_id, into_id)
        self.app_store.record("merge", source_id, "ok", into=into_id)

    def audit(self, action: str | None = None, limit: int = 50) -> list[AuditEvent]:
        return self.app_store.events(action, limit)

    def quarantine(self, table: str | None = None) -> pa.Table:
        return list_quarantine(self.warehouse, table).to_pyarrow()

    def loads(self, limit: int = 50) -> pa.Table:
        return list_loads(self.warehouse, limit).to_pyarrow()

    def close(self) -> None:
        for store in ("warehouse", "app_store"):
            if store in self.__dict__:
                self.__dict__.pop(store).close()

    def __enter__(self) -> Abm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def win_rates(self, by: str = "industry") -> pa.Table:
        """Won / closed opportunities per value of an accounts column (open deals excluded)."""
        return win_rates(self.warehouse, by).to_pyarrow()

    def pipeline_per_account(self, by: str | None = None) -> pa.Table:
        """Pipeline created per account, or per segment of an accounts column with `by`."""
        return pipeline_per_account(self.warehouse, by).to_pyarrow()
