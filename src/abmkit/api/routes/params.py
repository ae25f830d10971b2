"""Query parameters several resources share, checked when parsed so a bad value is a 422 that
names the parameter rather than a failure deep in a query."""

from __future__ import annotations

import datetime as dt

from pydantic import AfterValidator

EARLIEST, LATEST = dt.datetime(1970, 1, 1), dt.datetime(2200, 1, 1)


def _moment(value: dt.datetime | None) -> dt.datetime | None:
    """A moment as the stores keep it (UTC without a time zone), within sensible years."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return value


def _day(value: dt.date | None) -> dt.date | None:
    if value is not None and not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return value


Moment = AfterValidator(_moment)
"""Annotate a `datetime | None` parameter with it (`Annotated[dt.datetime | None, Moment]`)."""
Day = AfterValidator(_day)
