"""HARMONIC's instruction set: kNN groups, label filter, serialisation, permutation, prompts."""

from __future__ import annotations

import dataclasses
import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.datasets import load_bundled
from bench.schema import Column, Schema
from harmonic.instructions import (
    GENERATE_LINE,
    InstructionBuilder,
    generation_prompts,
    knn_encoding,
    number_word,
    prompt_header,
    serialize_row,
    value_text,
)
from harmonic.parse import parse_row

K = 5


@cache
def data(name: str):
    return load_bundled(name)


def prompt_rows(prompt: str) -> list[dict[str, str]]:
    """The JSON rows of a prompt, in order (split on "\\n": values have it escaped)."""
    lines = prompt.split("\n")
    assert lines[-1] == GENERATE_LINE
    out = []
    for i, line in enumerate(lines[1:-1], start=1):
        prefix = f"Example {number_word(i)}: "
        assert line.startswith(prefix)
        out.append(json.loads(line[len(prefix) :]))
    return out


def expected_dict(train: pd.DataFrame, schema: Schema, i: int) -> dict[str, str]:
    return {name: value_text(train.at[i, name], schema[name]) for name in schema.names}


def typed(train: pd.DataFrame, schema: Schema, i: int) -> dict:
    """Row i as parse_row returns it: missing -> None, integer columns -> int."""
    out = {}
    for c in schema.columns:
        v = train.at[i, c.name]
        if pd.isna(v):
            out[c.name] = None
        elif c.kind == "integer":
            out[c.name] = int(v)
        elif c.kind == "float":
            out[c.name] = float(v)
        else:
            out[c.name] = v.item() if isinstance(v, np.generic) else v
    return out


# ------------------------------------------------------------- independent label-filter count


def literal_kept(train: pd.DataFrame, schema: Schema, k: int = K, eps: float = 1e-9):
    """Brute force, row by row, on the documented encoding; no sklearn, no one-hot.

    Squared distance = sum over numeric features of (min-max scaled difference)^2 plus, per
    categorical feature, 1 when the categories differ (what one-hot x 1/sqrt(2) gives).
    Returns (kept, ambiguous, nearest_d2): ``ambiguous`` rows have ties at the k-th distance
    that could swing the decision either way, so either outcome is correct there.
    """
    nums, cats = [], []
    for c in schema.features:
        x = train[c.name].to_numpy(dtype=float) if c.is_numeric else None
        if x is not None:
            assert not np.isnan(x).any()  # these datasets have no missing numbers
            span = x.max() - x.min()
            nums.append((x - x.min()) / span if span > 0 else np.zeros_like(x))
        else:
            cats.append(train[c.name].astype(str).to_numpy())
    num = np.column_stack(nums) if nums else np.zeros((len(train), 0))
    cat = np.column_stack(cats) if cats else np.zeros((len(train), 0), dtype=str)
    y = train[schema.target].to_numpy()
    n = len(train)
    kept = np.zeros(n, dtype=bool)
    ambiguous = np.zeros(n, dtype=bool)
    nearest = np.zeros((n, k))
    for i in range(n):
        d2 = ((num - num[i]) ** 2).sum(axis=1) + (cat != cat[i]).sum(axis=1)
        d2[i] = np.inf  # never its own neighbour
        nearest[i] = np.sort(d2)[:k]
        kth = nearest[i, -1]
        strict = d2 < kth - eps
        tied = np.abs(d2 - kth) <= eps
        need = k - strict.sum()
        differ = y != y[i]
        sure = differ[strict].sum()
        tied_differ, tied_same = differ[tied].sum(), (~differ[tied]).sum()
        lo = sure + max(0, need - tied_same)
        hi = sure + min(need, tied_differ)
        kept[i] = 2 * lo <= k
        ambiguous[i] = (2 * lo <= k) != (2 * hi <= k)
    return kept, ambiguous, nearest


def neighbour_d2(train: pd.DataFrame, schema: Schema, groups: np.ndarray) -> np.ndarray:
    x = knn_encoding(train, schema)
    return ((x[groups] - x[:, None, :]) ** 2).sum(axis=2)


