"""Bad input: one line naming the problem and the fix, exit code 2, no traceback."""

from __future__ import annotations

import pytest

from bench.cli import main


def _error(capsys, *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str | bytes, name: str = "data.csv"):
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_missing_file(capsys, tmp_path):
    line = _error(capsys, "datasets", "--data", str(tmp_path / "nope.csv"), "--target", "y")
    assert "does not exist" in line


def test_not_utf8(capsys, csv_file):
    path = csv_file("name,y\nJos\xe9,1\nAnn,0\n".encode("latin-1"))
    line = _error(capsys, "datasets", "--data", path, "--target", "y")
    assert "not UTF-8" in line and "iconv" in line


def test_binary_file(capsys, csv_file):
    line = _error(capsys, "datasets", "--data", csv_file(b"a,y\n\x00\x01,1\n"), "--target", "y")
    assert "NUL bytes" in line


def test_empty_file(capsys, csv_file):
    assert "empty" in _error(capsys, "datasets", "--data", csv_file(""), "--target", "y")


def test_header_only(capsys, csv_file):
    line = _error(capsys, "datasets", "--data", csv_file("a,y\n"), "--target", "y")
    assert "no data rows" in line


def test_unknown_target_with_suggestion(capsys, csv_file):
    line = _error(
        capsys, "datasets", "--data", csv_file("age,label\n1,a\n2,b\n"), "--target", "lable"
    )
    assert "unknown target column 'lable'" in line and "did you mean 'label'" in line


def test_single_class_target(capsys, csv_file):
    line = _error(capsys, "datasets", "--data", csv_file("a,y\n1,x\n2,x\n3,x\n"), "--target", "y")
    assert "single class" in line


def test_duplicate_columns(capsys, csv_file):
    line = _error(capsys, "datasets", "--data", csv_file("a,a,y\n1,2,0\n3,4,1\n"), "--target", "y")
    assert "duplicate column names ['a']" in line


def test_duplicate_columns_parquet(capsys, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table([[1, 2], [3, 4], [0, 1]], names=["a", "a", "y"]), path)
    assert "duplicate" in _error(capsys, "datasets", "--data", str(path), "--target", "y")


def test_corrupt_parquet(capsys, csv_file):
    path = csv_file(b"not parquet", "x.parquet")
    assert "not a readable Parquet" in _error(capsys, "datasets", "--data", path, "--target", "y")


def test_continuous_target(capsys, csv_file):
    line = _error(
        capsys, "datasets", "--data", csv_file("a,y\n1,0.5\n2,1.25\n3,2.5\n"), "--target", "y"
    )
    assert "continuous" in line


def test_unknown_dataset(capsys, tmp_path):
    line = _error(capsys, "run", "--datasets", "diabetis", "--out", str(tmp_path))
    assert "unknown dataset 'diabetis'" in line and "did you mean 'diabetes'" in line


def test_unknown_synthesizer(capsys, tmp_path):
    line = _error(capsys, "run", "--synthesizers", "smtoe", "--out", str(tmp_path))
    assert "did you mean 'smote'" in line


def test_unknown_parameter(capsys, tmp_path):
    line = _error(
        capsys, "run", "--synthesizers", "smote", "--param", "smote.kk=3", "--out", str(tmp_path)
    )
    assert "no parameter ['kk']" in line


def test_data_without_target(capsys, csv_file):
    assert "--target" in _error(capsys, "run", "--data", csv_file("a,y\n1,0\n"))


def test_bad_config(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("seeds = [1, 2\n")
    assert "not valid TOML" in _error(capsys, "run", "--config", str(cfg))
    cfg.write_text("sedes = [1]\n")
    assert "unknown keys ['sedes']" in _error(capsys, "run", "--config", str(cfg))


def test_csv_synthesizer_without_path(capsys, tmp_path):
    line = _error(capsys, "run", "--synthesizers", "csv", "--out", str(tmp_path))
    assert "csv.path" in line


def test_status_of_empty_folder(capsys, tmp_path):
    assert "no results" in _error(capsys, "status", "--out", str(tmp_path))
