"""Parsing generated rows: never crashes, names why a row is invalid, reads serialised rows back."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.datasets import load_bundled
from bench.schema import Column, Schema
from harmonic.instructions import serialize_row
from harmonic.parse import (
    BAD_JSON,
    BAD_NUMBER,
    BAD_VALUE,
    MISSING_COLUMN,
    MISSING_VALUE,
    NO_JSON,
    NOT_OBJECT,
    REASONS,
    UNSEEN_CATEGORY,
    Parsed,
    parse_row,
    parse_rows,
)

SCHEMA = Schema(
    (
        Column("age", "integer", "int64"),
        Column("gap", "integer", "float64", nullable=True),
        Column("w", "float", "float64"),
        Column("job", "categorical", "object", nullable=True, categories=("a", 'b"{,}', "ü")),
        Column("flag", "boolean", "bool", categories=(False, True)),
        Column("y", "categorical", "int64", categories=(0, 1, 2)),
    ),
    "y",
    "multiclass",
)
GOOD = {"age": "32", "gap": "", "w": "0.5", "job": 'b"{,}', "flag": "True", "y": "2"}
GOOD_VALUES = {"age": 32, "gap": None, "w": 0.5, "job": 'b"{,}', "flag": True, "y": 2}


def dumps(d: dict) -> str:
    return json.dumps(d, ensure_ascii=False)


def check(p: Parsed) -> None:
    assert isinstance(p, Parsed)
    if p.values is None:
        assert p.reason in REASONS
    else:
        assert p.reason is None and set(p.values) == set(SCHEMA.names)


# ------------------------------------------------------------- never crashes

_fragments = st.sampled_from(
    ["{", "}", "[", "]", '"', ":", ",", "\\", " ", "\n", '"age"', '"y"', '"2"', '"32"', "null",
     "NaN", "Infinity", "1e999", "true", '"\\u', "\\ud800", "{}", '{"a": {"b": "}"}}', "é"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_crashes(text):
    check(parse_row(text, SCHEMA))


@settings(max_examples=300, deadline=None)
@given(st.lists(_fragments, max_size=40).map("".join))
def test_json_fragments_never_crash(text):
    check(parse_row(text, SCHEMA))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(_json, st.text(max_size=5), st.text(max_size=5))
def test_nested_json_never_crashes(value, before, after):
    check(parse_row(before + json.dumps(value) + after, SCHEMA))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_rows_are_bad_json(data):
    text = dumps(GOOD)
    cut = data.draw(st.integers(1, len(text) - 1))
    p = parse_row(text[:cut], SCHEMA)
    assert p.reason == BAD_JSON


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*SCHEMA.names, " age ", "other"]),
        _json | st.text() | st.sampled_from(["", "1", "1.5", "a", "True", "nan", " 7 "]),
    )
)
def test_any_object_gives_values_or_a_reason(d):
    check(parse_row(json.dumps(d), SCHEMA))


def test_hostile_inputs_never_crash():
    for text in [
        "[" * 5000,
        "{" * 5000,
        '{"a":' * 2000,
        "\x00{\x00}",
        "\ud800{",
        None,
        b'{"age": "1"}',
        12,
        '{"age": "1"' + "}" * 3,
    ]:
        p = parse_row(text, SCHEMA)  # type: ignore[arg-type]
        assert p.reason in REASONS


# ------------------------------------------------------------- each reason, crafted


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("", NO_JSON, None),
        ("the model rambles on", NO_JSON, None),
        ('{"age": "32", "gap"', BAD_JSON, None),
        ("{not json}", BAD_JSON, None),
        ('["age", "32"]', NOT_OBJECT, None),
        ('"just a string"', NOT_OBJECT, None),
        (dumps({k: v for k, v in GOOD.items() if k != "w"}), MISSING_COLUMN, "w"),
        ("{}", MISSING_COLUMN, "age"),
        (dumps({**GOOD, "job": ["a"]}), BAD_VALUE, "job"),
        (dumps({**GOOD, "w": {"v": "1"}}), BAD_VALUE, "w"),
        (dumps({**GOOD, "age": "thirty"}), BAD_NUMBER, "age"),
        (dumps({**GOOD, "age": "32.5"}), BAD_NUMBER, "age"),
        (dumps({**GOOD, "age": "1" + "0" * 20}), BAD_NUMBER, "age"),
        (dumps({**GOOD, "w": "nan"}), BAD_NUMBER, "w"),
        (dumps({**GOOD, "w": "inf"}), BAD_NUMBER, "w"),
        (dumps({**GOOD, "w": "1_0"}), BAD_NUMBER, "w"),
        (dumps({**GOOD, "w": "9" * 5000}), BAD_NUMBER, "w"),
        (dumps({**GOOD, "age": "9" * 5000}), BAD_NUMBER, "age"),
        (dumps({**GOOD, "job": "c"}), UNSEEN_CATEGORY, "job"),
        (dumps({**GOOD, "job": "A"}), UNSEEN_CATEGORY, "job"),
        (dumps({**GOOD, "flag": "yes"}), UNSEEN_CATEGORY, "flag"),
        (dumps({**GOOD, "y": "3"}), UNSEEN_CATEGORY, "y"),
        (dumps({**GOOD, "y": "1.0"}), UNSEEN_CATEGORY, "y"),
        (dumps({**GOOD, "age": ""}), MISSING_VALUE, "age"),
        (dumps({**GOOD, "y": None}), MISSING_VALUE, "y"),
    ],
)
def test_each_reason(text, reason, column):
    p = parse_row(text, SCHEMA)
    assert p.values is None and p.reason == reason and p.column == column


def test_valid_row_and_tolerated_forms():
    assert parse_row(dumps(GOOD), SCHEMA) == Parsed(GOOD_VALUES, None)
    wrapped = "Sure! Here it is: " + dumps(GOOD) + " {trailing} text"
    assert parse_row(wrapped, SCHEMA).values == GOOD_VALUES
    # braces inside strings, a broken object before the good one, keys in any order
    assert parse_row('{"x": "}{" ' + dumps(GOOD), SCHEMA).values == GOOD_VALUES
    shuffled = dict(reversed(list(GOOD.items())))
    assert parse_row(dumps({**shuffled, "extra": "ignored"}), SCHEMA).values == GOOD_VALUES
    # whitespace-padded keys, integral decimals for integers, JSON numbers and booleans
    loose = {**GOOD, " age ": GOOD["age"], "gap": "7.0", "w": 3, "flag": False, "y": 1}
    del loose["age"]
    assert parse_row(dumps(loose), SCHEMA).values == {
        **GOOD_VALUES, "gap": 7, "w": 3.0, "flag": False, "y": 1
    }  # fmt: skip
    assert parse_row(dumps({**GOOD, "job": ""}), SCHEMA).values["job"] is None
    assert parse_row(dumps({**GOOD, "gap": None}), SCHEMA).values["gap"] is None


def test_empty_string_category_wins_over_missing():
    schema = Schema(
        (Column("c", "categorical", "object", categories=("", "x")),
         Column("y", "categorical", "int64", categories=(0, 1))),
        "y",
        "binary",
    )  # fmt: skip
    assert parse_row('{"c": "", "y": "0"}', schema).values == {"c": "", "y": 0}


@pytest.mark.parametrize("name", ["german", "adult", "buddy"])
def test_serialised_rows_parse_to_the_original_values(name):
    d = load_bundled(name)
    rng = np.random.default_rng(0)
    rows = d.train.iloc[rng.choice(len(d.train), 300, replace=False)].reset_index(drop=True)
    if name == "adult":  # include rows with missing categories
        rows = pd.concat([rows, d.train[d.train.isna().any(axis=1)].head(50)], ignore_index=True)
    names = d.schema.names
    texts = []
    for rec in rows.to_dict("records"):
        order = [names[j] for j in rng.permutation(len(names))]
        texts.append(serialize_row(rec, d.schema, order))
    for rec, text in zip(rows.to_dict("records"), texts, strict=True):
        got = parse_row(text, d.schema).values
        assert got is not None
        for c in d.schema.columns:
            v = rec[c.name]
            assert (got[c.name] is None) if pd.isna(v) else (got[c.name] == v), c.name
    table, reasons = parse_rows(texts, d.schema)
    assert reasons == Counter()
    pd.testing.assert_frame_equal(table, rows)


def test_parse_rows_counts_reasons_and_keeps_dtypes():
    texts = [dumps(GOOD), "nothing", dumps({**GOOD, "y": "9"}), dumps({**GOOD, "gap": "4"}), "{"]
    table, reasons = parse_rows(texts, SCHEMA)
    assert reasons == Counter({NO_JSON: 1, UNSEEN_CATEGORY: 1, BAD_JSON: 1})
    assert len(table) == 2
    assert list(table.columns) == SCHEMA.names
    assert table.dtypes.astype(str).tolist() == [c.dtype for c in SCHEMA.columns]
    assert np.isnan(table.at[0, "gap"]) and table.at[1, "gap"] == 4.0
    empty, reasons = parse_rows([], SCHEMA)
    assert len(empty) == 0 and not reasons
    assert empty.dtypes.astype(str).tolist() == [c.dtype for c in SCHEMA.columns]
