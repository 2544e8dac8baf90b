"""User-facing errors: one line that names the problem and the fix, exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input. The CLI prints ``error: <message>`` and exits with code 2, no traceback."""


def unknown_name(kind: str, name: str, choices: Iterable[str], listing: str) -> UserError:
    """An error for an unknown dataset/synthesizer/metric name, with the closest known name."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return UserError(f"unknown {kind} '{name}': {hint}run '{listing}' to see the available ones")
