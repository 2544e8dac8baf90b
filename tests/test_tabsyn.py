"""Tests of the TABSYN adapter (adapters/tabsyn/): encoding, beta schedule, EDM, end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.tabsyn import TabSyn
from adapters.tabsyn.encoding import TableEncoder
from bench.schema import Column, Schema

TINY = {"vae_epochs": 3, "diffusion_epochs": 3, "hidden": 16, "batch_size": 32, "steps": 5}


def _schema_of(table: pd.DataFrame, kinds: dict[str, str], target: str) -> Schema:
    """A schema whose category sets are the table's own values."""
    cols = []
    for name, kind in kinds.items():
        s = table[name]
        cats = None
        if kind in ("categorical", "boolean"):
            values = [v.item() if isinstance(v, np.generic) else v for v in s.dropna().unique()]
            cats = tuple(sorted(values, key=lambda v: (str(type(v)), v)))
        nullable = bool(s.isna().any())
        cols.append(Column(name, kind, str(s.dtype), nullable, cats))  # type: ignore[arg-type]
    task = "binary" if len(cols[-1].categories or ()) == 2 else "multiclass"
    return Schema(tuple(cols), target, task)


def _mixed_table(n: int = 90, seed: int = 0) -> tuple[pd.DataFrame, Schema]:
    """Every kind, missing values in a categorical and in a numerical column."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 1, n)
    income[rng.random(n) < 0.2] = np.nan
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), n)
    color[rng.random(n) < 0.1] = np.nan
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype("int64"),
            "income": income,
            "color": pd.Series(color, dtype=object),
            "flag": rng.random(n) < 0.4,
            "label": rng.choice([0, 1], n).astype("int64"),
        }
    )
    kinds = {"age": "integer", "income": "float", "color": "categorical"}
    kinds |= {"flag": "boolean", "label": "categorical"}
    return table, _schema_of(table, kinds, "label")


def _check_output(out: pd.DataFrame, schema: Schema, n: int) -> None:
    assert list(out.columns) == schema.names
    assert len(out) == n
    for col in schema.columns:
        assert str(out[col.name].dtype) == col.dtype, col.name
        if col.categories is not None:
            seen = {v.item() if isinstance(v, np.generic) else v for v in out[col.name].dropna()}
            assert seen <= set(col.categories), col.name
        if col.kind == "integer":
            values = out[col.name].dropna().to_numpy(dtype=float)
            assert np.all(values == np.round(values)), col.name


# ---- encoding --------------------------------------------------------------------------------


@st.composite
def _tables(draw: st.DrawFn) -> tuple[pd.DataFrame, Schema]:
    n = draw(st.integers(1, 40))
    ints = draw(st.lists(st.integers(-(10**6), 10**6), min_size=n, max_size=n))
    floats = draw(
        st.lists(
            st.one_of(st.none(), st.floats(-1e4, 1e4, allow_nan=False, width=32)),
            min_size=n,
            max_size=n,
        )
    )
    cats = draw(st.lists(st.sampled_from(["a", "b", "c d", None]), min_size=n, max_size=n))
    flags = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels = draw(st.lists(st.sampled_from([3, 7, 9]), min_size=n, max_size=n))
    table = pd.DataFrame(
        {
            "i": pd.Series(ints, dtype="int64"),
            "f": pd.Series([np.nan if v is None else v for v in floats], dtype="float64"),
            "c": pd.Series(cats, dtype=object).where(pd.notna(pd.Series(cats)), np.nan),
            "b": pd.Series(flags, dtype=bool),
            "y": pd.Series(labels, dtype="int64"),
        }
    )
    kinds = {"i": "integer", "f": "float", "c": "categorical", "b": "boolean", "y": "categorical"}
    return table, _schema_of(table, kinds, "y")


@settings(max_examples=60, deadline=None)
@given(_tables())
def test_encoding_round_trip(case: tuple[pd.DataFrame, Schema]) -> None:
    table, schema = case
    enc = TableEncoder().fit(table, schema)
    numeric, codes = enc.transform(table)
    assert numeric.shape == (len(table), 2) and numeric.dtype == np.float32
    assert np.all(np.isfinite(numeric)) and np.all(np.abs(numeric) < 6)
    assert codes.shape == (len(table), 3 + int(table["f"].isna().any()))
    assert np.all((codes >= 0) & (codes < np.array(enc.cardinalities)))
    back = enc.inverse_transform(numeric, codes)
    # numerical values pass through float32 in the VAE's input: compare at that precision
    pd.testing.assert_frame_equal(back, table, check_exact=False, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("low, high", [(0.0, 7693.0), (-1e4, 1e4), (1e6, 1e6 + 1e-3)])
def test_encoding_decodes_the_extremes_exactly(low: float, high: float) -> None:
    # the training minimum and maximum encode onto the transform's clipping bounds; rounded to
    # float32 they once decoded 1e-7 of a quantile inside (0.01 above 0 for 0 vs 13 x 7693)
    table = pd.DataFrame({"f": [low] + [high] * 13, "y": [0, 1] * 7})
    schema = _schema_of(table, {"f": "float", "y": "categorical"}, "y")
    enc = TableEncoder().fit(table, schema)
    numeric, codes = enc.transform(table)
    back = enc.inverse_transform(numeric.astype(np.float32), codes)
    assert back["f"].iloc[0] == low and (back["f"].iloc[1:] == high).all()
    flipped = enc.inverse_transform(-numeric, codes)  # the other bound: high <-> low
    assert flipped["f"].iloc[0] == high and (flipped["f"].iloc[1:] == low).all()


def test_encoding_keeps_values_in_training_range() -> None:
    table, schema = _mixed_table()
    enc = TableEncoder().fit(table, schema)
    numeric = np.array([[-50.0, 50.0], [50.0, -50.0]], dtype=np.float32)
    codes = np.zeros((2, len(enc.cardinalities)), dtype=np.int64)
    out = enc.inverse_transform(numeric, codes)
    assert out["age"].between(table["age"].min(), table["age"].max()).all()
    assert out["income"].between(table["income"].min(), table["income"].max()).all()


def test_encoding_errors() -> None:
    table, schema = _mixed_table()
    with pytest.raises(ValueError, match="empty training table"):
        TableEncoder().fit(table.iloc[:0], schema)
    with pytest.raises(ValueError, match="lacks schema columns"):
        TableEncoder().fit(table.drop(columns="age"), schema)
    enc = TableEncoder().fit(table, schema)
    bad = table.copy()
    bad.loc[0, "color"] = "purple"
    with pytest.raises(ValueError, match="unseen in fit"):
        enc.transform(bad)


# ---- adaptive beta ---------------------------------------------------------------------------


def test_beta_schedule_decays_on_plateau_and_stops_at_beta_min() -> None:
    from adapters.tabsyn.vae import BetaSchedule

    sched = BetaSchedule(beta_max=1e-2, beta_min=1e-5, decay=0.7, patience=3)
    assert sched.step(1.0) == 1e-2  # improvement: no change
    assert sched.step(0.5) == 1e-2
    assert sched.step(0.6) == 1e-2 and sched.step(0.5) == 1e-2  # 2 epochs without improvement
    assert sched.step(0.7) == pytest.approx(7e-3)  # 3rd: decay by 0.7
    assert sched.step(0.4) == pytest.approx(7e-3)  # improvement resets the wait
    assert sched.step(0.4) == pytest.approx(7e-3)  # equal is not an improvement
    betas = [sched.step(1.0) for _ in range(200)]
    assert min(betas) == 1e-5 and betas[-1] == 1e-5  # floor reached, never passed
    decays = math.ceil(math.log(1e-5 / 1e-2) / math.log(0.7))
    assert sched.decays == decays
    with pytest.raises(ValueError, match="beta_min <= beta_max"):
        BetaSchedule(beta_max=1e-5, beta_min=1e-2)


# ---- diffusion -------------------------------------------------------------------------------


def test_edm_sampler_recovers_gaussian_with_exact_denoiser() -> None:
    """For data N(m, s^2) the ideal denoiser is m + s^2 / (s^2 + sigma^2) (x - m)."""
    import torch

    from adapters.tabsyn.diffusion import SIGMA_MAX, SIGMA_MIN, noise_levels, sample

    mean = torch.tensor([1.5, -0.7])
    std = torch.tensor([0.3, 2.0])

    def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s2 = sigma.reshape(-1, 1) ** 2
        return mean + std**2 / (std**2 + s2) * (x - mean)

    noise = torch.randn((40_000, 2), generator=torch.Generator().manual_seed(0))
    out = sample(denoiser, noise, steps=50)
    assert torch.allclose(out.mean(0), mean, atol=0.04)
    assert torch.allclose(out.std(0), std, rtol=0.03)
    levels = noise_levels(50)
    assert len(levels) == 51 and levels[0] == SIGMA_MAX and levels[-1] == 0
    assert levels[-2] == pytest.approx(SIGMA_MIN) and torch.all(levels[1:] < levels[:-1])


def test_edm_preconditioning_and_loss() -> None:
    import torch

    from adapters.tabsyn.diffusion import EDMDenoiser, LatentScaler, ScoreMLP, edm_loss

    net = ScoreMLP(d_in=12, hidden=32)
    x = torch.randn(5, 12)
    assert net(x, torch.zeros(5)).shape == (5, 12)
    den = EDMDenoiser(net)
    # at tiny noise the denoiser is (almost) the identity: c_skip -> 1, c_out -> 0
    assert torch.allclose(den(x, torch.full((5,), 1e-6)), x, atol=1e-4)
    loss = edm_loss(den, x, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    z = torch.randn(200, 12) * 7 + 3
    scaler = LatentScaler().fit(z)
    zn = scaler.transform(z)
    assert float(zn.std()) == pytest.approx(0.5, rel=1e-3)
    assert torch.allclose(scaler.inverse_transform(zn), z, atol=1e-4)


def test_vae_shapes_and_losses() -> None:
    import torch

    from adapters.tabsyn.vae import TabularVAE, embed, vae_losses

    cards = [3, 5, 2]
    vae = TabularVAE(n_num=4, cardinalities=cards, d_token=4, n_layers=2, n_head=1, factor=32)
    x_num = torch.randn(6, 4)
    x_cat = torch.stack([torch.randint(0, k, (6,)) for k in cards], 1)
    mu, logvar = vae.encode(x_num, x_cat)
    assert mu.shape == logvar.shape == (6, 7, 4)
    num, logits = vae.decode(mu)
    assert num.shape == (6, 4) and [lg.shape for lg in logits] == [(6, k) for k in cards]
    recon, kl = vae_losses(vae, x_num, x_cat)
    assert recon.ndim == kl.ndim == 0 and kl.item() >= 0
    assert embed(vae, x_num, x_cat, batch=4).shape == (6, 28)
    only_cat = TabularVAE(n_num=0, cardinalities=[2, 2])
    assert only_cat.encode(x_num[:, :0], x_cat[:, :2] % 2)[0].shape == (6, 2, 4)


def test_latent_tokens_are_not_layer_normalised() -> None:
    """Pre-norm encoders: a post-norm one would pin every latent token to mean 0, variance 1."""
    import torch

    from adapters.tabsyn.vae import TabularVAE

    torch.manual_seed(0)
    vae = TabularVAE(n_num=3, cardinalities=[4, 5], d_token=4)
    mu, logvar = vae.encode(torch.randn(32, 3), torch.randint(0, 4, (32, 2)))
    for out in (mu, logvar):
        assert out.mean(-1).abs().max() > 0.1
        assert (out.var(-1, unbiased=False) - 1).abs().max() > 0.1


# ---- adapter ---------------------------------------------------------------------------------


def test_presets_and_params() -> None:
    from bench.registry import available, load

    assert load(available("synthesizers")["tabsyn"]) is TabSyn
    assert TabSyn.label == "TABSYN"
    for preset in TabSyn.presets.values():
        assert set(preset) <= set(TabSyn.param_names())
        assert preset["steps"] == 50 and preset["d_token"] == 4
    quick, paper = TabSyn.presets["quick"], TabSyn.presets["paper"]
    assert quick["vae_epochs"] < paper["vae_epochs"] and paper["batch_size"] == 4096
    assert TabSyn().get_params()["device"] == "auto"
    for bad, match in [
        ({"device": "tpu"}, "device must be one of"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"vae_epochs": -1}, "vae_epochs must be a non-negative"),
        ({"d_token": 6, "n_head": 4}, "multiple of n_head"),
        ({"beta_decay": 1.5}, "beta_decay must lie"),
    ]:
        with pytest.raises(ValueError, match=match):
            TabSyn(**bad)
    with pytest.raises(RuntimeError, match="call fit"):
        TabSyn().generate(3, seed=0)


def test_tiny_fit_generate_mixed_table_is_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    table, schema = _mixed_table()
    model = TabSyn(device="cpu", **TINY).fit(table, schema, seed=3)
    log = capsys.readouterr().err
    for stage, epochs in (("vae", TINY["vae_epochs"]), ("diffusion", TINY["diffusion_epochs"])):
        assert f"tabsyn {stage}: epoch {epochs}/{epochs}" in log
    out = model.generate(37, seed=5)
    _check_output(out, schema, 37)
    again = TabSyn(device="cpu", **TINY).fit(table, schema, seed=3).generate(37, seed=5)
    pd.testing.assert_frame_equal(out, again)
    _check_output(model.generate(0, seed=1), schema, 0)
    assert not out.equals(model.generate(37, seed=6))
    report = model.report()
    assert report["latent_dim"] == 6 * 4  # five columns + the income-missing indicator
    assert report["steps"] == 5 and report["generated_rows"] == 37
    assert report["train_rows"] == len(table) and report["beta_final"] <= 1e-2


# ---- end to end on the bundled datasets (slow) -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["german", "diabetes"])
def test_quick_preset_on_bundled_dataset(dataset: str) -> None:
    from bench.datasets import load_bundled

    data = load_bundled(dataset)
    params = {**TabSyn.presets["quick"], "device": "cpu"}
    out = TabSyn(**params).fit(data.train, data.schema, seed=1234).generate(301, seed=7)
    _check_output(out, data.schema, 301)
    assert out[data.schema.target].nunique() == 2
    if dataset == "diabetes":  # the cheaper of the two: refit and compare
        again = TabSyn(**params).fit(data.train, data.schema, seed=1234).generate(301, seed=7)
        pd.testing.assert_frame_equal(out, again)
