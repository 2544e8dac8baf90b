"""GReaT through be-great: the sentence format (hostile values included), perplexity, the
offline error at the paper preset (fast); fit, generate and DLT on German (slow)."""

from __future__ import annotations

import io
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.great import (
    END_OF_TEXT,
    MISSING_COLUMN,
    MISSING_VALUE,
    UNSEEN_CATEGORY,
    GReaT,
    GReaTText,
    is_safe_name,
    is_safe_value,
    parse_text,
    safe_texts,
    text_perplexity,
)
from bench.metrics.base import EvalContext, Metric, MetricResult
from bench.schema import Column, Schema
from harmonic.backbone import SPECIAL_TOKENS, TinySpec, build_tiny

from conftest import offline_user_error

# pieces that break GReaT's text format when they appear in a name or a value
PIECES = [",", " ", " is ", "is", "\n", "\r", "\t", "None", END_OF_TEXT, "<|eos|>", "<|pad|>"]
HOSTILE = st.lists(
    st.sampled_from([*PIECES, "a", "b", "#2", "é", "\x00", "1", ".", "placeholder"]), max_size=6
).map("".join)


def _toy_schema(names: list[str], cats: list[str]) -> Schema:
    """Hostile names; a hostile categorical, an int, a nullable float and a label column."""
    return Schema(
        (
            Column(names[0], "categorical", "object", categories=tuple(cats)),
            Column(names[1], "integer", "int64"),
            Column(names[2], "float", "float64", nullable=True),
            Column(names[3], "categorical", "int64", categories=(0, 1)),
        ),
        target=names[3],
        task="binary",
    )


def _rows(schema: Schema, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c0, c1, c2, c3 = schema.columns
    floats = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, size=n)
    floats[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            c0.name: pd.Series(rng.choice(np.array(c0.categories, dtype=object), n), dtype=object),
            c1.name: rng.integers(-(10**12), 10**12, n),
            c2.name: floats,
            c3.name: rng.integers(0, 2, n),
        }
    )


def _same(read: dict, record: dict) -> bool:
    """Typed values equal the record's (a missing value reads as None)."""
    for key, value in record.items():
        missing = isinstance(value, float) and math.isnan(value)
        if (read[key] is not None) if missing else (read[key] != value):
            return False
    return True


# ---- the sentence format --------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(HOSTILE, min_size=1, max_size=8), names=st.booleans())
def test_safe_texts_are_distinct_safe_and_keep_safe_inputs(texts, names):
    reserved = (END_OF_TEXT, *SPECIAL_TOKENS)
    out = safe_texts(texts, reserved, names=names)
    check = is_safe_name if names else is_safe_value
    assert len(set(out)) == len(out) == len(texts)
    assert all(check(t, reserved) for t in out)
    first = {}
    for text, got in zip(texts, out, strict=True):
        if check(text, reserved) and text not in first:
            first[text] = got
            assert got == text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(HOSTILE, min_size=4, max_size=4, unique=True),
    cats=st.lists(HOSTILE, min_size=1, max_size=5, unique=True),
    seed=st.integers(0, 2**16),
)
def test_rows_survive_the_sentence_format_with_hostile_names_and_values(names, cats, seed):
    schema = _toy_schema(names, cats)
    rows = _rows(schema, 12, seed)
    text = GReaTText(schema, rows, SPECIAL_TOKENS)
    rng = np.random.default_rng(seed)
    for record in rows.to_dict("records"):
        sentence = text.sentence(record, rng.permutation(4))
        assert "\n" not in sentence and END_OF_TEXT not in sentence
        values, reason = text.read(sentence)
        assert reason is None, (sentence, reason)
        assert _same(values, record), (sentence, values, record)
    table, reasons = text.read_rows(text.sentences(rows, rng))
    assert not reasons
    assert list(table.dtypes.astype(str)) == [c.dtype for c in schema.columns]
    pd.testing.assert_frame_equal(table, rows, check_dtype=True)


def test_sentences_are_what_be_great_writes_and_reads():
    """The format is checked against be-great's own dataset and parser."""
    from be_great.great_dataset import GReaTDataset
    from be_great.great_utils import _convert_text_to_tabular_data

    schema = _toy_schema(["colour", "size", "weight", "label"], ["red", "dark blue", "a-b"])
    rows = _rows(schema, 20, 0)
    text = GReaTText(schema, rows)
    frame = text.frame(rows)
    dataset = GReaTDataset.from_pandas(frame)
    dataset.set_tokenizer(lambda t, padding=True: t)  # keep the text: compare strings
    for i, record in enumerate(rows.to_dict("records")):
        random.seed(i)
        order = list(range(4))
        random.shuffle(order)
        random.seed(i)
        written = dataset._getitem(i)
        assert written == text.sentence(record, order)
        ours = parse_text(written, text.names)
        theirs = _convert_text_to_tabular_data([written], text.names).iloc[0].to_dict()
        assert ours == {k: None if pd.isna(v) else v for k, v in theirs.items()}


