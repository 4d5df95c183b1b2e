"""The faithfulness measurements (models/analysis/faithfulness.py) and their bench command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.analysis import faithfulness as F
from models.analysis.attention_math import mass_inside_box
from models.demo import shapes


def test_pointing_game_uses_the_largest_patch_s_centre():
    m = np.zeros((4, 4))
    m[1, 2] = 1.0  # centre (x, y) = (40, 24) on a 64 px image
    assert F.pointing_hit(m, (32, 16, 48, 32), (64, 64))
    assert not F.pointing_hit(m, (41, 0, 64, 64), (64, 64))  # the box starts right of the centre
    assert F.pointing_hit(np.ones((4, 4)), (0, 0, 32, 16), (64, 64)) == pytest.approx(2 / 16)  # ties: the share inside


def test_ties_are_broken_at_random_and_nothing_else_moves():
    rng = np.random.default_rng(0)
    s = np.array([0.5, 1.0, 1.0, 1.0, 0.2, 1.0])
    ranks = [F.tie_broken(s, rng) for _ in range(20)]
    for r in ranks:
        assert sorted(r) == list(range(6))
        assert r[4] == 0 and r[0] == 1 and set(r[[1, 2, 3, 5]]) == {2, 3, 4, 5}
    assert len({tuple(r) for r in ranks}) > 1
    u = rng.random(10)
    np.testing.assert_array_equal(np.argsort(F.tie_broken(u, rng)), np.argsort(u))


def _records(values: dict[str, list[float]]) -> list[dict]:
    n = len(next(iter(values.values())))
    return [{"label": 0, "predicted": 0, "seconds": {},
             "metrics": {m: {k: v[i] for k in F.METRICS} for m, v in values.items()}} for i in range(n)]


def test_summary_says_where_a_method_is_worse_than_random():
    rec = _records({"good": [0.9, 0.8, 0.85, 0.95], "random": [0.5, 0.4, 0.6, 0.5]})
    for r in rec:  # positive AUC: lower is better; give "good" the higher (worse) one
        r["metrics"]["good"]["positive_auc"], r["metrics"]["random"]["positive_auc"] = 0.6, 0.2
    rows = {r["method"]: r for r in F.summarise(rec, methods=("good", "random"))}
    good = rows["good"]
    assert good["images"] == 4
    assert good["box_mass"] == pytest.approx(0.875)
    assert good["box_mass_se"] == pytest.approx(np.std([0.9, 0.8, 0.85, 0.95], ddof=1) / 2)
    assert good["worse_than_random"] == ["positive_auc"]
    assert good["worse_than_random_beyond_2se"] == ["positive_auc"]  # the same −0.4 on every image: SE 0
    assert good["box_mass_vs_random"] == pytest.approx(0.375)
    assert rows["random"]["worse_than_random"] == []
    text = F.markdown({"m": list(rows.values())})
    assert "| m | good | 4 |" in text and "positive_auc*" in text and "(baseline)" in text


def test_aucs_are_the_areas_of_perturbation_curves():
    from models.analysis.relevance import area_under_curve
    from models.capture import explain, vision

    model = vision.load("vit_demo", "demo")
    x, _ = vision.preprocess(model, shapes.sample_image("square", size=64, seed=9))
    scores = np.arange(64, dtype=float)
    pos, neg = F.perturbation_aucs(model, x, scores.reshape(8, 8), 1)
    assert pos == pytest.approx(area_under_curve(F.FRACTIONS, explain.perturbation_curve(model, x, scores, 1, True)))
    assert neg == pytest.approx(area_under_curve(F.FRACTIONS, explain.perturbation_curve(model, x, scores, 1, False)))


@pytest.mark.parametrize("name, kind", [("vit_demo", "vit"), ("swin_demo", "swin")])
def test_evaluate_on_fresh_shapes(name, kind):
    from models.capture import vision

    model = vision.load(name, "demo")
    images, labels, boxes = shapes.make_dataset(3, 64, F.FRESH_SEED)
    rec = F.evaluate(model, kind, images, labels, boxes, flow_images=1)
    assert len(rec) == 3
    assert "attention_flow" in rec[0]["metrics"] and "attention_flow" not in rec[1]["metrics"]
    for r in rec:
        for m, v in r["metrics"].items():
            assert 0 <= v["box_mass"] <= 1 + 1e-9 and 0 <= v["pointing"] <= 1
            assert 0 <= v["positive_auc"] <= 0.9 + 1e-9 and 0 <= v["negative_auc"] <= 0.9 + 1e-9
    rows = {r["method"]: r for r in F.summarise(rec)}
    assert rows["attention_flow"]["images"] == 1 and rows["relevance"]["images"] == 3
    # the random map's mass inside the box is about the box's share of the image (64 px images)
    share = np.mean([(b[2] - b[0]) * (b[3] - b[1]) / 64 ** 2 for b in boxes])
    assert abs(rows["random"]["box_mass"] - share) < 0.15
    grid = (8, 8) if kind == "vit" else (16, 16)
    assert mass_inside_box(np.ones(grid), tuple(boxes[0]), (64, 64)) == pytest.approx(
        (boxes[0][2] - boxes[0][0]) * (boxes[0][3] - boxes[0][1]) / 64 ** 2)


def test_fresh_seed_is_no_training_or_evaluation_seed():
    from models.demo import train_swin, train_vit

    assert F.FRESH_SEED not in (train_vit.EVAL_SEED, train_swin.EVAL_SEED)
    from models.demo import WEIGHTS_DIR

    vit_steps = json.loads((WEIGHTS_DIR / "vit_demo.json").read_text())["training"]
    swin_steps = json.loads((WEIGHTS_DIR / "swin_demo.json").read_text())["training"]
    assert vit_steps["seed"] == swin_steps["seed"] == 0
    assert F.FRESH_SEED >= vit_steps["steps"] and F.FRESH_SEED > swin_steps["steps"] + 1  # seeds step, 1 + step


def test_bench_command_prints_json_and_markdown(capsys):
    from bench import faithfulness as bench

    assert bench.main(["--images", "2", "--flow-images", "1", "--only", "faithfulness", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    models = out["faithfulness"]["models"]
    assert set(models) == {"vit_demo", "swin_demo"}
    assert {r["method"] for r in models["vit_demo"]["table"]} == set(F.METHODS)
    assert "| vit_demo | relevance | 2 |" in out["faithfulness"]["markdown"]


def test_token_perturbation_on_a_model_whose_truth_is_known():
    """A 'model' whose probability is 1 − the summed weight of the removed tokens: the true weights as a map remove
    the most important first (lowest positive area) and the least important last (highest negative area), random
    orders fall in between, the curves start at the unperturbed 1, and tokens marked not removable never go."""
    w = np.array([0.0, 0.4, 0.05, 0.25, 0.1, 0.2, 0.0])  # token 6 (like </s>) not removable
    removable = np.array([True] * 6 + [False])
    seen = []

    def probs_of(removed):
        seen.append(removed.copy())
        return 1.0 - removed.astype(float) @ w

    out = F.token_perturbation(probs_of, {"truth": w, "reverse": -w}, removable, random_orders=4, seed=3)
    assert len(seen) == 1 and seen[0].shape == ((2 * 2 + 4) * len(F.FRACTIONS), 7)  # one batched call
    assert not seen[0][:, 6].any()
    truth, rev = out["maps"]["truth"], out["maps"]["reverse"]
    assert truth["pos_curve"][0] == 1.0 and truth["neg_curve"][0] == 1.0
    assert truth["pos"] < out["random"]["auc"] < rev["pos"]
    assert truth["neg"] == pytest.approx(rev["pos"]) and rev["neg"] == pytest.approx(truth["pos"])
    assert out["removable"] == 6
    # the curve at 50 %: the three largest weights gone
    assert truth["pos_curve"][5] == pytest.approx(1 - (0.4 + 0.25 + 0.2))


def test_text_summary_table_counts_tokens():
    rec = [{"metrics": {"relevance": {"positive_auc": 0.2 + 0.01 * i, "negative_auc": 0.8},
                        "random": {"positive_auc": 0.5, "negative_auc": 0.5}}, "seconds": {}} for i in range(5)]
    rows = F.summarise(rec, ("relevance", "random"), F.TEXT_METRICS, unit="tokens")
    assert rows[0]["tokens"] == 5 and rows[0]["worse_than_random"] == []
    text = F.markdown({"reverse": rows}, metrics=F.TEXT_METRICS, unit="tokens")
    assert "| model | method | tokens | positive_auc ↓ | negative_auc ↑ |" in text
    assert "| reverse | relevance | 5 | 0.220 ± 0.007 | 0.800 ± 0.000 | — |" in text


def test_bench_text_perturbation_on_the_demos_and_a_local_language_model(capsys, tmp_path):
    from bench import faithfulness as bench
    from tests import language_models as lms

    gpt2, bert = lms.build("gpt2", tmp_path), lms.build("bert", tmp_path)
    assert bench.main(["--texts", "2", "--only", "text_perturbation", "--lm", f"{gpt2},{bert}",
                       "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)["text_perturbation"]
    assert set(out["models"]) == {"reverse (demo)", "translate (demo)", "dates (demo)", str(gpt2), str(bert)}
    rev = {r["method"]: r for r in out["models"]["reverse (demo)"]["table"]}
    assert set(rev) == set(F.TEXT_METHODS) and rev["relevance"]["tokens"] > 2  # every output token of 2 inputs
    lm = {r["method"]: r for r in out["models"][str(bert)]["table"]}
    # the tiny test model's 128 positions cut the first line's mask off: that input is skipped, and counted
    assert set(lm) == set(F.LM_METHODS) and out["models"][str(bert)]["inputs"] == 2
    assert out["models"][str(bert)]["explained"] == 1 and out["models"][str(gpt2)]["explained"] == 2
    assert all(0 <= r["positive_auc"] <= 1 for r in lm.values())
    assert "| reverse (demo) | relevance |" in out["markdown"] and "tokens" in out["markdown"]
