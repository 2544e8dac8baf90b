"""Checks of a run's input made before any job is planned.

A bad value found here costs one ``error:`` line and exit code 2. Found later, it fails inside
every job (a device without CUDA, a model folder that is not there, a parameter of the wrong
type) or crashes with a traceback (a seed SQLite cannot store, ``--out`` naming a file). Only
the standard library is imported at module level, so ``bench.config`` and ``bench.datasets``
can use these without a cycle or a slow start.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sqlite3
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import UserError

if TYPE_CHECKING:
    from bench.config import RunConfig

#: the largest seed numpy's legacy RandomState and scikit-learn's ``random_state`` accept
SEED_MAX = 2**32 - 1
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
DB_NAME = "results.sqlite"  # bench.store.DB_NAME, without importing pandas here


def unique(items: Iterable[Any]) -> list[Any]:
    """``items`` without repeats, first occurrence kept: a repeated name must not plan a job
    twice (two processes writing one table)."""
    return list(dict.fromkeys(items))


def parse_seed(value: Any, what: str, example: str) -> int:
    """A seed every library here accepts and SQLite stores: a whole number 0..2**32-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise UserError(
            f"{what} must be a whole number from 0 to {SEED_MAX}, got {value!r}: e.g. {example}"
        )
    return value


def check_plain_name(name: str, example: str) -> None:
    """A dataset name becomes a folder under ``--out``: no separators, no '.' or '..'."""
    if not PLAIN_NAME.fullmatch(name) or name in (".", ".."):
        raise UserError(
            f"dataset name {name!r} is not a plain name: use only letters, digits, '-', '_' "
            f"and '.' (it names folders in the results), e.g. {example}"
        )


# ---- folders --------------------------------------------------------------------------------


def check_folder_arg(path: str, option: str, reading: bool = False) -> None:
    """A folder option: not empty (that would be the current directory), not a file.
    ``reading``: the command only reads the folder, so a new one is no fix."""
    if not str(path).strip():
        raise UserError(f"{option} is empty: give a folder, e.g. {option} bench-results")
    if Path(path).exists() and not Path(path).is_dir():
        fix = "pass the folder a run wrote" if reading else "give a folder (a new one is created)"
        raise UserError(f"{option} '{path}' is a file, not a folder: {fix}")


def check_results_folder(path: str, option: str = "--out", reading: bool = False) -> None:
    """A results folder, new or not; if it holds ``results.sqlite``, that is bench's."""
    check_folder_arg(path, option, reading)
    db = Path(path) / DB_NAME
    if db.exists():
        check_results_db(db, option)


def check_results_db(db: Path, option: str = "--out") -> None:
    """Reads the file's table list: a corrupt or foreign file is named, never touched."""
    fix = f"move it away (a run then starts a new one) or choose another {option}"
    if not db.is_file():
        raise UserError(f"'{db}' is not a file, so not a bench results database: {fix}")
    try:
        con = sqlite3.connect(db, timeout=60)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            verdict = con.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise UserError(f"'{db}' is not a bench results database ({exc}): {fix}") from exc
    if verdict != "ok":
        raise UserError(f"'{db}' is a damaged SQLite database ({verdict}): {fix}")
    if tables and not {"runs", "jobs"} <= tables:
        raise UserError(f"'{db}' is an SQLite database of another program: {fix}")


def check_report_args(out: str, to: str | None, digits: int | None = None) -> None:
    """``bench leaderboard`` / ``compare-paper``: where they read, where they write."""
    check_results_folder(out, reading=True)
    if to is not None:
        check_folder_arg(to, "--to")
    if digits is not None and digits < 0:
        raise UserError(
            f"--digits must be 0 or more (decimals shown), got {digits}: e.g. --digits 2"
        )


# ---- devices and models ----------------------------------------------------------------------


def check_device(device: Any, where: str) -> None:
    """``cuda`` needs torch to see a GPU now; ``auto`` and ``cpu`` always work (no torch).
    ``where`` prefixes the message (a synthesizer's parameter), if not empty."""
    if device is None or device in ("auto", "cpu"):
        return
    from bench.device import DeviceError, resolve_device

    try:
        resolve_device(str(device))
    except DeviceError as exc:
        raise DeviceError(f"{where}: {exc}" if where else str(exc)) from exc


def looks_local(llm: str) -> bool:
    """A path rather than a hub id (``org/name``): explicit path syntax, more than one '/',
    or a first part that exists here."""
    if llm.startswith(("/", "./", "../", "~", ".\\")) or llm in (".", "..") or "\\" in llm:
        return True
    head, sep, _ = llm.partition("/")
    return llm.count("/") > 1 or bool(sep and Path(head).exists())


