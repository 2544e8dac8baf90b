"""LLE: prompts and verbalisers, likelihood scoring, the generate option, the runner phase.

The fast tests train the tiny backbone on a toy table whose label is a copy of one column,
so a working pipeline must score it perfectly; the slow ones run Original LLE on Diabetes
through the runner at the quick preset.
"""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from bench.config import PRESETS, build_config
from bench.datasets import load_bundled
from bench.errors import UserError
from bench.jobs import Job
from bench.metrics.base import EvalContext
from bench.metrics.lle import (
    LLMEfficacy,
    _torch_threads,
    build_prompt,
    build_prompts,
    format_value,
    match_answer,
    score_classes,
    task_for,
)
from bench.progress import Progress
from bench.registry import available
from bench.runner import resolve_metrics, run
from bench.schema import infer_schema

TINY = {"epochs": 8, "lr": 3e-3, "batch_size": 8, "micro_batch": 8}


def _ctx(name: str, schema, train, test, **kw) -> EvalContext:
    return EvalContext(
        dataset=name,
        schema=schema,
        train=train,
        val=train.head(0),
        test=test,
        syn_raw=train,
        syn=train,
        seed=0,
        synthesizer_name="original",
        is_reference=True,
        **kw,
    )


# ---- prompts ------------------------------------------------------------------------------


def test_german_prompt_text_and_verbalisers():
    ds = load_bundled("german")
    task = task_for("german", ds.schema)
    assert task.verbalisers == {0: "good", 1: "bad"}  # not the authors' inverted mapping
    row = ds.train.iloc[0].to_dict()
    prompt = build_prompt(task, row, ds.schema.features)
    lines = prompt.split("\n")
    assert lines[0] == task.sentence and "good or bad" in task.sentence
    assert lines[1].startswith(
        "Text: 'The state of Status of existing checking account is A11, "
        "The state of Duration in month is 48, The state of Credit history is A34, "
    )
    assert lines[1].endswith("The state of foreign worker is A201'")
    assert lines[1].count("The state of ") == 20 and "The state of status " not in lines[1]
    assert lines[2] == "Answer:" and len(lines) == 3


def test_adult_diabetes_buddy_verbalisers_and_number_format():
    for name, words in {
        "adult": {0: "no", 1: "yes"},
        "diabetes": {0: "negative", 1: "positive"},
        "buddy": {0: "A", 1: "B", 2: "C"},
    }.items():
        ds = load_bundled(name)
        assert task_for(name, ds.schema).verbalisers == words, name
    adult = load_bundled("adult")
    assert "$50K a year" in task_for("adult", adult.schema).sentence
    text = build_prompts(adult.train.head(1), adult.schema, task_for("adult", adult.schema))[0]
    assert "Text: 'The state of age is 32, The state of workclass is Private, " in text
    assert "The state of fnlwgt is 228265, " in text  # whole floats lose their ".0"
    diabetes = load_bundled("diabetes")
    text = build_prompts(
        diabetes.train.head(1), diabetes.schema, task_for("diabetes", diabetes.schema)
    )[0]
    assert "The state of BMI is 35.5, The state of DiabetesPedigreeFunction is 0.285, " in text


def test_format_value():
    assert format_value(np.nan) == format_value(None) == format_value(pd.NA) == "missing"
    assert format_value(3.0) == "3" and format_value(np.float32(0.5)) == "0.5"
    assert format_value(1 / 3) == "0.333333" and format_value(1e20) == "1e+20"
    assert format_value(np.int64(7)) == "7" and format_value("A11") == "A11"
    assert format_value(True) == "True" and format_value(float("inf")) == "infinite"


def test_user_dataset_verbalisers_are_the_labels():
    table = pd.DataFrame({"x": [1, 2, 3, 4], "churn": ["stay", "leave", "stay", "leave"]})
    schema = infer_schema(table, "churn", description="telecom customers")
    task = task_for("churn", schema)
    assert task.verbalisers == {"leave": "leave", "stay": "stay"}
    assert "churn" in task.sentence and "leave, stay" in task.sentence
    # a bundled name with other classes is treated as a user dataset
    assert task_for("german", schema).verbalisers == task.verbalisers
    clash = infer_schema(pd.DataFrame({"x": [1, 2], "y": ["a ", "a"]}), "y")
    with pytest.raises(UserError, match="distinct, non-empty text per class"):
        task_for("clash", clash)


# ---- decoding -----------------------------------------------------------------------------


def test_match_answer_is_substring_matching_on_word_boundaries():
    words = ["good", "bad"]
    assert match_answer(" good", words) == 0
    assert match_answer("Bad.", words) == 1  # case-insensitive
    assert match_answer("I think it is good, not bad", words) == 0  # the earliest wins
    assert match_answer("goodness", words) is None
    assert match_answer("", words) is None
    assert match_answer("not sure", ["no", "yes"]) is None  # "no" is not in "not"
    assert match_answer(" no", ["no", "yes"]) == 0
    assert match_answer("Answer: B", ["A", "B", "C"]) == 1  # "A" is not in "Answer"
    assert match_answer("<=50K", ["<=50K", ">50K"]) == 0