@pytest.mark.parametrize("name", ["german", "diabetes", "buddy"])
def test_label_filter_matches_an_independent_count(name):
    d = data(name)
    builder = InstructionBuilder()
    examples = builder.build(d.train, d.schema)
    kept, ambiguous, nearest = literal_kept(d.train, d.schema)
    got = np.zeros(len(d.train), dtype=bool)
    got[[e.center for e in examples]] = True
    sure = ~ambiguous
    assert (got[sure] == kept[sure]).all()
    assert ambiguous.sum() <= 0.01 * len(d.train)
    if not ambiguous.any():
        assert len(examples) == kept.sum()
    # the builder's neighbours are the k nearest, nearest first, never the row itself
    groups = builder.neighbours_
    assert not (groups == np.arange(len(groups))[:, None]).any()
    np.testing.assert_allclose(neighbour_d2(d.train, d.schema, groups), nearest, atol=1e-9)


def test_buddy_keeps_class_two_rows():
    d = data("buddy")
    examples = InstructionBuilder().build(d.train, d.schema)
    labels = d.train[d.schema.target].to_numpy()[[e.center for e in examples]]
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels == 2).sum() > 0.5 * (d.train[d.schema.target] == 2).sum()


def with_string_labels(name: str, mapping: dict) -> tuple[pd.DataFrame, Schema]:
    d = data(name)
    train = d.train.copy()
    target = d.schema.target
    train[target] = train[target].map(mapping).astype(object)
    cols = tuple(
        dataclasses.replace(c, dtype="object", categories=tuple(sorted(mapping.values())))
        if c.name == target
        else c
        for c in d.schema.columns
    )
    return train, dataclasses.replace(d.schema, columns=cols)


@pytest.mark.parametrize(
    ("name", "mapping"),
    [
        ("german", {0: 'bad "credit", {x}', 1: "good ✓"}),
        ("buddy", {0: "a", 1: "b", 2: "c\nd"}),
    ],
)
@pytest.mark.parametrize("include_label", [False, True])
def test_string_labels_give_the_same_groups(name, mapping, include_label):
    d = data(name)
    train, schema = with_string_labels(name, mapping)
    ref_examples = InstructionBuilder(knn_include_label=include_label).build(d.train, d.schema)
    ref = [e.center for e in ref_examples]
    got = InstructionBuilder(knn_include_label=include_label).build(train, schema)
    assert [e.center for e in got] == ref
    parsed = parse_row(got[0].output, schema)
    assert parsed.ok and parsed.values[schema.target] in mapping.values()


# ------------------------------------------------------------- permutation and serialisation


def test_permutation_changes_order_never_content():
    d = data("german")
    train, schema = d.train, d.schema
    examples = InstructionBuilder().build(train, schema)
    orders = []
    for e in examples[:100]:
        rows = [*prompt_rows(e.prompt), json.loads(e.output)]
        for r, i in zip(rows, [*e.neighbours, e.center], strict=True):
            assert r == expected_dict(train, schema, i)
            orders.append(tuple(r))
        assert parse_row(e.output, schema).values == typed(train, schema, e.center)
    assert all(sorted(o) == sorted(schema.names) for o in orders)
    assert sum(o != tuple(schema.names) for o in orders) == len(orders)  # 21! orders
    assert len(set(orders)) == len(orders)  # independent per row

    plain = InstructionBuilder(permute=False).build(train, schema)
    assert [e.center for e in plain] == [e.center for e in examples]
    for e in plain[:50]:
        for r in [*prompt_rows(e.prompt), json.loads(e.output)]:
            assert list(r) == schema.names
        assert e.output == serialize_row(train.iloc[e.center], schema, schema.names)


def test_prompt_template():
    d = data("buddy")
    e = InstructionBuilder().build(d.train, d.schema)[0]
    lines = e.prompt.split("\n")
    assert len(lines) == K + 2
    header = lines[0]
    assert header == prompt_header(d.schema, K)
    for part in (
        "5 examples",
        "adopting animals",
        "9 feature columns",
        '"breed_category"',
        "multiclass classification",
    ):
        assert part in header
    assert [ln.split(":")[0] for ln in lines[1:-1]] == [
        "Example one",
        "Example two",
        "Example three",
        "Example four",
        "Example five",
    ]
    assert "binary classification" in prompt_header(data("german").schema, K)
    assert number_word(20) == "twenty" and number_word(21) == "21"
    e7 = InstructionBuilder(k=7).build(d.train.iloc[:50], d.schema)[0]
    assert "Example seven: " in e7.prompt and len(prompt_rows(e7.prompt)) == 7


