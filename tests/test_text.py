"""The text demo tasks: checkpoint scores on fresh held-out data, the trace's invariants, and bad inputs."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from models.demo import text
from models.demo.train_text import exact_match

TASKS = sorted(text.TASKS)
TEST_SEED = 2  # neither the training (0) nor the --evaluate (1) stream


class _Models(dict):
    """Each task's bundled model, loaded the first time a test asks for it."""

    def __missing__(self, task):
        self[task] = text.load(task)
        return self[task]


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    return _Models()


# ---------------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("task", TASKS)
def test_bundled_checkpoint_scores_on_fresh_held_out_examples(models, task):
    model = models[task]
    assert model.metadata["exact_match"] >= 0.99, "the score recorded when the checkpoint was trained"
    assert model.metadata["eval_examples"] == 1000
    pairs = text.examples(task, 300, seed=TEST_SEED, split=text.HELDOUT)
    assert exact_match(model, pairs) >= 0.99


@pytest.mark.parametrize("task", TASKS)
def test_checkpoint_json_describes_the_weights(task):
    meta = json.loads((text.WEIGHTS_DIR / f"{task}.json").read_text(encoding="utf-8"))
    for key in ("config", "source_vocab", "target_vocab", "seed", "steps", "training_seconds", "exact_match"):
        assert key in meta
    assert meta["task"] == task
    assert meta["source_vocab"][:4] == text.SPECIALS and meta["target_vocab"][:4] == text.SPECIALS


