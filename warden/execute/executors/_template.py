"""Filling executor templates (``{service}`` and the action's declared params).

Only bare names are placeholders; ``{{`` and ``}}`` are literal braces. Attribute or
index lookups, conversions and format specs are refused, so a template can never reach
into Python objects. A value that is ``.`` or ``..``, whole or as a ``/``-separated
segment, is refused for every executor: as an argument or in a path it walks the file
system or the URL. Every refusal is an ``ExecutorError`` that retrying cannot fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from string import Formatter

from warden.domain import Action
from warden.errors import ExecutorError

_FORMATTER = Formatter()


def values_of(action: Action) -> dict[str, str]:
    """The template values of ``action``: its params and ``service`` (the target always
    wins over a param of that name, as the policy checked the target, not the param)."""
    return {**action.params, "service": action.service}


def names_in(template: str) -> list[str]:
    """The placeholder names of ``template``, in order."""
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ExecutorError(f"template {template!r}: {exc}", recoverable=False) from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ExecutorError(
                f"template {template!r}: only plain {{name}} placeholders are allowed",
                recoverable=False,
            )
        names.append(name)
    return names


def render(
    template: str, values: Mapping[str, str], *, encode: Callable[[str], str] = str
) -> str:
    """``template`` with each placeholder replaced by ``encode(value)``; a placeholder
    without a value is refused, and so is a value with a ``.`` or ``..`` segment."""
    for used in names_in(template):  # refuses anything but plain names before formatting
        _refuse_dot_segments(used, values.get(used, ""))
    out: list[str] = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            raise ExecutorError(
                f"template {template!r} names {{{name}}}, which is neither the service nor "
                "a param of the action",
                recoverable=False,
            )
        out.append(encode(values[name]))
    return "".join(out)


_DOT_SEGMENTS = frozenset({".", ".."})


def _refuse_dot_segments(name: str, value: str) -> None:
    if _DOT_SEGMENTS.intersection(value.split("/")):
        raise ExecutorError(
            f"{name}={value!r}: '.' and '..' are refused as an argument or path segment "
            "(they would walk the file system or the URL path)", recoverable=False)
