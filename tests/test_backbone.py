"""The LLM backbone: the offline tiny model, loading, LoRA and memory-safe batching (CPU, fast)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import UserError
from harmonic import backbone as bb
from harmonic.backbone import (
    LLAMA_LINEAR,
    Backbone,
    TinySpec,
    add_lora,
    backoff_batches,
    build_tiny,
    initial_batch_size,
    load_backbone,
    resolve_device,
)

from conftest import offline_user_error

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

SPEC = TinySpec(num_layers=2, vocab_size=600, min_frequency=2)  # smaller still: fast tests


def make_texts(n: int = 150, seed: int = 0) -> list[str]:
    """JSON rows and HARMONIC-like prompts, with quotes, braces, digits and non-ASCII."""
    rng = random.Random(seed)
    rows = [
        json.dumps(
            {
                "age": rng.randint(18, 90),
                "sex": rng.choice(["male", "female"]),
                "income": round(rng.uniform(1000, 90000), 2),
                "city": rng.choice(["Zürich", "Kraków", "東京", "São Paulo"]),
            },
            ensure_ascii=False,
        )
        for _ in range(n)
    ]
    prompts = [
        "Here are similar rows:\n" + "\n".join(rng.sample(rows, 3)) + "\nGenerate one row."
        for _ in range(n // 3)
    ]
    return rows + prompts


TEXTS = make_texts()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(TEXTS, tmp_path_factory.mktemp("tiny"), seed=0, spec=SPEC)


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> Backbone:
    return load_backbone("tiny", "cpu", texts=TEXTS, cache_dir=tiny_dir, seed=0, spec=SPEC)


# ---- build / load ---------------------------------------------------------------------------


def test_tiny_is_saved_in_hf_format_and_loads_through_from_pretrained(tiny_dir, tiny):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json", bb.MARKER} <= names
    assert "model.safetensors" in names
    marker = json.loads((tiny_dir / bb.MARKER).read_text())
    assert marker["seed"] == 0 and marker["spec"]["num_layers"] == SPEC.num_layers
    assert marker["texts_sha256"] == bb.texts_hash(TEXTS)

    # the very path a hub id or local directory takes
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    tok = transformers.AutoTokenizer.from_pretrained(tiny_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.num_hidden_layers == SPEC.num_layers
    assert model.config.vocab_size == len(tok) <= SPEC.vocab_size
    assert tok.padding_side == "right"  # callers switch to left for generation

    assert isinstance(tiny, Backbone)
    assert tiny.name == "tiny" and tiny.path == tiny_dir
    assert tiny.device == "cpu" and tiny.dtype == torch.float32
    assert next(tiny.model.parameters()).dtype == torch.float32
    assert not tiny.model.training


def test_tiny_needs_texts_and_cache_dir(tmp_path):
    with pytest.raises(ValueError, match="texts"):
        load_backbone("tiny", "cpu", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="cache_dir"):
        load_backbone("tiny", "cpu", texts=TEXTS)
    with pytest.raises(ValueError, match="texts"):
        build_tiny([], tmp_path, seed=0, spec=SPEC)


def test_cache_is_reused_and_invalidated_by_texts_or_seed(tiny_dir, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_dir.iterdir()}
    trained: list[int] = []
    real_train = bb.train_tokenizer

    def counting(texts, spec):
        trained.append(len(texts))
        return real_train(texts, spec)

    monkeypatch.setattr(bb, "train_tokenizer", counting)
    assert build_tiny(iter(TEXTS), tiny_dir, seed=0, spec=SPEC) == tiny_dir  # any iterable
    assert trained == []
    assert {p.name: p.stat().st_mtime_ns for p in tiny_dir.iterdir()} == before


def test_cache_rebuilds_when_inputs_change(tmp_path, monkeypatch):
    calls: list[int] = []
    real_train = bb.train_tokenizer
    monkeypatch.setattr(
        bb, "train_tokenizer", lambda t, s, e=(): calls.append(1) or real_train(t, s, e)
    )
    build_tiny(TEXTS, tmp_path, seed=0, spec=SPEC)
    build_tiny(TEXTS, tmp_path, seed=0, spec=SPEC)
    assert len(calls) == 1
    build_tiny(TEXTS, tmp_path, seed=1, spec=SPEC)
    assert len(calls) == 2 and json.loads((tmp_path / bb.MARKER).read_text())["seed"] == 1
    build_tiny(TEXTS[:-1], tmp_path, seed=1, spec=SPEC)
    assert len(calls) == 3
    (tmp_path / bb.MARKER).write_text("{not json")  # a damaged marker means: rebuild
    build_tiny(TEXTS[:-1], tmp_path, seed=1, spec=SPEC)
    assert len(calls) == 4
    build_tiny(TEXTS[:-1], tmp_path, seed=1, spec=SPEC, extra_tokens=['"a"'])
    assert len(calls) == 5


def test_extra_tokens_are_single_tokens_and_round_trip():
    keys = ['"Glucose"', '"BMI"']
    tok = bb.train_tokenizer(TEXTS, SPEC, keys)
    text = '{"BMI": "1", "Glucose": "a\\"b"} x"Glucose"s'
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert ids.count(tok.convert_tokens_to_ids('"Glucose"')) == 2


def test_row_phrases_are_single_tokens_in_a_row():
    from bench.datasets import load_bundled
    from harmonic.instructions import InstructionBuilder, row_phrases

    german = load_bundled("german")
    examples = InstructionBuilder(seed=0).build(german.train.iloc[:120], german.schema)
    texts = [e.output for e in examples]
    tok = bb.train_tokenizer(texts, SPEC, row_phrases(german.schema))
    ids = tok(texts[0], add_special_tokens=False)["input_ids"]
    tokens = tok.convert_ids_to_tokens(ids)
    keys = [json.dumps(k, ensure_ascii=False) + ': "' for k in json.loads(texts[0])]
    assert [t for t in tokens if t.endswith(': "')] == keys  # each key with its ': "'
    assert tokens.count('", ') == len(keys) - 1  # the separator stays apart from the key
    assert tokens[0] == "{" and tokens[1] == keys[0]
    assert tok.decode(ids) == texts[0]


def test_prompt_phrases_are_single_tokens_in_a_training_pair():
    """The header, each "Example <word>: " line start, the generate line and the template's
    fixed text each become one token; the pair still decodes to its exact text."""
    from bench.datasets import load_bundled
    from harmonic.instructions import (
        InstructionBuilder,
        prompt_phrases,
        row_phrases,
        tiny_phrases,
    )
    from harmonic.template import PLAIN_PHRASES, encode_pair, prompt_text

    german = load_bundled("german")
    examples = InstructionBuilder(seed=0).build(german.train.iloc[:120], german.schema)
    texts = [e.prompt for e in examples] + [e.output for e in examples]
    fixed = [*prompt_phrases(german.schema, 5), *PLAIN_PHRASES]
    tok = bb.train_tokenizer(texts, SPEC, tiny_phrases(german.schema, 5))
    rows_only = bb.train_tokenizer(texts, SPEC, row_phrases(german.schema))
    e = examples[0]
    ids, labels = encode_pair(tok, e.prompt, e.output, 2048)
    for phrase in fixed:
        assert ids.count(tok.convert_tokens_to_ids(phrase)) == 1, phrase
    assert len(fixed) == 1 + 5 + 1 + 2
    answer = [i for i, label in zip(ids, labels, strict=True) if label != -100]
    assert tok.decode(answer[:-1]) == e.output  # the answer is tokenized as before: no phrase
    assert tok.decode(ids, skip_special_tokens=True) == prompt_text(tok, e.prompt) + e.output
    before = len(encode_pair(rows_only, e.prompt, e.output, 2048)[0])
    assert len(ids) <= before - 80  # German: 490 -> 395 tokens


def test_a_run_of_letters_and_digits_is_one_word():
    texts = [f'{{"Job": "A{n}", "n": "{n}"}}' for n in (121, 122, 173) for _ in range(20)]
    words = bb.train_tokenizer(texts, SPEC)
    gpt2 = bb.train_tokenizer(texts, SPEC, pattern=bb.GPT2_WORDS)
    assert "A121" in words.tokenize('"A121"')
    assert "A121" not in gpt2.tokenize('"A121"')  # GPT-2's split keeps A apart from 121
    assert words.tokenize(" 121") == gpt2.tokenize(" 121")  # numbers split as before


def test_same_seed_same_backbone_other_seed_other_weights(tiny_dir, tmp_path):
    again = build_tiny(TEXTS, tmp_path / "again", seed=0, spec=SPEC)
    other = build_tiny(TEXTS, tmp_path / "other", seed=1, spec=SPEC)
    read = Path.read_bytes
    assert read(again / "tokenizer.json") == read(tiny_dir / "tokenizer.json")
    from safetensors.torch import load_file

    a = load_file(tiny_dir / "model.safetensors")
    b = load_file(again / "model.safetensors")
    c = load_file(other / "model.safetensors")
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].ndim == 2)


def test_texts_hash_is_length_prefixed():
    assert bb.texts_hash(["ab", "c"]) != bb.texts_hash(["a", "bc"])
    assert bb.texts_hash(["x"]) == bb.texts_hash(iter(["x"]))


# ---- tokenizer --------------------------------------------------------------------------------


def test_special_tokens_are_set_and_distinct(tiny):
    tok = tiny.tokenizer
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == bb.SPECIAL_TOKENS
    ids = [tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.unk_token_id]
    assert len(set(ids)) == 4 and None not in ids
    cfg = tiny.model.config
    assert (cfg.eos_token_id, cfg.pad_token_id) == (tok.eos_token_id, tok.pad_token_id)
    # no token_type_ids: Llama's generate() rejects them
    assert set(tok("x")) == {"input_ids", "attention_mask"}
    # an explicit EOS is one token, and decoding without specials drops it
    ids = tok.encode(TEXTS[0] + tok.eos_token)
    assert ids[-1] == tok.eos_token_id and tok.eos_token_id not in ids[:-1]
    assert tok.decode(ids, skip_special_tokens=True) == TEXTS[0]


@pytest.mark.parametrize("text", [*TEXTS[:5], TEXTS[-1], ' {"a": 1, "b": "x y"}\n\n', "", " "])
def test_json_texts_round_trip(tiny, text):
    tok = tiny.tokenizer
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200).filter(lambda s: "<|" not in s))
def test_any_text_round_trips_and_never_yields_special_ids(tiny, text):
    tok = tiny.tokenizer
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert not set(ids) & set(tok.all_special_ids)


# ---- other models: local paths and hub ids ----------------------------------------------------


def test_local_model_without_pad_token_pads_with_eos(tiny_dir, tmp_path):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_dir)
    tok.pad_token = None
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        eos_token_id=tok.eos_token_id,
        pad_token_id=None,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = load_backbone(str(tmp_path), "cpu")
    assert loaded.name == str(tmp_path) and loaded.path == tmp_path
    assert loaded.tokenizer.pad_token == loaded.tokenizer.eos_token
    assert loaded.model.config.pad_token_id == tok.eos_token_id


def test_bad_local_directory_or_id_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no config\.json") as err:
        load_backbone(str(tmp_path / "empty"), "cpu")
    assert "\n" not in str(err.value)
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(UserError, match="local model directory") as err:
        load_backbone(str(tmp_path / "empty"), "cpu")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="--llm tiny"):
        load_backbone(str(tmp_path / "missing" / "model"), "cpu")
    with pytest.raises(UserError, match="valid hub id"):
        load_backbone("not a hub id", "cpu")


def test_uncached_hub_id_offline_is_a_one_line_user_error():
    message = offline_user_error(
        "from harmonic.backbone import load_backbone",
        'load_backbone("harmonic-bench-nobody/no-such-model-xyz", "cpu")',
        timeout=120,
    )
    assert "harmonic-bench-nobody/no-such-model-xyz" in message
    assert "--llm tiny" in message and "local directory" in message


# ---- LoRA -------------------------------------------------------------------------------------


def test_add_lora_targets_every_block_projection_and_trains_only_adapters(tiny_dir):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    peft_model = add_lora(model, r=4, alpha=8, dropout=0.0)
    wrapped = [name for name, m in peft_model.named_modules() if hasattr(m, "lora_A")]
    assert len(wrapped) == len(LLAMA_LINEAR) * SPEC.num_layers
    assert {name.rsplit(".", 1)[-1] for name in wrapped} == set(LLAMA_LINEAR)
    assert not any("lm_head" in name for name in wrapped)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(trainable) == 2 * len(wrapped)  # A and B per projection


def test_lora_weights_depend_on_the_seed_alone(tiny_dir):
    def lora_a(seed: int, draws_before: int) -> list[torch.Tensor]:
        torch.randn(draws_before)  # whatever ran before (other metrics, a resumed job)
        model = add_lora(transformers.AutoModelForCausalLM.from_pretrained(tiny_dir), seed=seed)
        return [p.detach() for n, p in model.named_parameters() if "lora_A" in n]

    first, again, other = lora_a(3, 0), lora_a(3, 5), lora_a(4, 0)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    state = torch.random.get_rng_state()
    add_lora(transformers.AutoModelForCausalLM.from_pretrained(tiny_dir), seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's stream is untouched


def test_lora_step_changes_only_adapters(tiny_dir, tiny):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    peft_model = add_lora(model, r=4, alpha=8, dropout=0.0)
    enc = tiny.tokenizer([TEXTS[0]], return_tensors="pt")
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):  # B starts at zero: A gets its first gradient on the second step
        peft_model(**enc, labels=enc["input_ids"]).loss.backward()
        opt.step()
        opt.zero_grad()
    for name, param in model.named_parameters():
        clean = name.replace("base_model.model.", "").replace(".base_layer", "")
        if "lora_" not in name:
            assert torch.equal(param, base[clean]), name


# ---- it learns ----------------------------------------------------------------------------------


def test_tiny_model_learns_a_json_row(tiny_dir, tiny):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir)
    tok = tiny.tokenizer
    batch = [TEXTS[0] + tok.eos_token, TEXTS[1] + tok.eos_token]
    enc = tok(batch, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(15):
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# ---- devices ------------------------------------------------------------------------------------


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="--device cpu") as err:
        resolve_device("cuda")
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda"


def test_dtype_per_device(monkeypatch):
    assert bb.default_dtype("cpu") == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert bb.default_dtype("cuda") == torch.bfloat16


# ---- batching -----------------------------------------------------------------------------------


def fake_gpu(limit: int, calls: list[int], exc: type[Exception] = RuntimeError):
    """A ``run`` that runs out of memory on batches larger than ``limit``."""

    def run(batch: list[int]) -> list[int]:
        calls.append(len(batch))
        if len(batch) > limit:
            raise exc("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in batch]

    return run


def test_backoff_halves_on_oom_and_keeps_order():
    calls: list[int] = []
    sizes: list[int] = []
    items = list(range(11))
    out = backoff_batches(fake_gpu(2, calls), items, 8, on_backoff=sizes.append)
    assert out == [x * 10 for x in items]
    assert calls == [8, 4, 2, 2, 2, 2, 2, 1]
    assert sizes == [4, 2]


def test_backoff_understands_torch_oom_error():
    calls: list[int] = []
    run = fake_gpu(3, calls, torch.cuda.OutOfMemoryError)
    assert backoff_batches(run, list(range(6)), 6) == [x * 10 for x in range(6)]
    assert calls == [6, 3, 3]


def test_backoff_raises_when_min_batch_fails():
    calls: list[int] = []
    with pytest.raises(RuntimeError, match="out of memory"):
        backoff_batches(fake_gpu(0, calls), list(range(5)), 4)
    assert calls == [4, 2, 1]
    calls.clear()
    with pytest.raises(RuntimeError, match="out of memory"):
        backoff_batches(fake_gpu(2, calls), list(range(5)), 8, min_batch=4)
    assert calls == [5, 4]


def test_backoff_does_not_swallow_other_errors():
    calls: list[int] = []

    def run(batch: list[int]) -> list[int]:
        calls.append(len(batch))
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        backoff_batches(run, [1, 2, 3, 4], 4)
    assert calls == [4]
    assert backoff_batches(run, [], 4) == []
    with pytest.raises(ValueError):
        backoff_batches(run, [1], 0)


def test_initial_batch_size(monkeypatch):
    assert initial_batch_size("cpu", 10**6, 16) == 16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (10 * 2**30, 80 * 2**30))
    assert initial_batch_size("cuda", 2**30, 16) == 8  # 80 % of 10 GiB, 1 GiB per item
    assert initial_batch_size("cuda", 2**20, 16, cap=64) == 64
    assert initial_batch_size("cuda", 2**40, 16) == 1