def test_serialisation_rules():
    cols = (
        Column("i", "integer", "float64", nullable=True),
        Column("f", "float", "float64"),
        Column("b", "boolean", "bool", categories=(False, True)),
        Column("c", "categorical", "float64", nullable=True, categories=(1.0, 2.0)),
        Column("y", "categorical", "int64", categories=(0, 1)),
    )
    schema = Schema(cols, "y", "binary")
    row = {"i": np.float64(3.0), "f": 0.1, "b": np.True_, "c": np.nan, "y": np.int64(1)}
    text = serialize_row(row, schema, ["y", "i", "f", "b", "c"])
    assert text == '{"y": "1", "i": "3", "f": "0.1", "b": "True", "c": ""}'
    assert serialize_row({**row, "c": 2.0}, schema, ["c"]) == '{"c": "2.0"}'
    assert serialize_row({**row, "f": 32.0}, schema, ["f"]) == '{"f": "32.0"}'
    assert serialize_row({**row, "y": 1.0}, schema, ["y"]) == '{"y": "1"}'  # upcast label
    dia = data("diabetes")  # all numeric: iloc upcasts the int label to 1.0
    assert json.loads(serialize_row(dia.train.iloc[0], dia.schema, ["Outcome"])) == {
        "Outcome": str(dia.train.at[0, "Outcome"])
    }
    # the fast path of build() writes exactly serialize_row's text
    train = pd.DataFrame(
        {
            "i": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0],
            "f": [0.1, 1e-5, 2.5, 1e20, -3.0, 0.0, 7.25],
            "b": [True, False, True, True, False, False, True],
            "c": [1.0, 2.0, np.nan, 1.0, 2.0, 1.0, np.nan],
            "y": [0, 1, 0, 1, 0, 1, 0],
        }
    )
    for e in InstructionBuilder(permute=False, label_filter=False).build(train, schema):
        assert e.output == serialize_row(train.iloc[e.center], schema, schema.names)


_hostile = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(['"', "{", "}", ",", "\n", "\\", ":", "é", "☃", "\u2028", " "]),
    min_size=1,
    max_size=12,
)


@st.composite
def hostile_tables(draw):
    names = draw(st.lists(_hostile, min_size=4, max_size=4, unique=True))
    cats = draw(st.lists(_hostile, min_size=2, max_size=5, unique=True))
    n = draw(st.integers(K + 1, 12))
    cols = (
        Column(names[0], "categorical", "object", nullable=True, categories=tuple(sorted(cats))),
        Column(names[1], "integer", "float64", nullable=True),
        Column(names[2], "float", "float64", nullable=True),
        Column(names[3], "categorical", "object", categories=("no", "yes")),
    )
    cat_v = st.sampled_from(cats) | st.none()
    int_v = st.integers(-(2**53), 2**53) | st.none()
    float_v = st.floats(allow_nan=False, allow_infinity=False) | st.none()
    table = pd.DataFrame(
        {
            names[0]: pd.Series(draw(st.lists(cat_v, min_size=n, max_size=n)), dtype=object),
            names[1]: pd.Series(draw(st.lists(int_v, min_size=n, max_size=n)), dtype="float64"),
            names[2]: pd.Series(draw(st.lists(float_v, min_size=n, max_size=n)), dtype="float64"),
            names[3]: draw(st.lists(st.sampled_from(["no", "yes"]), min_size=n, max_size=n)),
        }
    )
    table[names[0]] = table[names[0]].where(table[names[0]].notna(), np.nan)
    return table, Schema(cols, names[3], "binary")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_tables(), st.integers(0, 2**32 - 1))
