"""TOML reading (stdlib ``tomllib`` on 3.11+, ``tomli`` before) with one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist: check the path")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"config file '{path}' is not UTF-8 text: re-save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file '{path}' is not valid TOML ({exc}): fix that line") from exc


def parse_value(text: str) -> Any:
    """Parse a CLI value as a TOML literal (``5``, ``0.1``, ``true``, ``[1, 2]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
