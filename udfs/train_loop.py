"""The fine-tuning loop that Spark's TorchDistributor runs, fed from Parquet shards.

    from pyspark.ml.torch.distributor import TorchDistributor
    result = run_with_distributor(TorchDistributor(num_processes=2, local_mode=False, use_gpu=False),
                                  {"train_shards": [...], "dev_shards": [...], "labels": [...],
                                   "tokenizer_dir": ..., "out_dir": ..., "model": "scratch:tiny"})

:func:`train_main` is what every rank runs (a fresh interpreter under torchrun), so
everything it needs travels as one JSON string of paths and hyper-parameters
(:class:`TrainConfig`). One rank per process; with more than one, a gloo (CPU) or nccl
(GPU) process group from torchrun's environment and DistributedDataParallel. Without
torchrun's environment it trains in the calling process (world size 1).

Per epoch every rank runs the same number of steps (:func:`nerlake.udfs.shards.steps_per_epoch`:
one pass over the global rows in world batches; a rank with fewer rows starts its share
again), so DDP never waits on a rank that has run out. Dev entity F1 is exact-match over
BIO token tags of the dev shards' windows (each rank scores its share, the counts are
summed), rank 0 decides early stopping and broadcasts it. Each epoch rank 0 writes
``out_dir/checkpoint/state.pt`` (model, optimizer, scheduler, epoch, best F1, history);
a later call with the same ``out_dir`` resumes after the last finished epoch. The best
model (by dev F1, or the last one without dev shards) is in ``out_dir/best``: a
``save_pretrained`` directory with its tokenizer and ``labels.json``, for a scratch model
exactly what :func:`nerlake.udfs.modeling.export_onnx` takes.

Returns the same dict on every rank (TorchDistributor's local mode keeps whichever rank
writes last) and rank 0 writes it to ``out_dir/result.json`` too: torchrun processes
sometimes abort at interpreter exit after finishing their work, which fails the
distributor's call; :func:`run_with_distributor` then reads the result of that run.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow.parquet as pq

from .config import ConfigError, from_dict
from .labels import bio_labels
from .model_dir import LABELS_FILE, TOKENIZER_FILE, entity_labels_from_bio, write_json
from .modeling import (CHECKPOINT_CARD, DEFAULT_LABEL_MAP, PAD, PRESETS, build_bert, check_examples,
                       encode_examples, is_nerlake_checkpoint, pack_features, save_checkpoint)
from .shards import IGNORE_INDEX, shard_table

SCRATCH = "scratch:"
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"
BEST_DIR = "best"
RESULT_FILE = "result.json"


def _model_spec_ok(spec: str) -> bool:
    return not spec.startswith(SCRATCH) or spec[len(SCRATCH):] in PRESETS


def _positive(v) -> bool:
    return v > 0


def _fraction(v) -> bool:
    return 0.0 <= v < 1.0


@dataclass
class TrainConfig:
    """Everything a rank needs, as JSON. Shard entries are files or directories.

    Every rank reads the shards and rank 0 writes ``out_dir``: with ``local_mode=False``
    these paths must be on storage that all executors share.
    """

    train_shards: list[str]
    out_dir: str
    labels: list[str] = field(metadata={"check": lambda v: len(v) > 0, "help": "a non-empty list of entity labels"})
    # "scratch:<preset>" (modeling.PRESETS) with tokenizer_dir, or a local HF checkpoint directory
    model: str = field(default="scratch:tiny", metadata={
        "check": _model_spec_ok, "help": f"'scratch:' + one of {', '.join(PRESETS)}, or a checkpoint directory"})
    tokenizer_dir: str | None = None  # default for a checkpoint: the checkpoint directory
    dev_shards: list[str] = field(default_factory=list)
    max_length: int = field(default=128, metadata={"check": lambda v: v >= 3, "help": ">= 3"})
    epochs: int = field(default=3, metadata={"check": _positive, "help": "> 0"})
    batch_size: int = field(default=16, metadata={"check": _positive, "help": "> 0"})  # per rank
    # None: one pass over the global rows per epoch; a number caps it (smoke runs)
    max_steps_per_epoch: int | None = field(default=None, metadata={"check": _positive, "help": "> 0"})
    lr: float = field(default=5e-4, metadata={"check": _positive, "help": "> 0"})
    warmup_fraction: float = field(default=0.1, metadata={"check": _fraction, "help": "in [0, 1)"})
    weight_decay: float = field(default=0.01, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    max_grad_norm: float = field(default=1.0, metadata={"check": _positive, "help": "> 0"})
    # loss weight of the O class (others 1): below 1 counters the mass of O tokens
    o_weight: float = field(default=1.0, metadata={"check": _positive, "help": "> 0"})
    # epochs without a dev F1 gain of more than min_delta before stopping; 0: never stop early
    patience: int = field(default=2, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    min_delta: float = field(default=0.0, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    seed: int = 0
    dropout: float = field(default=0.1, metadata={"check": _fraction, "help": "in [0, 1)"})
    num_workers: int = field(default=0, metadata={"check": lambda v: v >= 0, "help": ">= 0"})  # DataLoader workers
    log_every: int = field(default=50, metadata={"check": _positive, "help": "> 0"})
    num_threads: int | None = field(default=None, metadata={"check": _positive, "help": "> 0"})
    use_gpu: bool = False
    # a rank that dies or hangs fails the others' collectives after this long, not never
    collective_timeout_s: int = field(default=1800, metadata={"check": _positive, "help": "> 0"})
    resume: bool = True
    run_id: str = ""  # names this run in result.json (run_with_distributor sets one)
    name: str = "nerlake-ner"
    version: str = "0.0.1"
    languages: list[str] = field(default_factory=lambda: ["vi"])
    # card entries of the best model (training data lineage, the schedule, earlier phases)
    card: dict = field(default_factory=dict)

    @property
    def scratch_preset(self) -> str | None:
        return self.model[len(SCRATCH):] if self.model.startswith(SCRATCH) else None


def parse_train_args(args: str | dict) -> TrainConfig:
    """A :class:`TrainConfig` from a JSON string or dict; raises ConfigError naming the key."""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"training arguments are not valid JSON: {exc}") from None
    if not isinstance(args, dict):
        raise ConfigError(f"training arguments must be a JSON object, got {type(args).__name__}")
    args = dict(args)
    for key in ("train_shards", "dev_shards"):  # one path is a list of one
        if isinstance(args.get(key), str):
            args[key] = [args[key]]
    config = from_dict(TrainConfig, args)
    if not config.train_shards:
        raise ConfigError("train_shards: give at least one file or directory")
    if config.scratch_preset and not config.tokenizer_dir:
        raise ConfigError(f"tokenizer_dir: required to train {config.model} from scratch")
    try:
        entity_labels_from_bio(bio_labels(config.labels))
    except ValueError as exc:
        raise ConfigError(f"labels: {exc}") from None
    return config


# ---------------------------------------------------------------------------- metrics

def _tag_parts(bio: list[str]) -> list[tuple[str, str]]:
    return [("O", "") if tag == "O" else (tag[0], tag[2:]) for tag in bio]


def bio_entities(tag_ids: Iterable[int], bio: list[str]) -> set[tuple[int, int, str]]:
    """Entities ``(start, end exclusive, label)`` of a BIO tag-id sequence.

    An ``I-X`` that does not continue an ``X`` entity starts one (conlleval's reading),
    applied alike to gold and predictions.
    """
    parts = _tag_parts(bio)
    entities, start, label = set(), None, None
    for i, tag_id in enumerate(tag_ids):
        prefix, kind = parts[tag_id]
        if start is not None and (prefix != "I" or kind != label):
            entities.add((start, i, label))
            start = None
        if prefix in ("B", "I") and start is None:
            start, label = i, kind
    if start is not None:
        entities.add((start, i + 1, label))
    return entities


def entity_counts(pred_ids, gold_ids, bio: list[str]) -> np.ndarray:
    """``[true positives, predicted, gold]`` exact-match entity counts of one sequence."""
    pred, gold = bio_entities(pred_ids, bio), bio_entities(gold_ids, bio)
    return np.array([len(pred & gold), len(pred), len(gold)], dtype=np.int64)


def f1_from_counts(counts) -> float:
    tp, n_pred, n_gold = (int(c) for c in counts)
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0


# ---------------------------------------------------------------------------- shards without Spark

def write_shards(examples, tokenizer_dir, labels: list[str], out_dir, max_length: int, rows_per_file: int, *,
                 stride: int = 32, label_map: dict[str, str] = DEFAULT_LABEL_MAP, pack: bool = False,
                 seed: int = 0) -> dict:
    """Tokenise ``(text, [{"start", "end", "label"}])`` examples, align BIO labels (the
    entity ``labels``, in that order, after ``label_map``) exactly as
    :func:`nerlake.udfs.modeling.encode_examples` does, and write Parquet shards of at most
    ``rows_per_file`` windows to ``out_dir`` (``part-00000.parquet``, ...).

    ``pack`` joins windows as :func:`nerlake.udfs.modeling.pack_features` does. Refuses a
    directory that already holds Parquet files. Returns files, rows, the BIO label list
    and the encoding counts (spans left O and why).
    """
    from tokenizers import Tokenizer

    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be > 0, got {rows_per_file}")
    if max_length < 3 or not 0 <= stride < max_length - 2:
        raise ValueError(f"need max_length >= 3 and 0 <= stride < max_length - 2, got {max_length}, {stride}")
    bio = bio_labels(labels)
    entity_labels_from_bio(bio)
    data = check_examples(examples)
    tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / TOKENIZER_FILE))
    features, stats = encode_examples(tokenizer, data, bio, max_length, stride, label_map)
    if pack:
        features = pack_features(features, max_length, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.parquet")):
        raise FileExistsError(f"{out} already holds Parquet files; write shards to an empty directory")
    files = []
    for number, start in enumerate(range(0, len(features), rows_per_file)):
        path = out / f"part-{number:05d}.parquet"
        pq.write_table(shard_table(features[start:start + rows_per_file]), path)
        files.append(str(path))
    return {"files": files, "rows": len(features), "labels": bio, "encoding": stats.as_dict()}


# ---------------------------------------------------------------------------- launching

def read_result(out_dir, run_id: str) -> dict | None:
    """The result rank 0 wrote for run ``run_id``, or None if that run wrote none."""
    path = Path(out_dir) / RESULT_FILE
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return result if result.get("run_id") == run_id else None


def run_with_distributor(distributor, args: dict, main=None, parse=None) -> dict:
    """``distributor.run(main, json)`` (a TorchDistributor; ``main`` defaults to
    :func:`train_main`, with ``parse`` checking ``args`` on the driver first), with a fresh
    ``run_id``.

    If the call fails but this run's ``result.json`` exists, training finished and only
    the interpreter exit aborted (see the module docstring): the result is returned. Any
    other failure is raised.
    """
    main, parse = main or train_main, parse or parse_train_args
    args = dict(args, run_id=args.get("run_id") or uuid.uuid4().hex)
    config = parse(args)
    try:
        result = distributor.run(main, json.dumps(args))
    except Exception:
        result = read_result(config.out_dir, config.run_id)
        if result is None:
            raise
        print(f"[nerlake.train] the distributor reported a failure after run {config.run_id} had written "
              f"its result; using it", flush=True)
    if not isinstance(result, dict):
        # local mode keeps one rank's output file; an unreadable one still leaves result.json
        result = read_result(config.out_dir, config.run_id)
        if result is None:
            raise RuntimeError(f"training run {config.run_id} returned no result")
    return result


# ---------------------------------------------------------------------------- the loop

def train_main(args_json: str) -> dict:
    """Train as configured by ``args_json`` (see :class:`TrainConfig`) on this rank.

    Returns ``{"best_dev_f1", "epochs_run", "start_epoch", "steps", "best_dir", "history",
    "stopped_early", "world_size", "run_id"}``, identical on every rank; epochs count from 1,
    ``epochs_run`` counts every finished epoch including those of resumed runs.
    """
    config = parse_train_args(args_json)
    with worker_session(config) as env:
        return _Run(config, env).train()


@contextmanager
def worker_session(config):
    """This rank's torch threads (``config.num_threads``; 0 keeps torch's own) and its
    process group, for the body of a training function; both are restored or closed
    after it, also when it raises. ``config`` needs ``num_threads``, ``use_gpu`` and
    ``collective_timeout_s``."""
    import torch

    threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    env = _Distributed.start(config.use_gpu, config.collective_timeout_s)
    try:
        yield env
    finally:
        env.close()
        torch.set_num_threads(threads)


@dataclass
class _Distributed:
    rank: int
    world_size: int
    device: object
    owns_group: bool  # this call initialised the process group and must destroy it

    @classmethod
    def start(cls, use_gpu: bool, timeout_s: int) -> "_Distributed":
        from datetime import timedelta

        import torch
        import torch.distributed as dist

        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if use_gpu:
            if not torch.cuda.is_available():
                raise RuntimeError("use_gpu is set but torch sees no CUDA device")
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", local_rank)
        else:
            device = torch.device("cpu")
        owns = False
        if world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if use_gpu else "gloo", timeout=timedelta(seconds=timeout_s))
            owns = True
        rank = dist.get_rank() if dist.is_initialized() else 0
        return cls(rank, world_size, device, owns)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, values) -> np.ndarray:
        """Element-wise sum over ranks (float64)."""
        import torch
        import torch.distributed as dist

        tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.device)
        if self.world_size > 1:
            dist.all_reduce(tensor)
        return tensor.cpu().numpy()

    def from_main(self, obj):
        """Rank 0's ``obj`` on every rank."""
        import torch.distributed as dist

        if self.world_size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