def test_hostile_values_round_trip(table_schema, seed):
    train, schema = table_schema
    examples = InstructionBuilder(label_filter=False, seed=seed).build(train, schema)
    assert len(examples) == len(train)
    for e in examples:
        assert parse_row(e.output, schema).values == typed(train, schema, e.center)
        rows = prompt_rows(e.prompt)
        for r, i in zip(rows, e.neighbours, strict=True):
            assert r == expected_dict(train, schema, i)
            assert parse_row(json.dumps(r, ensure_ascii=False), schema).values == typed(
                train, schema, i
            )


# ------------------------------------------------------------- encoding and ablations


def test_encoding_one_hot_and_missing_values():
    cols = (
        Column("x", "float", "float64", nullable=True),
        Column("c", "categorical", "object", nullable=True, categories=("a", "b")),
        Column("y", "categorical", "int64", categories=(0, 1)),
    )
    schema = Schema(cols, "y", "binary")
    train = pd.DataFrame(
        {"x": [0.0, 10.0, np.nan, 4.0], "c": ["a", "b", np.nan, "a"], "y": [0, 1, 0, 1]}
    )
    x = knn_encoding(train, schema)
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(
        x,
        [[0.0, s, 0, 0], [1.0, 0, s, 0], [(0 + 1 + 0.4) / 3, 0, 0, s], [0.4, s, 0, 0]],
    )
    # different categories are at distance 1 (rows 0 and 1 differ by 1 in x too)
    assert np.isclose(np.linalg.norm(x[0, 1:] - x[1, 1:]), 1.0)
    authors = knn_encoding(train, schema, include_label=True)
    np.testing.assert_allclose(authors[:, 1:], [[0, 0], [1, 1], [2, 0], [0, 1]])


def test_knn_include_label_is_the_authors_space():
    d = data("german")
    x = knn_encoding(d.train, d.schema, include_label=True)
    assert x.shape == (len(d.train), len(d.schema.features) + 1)
    np.testing.assert_array_equal(x[:, -1], d.train[d.schema.target].to_numpy())
    for j, c in enumerate(d.schema.features):
        if not c.is_numeric:  # ordinal codes 0..C-1, unscaled
            codes = pd.Index(c.categories).get_indexer(d.train[c.name])
            np.testing.assert_array_equal(x[:, j], codes)
    # with the raw label in the space, Diabetes' filter drops (almost) nothing (spec §5)
    dia = data("diabetes")
    authors = InstructionBuilder(knn_include_label=True).build(dia.train, dia.schema)
    paper = InstructionBuilder().build(dia.train, dia.schema)
    assert len(authors) >= 0.99 * len(dia.train) > len(paper)


def test_random_neighbours_and_no_filter():
    d = data("german")
    y = d.train[d.schema.target].to_numpy()
    b = InstructionBuilder(neighbours="random", seed=3)
    examples = b.build(d.train, d.schema)
    g = b.neighbours_
    assert g.shape == (len(d.train), K)
    assert not (g == np.arange(len(g))[:, None]).any()
    assert all(len(set(r)) == K for r in g.tolist())
    disagree = (y[g] != y[:, None]).sum(axis=1)
    assert [e.center for e in examples] == np.flatnonzero(disagree <= 2).tolist()
    again = InstructionBuilder(neighbours="random", seed=3)
    again.build(d.train, d.schema)
    np.testing.assert_array_equal(again.neighbours_, g)
    other = InstructionBuilder(neighbours="random", seed=4)
    other.build(d.train, d.schema)
    assert (other.neighbours_ != g).any()

    everything = InstructionBuilder(label_filter=False).build(d.train, d.schema)
    assert [e.center for e in everything] == list(range(len(d.train)))


def test_duplicates_never_make_a_row_its_own_neighbour():
    schema = Schema(
        (Column("x", "float", "float64"), Column("y", "categorical", "int64", categories=(0, 1))),
        "y",
        "binary",
    )
    train = pd.DataFrame({"x": [1.0] * 9 + [5.0], "y": [0] * 5 + [1] * 5})
    b = InstructionBuilder(label_filter=False)
    b.build(train, schema)
    g = b.neighbours_
    assert not (g == np.arange(10)[:, None]).any()
    assert all(len(set(r)) == K for r in g.tolist())
    assert set(g[:9].ravel()) <= set(range(9))  # duplicates are fine as neighbours


