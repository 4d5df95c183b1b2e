"""Positional encodings: the paper's formula, distance-only similarity, ViT position-embedding grid, Swin bias."""
import json
import math

import numpy as np
import pytest
import timm
import torch

from models.analysis import positional
from models.network.transformer import TransformerConfig, make_model
from viz import positional as viz


@pytest.mark.parametrize("length, d_model", [(50, 128), (17, 6), (3, 512)])
def test_sinusoidal_values_are_the_papers_formula(length, d_model):
    pe = positional.sinusoidal_table(length, d_model)
    assert pe.shape == (length, d_model) and pe.dtype == np.float32
    for pos in range(length):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert pe[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)


def test_the_encoder_decoder_model_adds_this_very_table():
    model = make_model(TransformerConfig(src_vocab=10, tgt_vocab=10, d_model=32, n_heads=4, max_len=40)).eval()
    assert np.array_equal(model.pe.cpu().numpy(), positional.sinusoidal_table(40, 32))


def test_wavelengths_run_from_2pi_towards_10000_2pi():
    wl = positional.wavelengths(512)
    assert wl[0] == pytest.approx(2 * math.pi) and wl[1] == wl[0]
    assert wl[-1] == pytest.approx(2 * math.pi * 10000 ** (510 / 512))
    assert np.all(np.diff(wl[::2]) > 0)
    # The period is real: PE(pos + λ, 2i) = PE(pos, 2i) for the sine of dimension 2i.
    i, pos = 3, 1.7
    lam = wl[2 * i]
    omega = 1 / 10000 ** (2 * i / 512)
    assert math.sin((pos + lam) * omega) == pytest.approx(math.sin(pos * omega), abs=1e-9)


def test_dot_similarity_depends_only_on_distance():
    pe = positional.sinusoidal_table(80, 64)
    sim = positional.dot_similarity(pe)
    assert sim.shape == (80, 80)
    # Every diagonal of PE·PEᵀ is constant (a Toeplitz matrix) and equals Σ_i cos(k ω_i).
    omega = 1 / 10000 ** (np.arange(0, 64, 2) / 64)
    for k in (0, 1, 5, 33):
        diag = np.diagonal(sim, offset=k)
        assert np.ptp(diag) < 1e-4
        assert diag[0] == pytest.approx(float(np.cos(k * omega).sum()), abs=1e-4)
    assert np.allclose(np.diag(sim), 32.0, atol=1e-4)  # |PE(pos)|² = d_model / 2
    offsets, curves = positional.similarity_by_offset(pe, [0, 20, 40], 30)
    assert offsets[0] == -30 and offsets[-1] == 30
    assert np.all(np.isnan(curves[0][offsets < 0]))  # before position 0 there is nothing
    both = ~np.isnan(curves[20]) & ~np.isnan(curves[40])
    assert np.allclose(curves[20][both], curves[40][both], atol=1e-4)


def test_learned_table_does_not_depend_on_distance_only():
    """The same check fails for an arbitrary table: the test can tell the difference."""
    rng = np.random.default_rng(0)
    sim = positional.dot_similarity(rng.normal(size=(20, 16)))
    assert np.ptp(np.diagonal(sim, offset=1)) > 1e-2


def test_vit_position_similarity_grid_has_the_patch_grid_shape():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, patch_size=8, embed_dim=48,
                              depth=1, num_heads=2)
    emb = positional.vit_position_embeddings(model)
    assert emb.grid == (8, 8) and emb.patch.shape == (64, 48) and emb.prefix.shape == (1, 48)
    assert emb.prefix_labels == ["CLS"]
    assert np.array_equal(emb.patch, model.pos_embed.detach().numpy()[0, 1:])
    grid = positional.cosine_similarity_grid(emb.patch, emb.grid)
    assert grid.shape == (8, 8, 8, 8)
    assert np.allclose(grid.reshape(64, 64).diagonal(), 1.0, atol=1e-6)
    assert np.allclose(grid.reshape(64, 64), grid.reshape(64, 64).T, atol=1e-6)
    # One entry against torch's own cosine similarity.
    table = model.pos_embed.detach()[0]
    ref = torch.nn.functional.cosine_similarity(table[1 + 2 * 8 + 3], table[1 + 5 * 8 + 6], dim=0)
    assert grid[2, 3, 5, 6] == pytest.approx(float(ref), abs=1e-5)
    fig = viz.position_similarity_grid(grid)
    assert len(fig.data) == 2 and fig.data[0].type == "heatmap"  # one tiled heatmap (+ click markers), not 64 subplots
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (8 * 9 - 1, 8 * 9 - 1)
    assert z[2 * 9 + 5, 3 * 9 + 6] == pytest.approx(grid[2, 3, 5, 6])  # small map (2, 3), cell (5, 6)
    assert np.isnan(z[8, :]).all()  # the gap row


