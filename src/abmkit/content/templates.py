"""Render content from Jinja2 templates: built-ins shipped with abmkit, replaced file by file by
the workspace's own.

Templates live at `<kind>/<name>.j2` (e.g. `email/surge_intro.j2`); files whose name starts with
`_` are partials (bases, macros) that others extend or import. A template's output is split into
fields by marker lines, `[subject]`, `[body]`, `[headline]` and so on: each marker starts the
field, which runs to the next marker. Undefined facts are errors (never an empty string), named
with their full path and the template line that used them.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path

from abmkit.content.draft import FIELDS, MULTILINE, ContentError, Draft, Kind, check_kind
from abmkit.content.settings import ContentSettings

BUILTIN_PREFIX = "builtin"
"""`{% extends "builtin/email/surge_intro.j2" %}` reaches a built-in from a workspace file."""

MARKER = re.compile(r"^\[(?P<field>[a-z]+)\][ \t]*$", re.MULTILINE)


class BuiltinLoader(jinja2.BaseLoader):
    """The templates shipped inside the package, read through importlib.resources so they load
    from a source tree, a wheel or a zip alike."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        node = self.root
        for part in split_template_path(template):  # refuses ".." and the like
            node = node / part
        if not node.is_file():
            raise jinja2.TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), f"{BUILTIN_PREFIX}/{template}", lambda: True

    def list_templates(self) -> list[str]:
        return sorted(_walk(self.root, ""))


def _walk(node: Traversable, prefix: str) -> Iterator[str]:
    for child in node.iterdir():
        if child.is_dir():
            yield from _walk(child, f"{prefix}{child.name}/")
        elif child.name.endswith(".j2"):
            yield prefix + child.name


class _Facts(dict):
    """A mapping of facts that knows its dotted path, so a missing fact is named in full."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        super().__init__({k: _wrap(v, f"{path}.{k}") for k, v in data.items()})
        self._abm_path = path


def _wrap(value: Any, path: str) -> Any:
    return _Facts(value, path) if isinstance(value, Mapping) else value


class _MissingFact(jinja2.StrictUndefined):
    """StrictUndefined whose message names the whole path, `'contact.first_name' is undefined`."""

    @property
    def _undefined_message(self) -> str:
        owner = getattr(self._undefined_obj, "_abm_path", None)
        if owner and isinstance(self._undefined_name, str):
            return f"'{owner}.{self._undefined_name}' is undefined"
        return super()._undefined_message


def builtin_loader() -> BuiltinLoader:
    return BuiltinLoader(resources.files("abmkit.content") / "templates")


@functools.lru_cache(maxsize=8)
def environment(override_dir: Path | None) -> jinja2.Environment:
    """The template environment: the workspace folder first (if any), then the built-ins; the
    built-ins also under `builtin/`, so a workspace file can extend the one it replaces."""
    builtin = builtin_loader()
    loaders: list[jinja2.BaseLoader] = [builtin, jinja2.PrefixLoader({BUILTIN_PREFIX: builtin})]
    if override_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(override_dir))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=_MissingFact,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["reflow"] = reflow
    return env


def reflow(text: str) -> str:
    """Each paragraph (lines between blank lines) on one line: a template may wrap its prose."""
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip()) + "\n"


def override_dir(settings: ContentSettings, workspace: Path | None) -> Path | None:
    """The workspace's template folder, when there is a workspace and the folder exists."""
    if workspace is None:
        return None
    folder = Path(settings.templates_dir)
    folder = folder if folder.is_absolute() else workspace / folder
    return folder if folder.is_dir() else None


def template_path(kind: str, template: str) -> str:
    return f"{kind}/{template}.j2"


def available(kind: str, settings: ContentSettings, workspace: Path | None = None) -> list[str]:
    """Names of the templates of `kind` (built-in and the workspace's), partials left out."""
    return _names_of(environment(override_dir(settings, workspace)), kind)


def context(facts: Mapping[str, Any], settings: ContentSettings) -> dict[str, Any]:
    """What a template sees: the facts, plus `seller` (name, product, sender_name, unless the
    facts give one) and `required_lines` (the brand's lines every e-mail carries)."""
    seller = {"name": settings.seller_name, "product": settings.product,
              "sender_name": settings.sender_name}  # fmt: skip
    return {"seller": seller, **facts, "required_lines": list(settings.brand.required_lines)}


def render(kind: Kind, template: str, facts: Mapping[str, Any], settings: ContentSettings, *,
           workspace: Path | None = None) -> Draft:  # fmt: skip
    """The draft the template `<kind>/<template>.j2` writes from `facts` (see docs/content.md
    for each template's facts). Raises ContentError naming the template and, for a missing
    fact, the fact and the line that needs it."""
    check_kind(kind)
    if template.startswith("_") or "/" in template:
        raise ContentError(f"{template!r} is not a template name (e.g. 'surge_intro')")
    path = template_path(kind, template)
    env = environment(override_dir(settings, workspace))
    text = _render_text(env, kind, path, context(facts, settings))
    return Draft.of(kind, template, split_fields(text, kind, path))


def _render_text(env: jinja2.Environment, kind: str, path: str, ctx: dict[str, Any]) -> str:
    wrapped = {k: _wrap(v, k) for k, v in ctx.items()}
    try:
        return env.get_template(path).render(wrapped)
    except jinja2.TemplateNotFound as exc:
        names = ", ".join(_names_of(env, kind)) or "none"
        missing = "" if exc.name == path else f" (it needs {exc.name})"
        raise ContentError(f"no template {path}{missing}; {kind} templates: {names}") from None
    except jinja2.TemplateSyntaxError as exc:
        where = f"template {exc.filename or path}, line {exc.lineno}"
        raise ContentError(f"{where}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise ContentError(f"template {path}{_where(exc)}: {exc.message}") from None


def _names_of(env: jinja2.Environment, kind: str) -> list[str]:
    return sorted({
        n.split("/")[-1].removesuffix(".j2") for n in env.list_templates(extensions=["j2"])
        if n.startswith(f"{kind}/") and not n.split("/")[-1].startswith("_")
    })  # fmt: skip


def _where(exc: BaseException) -> str:
    """`(at builtin/email/_base.j2, line 4)`: the innermost template line of a render error."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return ""
    return f" (at {frames[-1].filename}, line {frames[-1].lineno})"


def split_fields(text: str, kind: str, path: str) -> dict[str, str]:
    """The rendered `text` cut at its marker lines into the fields of `kind`; every field of
    the kind must be there and not empty, and no other."""
    parts = MARKER.split(text)
    if parts[0].strip():
        raise ContentError(f"template {path}: text before the first [field] marker")
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    wanted = FIELDS[kind]
    unknown = sorted(set(found) - set(wanted))
    if unknown:
        raise ContentError(f"template {path}: {kind} has no field(s) {unknown}; {list(wanted)}")
    values = {name: tidy(found.get(name, ""), multiline=name in MULTILINE) for name in wanted}
    empty = [name for name, value in values.items() if not value]
    if empty:
        raise ContentError(f"template {path}: empty or missing field(s) {empty}")
    return values


def tidy(text: str, *, multiline: bool) -> str:
    """One-line fields: runs of spaces as one. Bodies: lines right-stripped, at most one blank
    line in a row, no blank lines at either end."""
    if not multiline:
        return " ".join(text.split())
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