def check_llm(llm: Any, where: str) -> None:
    """A local model folder must exist and hold a model; a hub id is left to the loader."""
    if not isinstance(llm, str) or llm == "tiny":
        return
    path = Path(llm)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(
                f"{where} '{llm}' is a folder without a model (no config.json): pass the "
                "folder a model was saved to with save_pretrained, a hub id, or tiny"
            )
        return
    if path.exists():
        raise UserError(f"{where} '{llm}' is a file: pass a model folder, a hub id, or tiny")
    if looks_local(llm):
        tilde = " ('~' in quotes is not expanded: write the full path)" if llm[:1] == "~" else ""
        raise UserError(
            f"{where} '{llm}' looks like a local path but no such folder exists{tilde}: "
            "check the path, or pass a hub id such as meta-llama/Llama-2-7b-chat-hf, or tiny"
        )


# ---- synthesizer parameter types --------------------------------------------------------------


def init_signature(cls: type) -> dict[str, tuple[Any, Any]]:
    """Parameter -> (annotation, default) over the ``__init__`` chain that passes ``**params``
    on, as :meth:`bench.synthesizer.Synthesizer.param_names` walks it. Unresolvable
    annotations are left out: such a parameter is not checked here."""
    found: dict[str, tuple[Any, Any]] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # a forward reference that does not resolve: skip the hints
            hints = {}
        params = list(inspect.signature(init).parameters.values())
        for p in params:
            if p.name != "self" and p.name not in found and p.name in hints:
                found[p.name] = (hints[p.name], p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return found


def _options(tp: Any) -> tuple[Any, ...]:
    """The members of a union (``int | None``), or the type itself."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` fits ``tp``; a type not understood here (list, Any) always fits."""
    for option in _options(tp):
        if typing.get_origin(option) is typing.Literal:
            ok = value in typing.get_args(option)
        elif option is type(None):
            ok = value is None
        elif option is bool:
            ok = isinstance(value, bool)
        elif option is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif option is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif option is str:
            ok = isinstance(value, str)
        else:
            ok = True
        if ok:
            return True
    return False


def describe(tp: Any) -> str:
    """``int | None`` -> 'an integer' (None cannot be written on the command line)."""
    words = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
    parts = []
    for option in _options(tp):
        if typing.get_origin(option) is typing.Literal:
            parts.append("one of " + ", ".join(map(repr, typing.get_args(option))))
        elif option is not type(None):
            parts.append(words.get(option, getattr(option, "__name__", str(option))))
    return " or ".join(parts)


def _example(tp: Any, default: Any) -> str:
    """A value to show after ``--param NAME.KEY=``: the default where it fits."""
    if default is not inspect.Parameter.empty and default is not None and matches(default, tp):
        return str(default).lower() if isinstance(default, bool) else str(default)
    samples = {bool: "true", int: "5", float: "0.5", str: "text"}
    return next((samples[o] for o in _options(tp) if o in samples), "VALUE")


def check_param_types(name: str, cls: type, params: dict[str, Any]) -> None:
    """The user's parameters against ``cls.__init__``'s annotations, before any job."""
    signature = init_signature(cls)
    for key, value in params.items():
        if key not in signature:
            continue  # unknown keys are the runner's error, with the list of parameters
        tp, default = signature[key]
        if not matches(value, tp):
            raise UserError(
                f"synthesizer '{name}': parameter {key} must be {describe(tp)}, got {value!r}: "
                f"e.g. --param {name}.{key}={_example(tp, default)}"
            )


# ---- the whole run ----------------------------------------------------------------------------


def _run_synthesizers(cfg: RunConfig) -> dict[str, tuple[str, type]]:
    """Registered name -> (name as given, class) for the run's synthesizers, each once; with
    the default grid, only those the user gave parameters for (the rest need no check)."""
    from bench.registry import available, load, resolve

    if cfg.synthesizers is None:
        known = available("synthesizers")
        return {n: (n, load(known[n])) for n in cfg.params if n in known}
    found: dict[str, tuple[str, type]] = {}
    for given in cfg.synthesizers:
        name, target = resolve("synthesizers", given)
        found.setdefault(name, (given, load(target)))
    return found


def preflight(cfg: RunConfig) -> RunConfig:
    """Check what can be checked before planning; ``cfg`` comes back with each synthesizer
    named once (``smote`` and ``adapters.smote:SMOTE`` are one)."""
    check_results_folder(cfg.out)
    check_device(cfg.device, "")  # its message names --device
    check_llm(cfg.llm, "--llm")
    synths = _run_synthesizers(cfg)
    for name, values in cfg.params.items():
        if name in synths:
            check_param_types(name, synths[name][1], values)
        check_device(values.get("device"), f"--param {name}.device")
        check_llm(values.get("llm"), f"--param {name}.llm")
    if cfg.synthesizers is None:
        return cfg
    return dataclasses.replace(cfg, synthesizers=[given for given, _ in synths.values()])
