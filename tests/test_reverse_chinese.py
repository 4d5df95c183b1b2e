"""Issue 12: the reverse demo reads and writes Chinese (level 1 of the Table of General Standard Chinese
Characters) beside printable ASCII, with a checkpoint scored on held-out inputs that mix both."""
import pytest
import torch

from models.demo import text
from models.demo.train_text import EVAL_SEED, TRAIN_SEED, exact_match_by_kind

FRESH_SEED = 3  # neither training (0), nor --evaluate and the checkpoint's JSON (1), nor test_text (2)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return text.load("reverse")


def test_every_level_1_character_is_read_and_written():
    assert len(text.GSCC_LEVEL1) == 3500 and len(set(text.GSCC_LEVEL1)) == 3500
    task = text.TASKS["reverse"]
    for vocab in (task.source_vocab, task.target_vocab):
        assert vocab[: 4 + 95] == text.SPECIALS + [chr(c) for c in range(32, 127)], "ASCII ids as before"
        assert vocab[99 : 99 + 3500] == text.GSCC_LEVEL1, "then the 3,500, in the table's order"
        assert len(set(vocab)) == len(vocab)


def test_checkpoint_is_the_tasks_and_ties_its_embeddings(model):
    assert model.source_vocab == text.TASKS["reverse"].source_vocab
    assert model.target_vocab == text.TASKS["reverse"].target_vocab
    assert model.metadata["config"]["tie_embeddings"] is True
    tf = model.transformer
    assert tf.generator.weight is tf.src_embed.weight is tf.tgt_embed.weight


def test_samples_cover_the_chinese_characters_about_uniformly():
    pairs = text.examples("reverse", 20_000, seed=TRAIN_SEED)
    kinds = [text.reverse_kind(s) for s, _ in pairs]
    for kind in text.REVERSE_KINDS:
        assert 0.25 < kinds.count(kind) / len(kinds) < 0.42, kind
    counts = dict.fromkeys(text.GSCC_LEVEL1, 0)
    for s, _ in pairs:
        for c in s:
            if c in counts:
                counts[c] += 1
    mean = sum(counts.values()) / len(counts)
    assert min(counts.values()) > 0.4 * mean and max(counts.values()) < 3 * mean  # repeats cluster a few
    assert any("\ufffd" in y for _, y in pairs), "some inputs carry characters outside the vocabulary"


def test_recorded_score_on_mixed_held_out_inputs(model):
    meta = model.metadata
    assert meta["exact_match"] >= 0.99 and meta["eval_examples"] >= 1000 and meta["eval_seed"] == EVAL_SEED
    assert meta["seed"] != meta["eval_seed"] and meta["threads"] == 1
    by_kind = meta["exact_match_by_kind"]
    assert set(by_kind) == set(text.REVERSE_KINDS)
    assert sum(k["examples"] for k in by_kind.values()) == meta["eval_examples"]
    assert all(k["examples"] >= 200 for k in by_kind.values()), "the held-out inputs mix both alphabets"


@pytest.mark.slow
def test_fresh_mixed_held_out_inputs_are_reversed(model):
    pairs = text.examples("reverse", 200, seed=FRESH_SEED, split=text.HELDOUT)
    outputs = text.decode_batch(model, [s for s, _ in pairs])
    assert sum(o == y for o, (_, y) in zip(outputs, pairs)) / len(pairs) >= 0.98
    by_kind = exact_match_by_kind(model, pairs)
    assert all(k["examples"] >= 40 and k["exact_match"] >= 0.95 for k in by_kind.values()), by_kind


@pytest.mark.parametrize(
    "typed",
    ["注意力机制", "你好，世界!", "Transformer 模型 2017", "注意力 is all you need 2017", "《红楼梦》第一回"],
)
def test_chinese_examples_reverse_exactly(model, typed):
    trace = text.run(model, typed)
    assert trace.output == typed[::-1]
    assert not trace.unknown and trace.source_tokens == list(typed) + ["</s>"]


def test_the_tasks_examples_include_chinese():
    examples = text.TASKS["reverse"].examples
    assert {"注意力机制", "你好，世界!", "Transformer 模型 2017"} <= set(examples)


def test_characters_outside_both_are_read_as_unk(model):
    trace = text.run(model, "乂好é😀們")  # level 2, level 1, accented Latin, emoji, traditional
    assert trace.unknown == ["乂", "é", "😀", "們"]
    assert trace.source_tokens == ["<unk>", "好", "<unk>", "<unk>", "<unk>", "</s>"]
    assert trace.output == "\ufffd\ufffd\ufffd好\ufffd"
    assert any(m.code == "text.unknown" and "'乂'" in m.params["tokens"] for m in trace.outside)
