"""Typed settings: one converter from what users write to the dataclasses that hold options.

Every stage of the chain and every method declares its options as a dataclass (``Config``) with
defaults. Values arrive as text (``--set key=value``, an XML ``<property>``), as YAML or JSON values
(a settings file, a server's parameters) or as Python values; :func:`build` turns a mapping of them
into the dataclass, converting each to its field's declared type and refusing, with one line:

- a key the dataclass does not declare, naming the nearest declared names (:func:`unknown`);
- a value that does not convert (``iterations=ten``, ``cyclic=maybe``, JSON ``true`` for a number);
- a number that is not finite or is negative (``lam=nan`` would write NaN images, ``iterations=-5``
  silently run none);
- whatever the dataclass's ``__post_init__`` refuses (checks between fields).

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]`` of strings (matched
without regard to case), ``X | None`` (``none``/``null``/empty text is None) and ``tuple[X, ...]``
(text: separated by commas or spaces). Errors are :class:`SettingsError`, a ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

T = TypeVar("T")

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
NONE = ("none", "null", "")


class SettingsError(ValueError):
    """A setting that is unknown or whose value is refused; the message is one line naming it."""


def names(config_cls: type) -> list[str]:
    """The settable names of a config dataclass, in declaration order."""
    return [f.name for f in dataclasses.fields(config_cls) if f.init]


def nearest(key: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` names most like ``key`` (difflib's ratio), best first; always some when there are any."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(key, pool, n=n, cutoff=0.6)
    return close or difflib.get_close_matches(key, pool, n=n, cutoff=0.0)


def unknown(key: str, candidates: Iterable[str], owner: str, noun: str = "setting") -> SettingsError:
    """The error for a key nobody declares: the key, the nearest names, and the full list when short."""
    pool = sorted(set(candidates))
    if not pool:
        return SettingsError(f"{owner}: no {noun} {key!r} (it takes none)")
    close = nearest(key, pool)
    listing = f"; {noun}s: {', '.join(pool)}" if len(pool) <= 12 else ""
    return SettingsError(f"{owner}: no {noun} {key!r} (nearest: {', '.join(close)}{listing})")


def build(config_cls: type[T], values: Mapping[str, Any], owner: str, noun: str = "setting") -> T:
    """``config_cls`` from its defaults and ``values`` (text or typed), every value converted and checked.

    ``owner`` names whose settings these are in messages (``CoilMaps``, ``method 'llr'``); keys may
    use ``-`` for ``_``.
    """
    fields = names(config_cls)
    hints = typing.get_type_hints(config_cls)
    converted: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in fields:
            raise unknown(str(key), fields, owner, noun)
        where = f"{owner_prefix(owner)}{name}"
        converted[name] = check_number(convert(value, hints[name], where), value, where)
    try:
        return config_cls(**converted)
    except (ValueError, TypeError) as exc:  # __post_init__: checks between fields
        raise SettingsError(f"{owner}: {' '.join(str(exc).split())}") from None


def owner_prefix(owner: str) -> str:
    """``method 'llr'`` -> ``llr.``; ``CoilMaps`` -> ``CoilMaps.``: how a field is named in messages."""
    if owner.startswith("method "):
        owner = owner[len("method "):].strip("'\"")
    return f"{owner}."


def check_number(value, given, where: str):
    """Every numeric setting (weights, counts, widths, tolerances, rates, indices) is finite and >= 0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise SettingsError(f"invalid value {given!r} for {where} (must be a finite number >= 0)")
    return value


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def convert(value, annotation, where: str):
    """``value`` (text, or a YAML/JSON/Python value) as ``annotation``; :class:`SettingsError` if it is not one."""
    target = annotation
    if _is_union(annotation):
        if value is None or (isinstance(value, str) and value.strip().lower() in NONE):
            return None
        target = next(a for a in typing.get_args(annotation) if a is not type(None))
    if isinstance(value, str):
        value = value.strip()
    try:
        return _convert(value, target)
    except (ValueError, TypeError):
        raise SettingsError(f"invalid value {value!r} for {where} (expected {describe_type(target)})") from None


def _convert(value, target):
    origin = typing.get_origin(target)
    if origin is Literal:
        choices = typing.get_args(target)
        if isinstance(value, str):
            for choice in choices:
                if value.lower() == str(choice).lower():
                    return choice
        raise ValueError(value)
    if origin is tuple:
        inner = typing.get_args(target)[0]
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(value)
        return tuple(_convert(v.strip() if isinstance(v, str) else v, inner) for v in items)
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in TRUE + FALSE:
            return value.lower() in TRUE
        raise ValueError(value)
    if isinstance(value, bool):  # JSON true for a number or a name: a mistake, not 1
        raise ValueError(value)
    if target is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value) if isinstance(value, (int, float)) else int(str(value))
    if target is float:
        return float(value) if isinstance(value, (int, float)) else float(str(value))
    if target is str:
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if isinstance(target, type) and not isinstance(value, target):
        raise TypeError(value)
    return value


def describe_type(annotation) -> str:
    """``int``, ``float | None``, ``one of pass, drop``, ``tuple of int``: for messages and listings."""
    if _is_union(annotation):
        inner = [describe_type(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " | ".join(inner) + " | none"
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(c) for c in typing.get_args(annotation))
    if origin is tuple:
        return "tuple of " + describe_type(typing.get_args(annotation)[0])
    return getattr(annotation, "__name__", str(annotation))


def to_text(value) -> str:
    """A converted value back as text that :func:`convert` reads to the same value (XML properties)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(to_text(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclasses.dataclass(frozen=True)
class Described:
    """One setting as listed by ``gadgetron-inr methods --options``."""

    name: str
    default: Any
    type: str
    note: str = ""


def describe(config_cls: type) -> list[Described]:
    """Every settable field of ``config_cls`` with its default, type and note (``metadata["doc"]``)."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        note = f.metadata.get("doc", "") or f.metadata.get("default", "")
        out.append(Described(f.name, default, describe_type(hints[f.name]), note))
    return out
