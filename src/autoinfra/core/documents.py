"""Reading settings documents (YAML or JSON) safely, and turning validation errors into one line.

Scenario files, experiment specs and any other document a person hands us go through
:func:`load_document` (a file) or :func:`parse_document` (text already read). Why a module of its
own: ``yaml.safe_load`` is safe against code execution but not against a small file that costs a
lot. A 700-byte "billion laughs" file (anchors referring to anchors) expands to gigabytes, and
PyYAML's own error messages print the value they choke on, expanded. So here:

- the input is capped (``MAX_DOCUMENT_BYTES``) before parsing, and must be UTF-8;
- aliases (``*name``) are refused outright: no settings file of ours needs them, and refusing
  them makes expansion impossible rather than merely counted;
- nesting is capped (``MAX_DEPTH``) and so is the number of nodes (``MAX_NODES``);
- a key given twice in one mapping is refused with both lines (YAML keeps the last silently);
- an empty document (nothing, or only comments) is refused: it is almost always a mistake;
- messages name the real file and line, and never echo more than ``ECHO_CHARS`` of any value.

:func:`validation_error` turns a pydantic ``ValidationError`` into our ``ConfigError`` naming the
file and the dotted field path (``faults[2].at_s``), with the offending input truncated.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import reprlib
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

from autoinfra.core.errors import ConfigError

MAX_DOCUMENT_BYTES = 64 * 1024  # our largest shipped spec is under 2 KiB; the pure-Python
# parser needs about a second for 64 KiB on a busy 2-core machine, so this bounds the time too
MAX_DEPTH = 32  # mappings and lists inside each other; our documents use 4
MAX_NODES = 10_000  # scalars, lists and mappings in one document
ECHO_CHARS = 80  # the most of any value an error message repeats


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = ECHO_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3


def echo(value: Any, limit: int = ECHO_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a huge value never floods a message.

    ``reprlib`` stops after a few items and levels, so even the work is bounded: a plain
    ``repr`` of an alias-expanded list is what once hung the scenario loader.
    """
    text = _REPR.repr(value)
    if len(text) > limit:
        # a value's own repr can be huge (a list of a million items): cut, then say so
        return f"{text[: limit - 3]}..."
    return text


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with no aliases, capped depth and node count, duplicate keys refused."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused("aliases (*name) are not allowed in this file", event.start_mark)
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} values", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Refused("a mapping key must be a plain value", key_node.start_mark)
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _Refused(
                        f"key {echo(key)} given twice (first on line {seen[key]})",
                        key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _Refused(Exception):
    """A limit or rule of this module, raised from inside the loader with where it happened."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.line = int(mark.line) + 1 if mark is not None else None


def _yaml(text: str, source: str) -> Any:
    loader: _LimitedLoader | None = None
    try:
        loader = _LimitedLoader(text)  # the reader refuses control characters right here
        return loader.get_single_data()
    except _Refused as exc:
        raise ConfigError(_at(exc.message, exc.line), source=source) from None
    except yaml.MarkedYAMLError as exc:
        # PyYAML's str() quotes the buffer around the problem; say only what and where
        mark = exc.problem_mark or exc.context_mark
        what = echo(exc.problem or exc.context or "syntax error")[1:-1]
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(_at(f"not valid YAML: {what}", line), source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {echo(str(exc))[1:-1]}", source=source) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # a value PyYAML's constructors cannot build (a date like 2011-02-30, a 5000-digit int)
        raise ConfigError(f"not valid YAML: {echo(str(exc))[1:-1]}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"key {echo(key)} given twice in one object", None)
        out[key] = value
    return out


def _json(text: str, source: str) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Refused as exc:
        raise ConfigError(exc.message, source=source) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(_at(f"not valid JSON: {exc.msg}", exc.lineno), source=source) from None
    except RecursionError:
        raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=source) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ConfigError(f"not valid JSON: {echo(str(exc))[1:-1]}", source=source) from None
    _check_shape(data, source)
    return data


def _check_shape(data: Any, source: str) -> None:
    """Depth and node caps for JSON (the YAML loader checks them while composing)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=source)
        if nodes > MAX_NODES:
            raise ConfigError(f"more than {MAX_NODES} values", source=source)
        children: Iterable[Any] = ()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        stack.extend((c, depth + 1) for c in children)


