"""The CLI's cheap commands stay cheap: no heavy library is imported to answer them."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.catalog import BUNDLED

PROBE = (
    "import sys\n"
    "from bench.cli import main\n"
    "main({argv!r})\n"
    "heavy = [m for m in ('pandas', 'numpy', 'torch', 'transformers', 'sklearn', 'synthcity')"
    " if m in sys.modules]\n"
    "assert not heavy, heavy\n"
)


def _probe(argv):
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=60
    )


def test_help_and_datasets_import_nothing_heavy():
    for argv in (["datasets"], ["datasets", "--json"]):
        res = _probe(argv)
        assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and "bench run" in res.stdout


def test_datasets_lists_the_four_bundled(bench_cli):
    res = bench_cli("datasets", "--json")
    assert res.returncode == 0
    got = {d["name"]: d for d in json.loads(res.stdout)}
    assert list(got) == list(BUNDLED)
    assert got["buddy"]["task"] == "multiclass" and got["buddy"]["classes"] == [0, 1, 2]
    assert got["adult"]["rows"] == {"train": 26048, "val": 6513, "test": 16281}


def test_datasets_inspects_a_user_file(tmp_path, bench_cli):
    path = tmp_path / "pets.csv"
    rows = [f"{i},{'cat' if i % 3 else 'dog'},{i % 2}" for i in range(50)]
    path.write_text("age,kind,adopted\n" + "\n".join(rows) + "\n")
    res = bench_cli("datasets", "--data", str(path), "--target", "adopted")
    assert res.returncode == 0, res.stderr
    assert "pets" in res.stdout and '"kind" = "categorical"' in res.stdout
    assert "35/5/10" in res.stdout  # seeded stratified 7:1:2


def test_synthesizers_lists_builtins(bench_cli):
    res = bench_cli("synthesizers", "--json")
    names = {r["name"]: r for r in json.loads(res.stdout)}
    assert {"original", "smote", "csv"} <= set(names)
    assert names["csv"]["in_default_grid"] == "no"
