"""What the accounts' opportunities came to: win rate per segment and pipeline per account.

The rules every figure here shares, for the opportunities table as loaded:

- Only opportunities linked to an account count: `account_id` is set and names an account in the
  accounts table. Deals the CRM could not tie to a company are left out of every figure.
- Won: `is_won` is true. Closed: `is_closed` is true, or the deal is won (a won deal is closed even
  when the source left `is_closed` blank). Lost: closed and not won. Open: not closed, so a NULL
  `is_closed` on a deal that is not won means open.
- A NULL amount counts as 0 in every sum (a deal whose value is not known yet adds nothing).
- No time window: every opportunity in the warehouse counts, whatever its dates.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from abmkit.errors import AbmError
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.schemas import ACCOUNTS

UNKNOWN = "(unknown)"
"""The label of the accounts whose segment column is NULL: one group of their own."""

SEGMENT_COLUMNS = tuple(ACCOUNTS.columns)
"""The accounts columns a figure can be broken down by."""


def linked_opportunities(wh: Warehouse) -> ir.Table:
    """Every opportunity linked to an account, with the rules above as columns: `won`,
    `closed` (won deals included) and `amount` (NULL as 0)."""
    o = wh.table("opportunities")
    o = o.filter(o.account_id.notnull())
    won = o.is_won.fill_null(False)
    return o.mutate(won=won, closed=o.is_closed.fill_null(False) | won,
                    amount=o.amount.fill_null(0.0))  # fmt: skip


def account_outcomes(wh: Warehouse) -> ir.Table:
    """Per account with at least one linked opportunity: opportunities, open, closed, won, lost,
    pipeline (amount of all of them), open_pipeline and won_amount."""
    o = linked_opportunities(wh)
    won, closed, amount = o.won, o.closed, o.amount
    return o.group_by("account_id").aggregate(
        opportunities=o.count(),
        open_opportunities=o.count(where=~closed),
        closed=o.count(where=closed),
        won=o.count(where=won),
        lost=o.count(where=closed & ~won),
        pipeline=amount.sum(),
        open_pipeline=amount.sum(where=~closed).fill_null(0.0),
        won_amount=amount.sum(where=won).fill_null(0.0),
    )


def segmented_accounts(wh: Warehouse, by: str) -> ir.Table:
    """Every account with its `by` value as text, NULL labelled `(unknown)`; an unknown column is
    an `AbmError` that names the ones allowed."""
    if by not in SEGMENT_COLUMNS:
        raise AbmError(f"cannot break accounts down by {by!r}; choose one of "
                       f"{', '.join(SEGMENT_COLUMNS)}")  # fmt: skip
    acc = wh.table("accounts")
    return acc.select("account_id", segment=acc[by].cast(dt.string).fill_null(UNKNOWN))


def _with_outcomes(wh: Warehouse, acc: ir.Table) -> ir.Table:
    """`acc` with each account's outcome figures; an account without opportunities gets 0s."""
    per = account_outcomes(wh)
    figures = [c for c in per.columns if c != "account_id"]
    joined = acc.left_join(per, acc.account_id == per.account_id)
    return joined.select(*acc.columns, **{c: joined[c].fill_null(0) for c in figures})


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """num / den as a float, NULL when den is 0."""
    return ibis.ifelse(den > 0, num.cast(dt.float64) / den.cast(dt.float64),
                       ibis.null(dt.float64))  # fmt: skip


def win_rates(wh: Warehouse, by: str = "industry") -> ir.Table:
    """Win rate per value of an accounts column (`by`, default industry), one row per value.

    Columns: the segment (named `by`, NULL shown as `(unknown)`), accounts (those with at least
    one closed opportunity), closed, won, lost, win_rate = won / closed, and won_amount.

    Closed means `is_closed` true (or `is_won` true); won means `is_won` true; lost is closed and
    not won. Open deals are not in the denominator: the rate is of decided deals only. A segment
    with no closed deal keeps its row with win_rate NULL (not 0: nothing was decided). Only
    opportunities linked to an account count; a NULL amount adds 0 to won_amount.
    """
    t = _with_outcomes(wh, segmented_accounts(wh, by))
    per = t.group_by("segment").aggregate(
        accounts=t.count(where=t.closed > 0),
        closed=t.closed.sum(),
        won=t.won.sum(),
        lost=t.lost.sum(),
        won_amount=t.won_amount.sum(),
    )
    per = per.mutate(win_rate=_ratio(per.won, per.closed)).rename({by: "segment"})
    return per.select(by, "accounts", "closed", "won", "lost", "win_rate",
                      "won_amount").order_by(by)  # fmt: skip


def pipeline_per_account(wh: Warehouse, by: str | None = None) -> ir.Table:
    """Pipeline created per account, or, given `by` (an accounts column), per segment.

    Pipeline is the amount of every opportunity created for the account, open, won or lost alike
    (the usual ABM "pipeline created"), with no time window; a NULL amount counts as 0. Alongside:
    opportunities, open_opportunities, open_pipeline (amount of the open ones: not closed and not
    won) and won_amount. Only opportunities linked to an account count.

    Without `by`: one row per account, every account, those without opportunities with 0s;
    columns account_id, name and the figures, most pipeline first.

    With `by`: one row per segment (named `by`, NULL shown as `(unknown)`) with accounts (ALL
    accounts of the segment, with or without opportunities), accounts_with_pipeline (those with at
    least one opportunity, whatever its amount), the summed figures, pipeline_per_account =
    pipeline / accounts, and pipeline_per_account_with_pipeline = pipeline /
    accounts_with_pipeline (NULL when no account of the segment has an opportunity).
    """
    if by is None:
        acc = wh.table("accounts").select("account_id", "name")
        t = _with_outcomes(wh, acc).drop("closed", "won", "lost")
        return t.order_by([ibis.desc("pipeline"), "account_id"])
    t = _with_outcomes(wh, segmented_accounts(wh, by))
    per = t.group_by("segment").aggregate(
        accounts=t.count(),
        accounts_with_pipeline=t.count(where=t.opportunities > 0),
        opportunities=t.opportunities.sum(),
        open_opportunities=t.open_opportunities.sum(),
        pipeline=t.pipeline.sum(),
        open_pipeline=t.open_pipeline.sum(),
        won_amount=t.won_amount.sum(),
    )
    per = per.mutate(
        pipeline_per_account=_ratio(per.pipeline, per.accounts),
        pipeline_per_account_with_pipeline=_ratio(per.pipeline, per.accounts_with_pipeline),
    )
    return per.rename({by: "segment"}).order_by(by)
