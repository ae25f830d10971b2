"""Read a user's files, whatever their shape, into one all-text table in a local DuckDB.

Handles CSV of any delimiter and quoting, with or without a header, in UTF-8 (with or without
BOM), UTF-16 with BOM, or cp1252/latin-1; Parquet; JSON Lines. Reading is two steps: `probe`
looks at one file (encoding, dialect, header, column names, checksum) without reading it whole,
then `read_batch` reads every file of one shape in a single scan, so a year of weekly exports
costs one pass, not fifty-two. Structural problems (a row with too many or too few fields, an
unclosed quote, a line over the size limit) are collected with their line numbers, not raised
one by one.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir

from abmkit.errors import InputError, Problem

SAMPLE_BYTES = 256 * 1024
ROW = "__row"
FILE = "__file"
MIN_LINE_BYTES = 2 << 20
Dialect = csv.Dialect | type[csv.Dialect]
_NUMERIC = re.compile(r"^[\s$€£(+-]*[\d.,]+[%)\sKMBkmb]*$")


@dataclass
class Probe:
    """What one file looks like, learned from its first bytes: how to read it, and its columns."""

    path: Path
    format: str  # csv | parquet | json
    read_path: Path  # the file itself, or a UTF-8 copy of a file in another encoding
    names: list[str]
    checksum: str
    header: bool = False
    dialect: Dialect | None = None

    @property
    def shape(self) -> tuple:
        """Files with equal shapes are read in one scan."""
        d = self.dialect
        quoting = (d.delimiter, d.quotechar) if d else ()
        return (self.format, self.header, quoting, tuple(self.names))


@dataclass
class RawFile:
    """One file of a batch: its structural problems, rows read, and rejected lines' text."""

    path: Path
    checksum: str
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    rejected_text: dict[int, str] = field(default_factory=dict)  # row -> original line


@dataclass
class RawBatch:
    """Files of one shape read together: one string column per source column, `__file` (the
    file's position in `files`) and `__row` (its row number in the file, header = row 1)."""

    files: list[RawFile]
    table: ir.Table
    columns: list[str]

    def path(self, index: int) -> Path:
        return self.files[index].path


def checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def probe(path: Path, engine: ibis.BaseBackend, *, header: bool | None = None,
          names: list[str] | None = None, encoding: str | None = None) -> Probe:  # fmt: skip
    """How to read `path`; raise InputError for files that cannot be read at all."""
    if not path.exists():
        raise InputError.single(str(path), "file not found")
    if path.stat().st_size == 0:
        raise InputError.single(str(path), "file is empty")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet"):
        return _probe_typed(path, engine, "parquet")
    if suffix.endswith((".jsonl", ".ndjson", ".json")):
        return _probe_typed(path, engine, "json")
    return _probe_csv(path, header, names, encoding)


def read_batch(probes: list[Probe], engine: ibis.BaseBackend,
               max_field_bytes: int) -> tuple[RawBatch, dict[int, InputError]]:  # fmt: skip
    """Read files of one shape in one scan. Returns the batch and, by position, the files that
    turned out to have no rows (they are in the batch, with none)."""
    first = probes[0]
    con = engine.con
    name = _table_name(first.path)
    paths = "[" + ", ".join(f"'{_sql_path(p.read_path)}'" for p in probes) + "]"
    names = first.names
    rejects = f"{name}_rejects"
    if first.format == "csv":
        source = f"read_csv({paths}, {_csv_options(first, rejects, max_field_bytes)})"
    elif first.format == "parquet":
        source = f"read_parquet({paths}, union_by_name=true)"
    else:
        source = f"read_json({paths}, format='newline_delimited', union_by_name=true)"
    cols = ", ".join(f'NULLIF(TRIM(CAST("{c}" AS VARCHAR)), \'\') AS "{c}"' for c in names)
    try:
        con.execute(f'CREATE TEMP TABLE "{name}" AS SELECT {cols}, '
                    f"CAST(file_index AS BIGINT) AS {FILE} FROM {source}")  # fmt: skip
    except duckdb.Error as exc:
        what = "cannot read as CSV" if first.format == "csv" else "cannot read"
        reason = f"{what}: {_first_line(exc)}"
        raise InputError([Problem(str(p.path), None, None, reason) for p in probes]) from None
    files = [RawFile(p.path, p.checksum) for p in probes]
    if first.format == "csv":
        _structural_problems(con, rejects, probes, files, max_field_bytes)
    table = _numbered(con, name, files, base=1 if first.header else 0)
    failed = {}
    for i, f in enumerate(files):
        if f.rows_read == 0:
            why = "file has a header but no rows" if first.header else "file has no rows"
            failed[i] = InputError.single(str(f.path), why)
    return RawBatch(files, engine.table(table), list(names)), failed


