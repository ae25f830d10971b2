"""Read a user's file, whatever its shape, into an all-text table in a local DuckDB.

Handles CSV of any delimiter and quoting, with or without a header, in UTF-8 (with or without
BOM), UTF-16 with BOM, or cp1252/latin-1; Parquet; JSON Lines. Structural problems (a row with too
many or too few fields, an unclosed quote) are collected with their line numbers, not raised one
by one.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir

from abmkit.errors import InputError, Problem

SAMPLE_BYTES = 256 * 1024
ROW = "__row"
FILE = "__file"
Dialect = csv.Dialect | type[csv.Dialect]
_NUMERIC = re.compile(r"^[\s$€£(+-]*[\d.,]+[%)\sKMBkmb]*$")


@dataclass
class RawFile:
    """A file read as text: one string column per source column, `__row` (its row number in the
    file, header = row 1) and `__file` (its position in the batch)."""

    path: Path
    table: ir.Table
    columns: list[str]
    checksum: str
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    rejected_text: dict[int, str] = field(default_factory=dict)  # row -> original line


@dataclass
class RawBatch:
    """Files of one shape read together, so a hundred weekly files cost one pass, not a hundred."""

    files: list[RawFile]
    table: ir.Table
    columns: list[str]

    def path(self, index: int) -> Path:
        return self.files[index].path


def combine(raws: list[RawFile]) -> RawBatch:
    """One table over files with the same columns, each row tagged with its file's position."""
    tables = [r.table.mutate(**{FILE: ibis.literal(i, "int64")}) for i, r in enumerate(raws)]
    return RawBatch(raws, ibis.union(*tables) if len(tables) > 1 else tables[0], raws[0].columns)


def checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_file(
    path: Path,
    engine: ibis.BaseBackend,
    *,
    header: bool | None = None,
    names: list[str] | None = None,
    encoding: str | None = None,
    max_field_bytes: int = 1 << 20,
) -> RawFile:
    """Read `path` into `engine` as text; raise InputError for files that cannot be read at all."""
    if not path.exists():
        raise InputError.single(str(path), "file not found")
    if path.stat().st_size == 0:
        raise InputError.single(str(path), "file is empty")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet"):
        return _read_typed(path, engine, f"read_parquet('{_sql_path(path)}')")
    if suffix.endswith((".jsonl", ".ndjson", ".json")):
        source = f"read_json('{_sql_path(path)}', format='newline_delimited')"
        return _read_typed(path, engine, source)
    return _read_csv(path, engine, header, names, encoding, max_field_bytes)


def peek_field_count(path: Path) -> int:
    """Number of fields on the first line of a delimited file (0 if it cannot be told)."""
    try:
        head = path.open("rb").read(64 * 1024)
        text = head.decode(_detect_encoding(head, path).replace("utf-16", "utf-8"), "replace")
        first = text.lstrip("\ufeff").splitlines()[0]
        return len(next(csv.reader([first], _sniff(text, path))))
    except (OSError, IndexError, InputError):
        return 0


def _sql_path(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")


def _read_typed(path: Path, engine: ibis.BaseBackend, source: str) -> RawFile:
    con = engine.con
    try:
        rel = con.sql(f"SELECT * FROM {source}")
    except duckdb.Error as exc:
        raise InputError.single(str(path), f"cannot read: {_first_line(exc)}") from None
    cols = rel.columns
    casts = ", ".join(f'NULLIF(TRIM(CAST("{c}" AS VARCHAR)), \'\') AS "{c}"' for c in cols)
    name = _table_name(path)
    con.execute(
        f'CREATE TEMP TABLE "{name}" AS SELECT {casts}, '
        f"CAST(row_number() OVER () AS BIGINT) AS {ROW} FROM {source}"
    )
    table = engine.table(name)
    rows = int(table.count().execute())
    if rows == 0:
        raise InputError.single(str(path), "file has no rows")
    return RawFile(path, table, list(cols), checksum(path), rows_read=rows)


def _table_name(path: Path) -> str:
    return f"_raw_{hashlib.md5(str(path).encode()).hexdigest()[:6]}_{uuid.uuid4().hex[:8]}"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


# -- CSV --------------------------------------------------------------------------------------
def _read_csv(
    path: Path,
    engine: ibis.BaseBackend,
    header: bool | None,
    names: list[str] | None,
    encoding: str | None,
    max_field_bytes: int,
) -> RawFile:
    text_path, sample = _as_utf8(path, encoding)
    if not sample.strip():
        raise InputError.single(str(path), "file is empty")
    dialect = _sniff(sample, path)
    first = next(csv.reader([sample.splitlines()[0]], dialect))
    if header is None:
        header = names is None and _looks_like_header(first, sample, dialect)
    if header and len(set(first)) != len(first):
        dup = sorted({c for c in first if first.count(c) > 1})
        raise InputError.single(str(path), f"header repeats column names {dup}", row=1)
    if names is None:
        names = (
            [c.strip() for c in first] if header else [f"column{i + 1}" for i in range(len(first))]
        )
    return _scan_csv(path, text_path, engine, dialect, header, names, max_field_bytes)


def _scan_csv(path, text_path, engine, dialect, header, names, max_field_bytes) -> RawFile:
    con = engine.con
    name = _table_name(path)
    rejects = f"{name}_rejects"
    options = {
        "delim": dialect.delimiter,
        "quote": dialect.quotechar or '"',
        "escape": dialect.quotechar or '"',
        "header": header,
        "columns": {n: "VARCHAR" for n in names},
        "strict_mode": True,
        "null_padding": False,
        "store_rejects": True,
        "rejects_table": rejects,
        "rejects_scan": f"{rejects}_scan",
        # Read long lines whole, so the size check can name the cell that is too long.
        "max_line_size": max(4 * max_field_bytes, 64 << 20),
        "auto_detect": False,
    }
    args = ", ".join(f"{k}={_sql_literal(v)}" for k, v in options.items())
    cols = ", ".join(f'NULLIF(TRIM("{c}"), \'\') AS "{c}"' for c in names)
    try:
        con.execute(
            f'CREATE TEMP TABLE "{name}" AS SELECT {cols}, '
            f"CAST(row_number() OVER () AS BIGINT) + {1 if header else 0} AS {ROW} "
            f"FROM read_csv('{_sql_path(text_path)}', {args})"
        )
    except duckdb.Error as exc:
        raise InputError.single(str(path), f"cannot read as CSV: {_first_line(exc)}") from None
    problems, rejected = _structural_problems(con, rejects, str(path), names, dialect)
    reject_lines = sorted(rejected)
    _renumber(con, name, reject_lines)
    table = engine.table(name)
    rows = int(table.count().execute()) + len(reject_lines)
    if rows == 0:
        raise InputError.single(str(path), "file has a header but no rows")
    return RawFile(path, table, names, checksum(path), problems, rows, rejected)


def _sql_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_sql_literal(k)}: {_sql_literal(v)}" for k, v in value.items()) + "}"
        )
    return "'" + str(value).replace("'", "''") + "'"