def test_parse_takes_the_first_complete_part_and_reads_none_as_missing():
    assert parse_text("a is 1, b is None, a is 2, c is, c is x, junk", ["a", "b", "c"]) == {
        "a": "1",
        "b": None,
        "c": "x",
    }
    assert parse_text("", ["a"]) == {}


def test_invalid_sentences_say_why():
    schema = _toy_schema(["colour", "size", "weight", "label"], ["red", "blue"])
    text = GReaTText(schema, _rows(schema, 5, 0))
    ok = "label is 1, colour is red, size is 3, weight is None"
    assert text.read(ok) == ({"colour": "red", "size": 3, "weight": None, "label": 1}, None)
    assert text.read("label is 1, colour is red, size is 3")[1] == MISSING_COLUMN
    assert text.read(ok.replace("red", "green"))[1] == UNSEEN_CATEGORY
    assert text.read(ok.replace("size is 3", "size is None"))[1] == MISSING_VALUE
    assert text.read(ok.replace("size is 3", "size is 3x"))[1] == "bad_number"
    assert text.read(ok.replace("size is 3", "size is inf"))[1] == "bad_number"
    assert text.read(ok.replace("size is 3", "size is 2.6"))[0]["size"] == 3  # rounded


def test_hostile_sentences_survive_the_tiny_tokenizer(tmp_path):
    """Tokenize, decode without special tokens (as sampling does), parse: nothing is lost."""
    from transformers import AutoTokenizer

    names = ["a, b", "x is y", "<|eos|>", "None"]
    schema = _toy_schema(names, ["p, q", "None", "r\ns", "<|pad|>t", ""])
    rows = _rows(schema, 30, 1)
    text = GReaTText(schema, rows, SPECIAL_TOKENS)
    sentences = text.sentences(rows, np.random.default_rng(0))
    spec = TinySpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    tok = AutoTokenizer.from_pretrained(build_tiny(sentences, tmp_path, 0, spec))
    decoded = tok.batch_decode(tok(sentences)["input_ids"], skip_special_tokens=True)
    assert decoded == sentences
    table, reasons = text.read_rows(decoded)
    assert not reasons
    pd.testing.assert_frame_equal(table, rows)


def test_the_start_prompt_tokenizes_as_the_start_of_a_training_sentence(tmp_path):
    """A sampling prompt ("<label> is <value>,") must be a token prefix of a training
    sentence that begins with the label, or the model continues from a state it never saw.
    (Making each "<name> is" one token kept this, yet cut German's valid rows from 99% to
    16%: benchmarks/RESULTS.md.)"""
    from transformers import AutoTokenizer

    schema = _toy_schema(["colour", "size", "weight", "label"], ["red", "dark blue"])
    rows = _rows(schema, 40, 2)
    text = GReaTText(schema, rows, SPECIAL_TOKENS)
    sentences = text.sentences(rows, np.random.default_rng(0))
    spec = TinySpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    tok = AutoTokenizer.from_pretrained(build_tiny(sentences, tmp_path, 0, spec))
    for record in rows.iloc[:10].to_dict("records"):
        sentence = text.sentence(record, [3, 0, 1, 2])  # the label first, as sampling starts
        start = tok(text.start_text(record["label"]))["input_ids"]
        assert tok(sentence)["input_ids"][: len(start)] == start


# ---- perplexity -----------------------------------------------------------------------------