@pytest.fixture(scope="module")
def toy():
    """A table whose label copies the colour column: a trivial mapping to learn."""
    rng = np.random.default_rng(0)
    n = 96
    colour = rng.choice(["red", "blue"], n)
    table = pd.DataFrame(
        {
            "colour": colour,
            "size": rng.integers(1, 9, n),
            "label": np.where(colour == "red", "low", "high"),
        }
    )
    schema = infer_schema(table, "label")
    return schema, table.iloc[:64].reset_index(drop=True), table.iloc[64:].reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(toy):
    """The tiny backbone fine-tuned on the toy table by the metric's own training step."""
    schema, train, test = toy
    metric = LLMEfficacy(preset="quick", device="cpu", **TINY)
    ctx = _ctx("toy", schema, train, test)
    cfg = metric.resolve(ctx)
    task = task_for("toy", schema)
    y = train["label"].map({c: i for i, c in enumerate(schema.classes)}).to_numpy()
    with _torch_threads(cfg["threads"]):  # as compute() does: 1 thread at the quick preset
        backbone, fit = metric._fine_tune(train, y, schema, task, cfg, seed=0)
    return backbone, fit, task, cfg


def test_likelihood_scoring_picks_the_trained_class(toy, trained):
    schema, _, test = toy
    backbone, fit, task, _ = trained
    assert fit["finetune"] == "full" and fit["train_loss_last_epoch"] < fit["train_loss_first"]
    prompts = build_prompts(test, schema, task)
    answers = [f" {w}" for w in task.words]
    scores = score_classes(backbone, prompts, answers, batch_size=8)
    assert scores.shape == (len(test), 2) and np.isfinite(scores).all() and (scores < 0).all()
    truth = test["label"].map({c: i for i, c in enumerate(schema.classes)}).to_numpy()
    assert (scores.argmax(axis=1) == truth).all()
    # batching (left padding, position ids, kept logits) changes nothing
    one_by_one = score_classes(backbone, prompts[:6], answers, batch_size=1)
    np.testing.assert_allclose(one_by_one, scores[:6], rtol=1e-4, atol=1e-4)


def test_scores_equal_the_training_loss_of_the_answer(toy, trained):
    """Cross-check against the full-logits loss of the training pair (same encode_pair)."""
    import torch

    from harmonic.template import encode_pair

    schema, _, test = toy
    backbone, _, task, _ = trained
    prompt = build_prompts(test.head(1), schema, task)[0]
    ids, labels = encode_pair(backbone.tokenizer, prompt, " high", 1024, template=False)
    with torch.no_grad():
        logits = backbone.model(input_ids=torch.tensor([ids])).logits.float()
    nll = torch.nn.functional.cross_entropy(
        logits[0, :-1], torch.tensor(labels[1:]), ignore_index=-100, reduction="sum"
    )
    ours = score_classes(backbone, [prompt], [" high"], batch_size=1)[0, 0]
    assert ours == pytest.approx(-float(nll), abs=1e-4)


def test_generate_decoding_matches_substrings_and_counts_unparseable(toy, trained, monkeypatch):
    import bench.metrics.lle as lle

    schema, _, test = toy
    backbone, _, task, cfg = trained
    prompts = build_prompts(test, schema, task)
    truth = test["label"].map({c: i for i, c in enumerate(schema.classes)}).to_numpy()
    metric = LLMEfficacy(decoding="generate")
    pred, aux = metric._predict(backbone, prompts, task, cfg)  # the real greedy generation
    assert (pred == truth).all() and aux["unparseable"] == 0 and aux["unparseable_share"] == 0
    fake = [" high", "low!", "HIGH", "maybe", "lower", " high low"]
    monkeypatch.setattr(lle, "generate_answers", lambda *a, **k: fake)
    pred, aux = metric._predict(backbone, prompts[:6], task, cfg)
    assert pred.tolist() == [0, 1, 0, -1, -1, 0]  # classes ("high", "low"); -1 = unparseable
    assert aux["unparseable"] == 2 and aux["unparseable_share"] == pytest.approx(2 / 6)
    assert aux["unparseable_examples"] == ["maybe", "lower"]


def test_metric_scores_the_trivial_mapping_perfectly(toy):
    schema, train, test = toy
    out = LLMEfficacy(preset="quick", device="cpu", **TINY).compute(
        _ctx("toy", schema, train, test)
    )
    assert out.value == 1.0 and out.aux["accuracy"] == 1.0 and out.aux["macro_f1"] == 1.0
    assert out.aux["counts"]["predicted"] == out.aux["counts"]["test"]
    assert out.aux["backbone"] == "tiny" and out.aux["preset"] == "quick"
    assert out.aux["train_examples_per_s"] > 0 and out.aux["score_examples_per_s"] > 0
    json.dumps(out.aux)  # stored as JSON


# ---- settings -----------------------------------------------------------------------------