class _Run:
    def __init__(self, config: TrainConfig, env: _Distributed):
        from .shards import ShardDataset

        self.config, self.env = config, env
        self.out = Path(config.out_dir)
        self.bio = bio_labels(config.labels)
        self.train_data = ShardDataset(config.train_shards, shuffle_seed=config.seed,
                                       rank=env.rank, world_size=env.world_size)
        if len(self.train_data.files) < env.world_size:
            raise ValueError(f"{len(self.train_data.files)} training shard file(s) for {env.world_size} ranks: "
                             f"write at least as many files as ranks (a file is never split)")
        self.dev_data = (ShardDataset(config.dev_shards, rank=env.rank, world_size=env.world_size)
                         if config.dev_shards else None)

    def log(self, message: str) -> None:
        if self.env.is_main:
            print(f"[nerlake.train] {message}", flush=True)

    # -- model and tokenizer

    def _load_model(self):
        import torch

        config = self.config
        torch.manual_seed(config.seed)  # same initial weights on every rank
        if config.scratch_preset:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(Path(config.tokenizer_dir) / TOKENIZER_FILE))
            pad_id = tokenizer.token_to_id(PAD)
            if pad_id is None:
                raise ValueError(f"{config.tokenizer_dir}: the tokenizer has no {PAD} token")
            model = build_bert(config.scratch_preset, tokenizer.get_vocab_size(), self.bio, config.max_length,
                               dropout=config.dropout, seed=config.seed)
        elif is_nerlake_checkpoint(config.model):
            model, tokenizer, pad_id = self._load_nerlake_checkpoint(Path(config.model))
        else:
            from transformers import AutoModelForTokenClassification, AutoTokenizer

            if not Path(config.model).is_dir():
                raise FileNotFoundError(f"model: {config.model} is neither scratch:<preset> nor a directory")
            tokenizer = AutoTokenizer.from_pretrained(config.tokenizer_dir or config.model)
            pad_id = tokenizer.pad_token_id
            if pad_id is None:
                raise ValueError(f"{config.tokenizer_dir or config.model}: the tokenizer has no padding token")
            # a checkpoint fine-tuned on other labels has a head of another size: it is replaced
            model = AutoModelForTokenClassification.from_pretrained(
                config.model, num_labels=len(self.bio), id2label=dict(enumerate(self.bio)),
                label2id={tag: i for i, tag in enumerate(self.bio)}, ignore_mismatched_sizes=True)
        return model.to(self.env.device), tokenizer, pad_id

    def _load_nerlake_checkpoint(self, path: Path):
        """A ``nerlake pretrain`` (masked-LM) or ``nerlake train`` (e.g. an earlier phase)
        output: its encoder, a token-classification head for this run's labels (the old
        head is kept only when it was trained for exactly these labels) and its tokenizer."""
        import torch
        from tokenizers import Tokenizer
        from transformers import BertForTokenClassification

        config = self.config
        tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        pad_id = tokenizer.token_to_id(PAD)
        if pad_id is None:
            raise ValueError(f"{path}: the tokenizer has no {PAD} token")
        old_bio = json.loads((path / LABELS_FILE).read_text(encoding="utf-8")) if (path / LABELS_FILE).is_file() else None
        model = BertForTokenClassification.from_pretrained(
            path, num_labels=len(self.bio), id2label=dict(enumerate(self.bio)),
            label2id={tag: i for i, tag in enumerate(self.bio)}, ignore_mismatched_sizes=True,
            attn_implementation="eager", hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout)
        if old_bio != self.bio:  # same size, other labels: the old head would mislead
            torch.manual_seed(config.seed)
            model.classifier.reset_parameters()
        return model, tokenizer, pad_id

    def _source_card(self) -> dict:
        path = Path(self.config.model)
        if self.config.scratch_preset or not is_nerlake_checkpoint(path):
            return {}
        return json.loads((path / CHECKPOINT_CARD).read_text(encoding="utf-8"))

    def _save_best(self, model, tokenizer, history: list[dict]) -> None:
        """Rank 0: the model to out_dir/best, replacing the previous best whole."""
        config = self.config
        tmp = self.out / f"{BEST_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        source = self._source_card()
        card = {
            "name": config.name, "version": config.version, "languages": list(config.languages),
            "labels": list(config.labels), "training_data": f"shards {', '.join(config.train_shards)}",
            "metrics": {"dev_entity_f1": history[-1]["dev_f1"]}, "created_at": "",
            "max_length": config.max_length, "quantized": False,
            "base_model": (f"bert-{config.scratch_preset} from scratch" if config.scratch_preset
                           else source.get("base_model", config.model)),
            "label_map": dict(DEFAULT_LABEL_MAP), "training": {"history": history},
            **config.card,
        }
        if config.scratch_preset or source:
            card.update(preset=config.scratch_preset or source.get("preset"), vocab_size=tokenizer.get_vocab_size())
            save_checkpoint(model, tokenizer, tmp, self.bio, config.max_length, card)
        else:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_json(tmp / LABELS_FILE, self.bio)
        _replace_dir(tmp, self.out / BEST_DIR)

    # -- checkpoint

    def _checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_DIR / CHECKPOINT_FILE

    def _load_checkpoint(self) -> dict | None:
        import torch

        path = self._checkpoint_path()
        if not (self.config.resume and path.exists()):
            return None
        state = torch.load(path, map_location=self.env.device, weights_only=True)
        if state["bio"] != self.bio or state["model_spec"] != self.config.model:
            raise ValueError(f"{path} was trained for model {state['model_spec']} with labels {state['bio']}, "
                             f"not {self.config.model} with {self.bio}: use another out_dir or resume=false")
        return state

    def _save_checkpoint(self, state: dict) -> None:
        save_state(self._checkpoint_path(), state)

    # -- training

    def train(self) -> dict:
        import torch
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data import DataLoader
        from transformers import get_linear_schedule_with_warmup

        from .shards import collate_padded, cycle_batches, steps_per_epoch

        config, env = self.config, self.env
        model, tokenizer, pad_id = self._load_model()
        steps = steps_per_epoch(self.train_data.total_rows, config.batch_size, env.world_size)
        if config.max_steps_per_epoch:
            steps = min(steps, config.max_steps_per_epoch)
        total_steps = steps * config.epochs
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)

        state = self._load_checkpoint()
        done, best_f1, bad_epochs, global_step, history, stopped = 0, None, 0, 0, [], False
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            # the schedule continues with this call's epochs; the optimizer's restored
            # learning rate is the old schedule's, so set the new one before the first step
            for group, base_lr, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                group["lr"] = base_lr * factor(scheduler.last_epoch)
            done, best_f1, bad_epochs = state["epoch"], state["best_dev_f1"], state["bad_epochs"]
            global_step, history, stopped = state["global_step"], state["history"], state["stopped_early"]
            self.log(f"resuming after epoch {done} (step {global_step}, best dev F1 {best_f1})")
        start_epoch = done + 1

        net = model
        if env.world_size > 1:
            net = DistributedDataParallel(model, device_ids=[env.device.index] if config.use_gpu else None)
        weights = torch.ones(len(self.bio), device=env.device)
        weights[0] = config.o_weight  # bio[0] is O
        loader = DataLoader(self.train_data, batch_size=config.batch_size, num_workers=config.num_workers,
                            collate_fn=partial(collate_padded, pad_id=pad_id))

        epoch = done
        while epoch < config.epochs and not stopped:
            epoch += 1
            started = time.perf_counter()
            self.train_data.set_epoch(epoch)
            empty = [r for r in range(env.world_size) if self.train_data.rank_rows(r) == 0]
            if empty:  # every rank computes this alike, so all ranks raise together
                raise ValueError(f"epoch {epoch}: rank(s) {empty} have no training rows; write more, non-empty shards")
            torch.manual_seed(int(np.random.SeedSequence([config.seed, epoch, env.rank]).generate_state(1)[0]))
            net.train()
            loss_sum = 0.0
            for step, batch in enumerate(cycle_batches(loader, steps), start=1):
                batch = {k: v.to(env.device) for k, v in batch.items()}
                logits = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = weighted_token_loss(logits, batch["labels"], weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                loss_sum += loss.item()
                global_step += 1
                if step % config.log_every == 0 or step == steps:
                    self.log(f"epoch {epoch}/{config.epochs} step {step}/{steps} loss {loss.item():.4f} "
                             f"lr {scheduler.get_last_lr()[0]:.2e}")
            summed_loss, summed_steps = env.sum([loss_sum, steps])
            epoch_loss = float(summed_loss / summed_steps)

            dev_f1 = None
            if self.dev_data is not None:
                counts = env.sum(self._dev_counts(model, pad_id))
                dev_f1 = round(f1_from_counts(counts), 6)
            improved = dev_f1 is None or best_f1 is None or dev_f1 > best_f1 + config.min_delta
            if improved:
                best_f1, bad_epochs = dev_f1, 0
            else:
                bad_epochs += 1
            stopped = bool(env.from_main(config.patience > 0 and bad_epochs >= config.patience))
            history.append({"epoch": epoch, "loss": round(epoch_loss, 6), "dev_f1": dev_f1, "steps": steps,
                            "seconds": round(time.perf_counter() - started, 2)})
            self.log(f"epoch {epoch}: loss {epoch_loss:.4f} dev F1 {dev_f1} (best {best_f1})"
                     + (" - stopping early" if stopped else ""))
            if env.is_main:
                if improved:
                    self._save_best(model, tokenizer, history)
                self._save_checkpoint({
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "epoch": epoch, "best_dev_f1": best_f1,
                    "bad_epochs": bad_epochs, "global_step": global_step, "history": history,
                    "stopped_early": stopped, "bio": self.bio, "model_spec": config.model,
                })
            env.barrier()  # nobody moves on (or returns) before rank 0 has written

        result = {"best_dev_f1": best_f1, "epochs_run": len(history), "start_epoch": start_epoch,
                  "steps": global_step, "best_dir": str(self.out / BEST_DIR), "history": history,
                  "stopped_early": stopped, "world_size": env.world_size, "run_id": config.run_id}
        result = env.from_main(result)  # timings differ per rank; everyone returns rank 0's
        if env.is_main:
            tmp = self.out / f"{RESULT_FILE}.tmp"
            write_json(tmp, result)
            os.replace(tmp, self.out / RESULT_FILE)
        env.barrier()
        return result

    def _dev_counts(self, model, pad_id: int) -> np.ndarray:
        """This rank's share of the dev windows: [tp, predicted, gold] entity counts."""
        import torch
        from torch.utils.data import DataLoader

        from .shards import collate_padded

        counts = np.zeros(3, dtype=np.int64)
        loader = DataLoader(self.dev_data, batch_size=max(self.config.batch_size, 32),
                            collate_fn=partial(collate_padded, pad_id=pad_id))
        model.eval()
        with torch.no_grad():
            for batch in loader:
                logits = model(input_ids=batch["input_ids"].to(self.env.device),
                               attention_mask=batch["attention_mask"].to(self.env.device)).logits
                predicted = logits.argmax(-1).cpu().numpy()
                gold = batch["labels"].numpy()
                for pred_row, gold_row in zip(predicted, gold):
                    scored = gold_row != IGNORE_INDEX  # special tokens and padding
                    counts += entity_counts(pred_row[scored], gold_row[scored], self.bio)
        model.train()
        return counts


def save_state(path: Path, state: dict) -> None:
    """Rank 0's training state; written aside then renamed, so a crash never leaves half a checkpoint."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def weighted_token_loss(logits, labels, class_weights):
    """Class-weighted token cross-entropy, mean over the weight of the scored tokens.

    Same as ``CrossEntropyLoss(weight=class_weights, ignore_index=-100)`` except that a
    batch without any scored token gives 0 instead of NaN (a NaN would reach every rank
    through DDP's gradient all-reduce).
    """
    import torch.nn.functional as F

    flat = labels.reshape(-1)
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, weight=class_weights,
                            ignore_index=IGNORE_INDEX, reduction="sum")
    scored = flat[flat != IGNORE_INDEX]
    return total / class_weights[scored].sum().clamp_min(1e-12)


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


__all__ = ["TrainConfig", "parse_train_args", "train_main", "run_with_distributor", "read_result", "write_shards",
           "bio_entities", "entity_counts", "f1_from_counts", "weighted_token_loss"]
