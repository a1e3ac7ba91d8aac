"""Scheduling policies: one file each, found by name without importing any of them.

A policy file defines a class decorated with ``@register("name")`` whose docstring's first line is
its one-line description. The registry reads those names from the files' syntax trees, so listing
policies never imports a policy module (nor TensorFlow). Parameters are the class's dataclass
fields. An outside policy loads as ``"package.module:Class"``.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import typing
from dataclasses import dataclass
from pathlib import Path

from sim.errors import GpusimError

_HERE = Path(__file__).resolve().parent


def register(name: str):
    """Mark a policy class with its registry ``name`` (the registry finds it by reading the file)."""

    def mark(cls):
        cls.name = name
        return cls

    return mark


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    module: str
    cls: str
    summary: str
    params: tuple[str, ...] = ()  # "name=default" as written in the class body


def _scan(path: Path) -> list[PolicyInfo]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for dec in node.decorator_list:
            func = dec.func if isinstance(dec, ast.Call) else None
            fname = getattr(func, "id", None) or getattr(func, "attr", None)
            if fname == "register" and dec.args and isinstance(dec.args[0], ast.Constant):
                doc = (ast.get_docstring(node) or "").strip().splitlines()
                params = tuple(
                    f"{st.target.id}={ast.unparse(st.value) if st.value else '?'}"
                    for st in node.body
                    if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and not st.target.id.startswith("_")
                )
                found.append(PolicyInfo(dec.args[0].value, f"policies.{path.stem}", node.name, doc[0] if doc else "", params))
    return found


@functools.cache
def available() -> dict[str, PolicyInfo]:
    """Every registered policy by name, sorted by name; no policy module is imported."""
    infos = [info for path in sorted(_HERE.glob("[!_]*.py")) for info in _scan(path)]
    return {info.name: info for info in sorted(infos, key=lambda i: i.name)}


def load(spec: str) -> type:
    """The policy class for a registered name or an outside ``module:Class``."""
    if ":" in spec:
        module_name, _, cls_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            raise GpusimError(f"policy {spec!r}: no module named {err.name!r}") from None
        except Exception as err:  # importing runs the module's code: any failure is the module's
            reason = " ".join(str(err).split()) or type(err).__name__
            raise GpusimError(f"policy {spec!r}: cannot import {module_name!r}: {reason}") from None
        if not hasattr(module, cls_name):
            raise GpusimError(f"policy {spec!r}: module {module_name!r} has no {cls_name!r}")
        cls = getattr(module, cls_name)
        if not isinstance(cls, type):  # e.g. sys:exit, which would end gpusim when "constructed"
            raise GpusimError(f"policy {spec!r}: {cls_name!r} is not a class")
        return cls
    info = available().get(spec)
    if info is None:
        raise GpusimError(f"unknown policy {spec!r}; known: {', '.join(available())} (or module:Class)")
    return getattr(importlib.import_module(info.module), info.cls)


def parameters(cls: type) -> dict[str, tuple[object, object]]:
    """A policy class's parameters: name → (type, default). Fields named ``_...`` are for code
    that builds the policy directly, not for users."""
    if not dataclasses.is_dataclass(cls):
        return {}
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}


def _coerce(value, tp, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except GpusimError:
                pass
        raise GpusimError(f"{where}: expected {tp}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise GpusimError(f"{where}: expected a list like [1, 2], got {value!r}")
        item = args[0] if args else object
        return tuple(_coerce(v, item, where) for v in value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is object or (isinstance(tp, type) and isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        return value
    raise GpusimError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def make(spec: str, args: dict | None = None):
    """A fresh policy instance with ``args`` checked against its parameters (each run needs its own)."""
    cls = load(spec)
    params = parameters(cls)
    kwargs = {}
    for key, value in (args or {}).items():
        if key not in params:
            known = ", ".join(params) or "none"
            raise GpusimError(f"policy {spec!r} has no parameter {key!r} (its parameters: {known})")
        kwargs[key] = _coerce(value, params[key][0], f"policy {spec!r} parameter {key!r}")
    try:
        policy = cls(**kwargs)
    except GpusimError:
        raise
    except Exception as err:  # an outside policy's constructor: one line, not a traceback
        raise GpusimError(f"policy {spec!r}: {' '.join(str(err).split()) or type(err).__name__}") from None
    if not callable(getattr(policy, "schedule", None)):
        raise GpusimError(f"policy {spec!r} has no schedule(view, rng) method")
    return policy
