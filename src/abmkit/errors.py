"""One hierarchy of errors, each carrying the context a user needs to fix the cause."""

from __future__ import annotations

from dataclasses import dataclass


class AbmError(Exception):
    """Root of every error abmkit raises on purpose."""


class ConfigError(AbmError):
    """The workspace configuration is missing or invalid."""


class EngineError(AbmError):
    """A warehouse or application-store query failed; carries the table and the SQL."""

    def __init__(self, message: str, *, table: str | None = None, sql: str | None = None):
        self.table = table
        self.sql = sql
        where = f" (table {table})" if table else ""
        super().__init__(f"{message}{where}" + (f"\nSQL: {sql}" if sql else ""))


class ConnectorError(AbmError):
    """An outside system (ad platform, CRM, mail server) refused or failed."""


class GuardrailError(AbmError):
    """An action would break a guardrail people set."""


class NotFoundError(AbmError):
    """What was asked for (an account, an action, a model version, a user) does not exist."""


class AccessError(AbmError):
    """Who asked may not do this: not signed in (`status` 401) or not allowed (403)."""

    def __init__(self, message: str, *, status: int = 403):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell (or row, or file) of an input file."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.reason}"


class InputError(AbmError):
    """Input data is bad. Holds every problem found, each naming file, row and column."""

    def __init__(self, problems: list[Problem], *, limit: int = 20):
        self.problems = problems
        head = [str(p) for p in problems[:limit]]
        more = len(problems) - len(head)
        text = "\n".join(head) + (f"\n... and {more} more problems" if more > 0 else "")
        super().__init__(text)

    @classmethod
    def single(cls, file: str, reason: str, row: int | None = None, column: str | None = None):
        return cls([Problem(file=file, row=row, column=column, reason=reason)])