def test_evaluate_cli_ends_with_the_exact_match_line(root):
    done = subprocess.run(
        [sys.executable, "-m", "models.demo.train", "dates", "--evaluate"],
        cwd=root, capture_output=True, text=True, timeout=600, check=True,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("exact_match: ")
    assert float(last.split(": ")[1]) >= 0.99


def test_held_out_examples_never_appear_in_training():
    for task in ("dates", "translate"):
        train = {s for s, _ in text.examples(task, 3000, seed=0)}
        held = {s for s, _ in text.examples(task, 1000, seed=1, split=text.HELDOUT)}
        assert not train & held
    train_days = {y for _, y in text.examples("dates", 3000, seed=0)}
    held_days = {y for _, y in text.examples("dates", 1000, seed=1, split=text.HELDOUT)}
    assert not train_days & held_days, "held-out dates are calendar days never trained on, in any style"


def test_generated_examples_are_reproducible_and_right():
    assert text.examples("dates", 50, seed=5) == text.examples("dates", 50, seed=5)
    for source, target in text.examples("dates", 400, seed=5):
        assert len(target) == 10 and target[4] == target[7] == "-"
    for source, target in text.examples("reverse", 200, seed=5):
        assert len(source) == len(target)
    verbs = set(text.TRANSITIVE.values()) | set(text.INTRANSITIVE.values())
    for source, target in text.examples("translate", 200, seed=5):
        words = target.removesuffix(" .").removesuffix(" ta").split()
        assert words[-1] in verbs, "Zerin is verb-final"
        assert words[words.index("ga") - 1] in set(text.DETERMINERS.values()), "the subject ends with its determiner"


@pytest.mark.parametrize(
    "typed,iso",
    [
        ("21 Nov 2026", "2026-11-21"),
        ("November 21st, 2026", "2026-11-21"),
        ("2026年11月21日", "2026-11-21"),
        ("11/21/26", "2026-11-21"),
        ("21.11.2026", "2026-11-21"),
        ("Saturday, 21 November 2026", "2026-11-21"),
        ("the 21st of November 2026", "2026-11-21"),
        ("2026/11/21", "2026-11-21"),
        ("Nov. 21, '26", "2026-11-21"),
        ("2026-11-21", "2026-11-21"),
        ("二〇二六年十一月二十一日", "2026-11-21"),
        ("4 JULY 1976", "1976-07-04"),
        ("7/4/76", "1976-07-04"),  # two-digit years: 69-99 -> 19xx
        ("1/2/05", "2005-01-02"),  # 00-68 -> 20xx
    ],
)
def test_dates_from_the_issue(models, typed, iso):
    assert text.run(models["dates"], typed).output == iso


def test_reverse_and_translate_examples(models):
    assert text.run(models["reverse"], "Attention is all you need!").output == "!deen uoy lla si noitnettA"
    trace = text.run(models["translate"], "the big dog chased a small cat.")
    assert trace.output == "wubo gora ka ga misa piti na o kasu ta ."


# ------------------------------------------------------------------------------------------ the trace
@pytest.mark.parametrize("task", TASKS)
def test_trace_invariants(models, task):
    model = models[task]
    cfg = model.transformer.cfg
    source = text.TASKS[task].examples[0]
    trace = text.run(model, source, pad_to=cfg.max_len - 4)
    s, t = len(trace.source_tokens), len(trace.target_tokens)
    assert s == cfg.max_len - 4 and trace.source_tokens[-1] == "<pad>"
    assert trace.source_mask.shape == (s,) and trace.source_mask.dtype == bool
    real = int(trace.source_mask.sum())
    assert trace.source_tokens[real - 1] == "</s>" and not trace.source_mask[real:].any()
    assert trace.causal_mask.shape == (t, t) and np.array_equal(trace.causal_mask, np.tril(np.ones((t, t), bool)))
    assert len(trace.encoder_attention) == cfg.n_encoder_layers
    assert len(trace.decoder_attention) == len(trace.cross_attention) == cfg.n_decoder_layers
    for enc in trace.encoder_attention:
        assert enc.shape == (cfg.n_heads, s, s) and enc.dtype == np.float32
        np.testing.assert_allclose(enc.sum(-1), 1.0, atol=1e-5)
        assert np.all(enc[:, :, ~trace.source_mask] == 0), "padding columns are exactly 0"
    for dec, cross in zip(trace.decoder_attention, trace.cross_attention):
        assert dec.shape == (cfg.n_heads, t, t) and cross.shape == (cfg.n_heads, t, s)
        np.testing.assert_allclose(dec.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(cross.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(dec, 1) == 0), "the decoder never attends to a later position"
        assert np.all(cross[:, :, ~trace.source_mask] == 0)
    # Decoder inputs are <s> then the outputs shifted right; the output ends with </s>.
    assert trace.target_tokens[0] == "<s>" and trace.target_tokens[1:] == trace.output_tokens[:-1]
    assert trace.output_tokens[-1] == "</s>"
    # Each step's most probable token is the one greedy decoding produced.
    assert [top[0][0] for top in trace.step_top_k] == trace.output_tokens
    assert all(len(top) == 5 and top[0][1] >= top[1][1] for top in trace.step_top_k)
    # The output is the greedy decode, and padding did not change it.
    assert trace.output == text.decode_batch(model, [source])[0] == text.run(model, source).output
    assert trace.weights_source.startswith(f"demo checkpoint '{task}'")


def test_random_weights_for_development():
    model = text.load("dates", weights="random")
    trace = text.run(model, "21 Nov 2026")
    assert trace.weights_source.startswith("random")
    assert trace.encoder_attention[0].shape[0] == model.transformer.cfg.n_heads


def test_vocabulary_and_lexicon(models):
    vocab = text.vocabulary(models["translate"])
    assert vocab["source"][:4] == text.SPECIALS and "dog" in vocab["source"] and "wubo" in vocab["target"]
    lexicon = text.TASKS["translate"].lexicon
    assert ("dog", "wubo", "noun") in lexicon
    assert {en for en, _, _ in lexicon if en} <= set(vocab["source"])


# ----------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("empty", ["", "   ", "\n\t "])
def test_empty_input_raises_a_user_message(models, task, empty):
    with pytest.raises(text.EmptyInput, match="empty"):
        text.run(models[task], empty)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(
    "typed",
    ["x" * 100_000, "héllo wörld 😀 中文", "a\x00b\x00c", "🙂" * 80, "日本語のテキスト", "\u200b\ufeffzero width", "a" * 41],
)
def test_bad_inputs_never_raise(models, task, typed):
    trace = text.run(models[task], typed)
    assert len(trace.source_tokens) <= text.TASKS[task].max_input_len + 1
    assert isinstance(trace.output, str)


def test_over_long_input_is_truncated_with_a_message(models):
    trace = text.run(models["reverse"], "ab" * 1000)
    assert trace.truncated and any("too long" in m for m in trace.messages)
    assert len(trace.source_tokens) == text.TASKS["reverse"].max_input_len + 1
    words = " ".join(["the dog sleeps"] * 20)
    assert text.run(models["translate"], words).truncated


def test_unknown_characters_are_listed(models):
    trace = text.run(models["reverse"], "ab😀c\x00中")
    assert trace.unknown == ["😀", "\\x00", "中"]
    assert trace.source_tokens[:6] == ["a", "b", "<unk>", "c", "<unk>", "<unk>"]
    assert any("<unk>" in m for m in trace.messages)
    assert trace.output == "\ufffd\ufffdc\ufffdba"
    trace = text.run(models["translate"], "the zebra sleeps")
    assert trace.unknown == ["zebra"] and trace.output.split()[0] == "<unk>"
