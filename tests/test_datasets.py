"""Bundled datasets, user datasets, the stratified split and the Parquet hand-off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.catalog import BUNDLED, bundled_index, data_dir
from bench.datasets import UserDataSpec, load_bundled, load_user, stratified_split
from bench.errors import UserError
from bench.tables import read_parquet, write_parquet

ROWS = {  # from PROVENANCE.md
    "german": (700, 100, 200),
    "adult": (26048, 6513, 16281),
    "diabetes": (491, 123, 154),
    "buddy": (12053, 3014, 3767),
}


@pytest.fixture(scope="module")
def adult():
    return load_bundled("adult")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_splits_are_the_papers(name):
    ds = load_bundled(name)
    assert (len(ds.train), len(ds.val), len(ds.test)) == ROWS[name]
    assert list(ds.train.dtypes.astype(str)) == [c.dtype for c in ds.schema.columns]


def test_index_matches_the_vendored_files():
    """data/index.json (what `bench datasets` prints) is what the files say now."""
    assert bundled_index() == [load_bundled(n).summary() for n in BUNDLED]


def test_adult_missing_values_survive_untouched(adult):
    raw = pd.read_csv(data_dir() / "adult" / "train.csv")
    missing = adult.train.isna().sum()
    assert missing[missing > 0].to_dict() == {
        "workclass": 1473,
        "occupation": 1478,
        "native-country": 463,
    }
    pd.testing.assert_frame_equal(adult.train.isna(), raw.isna())
    assert "nan" not in set(adult.train["workclass"].dropna())
    assert adult.schema["workclass"].nullable and adult.schema["age"].kind == "float"


def test_parquet_handoff_roundtrip_is_exact(adult, tmp_path):
    write_parquet(adult.train, tmp_path / "t.parquet")
    back = read_parquet(tmp_path / "t.parquet", adult.schema.dtypes())
    pd.testing.assert_frame_equal(back, adult.train)
    assert back["workclass"].isna().sum() == 1473
    holes = back["workclass"][back["workclass"].isna()]
    assert all(isinstance(v, float) and np.isnan(v) for v in holes)  # NaN, as read_csv gives


def test_fingerprint_is_content_based():
    a, b = load_bundled("diabetes"), load_bundled("diabetes")
    assert a.fingerprint == b.fingerprint != load_bundled("german").fingerprint


def test_buddy_is_multiclass_with_string_feature():
    ds = load_bundled("buddy")
    assert ds.schema.task == "multiclass" and ds.schema.classes == (0, 1, 2)
    assert ds.schema["color_type"].kind == "categorical"
    assert ds.schema["issue_date"].kind == "float"


def test_user_dataset_with_test_file(tmp_path):
    df = pd.DataFrame({"x": range(40), "c": ["a", "b"] * 20, "y": [0, 1, 1, 0] * 10})
    df.to_csv(tmp_path / "train.csv", index=False)
    df.head(10).to_csv(tmp_path / "test.csv", index=False)
    ds = load_user(
        UserDataSpec("mine", str(tmp_path / "train.csv"), "y", test=str(tmp_path / "test.csv"))
    )
    assert (len(ds.train), len(ds.val), len(ds.test)) == (35, 5, 10)
    df.drop(columns="c").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UserError, match="columns differ"):
        load_user(
            UserDataSpec("m", str(tmp_path / "train.csv"), "y", test=str(tmp_path / "bad.csv"))
        )


def test_user_dataset_cannot_shadow_a_bundled_name(tmp_path):
    pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}).to_csv(tmp_path / "g.csv", index=False)
    with pytest.raises(UserError, match="taken by a bundled"):
        load_user(UserDataSpec("german", str(tmp_path / "g.csv"), "y"))


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 80), min_size=2, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_stratified_split_properties(counts, seed):
    labels = np.repeat([f"class{i}" for i in range(len(counts))], counts)
    table = pd.DataFrame({"row": np.arange(len(labels)), "y": labels})
    parts = stratified_split(table, "y", seed)
    rows = [set(p["row"]) for p in parts]
    assert set.union(*rows) == set(table["row"]) and sum(map(len, rows)) == len(table)
    for cls, n in zip(np.unique(labels), counts, strict=True):
        got = [int((p["y"] == cls).sum()) for p in parts]
        assert got[0] >= 1  # every class is learnable from train
        for k, ratio in ((1, 0.1), (2, 0.2)):
            assert abs(got[k] - ratio * n) <= 1.5
    if min(counts) >= 10:
        assert len(parts[2]) == round(0.2 * len(table))
        assert len(parts[1]) == round(0.1 * len(table))
    again = stratified_split(table, "y", seed)
    assert all(a.equals(b) for a, b in zip(parts, again, strict=True))
    assert all(p["row"].is_monotonic_increasing for p in parts)
