"""Bad run input is refused before any job is planned: one ``error:`` line that names the
problem and the fix, exit code 2, and nothing on disk changed (audit 4, items 3 and 5-11)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.checks import SEED_MAX, looks_local
from bench.cli import main
from bench.config import build_config, parse_limit, parse_size_mb
from bench.datasets import SPLIT_RATIOS, check_split, min_rows, stratified_split
from bench.errors import UserError

QUICK = ["--datasets", "diabetes", "--synthesizers", "original", "--metrics", "dm"]


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one error line of a command that must fail with exit code 2."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _dry_run(capsys: pytest.CaptureFixture[str], out: Path, *argv: str) -> str:
    """What ``bench run --dry-run`` prints for a command that must be accepted."""
    code = main(["run", "--dry-run", "--out", str(out), *argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _run_error(capsys: pytest.CaptureFixture[str], out: Path | str, *argv: str) -> str:
    return _error(capsys, "run", "--dry-run", "--out", str(out), *QUICK, *argv)


@pytest.fixture
def csv_rows(tmp_path: Path):
    """A CSV of ``n`` rows with a two-class target ``y``; returns its path."""

    def write(n: int, name: str = "mine.csv") -> str:
        path = tmp_path / name
        lines = ["a,b,y", *(f"{i},{i * 0.5},{i % 2}" for i in range(n))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    return write


# ---- item 3: tracebacks become one-line errors ----------------------------------------------


@pytest.mark.parametrize("value", ["abc", "[1]", "-1", "0", "nan", "inf", "-inf", "true"])
def test_bad_limit_values(capsys, tmp_path, value):
    line = _run_error(capsys, tmp_path, "--limit", f"fit={value}")
    assert "fit" in line and "--limit fit=600" in line


def test_limit_none_means_no_limit(tmp_path):
    assert build_config(out=str(tmp_path), limits={"fit": "none"}).limits["fit"] is None
    assert build_config(out=str(tmp_path), limits={"fit": 90}).limits["fit"] == 90.0


def test_bad_limit_in_config(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[limits]\nfit = "abc"\n')
    assert "fit = 600 under [limits]" in _run_error(capsys, tmp_path, "--config", str(cfg))
    cfg.write_text("limits = 5\n")
    assert "must be a table" in _run_error(capsys, tmp_path, "--config", str(cfg))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=12), st.floats(), st.integers(), st.booleans()))
def test_parse_limit_accepts_positive_seconds_or_refuses(value):
    """Whatever is written, a limit is a positive finite number, none, or a UserError."""
    try:
        secs = parse_limit("fit", value)
    except UserError as exc:
        assert "--limit fit=600" in str(exc)
        return
    assert secs is None or (math.isfinite(secs) and secs > 0)


@given(st.floats(min_value=1e-3, max_value=1e9))
def test_parse_limit_keeps_valid_seconds(secs):
    assert parse_limit("fit", secs) == secs
    assert parse_limit("fit", repr(secs)) == secs


@pytest.mark.parametrize("size", ["1.2.3GiB", ".", "", "0", "0GiB", "-1", "8XB", "nan"])
def test_bad_memory_limit(capsys, tmp_path, size):
    assert "e.g. 8GiB" in _run_error(capsys, tmp_path, "--memory-limit", size)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.KMGTiBkmgtb -eE+", max_size=10))
def test_parse_size_mb_is_positive_or_a_user_error(text):
    try:
        mb = parse_size_mb(text)
    except UserError:
        return
    assert math.isfinite(mb) and mb > 0


@given(
    st.decimals(min_value="0.001", max_value="100000", places=3),
    st.sampled_from([("", 1), ("M", 1), ("MiB", 1), ("G", 1024), ("GiB", 1024), ("gb", 1024)]),
)
def test_parse_size_mb_reads_sizes(number, unit):
    suffix, scale = unit
    assert parse_size_mb(f"{number}{suffix}") == pytest.approx(float(number) * scale)


@pytest.mark.parametrize("seed", [str(2**64), "99999999999999999999", str(SEED_MAX + 1), "-1"])
def test_bad_seeds(capsys, tmp_path, seed):
    line = _run_error(capsys, tmp_path, "--seeds", seed)
    assert f"from 0 to {SEED_MAX}" in line and "--seeds 1234 1235" in line


def test_split_seed_negative(capsys, tmp_path, csv_rows):
    line = _run_error(
        capsys, tmp_path, "--data", csv_rows(20), "--target", "y", "--split-seed", "-1"
    )
    assert "split seed" in line and "--split-seed 0" in line


def test_out_is_a_file(capsys, tmp_path):
    afile = tmp_path / "results.txt"
    afile.write_text("keep me")
    assert "is a file" in _run_error(capsys, afile)
    assert "is a file" in _error(capsys, "merge", str(tmp_path), "--out", str(afile))
    assert afile.read_text() == "keep me"


def test_out_is_empty(capsys, tmp_path):
    assert "--out is empty" in _run_error(capsys, "")
    cfg = tmp_path / "c.toml"
    cfg.write_text('out = ""\n')
    assert "--out is empty" in _error(capsys, "run", "--dry-run", "--config", str(cfg), *QUICK)


def test_status_of_a_file_suggests_no_crashing_command(capsys, tmp_path):
    afile = tmp_path / "results.txt"
    afile.write_text("")
    line = _error(capsys, "status", "--out", str(afile))
    assert "is a file" in line and "bench run" not in line


@pytest.mark.parametrize("command", ["run", "status", "merge"])
def test_corrupt_results_database(capsys, tmp_path, command):
    out = tmp_path / "out"
    out.mkdir()
    db = out / "results.sqlite"
    db.write_bytes(b"this is not an SQLite file at all " * 10)
    argv = {
        "run": ["run", "--dry-run", "--out", str(out), *QUICK],
        "status": ["status", "--out", str(out)],
        "merge": ["merge", str(tmp_path / "src"), "--out", str(out)],
    }[command]
    line = _error(capsys, *argv)
    assert "is not a bench results database" in line and "move it away" in line
    assert db.read_bytes() == b"this is not an SQLite file at all " * 10


def test_csv_path_unknown_placeholder(capsys, tmp_path):
    line = _error(
        capsys,
        "run",
        "--dry-run",
        "--out",
        str(tmp_path),
        "--datasets",
        "diabetes",
        "--synthesizers",
        "csv",
        "--param",
        "csv.path=/x/{datset}.csv",
    )
    assert "{datset}" in line and "{dataset}, {seed}" in line


def test_leaderboard_arguments(capsys, tmp_path):
    afile = tmp_path / "f"
    afile.write_text("")
    assert "--digits 2" in _error(capsys, "leaderboard", "--out", str(tmp_path), "--digits", "-1")
    assert "--to" in _error(capsys, "leaderboard", "--out", str(tmp_path), "--to", str(afile))
    assert "--to" in _error(capsys, "compare-paper", "--out", str(tmp_path), "--to", str(afile))


# ---- item 5: checked before planning ----------------------------------------------------------


def test_cuda_without_a_gpu(capsys, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "CUDA is not available" in _run_error(capsys, tmp_path, "--device", "cuda")
    line = _error(
        capsys,
        *["run", "--dry-run", "--out", str(tmp_path), "--datasets", "diabetes"],
        *["--synthesizers", "harmonic", "--metrics", "dm", "--param", "harmonic.device=cuda"],
    )
    assert "harmonic.device" in line and "CUDA is not available" in line
    assert "1 jobs planned" in _dry_run(capsys, tmp_path / "o", *QUICK, "--device", "auto")


def test_llm_local_path_that_does_not_exist(capsys, tmp_path):
    line = _run_error(capsys, tmp_path, "--llm", str(tmp_path / "no-model"))
    assert "no such folder" in line
    (tmp_path / "empty").mkdir()
    assert "no config.json" in _run_error(capsys, tmp_path, "--llm", str(tmp_path / "empty"))
    out = _dry_run(capsys, tmp_path / "o", *QUICK, "--llm", "some-org/some-model")
    assert "llm some-org/some-model" in out


def test_looks_local():
    assert looks_local("/models/x") and looks_local("./x") and looks_local("~/x")
    assert looks_local("../x") and looks_local("a/b/c") and looks_local("tests/nope")
    assert not looks_local("meta-llama/Llama-2-7b-chat-hf") and not looks_local("gpt2")


def test_parameter_type_checked_up_front(capsys, tmp_path):
    line = _error(
        capsys,
        *["run", "--dry-run", "--out", str(tmp_path), "--datasets", "diabetes"],
        *["--synthesizers", "smote", "--metrics", "dm", "--param", "smote.k_neighbors=abc"],
    )
    assert "k_neighbors must be an integer" in line and "--param smote.k_neighbors=5" in line


# ---- items 6-11 ---------------------------------------------------------------------------------


def test_data_with_datasets_runs_both(capsys, tmp_path, csv_rows):
    out = _dry_run(capsys, tmp_path / "o", *QUICK, "--data", csv_rows(30), "--target", "y")
    assert " diabetes " in out and " mine " in out and "2 jobs planned" in out


@pytest.mark.parametrize("option", ["--target", "--test", "--name", "--split-seed"])
def test_user_data_options_need_data(capsys, tmp_path, option):
    line = _run_error(capsys, tmp_path, option, "1")
    assert f"{option} describes your own file and needs --data FILE" in line


@pytest.mark.parametrize("seeds", ["[1.5]", '["1"]', "[true]", '"1"'])
def test_config_seeds_must_be_integers(capsys, tmp_path, seeds):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"seeds = {seeds}\n")
    line = _error(capsys, "run", "--dry-run", "--out", str(tmp_path), "--config", str(cfg))
    assert "seeds = [1234, 1235]" in line


@pytest.mark.parametrize("name", ["../../evil", "a/b", "..", ".", "a b", ""])
def test_name_must_be_plain(capsys, tmp_path, csv_rows, name):
    line = _run_error(
        capsys, tmp_path / "out", "--data", csv_rows(20), "--target", "y", "--name", name
    )
    assert "not a plain name" in line
    assert not (tmp_path / "out").exists()


def test_duplicates_plan_one_job(capsys, tmp_path):
    out = _dry_run(
        capsys,
        tmp_path,
        *["--datasets", "diabetes", "diabetes", "--seeds", "1", "1"],
        *["--synthesizers", "original", "original", "--metrics", "dm", "dm"],
    )
    assert "1 jobs planned, 0 already done, 1 to run" in out and "metrics: dm\n" in out
    out = _dry_run(capsys, tmp_path, *QUICK[:2], "--synthesizers", "smote", "adapters.smote:SMOTE")
    assert "1 jobs planned" in out


def test_param_without_equals_shows_a_param_example(capsys, tmp_path):
    line = _run_error(capsys, tmp_path, "--param", "smote")
    assert "--param smote.k_neighbors=3" in line and "fit=600" not in line


def test_envs_remove_all_with_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_ENVS_DIR", str(tmp_path / "envs"))
    assert main(["envs", "remove", "--all"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_tiny_csv_is_refused_at_load(capsys, tmp_path, csv_rows):
    line = _error(capsys, "datasets", "--data", csv_rows(5), "--target", "y")
    assert "5 rows" in line and "at least 6 rows" in line
    test = csv_rows(10, "test.csv")
    line = _error(capsys, "datasets", "--data", csv_rows(4), "--target", "y", "--test", test)
    assert "at least 5 rows" in line


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**32 - 1))
def test_split_is_full_or_refused(n, seed):
    """A split either gives every part rows (train both classes) or is refused in one line."""
    import pandas as pd

    table = pd.DataFrame({"a": range(n), "y": [i % 2 for i in range(n)]})
    parts = dict(zip(("train", "val", "test"), stratified_split(table, "y", seed), strict=True))
    try:
        check_split("t", parts, "y", n, SPLIT_RATIOS)
    except UserError as exc:
        assert n < 8 and f"at least {min_rows(SPLIT_RATIOS)} rows" in str(exc)
        return
    assert all(len(p) for p in parts.values()) and parts["train"]["y"].nunique() == 2
