"""Masked-LM masking (udfs/pretrain_loop.py); the loop itself runs in tests/test_train_job.py."""
from __future__ import annotations

import pytest
import torch

from nerlake.udfs.config import ConfigError
from nerlake.udfs.pretrain_loop import IGNORE_INDEX, mask_tokens, parse_pretrain_args

PAD, CLS, SEP, MASK, VOCAB = 0, 2, 3, 4, 1000


def batch(rows=64, width=40):
    ids = torch.randint(5, VOCAB, (rows, width))
    mask = torch.ones_like(ids)
    mask[::2, 30:] = 0  # padding on every other row
    ids[mask == 0] = PAD
    ids[:, 0] = CLS
    ids[torch.arange(rows), mask.sum(1) - 1] = SEP
    return ids, mask


def masked(ids, mask, seed=0, prob=0.15):
    return mask_tokens(ids, mask, mask_prob=prob, mask_id=MASK, vocab_size=VOCAB, special_ids=[PAD, CLS, SEP, MASK],
                       generator=torch.Generator().manual_seed(seed))


def test_only_real_tokens_are_predicted_and_labels_hold_the_originals():
    ids, mask = batch()
    inputs, labels = masked(ids, mask)
    chosen = labels != IGNORE_INDEX
    assert not chosen[mask == 0].any() and not chosen[(ids == CLS) | (ids == SEP)].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else changes


def test_bert_proportions():
    ids, mask = batch(rows=512)
    inputs, labels = masked(ids, mask)
    chosen = labels != IGNORE_INDEX
    real = (mask == 1) & (ids != CLS) & (ids != SEP)
    assert chosen.sum() / real.sum() == pytest.approx(0.15, abs=0.01)
    replaced_by_mask = (inputs[chosen] == MASK).float().mean()
    kept = (inputs[chosen] == ids[chosen]).float().mean()
    assert replaced_by_mask == pytest.approx(0.8, abs=0.03) and kept == pytest.approx(0.1, abs=0.03)
    assert (inputs[chosen] >= 5).logical_or(inputs[chosen] == MASK).all()  # random tokens are never special


def test_same_generator_seed_masks_the_same_way():
    ids, mask = batch()
    first, second, other = masked(ids, mask, seed=1), masked(ids, mask, seed=1), masked(ids, mask, seed=2)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[1], other[1])


@pytest.mark.parametrize("change, message", [
    ({"preset": "huge"}, "tiny, small, base"),
    ({"mask_prob": 1.0}, "mask_prob"),
    ({"steps": 0}, "steps"),
    ({"train_shards": []}, "train_shards"),
])
def test_bad_pretrain_arguments(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_pretrain_args({"train_shards": ["s"], "tokenizer_dir": "t", "out_dir": "o", **change})
