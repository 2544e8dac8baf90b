"""What the bundled datasets are, readable without pandas (so ``bench datasets`` is instant).

``data/index.json`` holds each dataset's summary; ``python -m bench.datasets`` rewrites it
and a test checks it against the vendored files.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from bench.toml import read_toml

BUNDLED = ("german", "adult", "diabetes", "buddy")
INDEX_FILE = "index.json"


def data_dir() -> Path:
    return Path(str(resources.files("bench") / "data"))


def bundled_meta() -> dict[str, dict[str, Any]]:
    """Target, description and provenance of each bundled dataset (``data/datasets.toml``)."""
    return read_toml(data_dir() / "datasets.toml")


def bundled_index() -> list[dict[str, Any]]:
    return json.loads((data_dir() / INDEX_FILE).read_text(encoding="utf-8"))
