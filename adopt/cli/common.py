"""What the subcommand modules of `adopt.cli` share: adding a subcommand, a config's flags."""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from adopt.configs import StageConfig


class AddCommand(Protocol):
    """``add(name, func, help)``: a subcommand parser whose parsed arguments go to `func`."""

    def __call__(self, name: str, func: Callable[[argparse.Namespace], None],
                 help: str) -> argparse.ArgumentParser: ...


def flag_of(config: type[StageConfig], name: str) -> str:
    """The flag of option `name`: its ``flag`` extra, else ``--kebab-case``."""
    extra = config.model_fields[name].json_schema_extra or {}
    return extra.get("flag") or "--" + name.replace("_", "-")


def add_config_arguments(p: argparse.ArgumentParser, config: type[StageConfig],
                         names: Iterable[str] | None = None,
                         flags: dict[str, str] | None = None) -> None:
    """Add a flag to `p` for each option of `config` (or those in `names`).

    The flag's default, type, choices (a ``Literal``) and help (the field's
    description, with the default) come from the config; its ``dest`` is the
    option's name, so `config_from_args` finds it. `flags` renames flags (and
    their ``dest``: ``--embed-model``, ``embed_model``), for a command that
    takes the options of several stages.
    """
    for name in names or config.model_fields:
        field = config.model_fields[name]
        kind, choices = _kind(field.annotation)
        extra = field.json_schema_extra or {}
        default = field.default
        help = field.description + (f" (default {default})" if default is not None else "")
        flag = (flags or {}).get(name) or flag_of(config, name)
        # argparse would name the value after `dest`; the flag's name reads as before
        metavar = extra.get("metavar") or (None if choices else flag[2:].upper().replace("-", "_"))
        p.add_argument(flag, dest=_dest(name, flags), type=kind, choices=choices,
                       default=default, help=help, metavar=metavar)


def config_from_args(config: type[StageConfig], args: argparse.Namespace, where: str,
                     flags: dict[str, str] | None = None) -> Any:
    """The `config` of the parsed arguments (its options `add_config_arguments` added).

    Options without a flag in `args` keep their defaults; a bad value is a
    `ParameterError` naming its flag and `where`.
    """
    values = {n: getattr(args, _dest(n, flags)) for n in config.model_fields
              if hasattr(args, _dest(n, flags))}
    named = {n: (flags or {}).get(n) or flag_of(config, n) for n in config.model_fields}
    return config.of(where, flags=named, **values)


def _dest(name: str, flags: dict[str, str] | None) -> str:
    flag = (flags or {}).get(name)
    return flag[2:].replace("-", "_") if flag else name


def _kind(annotation: Any) -> tuple[Callable[[str], Any] | None, tuple | None]:
    """The argparse type and choices of a field's annotation (``X | None`` as X)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Literal:
        return None, typing.get_args(annotation)
    return (annotation if annotation in (int, float) else None), None
