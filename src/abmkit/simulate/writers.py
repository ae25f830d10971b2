"""CSV writing with pyarrow: stable bytes, quoting only where needed, monthly chunk files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


def write_csv(path: Path, frame: pd.DataFrame | pa.Table, header: bool = True) -> int:
    """Write one CSV file (UTF-8, comma, quotes only where needed); returns rows written."""
    table = frame if isinstance(frame, pa.Table) else to_table(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(include_header=header, quoting_style="needed")
    pacsv.write_csv(table, path, write_options=options)
    return table.num_rows


def to_table(frame: pd.DataFrame) -> pa.Table:
    """Every column as text; booleans as true/false, missing values as empty fields."""
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == bool:
            values = values.map({True: "true", False: "false"})
        if values.dtype.kind in "iu":
            values = values.astype(str)
        array = pa.array(values.astype(object).to_numpy(), type=pa.string(), from_pandas=True)
        columns[name] = array
    return pa.table(columns)


def timestamps(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds -> `2025-11-03T14:22:05Z`."""
    stamp = pa.array(seconds.astype(np.int64), type=pa.timestamp("s"))
    return pc.strftime(stamp, format="%Y-%m-%dT%H:%M:%SZ")


def dates(days: np.ndarray) -> np.ndarray:
    """datetime64[D] -> `YYYY-MM-DD` strings."""
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def ipv4(values: np.ndarray) -> pa.Array:
    """Integer IPv4 addresses -> dotted text."""
    values = values.astype(np.int64)
    octets = [pc.cast(pa.array((values >> s) & 255), pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def texts(values: np.ndarray, empty_when: np.ndarray | None = None) -> pa.Array:
    """Object array -> string array, empty where `empty_when` is true."""
    array = pa.array(values, type=pa.string(), from_pandas=True)
    if empty_when is not None:
        array = pc.if_else(pa.array(empty_when), pa.scalar(""), array)
    return array


class MonthlySink:
    """Append tables to `<folder>/<prefix>_YYYYMM.csv`, one file per calendar month."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder, self.prefix = folder, prefix
        self.writers: dict[str, pacsv.CSVWriter] = {}
        self.paths: dict[str, Path] = {}
        self.rows = 0

    def write(self, table: pa.Table, month: np.ndarray) -> None:
        """Write rows (already in time order) to the file of their month."""
        for value in np.unique(month):
            part = table.filter(pa.array(month == value))
            key = str(value).replace("-", "")
            if key not in self.writers:
                self.folder.mkdir(parents=True, exist_ok=True)
                self.paths[key] = self.folder / f"{self.prefix}_{key}.csv"
                options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
                self.writers[key] = pacsv.CSVWriter(
                    self.paths[key], table.schema, write_options=options
                )
            self.writers[key].write_table(part)
            self.rows += part.num_rows

    def close(self) -> list[Path]:
        """Close every file; returns their paths in month order."""
        for writer in self.writers.values():
            writer.close()
        return [self.paths[k] for k in sorted(self.paths)]
