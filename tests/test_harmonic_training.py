"""HARMONIC's training format, loss mask, sampling stop rule, perplexity and DLT."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.datasets import load_bundled
from bench.metrics.base import EvalContext
from bench.metrics.leakage import DataLeakageTest
from harmonic.instructions import value_text
from harmonic.sampler import first_object_end, sample_rows
from harmonic.template import PLAIN, encode_pair, prompt_text


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from harmonic.backbone import load_backbone

    texts = ['{"a": "1", "b": "x"}', "### Input:\nExample one: {}\n### Output:\n"] * 50
    return load_backbone("tiny", "cpu", texts=texts, cache_dir=tmp_path_factory.mktemp("tiny"))


def test_loss_mask_covers_output_and_eos_only(tiny):
    tok = tiny.tokenizer
    ids, labels = encode_pair(tok, "Example one: {}", '{"a": "1"}', max_length=512)
    prompt = tok(prompt_text(tok, "Example one: {}"), add_special_tokens=True)["input_ids"]
    assert labels[: len(prompt)] == [-100] * len(prompt)
    assert labels[len(prompt) :] == ids[len(prompt) :]
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids[len(prompt) : -1]) == '{"a": "1"}'
    assert prompt_text(tok, "X") == PLAIN.format(input="X")  # no chat template: plain layout


def test_a_chat_template_with_bos_gets_one_bos(tiny, monkeypatch):
    """LLaMA-2-chat's template writes <s> itself; tokenizing must not add a second one."""
    import copy
    import dataclasses

    from tokenizers.processors import TemplateProcessing

    from harmonic.sampler import generate_texts

    tok = copy.deepcopy(tiny.tokenizer)
    bos = (tok.bos_token, tok.bos_token_id)
    tok.backend_tokenizer.post_processor = TemplateProcessing(  # adds BOS, as LLaMA's does
        single=f"{bos[0]} $A", pair=f"{bos[0]} $A $B", special_tokens=[bos]
    )
    assert tok("x")["input_ids"][0] == tok.bos_token_id
    tok.chat_template = "{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]"
    ids, _ = encode_pair(tok, "Example one: {}", '{"a": "1"}', max_length=2048)
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1

    class Seen(Exception):
        pass

    def generate(input_ids, attention_mask, **kwargs):
        raise Seen(input_ids[0][attention_mask[0].bool()].tolist())

    monkeypatch.setattr(tiny.model, "generate", generate)
    with pytest.raises(Seen) as seen:
        generate_texts(
            dataclasses.replace(tiny, tokenizer=tok), ["Example one: {}"], max_new_tokens=2
        )
    prompt = seen.value.args[0]
    assert prompt[0] == tok.bos_token_id and prompt.count(tok.bos_token_id) == 1


def test_long_prompts_are_cut_from_the_start_never_the_output(tiny):
    tok = tiny.tokenizer
    output = '{"a": "1", "b": "x"}'
    ids, labels = encode_pair(tok, "Example one: {} " * 200, output, max_length=64)
    assert len(ids) == 64
    kept = [t for t in labels if t != -100]
    assert tok.decode(kept[:-1]) == output


def test_training_lowers_the_loss(tiny, capsys):
    from harmonic.trainer import fine_tune

    stats = fine_tune(
        tiny,
        ["Example one: {}"] * 16,
        ['{"a": "1", "b": "x"}'] * 16,
        epochs=6,
        lr=3e-3,
        batch_size=8,
        micro_batch=4,
    )
    assert stats.loss_last < stats.loss_first / 2
    assert stats.tokens > 0 and stats.steps == 12
    lines = capsys.readouterr().err.splitlines()  # progress: the first step and the last
    assert lines[0].startswith("fine-tune: step 1/12  loss ")
    assert lines[-1].startswith(f"fine-tune: step 12/12  loss {stats.loss_last:.4f}")


