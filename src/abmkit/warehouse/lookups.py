"""Python functions applied inside the engine, once per distinct value.

Some normalizers (public-suffix rules, company-name folding) are Python, not SQL. They run once
per *distinct* value of a column and are joined back, so ten million touches from ten thousand
companies cost ten thousand calls.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

Stage = Callable[[pa.Table], ir.Table]  # loads an Arrow table into the engine `t` lives in


def map_distinct(t: ir.Table, column: str, fn: Callable[[str], object], out: str, stage: Stage,
                 out_type: dt.DataType = dt.string) -> ir.Table:  # fmt: skip
    """`t` plus `out` = fn(column), computed once per distinct non-null value."""
    values = t.select(column).filter(t[column].notnull()).distinct().to_pyarrow()[column]
    lookup = stage(lookup_rows(values.to_pylist(), fn, out, out_type))
    return t.left_join(lookup, t[column] == lookup._v).drop("_v")


def lookup_rows(values: list, fn: Callable[[str], object], out: str,
                out_type: dt.DataType = dt.string) -> pa.Table:  # fmt: skip
    """(_v, out): each value with fn(value), to join back on `_v`."""
    return pa.table({"_v": pa.array(values, pa.string()),
                     out: pa.array([fn(v) for v in values], out_type.to_pyarrow())})  # fmt: skip
