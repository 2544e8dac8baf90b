"""A synthesizer from a separate, installed package joins the grid through its entry point."""

from __future__ import annotations

import json
import textwrap

PLUGIN = textwrap.dedent(
    '''
    import numpy as np
    import pandas as pd
    from bench.synthesizer import Synthesizer

    class ColumnShuffle(Synthesizer):
        """Samples each column independently from its training values."""

        name = "colshuffle"
        description = "plug-in: independent column sampling"
        presets = {"quick": {"replace": True}, "paper": {"replace": True}}

        def __init__(self, replace: bool = False):
            self.replace = replace

        def fit(self, train, schema, seed):
            self.train_ = train.reset_index(drop=True)
            return self

        def generate(self, n, seed):
            rng = np.random.default_rng(seed)
            return pd.DataFrame({
                c: self.train_[c].to_numpy()[rng.choice(len(self.train_), n, replace=self.replace)]
                for c in self.train_.columns
            })
    '''
)


def _install_plugin(root):
    pkg = root / "colshuffle_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(PLUGIN)
    dist = root / "colshuffle_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: colshuffle-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[bench.synthesizers]\ncolshuffle = colshuffle_plugin:ColumnShuffle\n"
    )


def test_plugin_is_listed_and_runs_through_the_grid(tmp_path, bench_cli):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site)
    env = {"PYTHONPATH": str(site)}
    listed = bench_cli("synthesizers", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["colshuffle"]["origin"] == "plug-in"
    assert rows["colshuffle"]["in_default_grid"] == "yes"

    out = tmp_path / "out"
    res = bench_cli(
        "run",
        "--datasets",
        "diabetes",
        "german",
        "--synthesizers",
        "colshuffle",
        "original",
        "--metrics",
        "dm",
        "invalid_rows",
        "--out",
        str(out),
        env=env,
    )
    assert res.returncode == 0, res.stderr
    status = bench_cli("status", "--out", str(out))
    lines = [ln for ln in status.stdout.splitlines() if ln.split()[1:2] == ["colshuffle"]]
    assert len(lines) == 2 and all(" ok " in line for line in lines)