def test_settings_come_from_the_preset_the_run_and_the_caller(toy):
    schema, train, test = toy
    paper = LLMEfficacy().resolve(_ctx("toy", schema, train, test, preset="paper"))
    assert paper["llm"] == "meta-llama/Llama-2-7b-chat-hf" and paper["lora"] is True
    assert (paper["lora_r"], paper["lora_alpha"], paper["lora_dropout"]) == (16, 32, 0.05)
    assert (paper["epochs"], paper["lr"], paper["batch_size"]) == (5, 1e-4, 32)
    assert paper["device"] == "auto"
    quick = LLMEfficacy().resolve(_ctx("toy", schema, train, test))
    assert quick["llm"] == "tiny" and quick["lora"] is False
    run = LLMEfficacy().resolve(
        _ctx("toy", schema, train, test, preset="paper", llm="gpt2", device="cpu")
    )
    assert (run["llm"], run["lora"], run["device"]) == ("gpt2", True, "cpu")
    ours = LLMEfficacy(preset="quick", epochs=2).resolve(_ctx("toy", schema, train, test))
    assert ours["epochs"] == 2
    with pytest.raises(ValueError, match="unknown LLE settings"):
        LLMEfficacy(epoch=3)
    with pytest.raises(ValueError, match="unknown decoding"):
        LLMEfficacy(decoding="beam")


def test_single_class_synthetic_table_gives_nan_with_reason(toy):
    schema, train, test = toy
    one = train[train["label"] == "low"]
    ctx = _ctx("toy", schema, train, test)
    ctx.syn = one
    out = LLMEfficacy(device="cpu").compute(ctx)
    assert np.isnan(out.value) and out.aux["reason"] == "synthetic table has a single class"


def test_registered_with_its_own_limit_kind():
    from bench.registry import load

    cls = load(available("metrics")["lle"])
    assert (cls.family, cls.goal, cls.bounds) == ("utility", "maximize", (0.0, 1.0))
    assert PRESETS["quick"]["limits"]["lle"] == 900
    assert PRESETS["paper"]["limits"]["lle"] == 12 * 3600
    cfg = build_config(limits={"lle": 60, "metric": 30})
    job = Job.from_dict(
        {
            **dict.fromkeys(("key", "dataset", "data_dir", "synthesizer", "target"), "x"),
            **{"params": {}, "seed": 1, "n_rows": 1, "preset": "quick", "metrics": ()},
            **{"limits": cfg.limits, "artifact": "a", "log": "l"},
        }
    )
    assert job.limit("metric:lle") == 60 and job.limit("metric:dm") == 30
    assert job.limit("fit") == cfg.limits["fit"]
    no_limit = Job.from_dict(
        {**job.to_dict(), "limits": build_config(limits={"lle": "none"}).limits}
    )
    assert no_limit.limit("metric:lle") is None
    with pytest.raises(UserError, match="lle"):
        build_config(limits={"lle_train": 5})
    # --metrics includes or leaves out LLE; the default (all) includes it
    assert "lle" in dict(resolve_metrics(build_config()))
    assert dict(resolve_metrics(build_config(metrics=["dm"]))) == {
        "dm": "bench.metrics.fidelity:DataMismatch"
    }


# ---- through the runner -----------------------------------------------------------------------


def _lle_rows(out) -> pd.DataFrame:
    with sqlite3.connect(out / "results.sqlite") as db:
        return pd.read_sql_query(
            "SELECT m.metric, m.status, m.value, m.aux, m.reason FROM metrics m", db
        ).set_index("metric")


def test_lle_phase_has_its_own_time_limit(tmp_path):
    cfg = build_config(
        out=str(tmp_path),
        datasets=["diabetes"],
        synthesizers=["original"],
        metrics=["lle", "dm"],
        limits={"lle": 1.0, "metric": 600},
    )
    summary = run(cfg, Progress(io.StringIO(), tty=False), argv=["test"])
    assert [r.status for r in summary.records] == ["ok"]
    rows = _lle_rows(tmp_path)
    assert rows.loc["lle", "status"] == "timeout"
    assert "metric:lle exceeded its 1 s limit" in rows.loc["lle", "reason"]
    assert rows.loc["dm", "status"] == "ok"


@pytest.mark.slow
def test_original_lle_on_diabetes_beats_the_majority_class(tmp_path):
    from sklearn.metrics import f1_score

    cfg = build_config(
        out=str(tmp_path),
        datasets=["diabetes"],
        synthesizers=["original"],
        metrics=["lle"],
        llm="tiny",
        device="cpu",
    )
    run(cfg, Progress(io.StringIO(), tty=False), argv=["test"])
    rows = _lle_rows(tmp_path)
    assert rows.loc["lle", "status"] == "ok", rows.loc["lle", "reason"]
    test = load_bundled("diabetes").split("test")["Outcome"]
    majority = f1_score(test, np.zeros(len(test)), average="weighted", zero_division=0)
    assert rows.loc["lle", "value"] > majority + 0.05
    aux = json.loads(rows.loc["lle", "aux"])
    assert (aux["preset"], aux["backbone"], aux["device"]) == ("quick", "tiny", "cpu")
    assert aux["train_rows"] == 491 and aux["test_rows"] == 154