@pytest.mark.parametrize("name, kw, labels", [
    ("deit_tiny_distilled_patch16_224", {}, ["CLS", "DIST"]),
    ("vit_small_patch16_224", dict(reg_tokens=4, class_token=True), ["CLS", "REG0", "REG1", "REG2", "REG3"]),
])
def test_prefix_tokens_are_named_as_on_the_vit_page(name, kw, labels):
    """Distilled DeiT's second token is its distillation token (Touvron et al. 2021), not "prefix1"; registers
    (Darcet et al. 2023) are REG0…: the same names as models.capture.vision.token_labels gives the ViT page."""
    from models.capture import vision

    model = timm.create_model(name, pretrained=False, img_size=32, patch_size=8, embed_dim=24, depth=1, num_heads=2,
                              **kw)
    emb = positional.vit_position_embeddings(model)
    n = emb.prefix.shape[0]
    assert emb.prefix_labels == labels[:n]
    assert emb.prefix_labels == vision.token_labels(model, emb.grid)[0][:n]


def test_each_small_map_carries_its_patch_for_a_click():
    grid = positional.cosine_similarity_grid(np.random.default_rng(0).normal(size=(12, 5)), (3, 4))
    fig = viz.position_similarity_grid(grid)
    x, y = list(fig.data[0].x), list(fig.data[0].y)
    markers = fig.data[1]
    assert len(markers.x) == 12 and markers.marker.opacity == 0.0
    i = 2 * 4 + 1  # small map (row 2, column 1)
    assert tuple(markers.customdata[i]) == (2, 1)
    assert markers.x[i] == x[1 * 5 + 1] and markers.y[i] == y[2 * 4 + 1]  # its centre cell: "1 → 1", "2 → 1"
    patch = viz.patch_similarity_map(grid, 2, 1)
    assert np.allclose(np.asarray(patch.data[0].z), grid[2, 1])


def test_no_embed_class_models_have_no_prefix_in_the_table():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=24,
                              depth=1, num_heads=2, no_embed_class=True)
    emb = positional.vit_position_embeddings(model)
    assert emb.grid == (4, 4) and emb.patch.shape == (16, 24) and emb.prefix.shape == (0, 24)


def test_swin_bias_table_is_what_timm_adds_to_the_logits():
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=64, window_size=4,
                              embed_dim=24, depths=(2, 2), num_heads=(2, 4))
    with torch.no_grad():
        for stage in model.layers:
            for block in stage.blocks:
                block.attn.relative_position_bias_table.normal_()
    tables = positional.swin_bias_tables(model)
    assert [t.name for t in tables] == ["layers.0.blocks.0", "layers.0.blocks.1",
                                        "layers.1.blocks.0", "layers.1.blocks.1"]
    assert [t.shift for t in tables] == [0, 2, 0, 2]  # every second block shifts its windows by M // 2
    for t, attn in zip(tables, (b.attn for s in model.layers for b in s.blocks)):
        m = t.window[0]
        assert t.table.shape == (attn.num_heads, 2 * m - 1, 2 * m - 1)
        bias = attn._get_rel_pos_bias()[0].detach().numpy()  # timm's own (heads, M², M²) bias
        ys, xs = np.divmod(np.arange(m * m), m)
        for i, j in [(0, 0), (0, m * m - 1), (m * m - 1, 0), (5, 2), (3, 12)]:
            dy, dx = ys[i] - ys[j], xs[i] - xs[j]
            assert np.allclose(t.table[:, dy + m - 1, dx + m - 1], bias[:, i, j])
    fig = viz.bias_table_heatmap(tables[0].table[1])
    assert list(fig.data[0].x) == list(range(-3, 4))


def test_figures_build_from_arrays():
    pe = positional.sinusoidal_table(40, 16)
    wl = positional.wavelengths(16)
    assert viz.encoding_heatmap(pe).data[0].z.shape == (40, 16)
    fig = viz.encoding_curves(pe, [0, 1, 15], wl)
    assert [t.name.split(" (")[0] for t in fig.data] == ["dim 0", "dim 1", "dim 15"]
    assert "cos" in fig.data[1].name and "sin" in fig.data[0].name
    viz.wavelength_plot(wl)
    viz.similarity_heatmap(positional.dot_similarity(pe))
    viz.offset_curves(*positional.similarity_by_offset(pe, [0, 10], 8))


def test_positional_encoding_page_runs_headlessly():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    at = AppTest.from_file(APP, default_timeout=240).run()
    at.switch_page("views/positional.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 8  # heatmap, curves, wavelengths, PE·PEᵀ, offsets, ViT grid, one patch enlarged, Swin table
    assert [d["type"] for d in specs[5]["data"]] == ["heatmap", "scatter"]  # the ViT grid: one tiled heatmap
    assert "index from 0" in specs[5]["layout"]["xaxis"]["title"]["text"]
    assert specs[5]["layout"]["xaxis"]["ticktext"][0] == "0"  # patch columns are indices from 0
    assert any("stage 1 · block 1" in str(o) for o in at.selectbox(key="pe_swin_block").options)
    at.select_slider(key="pe_d").set_value(64).run()
    assert not at.exception
    at.slider(key="pe_len").set_value(12).run()  # fewer positions than the chosen start positions
    assert not at.exception and not at.error
    at.radio(key="pe_vit_which").set_value("timm").run()  # "timm model"
    at.text_input(key="pe_vit_name").set_value("not_a_model_at_all").run()
    assert not at.exception
    assert any("not a timm model" in e.value for e in at.error)
