"""Schema inference from the file's text, overrides, and lossless storage dtypes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import UserError
from bench.schema import Schema, infer_schema, to_storage
from bench.tables import read_table


def _read(text: str, tmp_path) -> pd.DataFrame:
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    return read_table(path)


def test_kinds_follow_the_text(tmp_path):
    t = _read("i,f,fi,im,c,b,y\n1,1.5,32.0,1,x,True,0\n2,2.5,33.0,,y,False,1\n", tmp_path)
    s = infer_schema(t, "y")
    assert [c.kind for c in s.columns] == [
        "integer",
        "float",
        "float",
        "integer",
        "categorical",
        "boolean",
        "categorical",
    ]
    assert s["im"].nullable and s["im"].dtype == "float64"
    assert s["i"].dtype == "int64" and s["y"].dtype == "int64" and s["y"].categories == (0, 1)
    stored = to_storage(t, s)
    assert list(stored.dtypes.astype(str)) == [c.dtype for c in s.columns]


def test_overrides_win(tmp_path):
    t = _read("rate,zip,y\n1,1001,a\n2,2002,b\n3,1001,a\n", tmp_path)
    s = infer_schema(t, "y", overrides={"rate": "categorical", "zip": "float"})
    assert s["rate"].kind == "categorical" and s["rate"].dtype == "int64"
    assert s["rate"].categories == (1, 2, 3)
    assert s["zip"].kind == "float" and s["y"].categories == ("a", "b")
    with pytest.raises(UserError, match="use one of"):
        infer_schema(t, "y", overrides={"rate": "ordinal"})
    with pytest.raises(UserError, match="unknown column"):
        infer_schema(t, "y", overrides={"nope": "float"})
    t2 = _read("f,y\n1.5,a\n2.5,b\n", tmp_path)
    with pytest.raises(UserError, match="declare it float"):
        infer_schema(t2, "y", overrides={"f": "integer"})
    t3 = _read("s,y\nx,a\nz,b\n", tmp_path)
    with pytest.raises(UserError, match="declare it categorical"):
        infer_schema(t3, "y", overrides={"s": "float"})


def test_quoted_hostile_text_survives(tmp_path):
    t = _read('s,y\n"a,b",0\n"say ""hi""",1\n"line\r\nbreak",0\nnaïve {json},1\n', tmp_path)
    assert t["s"].tolist() == ["a,b", 'say "hi"', "line\r\nbreak", "naïve {json}"]


def test_schema_json_roundtrip(tmp_path):
    t = _read("a,b,y\n1,x,0\n2,,1\n", tmp_path)
    s = infer_schema(t, "y", description="things", name="demo")
    assert Schema.from_dict(s.to_dict()) == s
    assert '"b" = "categorical"  # has missing values' in s.to_toml()


# ---- property: any table written as CSV is read back with the kinds it was made of ----

KIND_VALUES = {
    "integer": st.integers(-(10**9), 10**9),
    "float": st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: x + 0.5 if x == int(x) else x),
    # a letter prefix keeps values from looking like numbers or NA markers; no bare "\r":
    # pandas' writer leaves it unquoted, which no CSV reader can tell from a line break;
    # no NUL: a file holding one is rejected as binary (tested in test_cli_errors); no lone
    # surrogates: they cannot be written as UTF-8 at all
    "categorical": st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="\r\x00"), max_size=8
    ).map(lambda s: "c" + s),
    "boolean": st.booleans(),
}


@st.composite
def tables(draw):
    n = draw(st.integers(2, 12))
    kinds = draw(st.lists(st.sampled_from(sorted(KIND_VALUES)), min_size=1, max_size=5))
    data, with_missing = {}, {}
    for i, kind in enumerate(kinds):
        values = draw(st.lists(KIND_VALUES[kind], min_size=n, max_size=n))
        holes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        if all(holes):
            holes[0] = False
        missing = kind != "boolean" and any(holes)
        col = [None if (missing and h) else v for v, h in zip(values, holes, strict=True)]
        data[f'col {i}, "{kind}"'] = col
        with_missing[f'col {i}, "{kind}"'] = missing
    data["y"] = [i % 2 for i in range(n)]
    return pd.DataFrame(data, dtype=object), kinds, with_missing


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tables())
def test_csv_roundtrip_keeps_kinds_values_and_missing(case):
    frame, kinds, missing = case
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    text = buf.getvalue()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        path.write_text(text, encoding="utf-8")
        table = read_table(path)
    schema = infer_schema(table, "y")
    stored = to_storage(table, schema)
    for (name, col), kind in zip(list(frame.items())[:-1], kinds, strict=True):
        assert schema[name].kind == kind, (name, text)
        assert schema[name].nullable == missing[name]
        got = stored[name]
        assert got.isna().tolist() == col.isna().tolist()
        expect = col.dropna().tolist()
        vals = got.dropna().tolist()
        if kind == "float":
            np.testing.assert_allclose(vals, expect, rtol=1e-12)
        else:
            assert vals == expect