def _structural_problems(con, rejects: str, file: str, names: list[str], dialect: Dialect):
    """One problem per rejected line (the engine may report a line more than once), and the
    line's original text for the quarantine."""
    rows = con.execute(
        f'SELECT line, error_type, error_message, csv_line FROM "{rejects}" ORDER BY line'
    ).fetchall()
    problems, texts = [], {}
    for line, kind, message, text in rows:
        if int(line) in texts:
            continue
        texts[int(line)] = text or ""
        problems.append(
            Problem(file, int(line), None, _reject_reason(kind, message, text, len(names), dialect))
        )
    return problems, texts


def _reject_reason(kind: str, message: str, text: str | None, expected: int,
                   dialect: Dialect) -> str:  # fmt: skip
    found = len(next(csv.reader([text], dialect))) if text else None
    if kind == "TOO MANY COLUMNS":
        return (
            f"too many fields ({found} found, {expected} expected) — an unquoted delimiter "
            "inside a value?"
        )
    if kind == "MISSING COLUMNS":
        return f"too few fields ({found} found, {expected} expected) — a truncated row?"
    return {
        "UNQUOTED VALUE": "a quote inside an unquoted value",
        "LINE SIZE OVER MAXIMUM": "row is longer than the largest accepted row "
        "(raise ingest.max_field_bytes)",
        "INVALID UNICODE": "bytes that are not valid in the file's encoding",
    }.get(kind, message.splitlines()[0])


def _renumber(con, name: str, reject_lines: list[int]) -> None:
    """Rows after a rejected line are one further down the file than their ordinal says."""
    for line in reject_lines:  # each rejected line shifts the rows at or after it by one
        con.execute(f'UPDATE "{name}" SET {ROW} = {ROW} + 1 WHERE {ROW} >= {line}')


def _as_utf8(path: Path, encoding: str | None) -> tuple[Path, str]:
    """A UTF-8 path to read and a decoded sample; other encodings are transcoded to a temp file."""
    head = path.open("rb").read(SAMPLE_BYTES)
    enc = encoding or _detect_encoding(head, path)
    if enc in ("utf-8", "utf-8-sig"):
        return path, head.decode("utf-8-sig", errors="ignore")
    out = Path(tempfile.mkdtemp(prefix="abmkit-")) / (path.stem + ".utf8.csv")
    decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    with path.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
        try:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(decoder.decode(chunk))
            dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            raise InputError.single(str(path), f"not valid {enc}: {exc.reason}") from None
    return out, out.open(encoding="utf-8").read(SAMPLE_BYTES)


def _detect_encoding(head: bytes, path: Path) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise InputError.single(
            str(path), "not a text file (NUL bytes): save it as CSV in UTF-8, or as Parquet"
        )
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the sample boundary
            return "utf-8"
        return "cp1252"


def _sniff(sample: str, path: Path) -> Dialect:
    lines = "\n".join(sample.splitlines()[:200])
    try:
        return csv.Sniffer().sniff(lines, delimiters=",;\t|")
    except csv.Error:
        if "," in lines or "\n" not in lines.strip():
            return csv.excel
        raise InputError.single(str(path), "cannot tell the delimiter (tried , ; tab |)") from None


def _looks_like_header(first: list[str], sample: str, dialect: Dialect) -> bool:
    """A header row has only non-empty, distinct, non-numeric names."""
    cells = [c.strip() for c in first]
    if not cells or any(not c for c in cells) or len(set(cells)) != len(cells):
        return False
    return not any(_NUMERIC.match(c) or "@" in c or c.count(".") >= 2 for c in cells)