def _at(message: str, line: int | None) -> str:
    return f"line {line}: {message}" if line is not None else message


def parse_document(raw: bytes | str, *, source: str, fmt: str = "yaml") -> Any:
    """Parse one YAML (``fmt="yaml"``) or JSON document under this module's limits.

    ``source`` names where the text came from (a path, ``builtin:storm``); every error is a
    ``ConfigError`` carrying it. An empty document is an error, never ``None``.
    """
    if fmt not in ("yaml", "json"):
        raise ConfigError(f"unknown document format {fmt!r}; expected yaml or json", source=source)
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > MAX_DOCUMENT_BYTES:
        raise ConfigError(
            f"file is {size} bytes; at most {MAX_DOCUMENT_BYTES} are read", source=source
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise ConfigError(_at("not UTF-8 text", line), source=source) from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    data = _json(text, source) if fmt == "json" else _yaml(text, source)
    if data is None:
        raise ConfigError("the file is empty (or only comments); expected a mapping", source=source)
    return data


def load_document(path: Path) -> Any:
    """Read and parse a ``.yaml``, ``.yml`` or ``.json`` file under this module's limits."""
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(
            f"unsupported format {suffix!r}; expected .yaml, .yml or .json", source=str(path)
        )
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)  # never more than the cap plus one byte
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=str(path)) from exc
    return parse_document(raw, source=str(path), fmt="json" if suffix == ".json" else "yaml")


_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
           "less_than": "<"}  # fmt: skip


