"""Turn what a service returns (stored actions, model versions, plays, goals, an account's
page) into the API's bodies (`abmkit.api.schemas`)."""

from __future__ import annotations

from abmkit.api.schemas import (
    AccountActions,
    AccountDetail,
    ActionDetail,
    ActionSummary,
    Cluster,
    Committee,
    DecisionLog,
    GoalOut,
    GoalProgress,
    ModelDetail,
    ModelSummary,
    PlayOut,
)
from abmkit.config.settings import Goal
from abmkit.decide.goals import Progress
from abmkit.decide.inbox import EDITABLE
from abmkit.decide.plays import Play
from abmkit.scoped import AccountPage
from abmkit.store.models import Action, ModelVersion


def action_summary(a: Action) -> ActionSummary:
    return ActionSummary(id=a.id, status=a.status, play=a.play, step=a.step, channel=a.channel,
                         account_id=a.account_id, contact_id=a.contact_id, tier=a.tier,
                         cost=a.cost, expected_value=(a.decision or {}).get("expected_value"),
                         created_at=a.created_at, not_before=a.not_before,
                         reviewed_by=a.reviewed_by, reviewed_at=a.reviewed_at)  # fmt: skip


def action_detail(a: Action) -> ActionDetail:
    return ActionDetail(**action_summary(a).model_dump(), key=a.key, payload=a.payload or {},
                        editable=list(EDITABLE.get(a.channel, ())),
                        decision=DecisionLog.model_validate(a.decision or {}),
                        review_note=a.review_note, last_error=a.last_error,
                        attempts=a.attempts or 0, sent_at=a.sent_at)  # fmt: skip


def play_out(play: Play, source: str) -> PlayOut:
    return PlayOut(source=source, **play.model_dump(include=set(PlayOut.model_fields)))


def goal_out(goal: Goal, p: Progress) -> GoalOut:
    progress = GoalProgress(period_start=p.period_start, period_end=p.period_end,
                            previous=p.previous, target=p.target, actual=p.actual, pace=p.pace,
                            gap=p.gap, behind=p.behind)  # fmt: skip
    return GoalOut(name=goal.name, metric=goal.metric, period=goal.period,
                   target_change=goal.target_change, target=goal.target, segment=goal.segment,
                   progress=progress)  # fmt: skip


def model_summary(m: ModelVersion) -> ModelSummary:
    metrics = m.metrics or {}
    return ModelSummary(version=m.version, created_at=m.created_at, kind=m.kind,
                        horizon_days=m.horizon_days, train_from=m.train_from,
                        train_to=m.train_to, test_from=m.test_from, test_to=m.test_to,
                        auc=metrics.get("auc"), top_decile_lift=metrics.get("top_decile_lift"),
                        active=bool(m.active))  # fmt: skip


def model_detail(m: ModelVersion) -> ModelDetail:
    return ModelDetail(**model_summary(m).model_dump(), settings=m.settings or {},
                       metrics=m.metrics or {}, features=list(m.features or []))  # fmt: skip


def account_detail(page: AccountPage) -> AccountDetail:
    v, s = page.view, page.view.scores
    cluster = None
    if s.get("cluster") is not None:
        cluster = Cluster(id=s["cluster"], label=s.get("cluster_label"))
    committee = Committee(coverage=page.coverage, required=page.committee, gaps=page.gaps,
                          members=v.committee, by_persona=v.personas)  # fmt: skip
    actions = AccountActions(pending=[action_summary(a) for a in page.open_actions],
                             recent=[action_summary(a) for a in page.recent_actions])  # fmt: skip
    return AccountDetail(account=v.account, scores=s or None, reasons=v.reasons, cluster=cluster,
                         history=v.history, tier_changes=v.tier_changes, committee=committee,
                         topics=v.topics, touches=v.touches, opportunities=v.opportunities,
                         actions=actions)  # fmt: skip