def test_deterministic_per_seed():
    d = data("diabetes")
    a = InstructionBuilder(seed=1).build(d.train, d.schema)
    b = InstructionBuilder(seed=1).build(d.train, d.schema)
    c = InstructionBuilder(seed=2).build(d.train, d.schema)
    assert a == b
    assert [e.center for e in a] == [e.center for e in c]
    assert [e.prompt for e in a] != [e.prompt for e in c]


def test_generation_prompts():
    d = data("german")
    prompts = generation_prompts(d.train, d.schema, 200, seed=0)
    assert len(prompts) == 200
    assert prompts == generation_prompts(d.train, d.schema, 200, seed=0)
    assert prompts != generation_prompts(d.train, d.schema, 200, seed=1)
    all_rows = {
        json.dumps(expected_dict(d.train, d.schema, i), sort_keys=True) for i in range(len(d.train))
    }
    for p in prompts:
        assert p.split("\n")[0] == prompt_header(d.schema, K)
        rows = prompt_rows(p)
        assert len(rows) == K
        keys = [json.dumps(r, sort_keys=True) for r in rows]
        assert set(keys) <= all_rows
        assert len(set(keys)) == K  # without replacement (German has no duplicate rows)
    plain = generation_prompts(d.train, d.schema, 5, seed=0, permute=False, k=3)
    assert all(list(r) == d.schema.names for p in plain for r in prompt_rows(p))
    assert generation_prompts(d.train, d.schema, 0, seed=0) == []
    # its randomness is not the training set's: same seed, different key orders
    train_orders = [
        tuple(r)
        for e in InstructionBuilder(seed=0).build(d.train, d.schema)[:50]
        for r in prompt_rows(e.prompt)
    ]
    gen_orders = [tuple(r) for p in prompts[:50] for r in prompt_rows(p)]
    assert not set(train_orders) & set(gen_orders)


def test_generation_prompts_avoid_the_scored_row():
    """DLT's prompts: prompt i never shows a training row equal to row i, all else unchanged."""
    d = data("german")
    train = d.train.iloc[:8]  # 5 of 8 rows per prompt: most prompts hold the row they score
    plain = generation_prompts(train, d.schema, 40, seed=3, permute=False)
    avoid = train.iloc[np.arange(40) % 8]
    kept = generation_prompts(train, d.schema, 40, seed=3, permute=False, avoid=avoid)
    assert kept == generation_prompts(train, d.schema, 40, seed=3, permute=False, avoid=avoid)
    changed = 0
    for i, (before, after) in enumerate(zip(plain, kept, strict=True)):
        scored = expected_dict(train, d.schema, i % 8)
        assert scored not in prompt_rows(after) and len(prompt_rows(after)) == K
        if scored in prompt_rows(before):
            changed += 1  # only the scored row's place changes
            diff = [a != b for a, b in zip(prompt_rows(before), prompt_rows(after), strict=True)]
            assert sum(diff) == 1 and prompt_rows(before)[diff.index(True)] == scored
        else:
            assert after == before
    assert changed > 10
    # a row that is no training row changes nothing; a table of 5 equal rows cannot avoid itself
    fresh = avoid.assign(**{"Age in years": avoid["Age in years"] + 1000})
    assert generation_prompts(train, d.schema, 40, seed=3, permute=False, avoid=fresh) == plain
    same = pd.concat([train.iloc[:1]] * 5, ignore_index=True)
    with pytest.raises(ValueError, match="other than the scored one"):
        generation_prompts(same, d.schema, 1, seed=0, avoid=same.iloc[:1])
    with pytest.raises(ValueError, match="avoid has 2 rows for 3 prompts"):
        generation_prompts(train, d.schema, 3, seed=0, avoid=train.iloc[:2])


def test_too_few_rows():
    d = data("german")
    with pytest.raises(ValueError, match="more than k"):
        InstructionBuilder().build(d.train.iloc[:5], d.schema)
    with pytest.raises(ValueError, match="at least 5 rows"):
        generation_prompts(d.train.iloc[:4], d.schema, 3, seed=0)
