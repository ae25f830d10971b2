"""Text → typed values, as Ibis expressions: numbers like `$1,234,000`, common date formats.

Each parser returns NULL when the text cannot be read, so a check can flag "had text, got NULL".
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_TRUE = ("true", "t", "yes", "y", "1", "x", "won", "checked")
_FALSE = ("false", "f", "no", "n", "0", "unchecked")


def parse_number(s: ir.StringValue, to: dt.DataType = dt.float64) -> ir.Value:
    """`$1,234,000` → 1234000; `(1,200)` → -1200; `12%` → 12; `1.5M` → 1500000; `2k` → 2000."""
    plain = s.try_cast(dt.float64)  # most cells are plain numbers: let the engine's cast read them
    plain_ok = plain.notnull() & ~plain.isnan() & ~plain.isinf()
    value = ibis.cases((plain_ok, plain), else_=_formatted_number(s))
    if to.is_integer():
        whole = value.round(0)
        return ibis.cases((whole == value, whole.cast(to)), else_=ibis.null(to))
    return value.cast(to)


def _formatted_number(s: ir.StringValue) -> ir.FloatingValue:
    """Numbers with currency signs, thousands separators, parentheses, % or K/M/B suffixes."""
    text = s.strip().upper()
    negative = text.startswith("(") & text.endswith(")") | text.startswith("-")
    grouped = text.re_replace(r"[\s$€£¥()+\-%]|USD|EUR|GBP", "")
    well_formed = grouped.re_search(r"^(\d{1,3}(,\d{3})+|\d*)(\.\d+)?[KMB]?$")
    body = grouped.re_replace(",", "")
    scale = ibis.cases(
        (body.endswith("K"), 1e3),
        (body.endswith("M"), 1e6),
        (body.endswith("B"), 1e9),
        else_=1.0,
    )
    digits = body.re_replace(r"[KMB]$", "")
    number = ibis.cases(
        (well_formed & digits.re_search(r"\d"), digits.try_cast(dt.float64)),
        else_=ibis.null(dt.float64),
    )
    return number * scale * ibis.cases((negative, -1.0), else_=1.0)


def parse_boolean(s: ir.StringValue) -> ir.BooleanValue:
    text = s.strip().lower()
    return ibis.cases(
        (text.isin(_TRUE), ibis.literal(True)),
        (text.isin(_FALSE), ibis.literal(False)),
        else_=ibis.null(dt.boolean),
    )


def _ymd(y: ir.StringValue, m: ir.StringValue, d: ir.StringValue) -> ir.StringValue:
    return y + "-" + m.lpad(2, "0") + "-" + d.lpad(2, "0")


def _month_number(name: ir.StringValue) -> ir.StringValue:
    key = name.lower().left(3)
    return ibis.cases(*[(key == k, ibis.literal(str(v))) for k, v in _MONTHS.items()], else_="")


def _date_text(s: ir.StringValue, date_order: str) -> ir.StringValue:
    """The date part of `s` rewritten as `YYYY-MM-DD` text (not yet checked), or NULL."""
    t = s.strip()
    iso = r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    slash = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})"
    compact = r"^(\d{4})(\d{2})(\d{2})$"
    named_first = r"^(\d{1,2})[\s\-]([A-Za-z]{3,9})[\s\-,]+(\d{4})"
    month_first = r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})"
    g = t.re_extract
    year2 = g(slash, 3)
    year = ibis.cases((year2.length() == 2, "20" + year2), else_=year2)
    first, second = g(slash, 1), g(slash, 2)
    dotted_dmy = t.re_search(r"^\d{1,2}\.\d{1,2}\.\d{4}")
    mdy = date_order == "MDY"
    month = ibis.cases((dotted_dmy, second), else_=first if mdy else second)
    day = ibis.cases((dotted_dmy, first), else_=second if mdy else first)
    return ibis.cases(
        (t.re_search(iso), _ymd(g(iso, 1), g(iso, 2), g(iso, 3))),
        (t.re_search(compact), _ymd(g(compact, 1), g(compact, 2), g(compact, 3))),
        (t.re_search(slash), _ymd(year, month, day)),
        (t.re_search(named_first), _ymd(g(named_first, 3), _month_number(g(named_first, 2)),
                                        g(named_first, 1))),
        (t.re_search(month_first), _ymd(g(month_first, 3), _month_number(g(month_first, 1)),
                                        g(month_first, 2))),
        else_=ibis.null(dt.string),
    )  # fmt: skip


def parse_date(s: ir.StringValue, date_order: str = "MDY") -> ir.DateValue:
    """ISO, `YYYY/MM/DD`, `MM/DD/YYYY` (or DMY), `DD.MM.YYYY`, `YYYYMMDD`, `Mar 4, 2025`,
    `4 Mar 2025`; a time part, if any, is ignored."""
    fast = s.strip().re_search(r"^\d{4}-\d{2}-\d{2}$")  # ISO, the common case
    return ibis.cases((fast, s.strip().try_cast(dt.date)),
                      else_=_date_text(s, date_order).try_cast(dt.date))  # fmt: skip


def parse_timestamp(s: ir.StringValue, date_order: str = "MDY") -> ir.TimestampValue:
    """A date as in `parse_date` plus an optional `HH:MM[:SS[.fff]]` with AM/PM; a `Z` or `+00:00`
    offset is converted to UTC. A date alone means midnight."""
    t = s.strip()
    clock = r"[T\s](\d{1,2}):(\d{2})(:(\d{2})(\.\d+)?)?\s*([AaPp][Mm])?"
    hour = t.re_extract(clock, 1)
    minute = t.re_extract(clock, 2)
    second = t.re_extract(clock, 4)
    ampm = t.re_extract(clock, 6).upper()
    h = hour.try_cast(dt.int64)
    h24 = ibis.cases(((ampm == "PM") & (h < 12), h + 12), ((ampm == "AM") & (h == 12), 0), else_=h)
    time = ibis.cases(
        (hour.length() > 0,
         h24.cast(dt.string).lpad(2, "0") + ":" + minute + ":"
         + ibis.cases((second.length() > 0, second), else_="00")),
        else_="00:00:00",
    )  # fmt: skip
    base = (_date_text(s, date_order) + " " + time).try_cast(dt.timestamp)
    offset = r"([+-])(\d{2}):?(\d{2})$"
    has_offset = t.re_search(r"T.*" + offset) | t.re_search(r"\d\s" + offset)
    sign = ibis.cases((t.re_extract(offset, 1) == "-", 1), else_=-1)
    minutes = t.re_extract(offset, 2).try_cast(dt.int64) * 60 + t.re_extract(offset, 3).try_cast(
        dt.int64
    )
    shifted = base + (sign * minutes).as_interval("m")
    slow = ibis.cases((has_offset, shifted), else_=base)
    # ISO 8601 (with Z or an offset) is by far the most common: the engine's own cast reads it
    # and converts offsets to UTC; the patterns above only run where that cast gave up.
    looks_iso = (t.length() >= 10) & (t.substr(4, 1) == "-") & (t.substr(7, 1) == "-")
    fast = t.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.timestamp)
    return ibis.cases((looks_iso & fast.notnull(), fast), else_=slow)


def parse_as(s: ir.StringValue, to: dt.DataType, date_order: str = "MDY") -> ir.Value:
    """Dispatch on the canonical column's type."""
    if to.is_string():
        return s
    if to.is_integer() or to.is_floating():
        return parse_number(s, to)
    if to.is_boolean():
        return parse_boolean(s)
    if to.is_date():
        return parse_date(s, date_order)
    if to.is_timestamp():
        return parse_timestamp(s, date_order)
    raise TypeError(f"no parser for {to}")