def test_perplexity_on_a_hand_built_tiny_model_is_finite_per_row_and_batch_invariant(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = ["a is 1, b is x", "b is y, a is 22", "a is 3, b is x, a is 4", "b is z"] * 3
    spec = TinySpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    path = build_tiny(texts, tmp_path, 0, spec)
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    one = text_perplexity(model, tok, texts[:4], device="cpu", batch_size=1)
    batched = text_perplexity(model, tok, texts[:4], device="cpu", batch_size=4)
    assert one.shape == (4,) and np.isfinite(one).all() and (one > 1).all()
    np.testing.assert_allclose(one, batched, rtol=1e-4)  # right padding changes nothing
    assert len(set(np.round(one, 6))) == 4  # one value per row, not a batch mean


def test_a_local_model_directory_fits_and_a_spent_budget_is_a_recorded_shortfall(
    tmp_path, monkeypatch
):
    """``llm`` as a path; an untrained model writes no valid row: fewer rows, and why."""
    from bench.datasets import load_bundled

    monkeypatch.chdir(tmp_path)  # nothing may be written to the working directory
    diabetes = load_bundled("diabetes")
    spec = TinySpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    path = build_tiny(["Age is 30, Outcome is 1"] * 5, tmp_path / "model", 0, spec)
    before = set(tmp_path.iterdir())
    synth = GReaT(llm=str(path), device="cpu", epochs=1, lr=1e-3, gen_batch_size=8)
    synth.fit(diabetes.train.head(24), diabetes.schema, seed=0)
    assert set(tmp_path.iterdir()) == before
    table = synth.generate(4, seed=0)
    sampling = synth.report()["sampling"]
    again = synth.generate(4, seed=0)  # seeded: the same texts, the same rows and reasons
    pd.testing.assert_frame_equal(table, again)
    assert synth.report()["sampling"]["invalid"] == sampling["invalid"]
    prompts = [synth.text_.start_text(1)] * 3
    assert synth._sample_texts(prompts, seed=5) == synth._sample_texts(prompts, seed=5)
    assert all(t.startswith("Outcome is 1,") for t in synth._sample_texts(prompts, seed=5))
    assert sampling["prompts"] <= 3 * 4 and sampling["shortfall"] == 4 - len(table)
    if len(table) < 4:
        assert "budget spent" in sampling["stopped"] and sampling["invalid"]
    assert list(table.columns) == diabetes.schema.names
    assert list(table.dtypes.astype(str)) == [c.dtype for c in diabetes.schema.columns]
    ppl = synth.perplexity(diabetes.train.head(5))
    assert ppl.shape == (5,) and np.isfinite(ppl).all()
    np.testing.assert_allclose(ppl[:2], synth.perplexity(diabetes.train.head(2)), rtol=1e-4)


# ---- parameters and errors ------------------------------------------------------------------


def test_presets_and_bad_parameters():
    assert GReaT.presets["paper"]["llm"] == "distilgpt2"
    assert GReaT.presets["quick"]["llm"] == "tiny"
    assert set(GReaT.presets["quick"]) <= set(GReaT.param_names())
    GReaT(**GReaT.presets["paper"])
    for bad in ({"epochs": 0}, {"batch_size": 1.5}, {"lr": 0}, {"retry_budget": 0.5}):
        with pytest.raises(ValueError, match="must be"):
            GReaT(**bad)


def test_paper_preset_offline_is_the_backbone_modules_one_line_error():
    message = offline_user_error(
        "from adapters.great import GReaT\n"
        "from bench.datasets import load_bundled\n"
        'german = load_bundled("german")',
        'GReaT(**GReaT.presets["paper"], device="cpu").fit(german.train.head(20), '
        "german.schema, seed=0)",
    )
    assert "'distilgpt2'" in message and "--llm tiny" in message


# ---- German at the quick preset, through the runner (slow) ----------------------------------


class RowPerplexities(Metric):
    """Test helper: the fitted synthesizer's per-row perplexities of a few train and
    synthetic rows, all finite (value 1.0) or not."""

    name = "row_perplexities"
    family = "privacy"
    goal = "maximize"
    inputs = frozenset({"model", "train", "syn"})

    def compute(self, ctx: EvalContext) -> MetricResult:
        train = ctx.synthesizer.perplexity(ctx.train.head(7))
        syn = ctx.synthesizer.perplexity(ctx.syn.head(5))
        ok = train.shape == (7,) and syn.shape == (5,)
        ok = ok and bool(np.isfinite(train).all() and np.isfinite(syn).all())
        return MetricResult(float(ok), {"train": train.tolist(), "syn": syn.tolist()})


def run_quick_german(tmp_path, synthesizer: str, rows: int):
    """One quick-preset job on German with DLT and per-row perplexities; the job's record,
    its artifact and its metrics."""
    from bench.config import build_config
    from bench.datasets import load_bundled
    from bench.progress import Progress
    from bench.runner import run
    from bench.store import Store

    cfg = build_config(
        out=str(tmp_path),
        datasets=["german"],
        synthesizers=[synthesizer],
        metrics=["dlt", "invalid_rows", f"{__name__}:RowPerplexities"],
        rows=rows,
        seeds=[7],
        device="cpu",
    )
    summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["test"])
    store = Store(tmp_path)
    try:
        jobs = store.table("jobs").set_index("synthesizer")
        metrics = store.results().set_index("metric")
    finally:
        store.close()
    german = load_bundled("german")
    job = jobs.loc[synthesizer]
    assert len(summary.records) == 1 and job.status == "ok", job.error
    table = pd.read_parquet(job.artifact)
    assert len(table) == rows
    assert list(table.columns) == german.schema.names
    assert list(table.dtypes.astype(str)) == [c.dtype for c in german.schema.columns]
    for col in german.schema.columns:
        if not col.is_numeric:
            assert set(table[col.name]) <= set(col.categories), col.name
    assert metrics.loc["row_perplexities", "value"] == 1.0, metrics.loc["row_perplexities"]
    assert metrics.loc["invalid_rows", "value"] == 0.0
    dlt = metrics.loc["dlt"]
    assert dlt.status == "ok" and math.isfinite(dlt.value), dlt.reason
    aux = json.loads(dlt.aux)
    assert aux["rows"] == rows and aux["base"] == "e"
    return json.loads(job.report), aux


@pytest.mark.slow
def test_quick_german_fits_generates_exact_rows_and_stores_dlt(tmp_path):
    report, _ = run_quick_german(tmp_path, "great", rows=40)
    sampling = report["sampling"]
    assert sampling["valid"] == 40 and sampling["shortfall"] == 0
    assert sampling["prompts"] >= 40 and "invalid" in sampling
    assert report["fit"]["backbone"] == "tiny" and report["fit"]["epochs"] == 8