def _numbered(con, name: str, files: list[RawFile], base: int) -> str:
    """A view of the read rows with their row numbers in their files.

    The scan keeps file order and row order, so each file's rows hold consecutive row ids:
    a row's number is its row id minus its file's first, plus the header. Rows after a rejected
    line are one further down the file than their ordinal says: those few files get their
    numbers materialized and shifted."""
    counts = dict.fromkeys(range(len(files)), (0, 0))
    for f, n, start in con.execute(
        f'SELECT {FILE}, count(*), min(rowid) FROM "{name}" GROUP BY {FILE}'
    ).fetchall():
        counts[int(f)] = (int(n), int(start))
    for i, f in enumerate(files):
        f.rows_read = counts[i][0] + len(f.rejected_text)
    starts = "[" + ", ".join(str(counts[i][1]) for i in range(len(files))) + "]"
    number = f"CAST(rowid AS BIGINT) - {starts}[{FILE} + 1] + {base + 1}"
    view = f"{name}_rows"
    shifted = [(i, line) for i, f in enumerate(files) for line in sorted(f.rejected_text)]
    if not shifted:
        con.execute(f'CREATE TEMP VIEW "{view}" AS SELECT *, {number} AS {ROW} FROM "{name}"')
        return view
    con.execute(f'CREATE TEMP TABLE "{view}" AS SELECT *, {number} AS {ROW} FROM "{name}"')
    for i, line in shifted:  # each rejected line shifts the rows at or after it by one
        con.execute(f'UPDATE "{view}" SET {ROW} = {ROW} + 1 WHERE {FILE} = {i} AND {ROW} >= {line}')
    return view


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


def _probe_typed(path: Path, engine: ibis.BaseBackend, fmt: str) -> Probe:
    source = (f"read_parquet('{_sql_path(path)}')" if fmt == "parquet"
              else f"read_json('{_sql_path(path)}', format='newline_delimited')")  # fmt: skip
    try:
        columns = engine.con.sql(f"SELECT * FROM {source}").columns
    except duckdb.Error as exc:
        raise InputError.single(str(path), f"cannot read: {_first_line(exc)}") from None
    return Probe(path, fmt, path, list(columns), checksum(path))


def _table_name(path: Path) -> str:
    return f"_raw_{hashlib.md5(str(path).encode()).hexdigest()[:6]}_{uuid.uuid4().hex[:8]}"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


# -- CSV --------------------------------------------------------------------------------------
def _probe_csv(path: Path, header: bool | None, names: list[str] | None,
               encoding: str | None) -> Probe:  # fmt: skip
    text_path, sample, complete = _as_utf8(path, encoding)
    if not sample.strip():
        raise InputError.single(str(path), "file is empty")
    dialect = _sniff(sample, path)
    lines = sample.splitlines()
    first = next(csv.reader([lines[0]], dialect))
    if header is None:
        header = names is None and _looks_like_header(first, sample, dialect)
    if header and len(set(first)) != len(first):
        dup = sorted({c for c in first if first.count(c) > 1})
        raise InputError.single(str(path), f"header repeats column names {dup}", row=1)
    if header and complete and not any(line.strip() for line in lines[1:]):
        raise InputError.single(str(path), "file has a header but no rows")
    if names is None:
        names = (
            [c.strip() for c in first] if header else [f"column{i + 1}" for i in range(len(first))]
        )
    return Probe(path, "csv", text_path, names, checksum(path), header, dialect)


def _csv_options(p: Probe, rejects: str, max_field_bytes: int) -> str:
    d = p.dialect or csv.excel
    options = {
        "delim": d.delimiter,
        "quote": d.quotechar or '"',
        "escape": d.quotechar or '"',
        "header": p.header,
        "columns": {n: "VARCHAR" for n in p.names},
        "strict_mode": True,
        "null_padding": False,
        "store_rejects": True,
        "rejects_table": rejects,
        "rejects_scan": f"{rejects}_scan",
        # A row may hold a few cells at the size limit; a longer line is rejected and its
        # over-long cells are named from the file itself (see _structural_problems).
        "max_line_size": max(4 * max_field_bytes, MIN_LINE_BYTES),
        "auto_detect": False,
    }
    return ", ".join(f"{k}={_sql_literal(v)}" for k, v in options.items())


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