def field_path(loc: Iterable[Any], skip: frozenset[str] = frozenset()) -> str:
    """A pydantic error location as our dotted path: ``('faults', 2, 'at_s')`` ->
    ``faults[2].at_s``. Names in ``skip`` (tags of a discriminated union) are left out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) not in skip:
            out += f".{part}" if out else str(part)
    return out


def validation_error(
    exc: ValidationError,
    *,
    source: str,
    skip: frozenset[str] = frozenset(),
    prefix: str = "",
    known: Callable[[tuple[Any, ...]], Iterable[str]] | None = None,
) -> ConfigError:
    """The first problem pydantic found, as a ``ConfigError`` naming the file and field path.

    ``prefix`` is where the validated mapping sits in its document (``system_params.human``);
    ``known(loc)``, when given, lists the keys allowed beside an unknown one.
    """
    err = exc.errors(include_url=False)[0]
    path = field_path(err["loc"], skip)
    if prefix:
        path = f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"
    kind = err["type"]
    if kind == "missing":
        message = "missing"
    elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
        names = sorted(known(tuple(err["loc"][:-1]))) if known is not None else []
        message = f"unknown key; expected one of {names}" if names else "unknown key"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        # the tag names the variant ("kind: meteor"): the error is the tag field's
        ctx = err.get("ctx", {})
        tag_field = str(ctx.get("discriminator", "kind")).strip("'")
        path = f"{path}.{tag_field}" if path else tag_field
        message = (
            "missing"
            if kind == "union_tag_not_found"
            else (
                f"unknown {tag_field} {echo(ctx.get('tag'))}; expected one of "
                f"{ctx.get('expected_tags')}"
            )
        )
    elif kind in _BOUNDS:
        ctx = err.get("ctx", {})
        limit = next(iter(ctx.values()), "?")
        message = f"expected a number {_BOUNDS[kind]} {limit:g}; got {echo(err.get('input'))}"
    elif kind == "value_error":  # our own validators' words, as written
        message = str(err["msg"]).removeprefix("Value error, ")
    else:
        message = f"{err['msg']}; got {echo(err.get('input'))}"
    more = exc.error_count() - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, source=source, field=path or None)


T = TypeVar("T")

# A settings dataclass says ``__pydantic_config__ = UNKNOWN_KEYS_REFUSED`` so that reading it from a
# mapping (:func:`validate_into`) refuses a misspelt key instead of dropping it without a word.
UNKNOWN_KEYS_REFUSED = ConfigDict(extra="forbid")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}
_CHECKERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(kind: type[Any]) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:  # building the validator is the slow part: once per class
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def validate_into(kind: type[T], data: Any, *, source: str, prefix: str = "") -> T:
    """``data`` (a mapping from a file or the command line) validated by pydantic into ``kind``.

    ``kind`` is a pydantic model or a dataclass; a dataclass refuses unknown keys when it says
    ``__pydantic_config__ = ConfigDict(extra="forbid")``, and its ``__post_init__`` still runs.
    Every problem is a ``ConfigError`` naming ``source`` and the dotted field path after
    ``prefix``; this is the one place a validation error of a settings mapping is translated.
    """
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as exc:
        known = functools.partial(_field_names, kind)
        raise validation_error(exc, source=source, prefix=prefix, known=known) from None
    except ConfigError as exc:
        # a class's own check (``__post_init__``) knows its field, not the file or where it sits
        if exc.source is not None:
            raise
        field = exc.field or ""
        if prefix and not field.startswith(prefix):
            field = f"{prefix}.{field}" if field else prefix
        raise ConfigError(exc.message, source=source, field=field or None) from None


def with_overrides(current: T, overrides: Mapping[str, Any], *, source: str, prefix: str = "") -> T:
    """A copy of the dataclass ``current`` with ``overrides`` applied and the whole re-validated.

    A mapping given for a field that holds a dataclass overrides only the keys it names (``hpa:
    {sync_period_s: 30}`` keeps the HPA's other settings), at any depth.
    """
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"expected a mapping of settings, got {type(overrides).__name__}",
            source=source,
            field=prefix or None,
        )
    merged = _merged(current, overrides)
    return validate_into(type(current), merged, source=source, prefix=prefix)


def _merged(current: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = {f.name: getattr(current, f.name) for f in dataclasses.fields(current) if f.init}
    for key, value in overrides.items():
        now = out.get(key)
        if dataclasses.is_dataclass(now) and isinstance(value, Mapping):
            value = _merged(now, value)
        out[key] = value  # unknown keys go through, for the validator to name
    return out


def _field_names(kind: type[Any], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc`` inside ``kind`` (a dataclass or a pydantic model)."""
    node: Any = kind
    for part in loc:
        hints = _hints(node)
        if not isinstance(part, str) or part not in hints:
            return []
        node = hints[part]
    return sorted(_hints(node))


def _hints(node: Any) -> dict[str, Any]:
    if not isinstance(node, type):
        return {}
    if dataclasses.is_dataclass(node) or hasattr(node, "model_fields"):
        try:
            return typing.get_type_hints(node)
        except (NameError, TypeError):  # an annotation only a type checker resolves
            if dataclasses.is_dataclass(node):
                return dict.fromkeys((f.name for f in dataclasses.fields(node)), Any)
            return dict.fromkeys(node.model_fields, Any)
    return {}


def _checker(kind: type[Any]) -> TypeAdapter[Any]:
    if kind not in _CHECKERS:
        hints = typing.get_type_hints(kind, include_extras=True)
        fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(kind)}
        config = ConfigDict(arbitrary_types_allowed=True, allow_inf_nan=False)
        model = create_model(f"{kind.__name__}Check", __config__=config, **fields)
        _CHECKERS[kind] = TypeAdapter(model)
    return _CHECKERS[kind]


def check_fields(instance: Any) -> None:
    """Check a dataclass's values against the constraints its annotations declare, for
    ``__post_init__``: ``window_s: Annotated[float, Field(gt=0)]`` says the bound once, where the
    field is, and this is the one checker. Strict (no bools for numbers, no strings for
    numbers) and NaN or inf refused: every comparison with NaN is false, so a NaN bound is no
    bound. A problem is a ``ConfigError`` naming the field (the class when no file is known).
    """
    values = {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}
    try:
        _checker(type(instance)).validate_python(values, strict=True)
    except ValidationError as exc:
        raise validation_error(exc, source=type(instance).__name__) from None
