"""Masked-LM pretraining of a scratch encoder, run on each rank by pyspark's TorchDistributor.

    result = run_with_distributor(TorchDistributor(num_processes=2, local_mode=True, use_gpu=False),
                                  {"train_shards": [...], "tokenizer_dir": ..., "out_dir": ...,
                                   "preset": "small", "steps": 2000}, main=pretrain_main)

No pretrained weights can be downloaded where nerlake is often built, so a model can first
learn the language of the unlabelled text (records, corpora's raw text) and then be
fine-tuned: ``out_dir/best`` is a checkpoint directory (``BertForMaskedLM`` weights, the
tokenizer and a card) that ``nerlake train --model out_dir/best`` starts from.

Masking is BERT's: ``mask_prob`` of the real tokens (never [CLS], [SEP] or padding) are
predicted; of those 80 % are replaced by [MASK], 10 % by a random token, 10 % kept. It is
drawn afresh for every batch from a generator seeded by (seed, step, rank), so a resumed
run masks exactly as an uninterrupted one would. Shards are those of ``nerlake train``
(their label column is ignored). Rank 0 saves a checkpoint every ``save_every`` steps and
at the end; a later call with the same ``out_dir`` resumes from it.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ConfigError, from_dict
from .model_dir import TOKENIZER_FILE, write_json
from .modeling import CHECKPOINT_CARD, CLS, MASK, PAD, PRESETS, SEP, SPECIAL_TOKENS, save_tokenizer
from .shards import IGNORE_INDEX
from .train_loop import (BEST_DIR, CHECKPOINT_DIR, CHECKPOINT_FILE, RESULT_FILE, _replace_dir, save_state,
                         worker_session)



@dataclass
class PretrainConfig:
    train_shards: list[str]
    tokenizer_dir: str
    out_dir: str
    preset: str = field(default="small", metadata={"choices": list(PRESETS)})
    steps: int = field(default=1000, metadata={"check": lambda v: v > 0, "help": "> 0"})
    batch_size: int = field(default=32, metadata={"check": lambda v: v > 0, "help": "> 0"})  # per rank
    lr: float = field(default=5e-4, metadata={"check": lambda v: v > 0, "help": "> 0"})
    warmup_fraction: float = field(default=0.06, metadata={"check": lambda v: 0 <= v < 1, "help": "in [0, 1)"})
    weight_decay: float = field(default=0.01, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    max_grad_norm: float = field(default=1.0, metadata={"check": lambda v: v > 0, "help": "> 0"})
    mask_prob: float = field(default=0.15, metadata={"check": lambda v: 0 < v < 1, "help": "in (0, 1)"})
    max_length: int = field(default=128, metadata={"check": lambda v: v >= 8, "help": ">= 8"})
    dropout: float = field(default=0.1, metadata={"check": lambda v: 0 <= v < 1, "help": "in [0, 1)"})
    seed: int = 0
    save_every: int = field(default=500, metadata={"check": lambda v: v > 0, "help": "> 0"})
    log_every: int = field(default=50, metadata={"check": lambda v: v > 0, "help": "> 0"})
    num_threads: int | None = field(default=None, metadata={"check": lambda v: v > 0, "help": "> 0"})
    use_gpu: bool = False
    collective_timeout_s: int = field(default=1800, metadata={"check": lambda v: v > 0, "help": "> 0"})
    resume: bool = True
    run_id: str = ""
    card: dict = field(default_factory=dict)  # card entries (the text it was pretrained on)


def parse_pretrain_args(args: str | dict) -> PretrainConfig:
    if isinstance(args, str):
        args = json.loads(args)
    args = dict(args)
    if isinstance(args.get("train_shards"), str):
        args["train_shards"] = [args["train_shards"]]
    config = from_dict(PretrainConfig, args)
    if not config.train_shards:
        raise ConfigError("train_shards: give at least one file or directory")
    return config


def mask_tokens(input_ids, attention_mask, *, mask_prob: float, mask_id: int, vocab_size: int,
                special_ids, generator):
    """BERT masking of a batch: (inputs, labels); labels are -100 where nothing is predicted."""
    import torch

    labels = input_ids.clone()
    candidates = attention_mask.bool()
    for special in special_ids:
        candidates &= input_ids != special
    chosen = (torch.rand(input_ids.shape, generator=generator) < mask_prob) & candidates
    labels[~chosen] = IGNORE_INDEX
    inputs = input_ids.clone()
    draw = torch.rand(input_ids.shape, generator=generator)
    inputs[chosen & (draw < 0.8)] = mask_id
    randomised = chosen & (draw >= 0.8) & (draw < 0.9)
    # the special tokens come first in the vocabulary: a random replacement is a real token
    random_ids = torch.randint(len(SPECIAL_TOKENS), vocab_size, input_ids.shape, generator=generator)
    inputs[randomised] = random_ids[randomised]
    return inputs, labels


def pretrain_main(args_json: str) -> dict:
    """Pretrain as configured by ``args_json`` (:class:`PretrainConfig`) on this rank."""
    config = parse_pretrain_args(args_json)
    with worker_session(config) as env:
        return _pretrain(config, env)


def _build_mlm(config: PretrainConfig, vocab_size: int):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(config.seed)  # same initial weights on every rank
    bert = BertConfig(vocab_size=vocab_size, intermediate_size=4 * PRESETS[config.preset]["hidden_size"],
                      max_position_embeddings=max(512, config.max_length), type_vocab_size=1,
                      attn_implementation="eager", hidden_dropout_prob=config.dropout,
                      attention_probs_dropout_prob=config.dropout, **PRESETS[config.preset])
    return BertForMaskedLM(bert)


def _pretrain(config: PretrainConfig, env) -> dict:
    import torch
    from functools import partial
    from tokenizers import Tokenizer
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader
    from transformers import get_linear_schedule_with_warmup

    from .shards import ShardDataset, collate_padded

    out = Path(config.out_dir)
    tokenizer = Tokenizer.from_file(str(Path(config.tokenizer_dir) / TOKENIZER_FILE))
    special = [tokenizer.token_to_id(t) for t in (PAD, CLS, SEP, MASK)]
    if None in special:
        raise ValueError(f"{config.tokenizer_dir}: the tokenizer lacks one of {PAD} {CLS} {SEP} {MASK}")
    pad_id, mask_id, vocab_size = special[0], special[3], tokenizer.get_vocab_size()
    data = ShardDataset(config.train_shards, columns=("input_ids", "attention_mask"), shuffle_seed=config.seed,
                        rank=env.rank, world_size=env.world_size)
    if len(data.files) < env.world_size:
        raise ValueError(f"{len(data.files)} shard file(s) for {env.world_size} ranks: write at least one per rank")
    model = _build_mlm(config, vocab_size).to(env.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * config.steps), config.steps)
    step, history = 0, []
    state_path = out / CHECKPOINT_DIR / CHECKPOINT_FILE
    if config.resume and state_path.exists():
        state = torch.load(state_path, map_location=env.device, weights_only=True)
        if state["preset"] != config.preset or state["vocab_size"] != vocab_size:
            raise ValueError(f"{state_path} belongs to another model: use another out_dir or resume=false")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
        if env.is_main:
            print(f"[nerlake.pretrain] resuming at step {step}/{config.steps}", flush=True)
    net = DistributedDataParallel(model, device_ids=[env.device.index] if config.use_gpu else None) \
        if env.world_size > 1 else model
    loader = DataLoader(data, batch_size=config.batch_size, collate_fn=partial(collate_padded, pad_id=pad_id))
    started, epoch, window = time.perf_counter(), 0, []
    net.train()
    while step < config.steps:
        epoch += 1
        data.set_epoch(epoch)
        # every rank must take the same number of steps: stop the epoch at the shortest rank's
        # end (files move between ranks from epoch to epoch, so this is asked per epoch)
        per_rank = min(data.rank_rows(r) for r in range(env.world_size)) // config.batch_size
        if per_rank == 0:
            raise ValueError(f"a rank has fewer than batch_size={config.batch_size} rows: write more text or "
                             f"lower the batch size")
        for i, batch in enumerate(loader):
            if i >= per_rank or step >= config.steps:
                break
            generator = torch.Generator().manual_seed(
                int(np.random.SeedSequence([config.seed, step, env.rank]).generate_state(1)[0]))
            inputs, labels = mask_tokens(batch["input_ids"], batch["attention_mask"], mask_prob=config.mask_prob,
                                         mask_id=mask_id, vocab_size=vocab_size, special_ids=special,
                                         generator=generator)
            output = net(input_ids=inputs.to(env.device), attention_mask=batch["attention_mask"].to(env.device),
                         labels=labels.to(env.device))
            optimizer.zero_grad(set_to_none=True)
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            window.append(output.loss.item())
            if step % config.log_every == 0 or step == config.steps:
                total, count = env.sum([sum(window), len(window)])
                loss = float(total / count)
                history.append({"step": step, "mlm_loss": round(loss, 4),
                                "seconds": round(time.perf_counter() - started, 1)})
                window = []
                if env.is_main:
                    print(f"[nerlake.pretrain] step {step}/{config.steps} mlm loss {loss:.4f} "
                          f"lr {scheduler.get_last_lr()[0]:.2e}", flush=True)
            if env.is_main and (step % config.save_every == 0 or step == config.steps):
                save_state(state_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                         "scheduler": scheduler.state_dict(), "step": step, "history": history,
                                         "preset": config.preset, "vocab_size": vocab_size})
    result = {"steps": step, "best_dir": str(out / BEST_DIR), "history": history, "world_size": env.world_size,
              "final_mlm_loss": history[-1]["mlm_loss"] if history else None, "run_id": config.run_id}
    if env.is_main:
        tmp = out / f"{BEST_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp)
        save_tokenizer(tokenizer, tmp, config.max_length)
        write_json(tmp / CHECKPOINT_CARD, {
            "base_model": f"bert-{config.preset} pretrained (masked LM) by nerlake pretrain",
            "preset": config.preset, "vocab_size": vocab_size, "max_length": config.max_length,
            "pretraining": {"steps": step, "final_mlm_loss": result["final_mlm_loss"], "mask_prob": config.mask_prob,
                            "batch_size_per_rank": config.batch_size, "world_size": env.world_size,
                            "lr": config.lr, **config.card}})
        _replace_dir(tmp, out / BEST_DIR)
        write_json(out / f"{RESULT_FILE}.tmp", result)
        os.replace(out / f"{RESULT_FILE}.tmp", out / RESULT_FILE)
    env.barrier()
    return result