def _structural_problems(con, rejects: str, probes: list[Probe], files: list[RawFile],
                         max_field_bytes: int) -> None:  # fmt: skip
    """One problem per rejected line (the engine may report a line more than once), and the
    line's original text for the quarantine."""
    rows = con.execute(
        f"SELECT file_id, line, error_type, error_message, csv_line, byte_position "
        f'FROM "{rejects}" ORDER BY file_id, line'
    ).fetchall()
    for file_id, line, kind, message, text, position in rows:
        f, p = files[int(file_id)], probes[int(file_id)]
        if int(line) in f.rejected_text:
            continue
        if kind == "LINE SIZE OVER MAXIMUM" and position is not None:
            text = _line_at(p, int(position))
            reasons = _oversized(text, p, max_field_bytes)
        else:
            reasons = [(None, _reject_reason(kind, message, text, p))]
        f.rejected_text[int(line)] = text or ""
        f.problems += [Problem(str(p.path), int(line), col, why) for col, why in reasons]


def _line_at(p: Probe, position: int) -> str:
    """The whole CSV record starting at byte `position` of the file (the engine keeps only the
    start of an over-long line)."""
    with _any_field_size(), p.read_path.open("rb") as fh:
        fh.seek(position)
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        row = next(csv.reader(text, p.dialect or csv.excel), [])
    out = io.StringIO()
    csv.writer(out, p.dialect or csv.excel, lineterminator="").writerow(row)
    return out.getvalue()


@contextlib.contextmanager
def _any_field_size() -> Iterator[None]:
    """Let the csv module read fields of any size for a while (its default stops at 128 KiB)."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _oversized(text: str, p: Probe, limit: int) -> list[tuple[str | None, str]]:
    with _any_field_size():
        cells = next(csv.reader([text], p.dialect or csv.excel), [])
    found = [(name, len(cell)) for name, cell in zip(p.names, cells, strict=False)
             if len(cell) > limit]  # fmt: skip
    if not found:
        return [
            (None, "row is longer than the largest accepted row (raise ingest.max_field_bytes)")
        ]
    return [(name, f"value of {size:,} characters; the limit is {limit:,} "
             "(ingest.max_field_bytes)") for name, size in found]  # fmt: skip


def _reject_reason(kind: str, message: str, text: str | None, p: Probe) -> str:
    found = len(next(csv.reader([text], p.dialect or csv.excel))) if text else None
    expected = len(p.names)
    if kind == "TOO MANY COLUMNS":
        return (
            f"too many fields ({found} found, {expected} expected) — an unquoted delimiter "
            "inside a value?"
        )
    if kind == "MISSING COLUMNS":
        return f"too few fields ({found} found, {expected} expected) — a truncated row?"
    return {
        "UNQUOTED VALUE": "a quote inside an unquoted value",
        "INVALID UNICODE": "bytes that are not valid in the file's encoding",
    }.get(kind, message.splitlines()[0])


def _as_utf8(path: Path, encoding: str | None) -> tuple[Path, str, bool]:
    """A UTF-8 path to read, a decoded sample, and whether the sample is the whole file; other
    encodings are transcoded to a temp file."""
    head = path.open("rb").read(SAMPLE_BYTES + 1)
    complete = len(head) <= SAMPLE_BYTES
    head = head[:SAMPLE_BYTES]
    enc = encoding or _detect_encoding(head, path)
    if enc in ("utf-8", "utf-8-sig"):
        return path, head.decode("utf-8-sig", errors="ignore"), complete
    out = Path(tempfile.mkdtemp(prefix="abmkit-")) / (path.stem + ".utf8.csv")
    decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    with path.open("rb") as src, out.open("w", encoding="utf-8", newline="") as dst:
        try:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(decoder.decode(chunk))
            dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            raise InputError.single(str(path), f"not valid {enc}: {exc.reason}") from None
    return out, out.open(encoding="utf-8").read(SAMPLE_BYTES), complete


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