def _full_logits_loss(model, seqs, answers):
    """The loss as a plain right-padded batch computes it: logits at every position."""
    import torch

    width = max(map(len, seqs))
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    labels, mask = torch.full_like(ids, -100), torch.zeros_like(ids)
    for row, (s, a) in enumerate(zip(seqs, answers, strict=True)):
        ids[row, : len(s)], mask[row, : len(s)] = torch.tensor(s), 1
        labels[row, len(s) - a : len(s)] = torch.tensor(s[len(s) - a :])
    logits = model(input_ids=ids, attention_mask=mask).logits
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_answer_nll_equals_the_full_logits_loss_with_its_gradients(arch):
    """Left padding + logits for the answer span only must not change the loss or its
    gradients: Llama (rotary positions, takes logits_to_keep) and GPT-2 (learned absolute
    positions, which left padding would shift without position ids)."""
    import torch
    import transformers

    from harmonic.trainer import answer_nll, keeps_logits

    torch.manual_seed(0)
    if arch == "llama":
        config = transformers.LlamaConfig(
            vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4,
        )  # fmt: skip
        model = transformers.LlamaForCausalLM(config)
        assert keeps_logits(model)
    else:
        config = transformers.GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=4)
        model = transformers.GPT2LMHeadModel(config)
    model.eval()  # no dropout, so both passes see the same function
    seqs = [[1, 5, 6, 7, 8, 9, 10, 11], [1, 3, 4, 12, 13], [1, 20, 21, 22, 23, 24, 25, 26, 27]]
    answers = [3, 4, 2]
    grads = []
    for loss_fn in (
        lambda: _full_logits_loss(model, seqs, answers),
        lambda: answer_nll(model, seqs, answers, pad_id=0, device="cpu").sum(),
    ):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        grads.append((float(loss.detach()), [p.grad.clone() for p in model.parameters()]))
    (full, full_grads), (kept, kept_grads) = grads
    assert kept == pytest.approx(full, rel=1e-6)
    for a, b in zip(full_grads, kept_grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_static_kv_cache_samples_the_same_texts_as_the_default(tiny):
    """CPU sampling preallocates its KV cache (faster); the texts must not change."""
    from harmonic.sampler import generate_texts, kv_cache

    assert kv_cache(tiny.model, "cpu") == "static"
    assert kv_cache(tiny.model, "cuda") is None
    prompts = ["Example one: {}", 'Example one: {"a": "1", "b": "x"} and more words here', "{"]
    default = generate_texts(tiny, prompts, max_new_tokens=16, seed=3, cache=None)
    static = generate_texts(tiny, prompts, max_new_tokens=16, seed=3)
    assert static == default
    assert any(default)  # something was generated, so the comparison means something


@given(st.text(max_size=40))
def test_first_object_end_never_crashes_and_is_a_complete_object(text):
    end = first_object_end(text)
    if end is not None:
        assert text[end - 1] == "}"


def test_first_object_end_respects_strings():
    text = '{"a": "}{", "b": "\\"}"} trailing {"c": 1}'
    assert text[: first_object_end(text)] == '{"a": "}{", "b": "\\"}"}'
    assert first_object_end('{"a": "1"') is None


def test_sampling_retries_until_n_valid_or_budget(capsys):
    calls = []

    def parse(texts):
        good = [t for t in texts if t == "ok"]
        return pd.DataFrame({"x": range(len(good))}), {"bad_json": len(texts) - len(good)}

    def generate(prompts, round_):
        calls.append(len(prompts))
        return ["ok" if i % 2 else "junk" for i in range(len(prompts))]

    table, report = sample_rows(
        10, lambda n, r: ["p"] * n, generate, parse, batch_size=8, who="toy sampling"
    )
    assert len(table) == 10 and report.valid == 10 and report.invalid["bad_json"] >= 10
    assert "toy sampling: valid rows 10/10  valid_rate 0.5000" in capsys.readouterr().err
    d = report.to_dict()
    assert d["valid_rate"] == report.generated_valid / report.prompts == 0.5
    table, report = sample_rows(
        10, lambda n, r: ["p"] * n, lambda p, r: ["junk"] * len(p), parse, batch_size=8, budget=2.0
    )
    assert len(table) == 0 and report.prompts == 20 and report.to_dict()["shortfall"] == 10


def test_perplexity_is_finite_and_lower_for_trained_rows(tiny):
    from harmonic.perplexity import row_perplexity
    from harmonic.trainer import fine_tune

    seen, unseen = '{"a": "1", "b": "x"}', '{"b": "7", "a": "zz"}'
    before = row_perplexity(tiny, ["Example one: {}"] * 2, [seen, unseen])
    fine_tune(tiny, ["Example one: {}"] * 16, [seen] * 16, epochs=6, lr=3e-3, batch_size=8)
    after = row_perplexity(tiny, ["Example one: {}"] * 2, [seen, unseen])
    assert np.all(np.isfinite(after)) and after[0] < before[0] and after[0] < after[1]
    base2 = row_perplexity(tiny, ["Example one: {}"], [seen], base=2)
    assert base2[0] == pytest.approx(2 ** math.log(after[0]), rel=1e-4)


class _Scorer:
    """Perplexity 1 for training rows, 5 otherwise: a generator that memorised train."""

    def __init__(self, train: pd.DataFrame) -> None:
        self.seen = set(map(tuple, train.astype(str).to_numpy()))

    def perplexity(self, rows: pd.DataFrame) -> np.ndarray:
        return np.array(
            [1.0 if tuple(r) in self.seen else 5.0 for r in rows.astype(str).to_numpy()]
        )


def test_dlt_is_train_minus_synthetic_perplexity():
    ds = load_bundled("diabetes")
    syn = ds.train.assign(Glucose=ds.train.Glucose + 1.0)  # no synthetic row is a train row
    ctx = EvalContext(
        "diabetes",
        ds.schema,
        ds.train,
        ds.val,
        ds.test,
        syn,
        0,
        "m",
        syn=syn,
        synthesizer=_Scorer(ds.train),
    )
    out = DataLeakageTest(max_rows=100).compute(ctx)
    assert out.value == pytest.approx(1.0 - 5.0) and out.aux["rows"] == 100
    assert out.aux["value_base2"] == pytest.approx(1.0 - 2 ** math.log(5.0))  # authors' base


def test_format_corpus_names_every_key_once_in_fresh_orders():
    from harmonic.warmup import format_corpus

    data = load_bundled("diabetes")
    texts = format_corpus(data.train, data.schema, 50, seed=0)
    assert texts == format_corpus(data.train, data.schema, 50, seed=0)  # seeded
    orders = set()
    for text in texts:
        obj = json.loads(text)  # one object per text
        assert list(obj) != [] and sorted(obj) == sorted(data.schema.names)
        orders.add(tuple(obj))
        for name, value in obj.items():  # every value is one the column really holds
            column = data.schema[name]
            assert value in {value_text(v, column) for v in data.train[name]}
    assert len(orders) > 40


@pytest.mark.slow
def test_quick_preset_on_diabetes_end_to_end(tmp_path, bench_cli):
    """The issue's command: fits, generates every requested row valid, stores DLT.

    Floor: at least half the generated rows valid. The retry budget (3 prompts per row) then
    always fills the table; measured 94% on 64 samples (benchmarks/RESULTS.md), while a model
    that has not learned the format scores 0%.
    """
    out = tmp_path / "out"
    res = bench_cli(
        "run", "--datasets", "diabetes", "--synthesizers", "harmonic", "--preset", "quick",
        "--metrics", "invalid_rows", "dlt", "--out", str(out), timeout=1500,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    with sqlite3.connect(out / "results.sqlite") as db:
        status, n_rows, report = db.execute("SELECT status, n_rows, report FROM jobs").fetchone()
        metrics = dict(db.execute("SELECT metric, status FROM metrics").fetchall())
        dlt = db.execute("SELECT value FROM metrics WHERE metric = 'dlt'").fetchone()[0]
    sampling = json.loads(report)["sampling"]
    assert status == "ok" and n_rows == 491
    assert sampling["valid"] == sampling["requested"] == 491 and sampling["shortfall"] == 0
    assert sampling["valid_rate"] >= 0.5, sampling
    assert metrics == {"invalid_rows": "ok", "dlt": "ok"} and math.isfinite(dlt)


def test_every_sampling_batch_draws_its_own_noise():
    from harmonic.sampler import batch_seed

    seeds = {batch_seed(s, r, start) for s in (0, 1) for r in (0, 1) for start in (0, 64, 128)}
    assert len(seeds) == 12  # batches of a round, rounds and runs: all different
    assert batch_seed(0, 1, 0) != batch_seed(1, 0, 0)  # seed + round collided here
    assert batch_seed(5, 2, 64) == batch_seed(5, 2, 64)  # and still reproducible
