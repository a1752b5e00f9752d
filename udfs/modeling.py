"""Building small real models: tokenizer, BIO encoding, BERT training, ONNX export.

Needs the ``train`` extra (torch, transformers, onnx); torch and transformers are
imported inside the functions that use them, so importing this module stays cheap and
executors (which only import :mod:`nerlake.udfs.ner`) never need them.

The one entry point for tests, the demo and benchmarks is
:func:`build_model_from_examples`; the steps it chains are public for finer control:
:func:`train_tokenizer`, :func:`encode_examples`, :func:`build_bert`, :func:`train_model`,
:func:`save_checkpoint` and :func:`export_onnx`, which writes the model directory
(see :mod:`nerlake.udfs.model_dir`).

Label alignment choice: every sub-token of an entity is labelled (``B-X`` on the first
token of the entity, ``I-X`` on all the others, continuation sub-tokens included) rather
than masking continuation sub-tokens with -100. Inference then decodes BIO token by token
(:func:`nerlake.udfs.ner.decode_bio`) without word-level pooling, and every entity token
contributes to the training signal.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import unicodedata
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import numpy as np

from .labels import LABELS, bio_labels as make_bio_labels
from .model_dir import (CARD_FILE, LABELS_FILE, MODEL_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE,
                        ModelDir, entity_labels_from_bio, write_json)
from .ner import replace_surrogates, token_offsets, window_starts

log = logging.getLogger(__name__)

# preset -> BERT geometry; intermediate size is the usual 4 x hidden.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2},
    "small": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4},
    "base": {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12},
}
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]
IGNORE_INDEX = -100  # CrossEntropyLoss ignore_index: special and padding positions

# Fine labels the model does not learn: it sees their group (labels.py), merge restores them.
DEFAULT_LABEL_MAP = {"CHEST": "BODY_MEASUREMENT", "WAIST": "BODY_MEASUREMENT", "HIP": "BODY_MEASUREMENT"}

# Letters seeded into the tokenizer alphabet so that words never seen in training still
# split into pieces instead of collapsing to [UNK].
_VI_LOWER = ("aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụ"
             "ưừứửữựvxyỳýỷỹỵfjwz")
_ALPHABET = sorted(set(_VI_LOWER + _VI_LOWER.upper() + "0123456789" + "".join(map(chr, range(33, 127)))))

CHECKPOINT_CARD = "nerlake_card.json"  # the card draft kept next to the torch checkpoint


# ---------------------------------------------------------------------------- tokenizer

def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2):
    """A cased WordPiece tokenizer: NFC normaliser (diacritics kept; CJK characters split
    apart), BERT pre-tokenizer
    (splits on whitespace and punctuation), [CLS] text [SEP] post-processing, offsets kept.
    The same texts always give the same vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    texts = [unicodedata.normalize("NFC", t) for t in texts]
    chars = sorted(set(_ALPHABET).union(*map(set, texts)) - set(" \t\n\r"))
    # tokenizers#1794: the trainer numbers the "##x" continuation pieces in hash-map order
    # and those ids break ties between merges, so one corpus gives a different vocabulary
    # on every run. Declaring every "##x" up front fixes their ids; the tokenizer is then
    # rebuilt from the learnt vocabulary, where they are ordinary pieces again.
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, initial_alphabet=_ALPHABET, show_progress=False,
        special_tokens=SPECIAL_TOKENS + [f"##{c}" for c in chars],
    )
    scaffold = Tokenizer(models.WordPiece(unk_token=UNK))
    scaffold.normalizer = _normalizer()
    scaffold.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    scaffold.train_from_iterator(texts, trainer)

    tokenizer = Tokenizer(models.WordPiece(vocab=scaffold.get_vocab(with_added_tokens=False), unk_token=UNK,
                                           max_input_chars_per_word=100))
    # The special tokens stay plain vocabulary entries, not "added tokens": a record that
    # literally contains "[SEP]" is then read as text, never as a segment boundary.
    tokenizer.normalizer = _normalizer()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B {SEP}",
        special_tokens=[(CLS, tokenizer.token_to_id(CLS)), (SEP, tokenizer.token_to_id(SEP))],
    )
    return tokenizer


def _normalizer():
    """NFC, then spaces around CJK characters: Chinese, Japanese and Korean text has no
    spaces between words, so each ideograph is a word of its own (as in BERT), whether or
    not the text was segmented. Offsets still point into the original text."""
    from tokenizers import normalizers

    return normalizers.Sequence([normalizers.NFC(), normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)])


def save_tokenizer(tokenizer, out_dir, max_length: int) -> None:
    """tokenizer.json + tokenizer_config.json, loadable by tokenizers and transformers."""
    out = Path(out_dir)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(str(out / TOKENIZER_FILE))
    write_json(out / TOKENIZER_CONFIG_FILE, {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "do_lower_case": False,
        "pad_token": PAD, "unk_token": UNK, "cls_token": CLS, "sep_token": SEP, "mask_token": MASK,
    })


# ---------------------------------------------------------------------------- encoding

@dataclass
class EncodeStats:
    """What encoding did with the gold spans; nothing is dropped without being counted here."""

    examples: int = 0
    windows: int = 0
    spans: int = 0
    # label -> spans whose label the model does not learn (not in its label list): left O
    spans_unlearned: Counter = field(default_factory=Counter)
    spans_overlapping: int = 0  # overlapped an earlier gold span: skipped
    spans_without_tokens: int = 0  # covered no token at all (e.g. only whitespace)
    spans_misaligned: int = 0  # an edge falls inside a token: the whole token is labelled

    def as_dict(self) -> dict:
        d = asdict(self)
        d["spans_unlearned"] = dict(self.spans_unlearned)
        return d


def check_examples(examples) -> list[tuple[str, list[dict]]]:
    """Materialise examples, raising ValueError on the first malformed one."""
    out = []
    for n, example in enumerate(examples):
        try:
            text, gold = example
        except (TypeError, ValueError):
            raise ValueError(f"example {n}: expected (text, spans), got {example!r:.80}") from None
        if not isinstance(text, str):
            raise ValueError(f"example {n}: text is {type(text).__name__}, expected str")
        for k, span in enumerate(gold):
            try:
                start, end, label = span["start"], span["end"], span["label"]
            except (TypeError, KeyError):
                raise ValueError(f"example {n} span {k}: expected a dict with start, end, label, got {span!r}") from None
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                raise ValueError(f"example {n} span {k}: bad offsets [{start}, {end}) for a text of {len(text)} chars")
            if not isinstance(label, str) or not label:
                raise ValueError(f"example {n} span {k}: label must be a non-empty string, got {label!r}")
        out.append((text, list(gold)))
    return out


def entity_labels_for(examples, label_map: dict[str, str] = DEFAULT_LABEL_MAP) -> list[str]:
    """Entity labels present in the gold spans (after label_map), in the canonical order."""
    seen = {label_map.get(s["label"], s["label"]) for _, gold in examples for s in gold}
    canonical = [label for label in LABELS if label in seen]
    return canonical + sorted(seen - set(canonical))


def encode_examples(tokenizer, examples, bio: list[str], max_length: int, stride: int = 32,
                    label_map: dict[str, str] = DEFAULT_LABEL_MAP):
    """Token ids and BIO label ids per window, [CLS] + tokens + [SEP], aligned by offsets.

    Long texts are cut into overlapping windows exactly as inference cuts them. A token is
    part of a gold span when their character ranges overlap; the span's first token gets
    B-, the others I- (see the module docstring). Returns (features, EncodeStats) where
    features is a list of (input_ids, label_ids) int64 arrays.
    """
    label_id = {tag: i for i, tag in enumerate(bio)}
    cls_id, sep_id = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    window = max_length - 2
    stats = EncodeStats()
    features = []
    texts = [replace_surrogates(text) for text, _ in examples]  # same length: gold offsets hold
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    for (text, gold), encoding in zip(examples, encodings):
        stats.examples += 1
        ids = np.asarray(encoding.ids, dtype=np.int64)
        offsets = token_offsets(encoding, text)
        tags = np.zeros(len(ids), dtype=np.int64)  # all O
        taken = np.zeros(len(ids), dtype=bool)
        for span in sorted(gold, key=lambda s: (s["start"], -s["end"])):
            stats.spans += 1
            label = label_map.get(span["label"], span["label"])
            if f"B-{label}" not in label_id:
                stats.spans_unlearned[label] += 1
                continue
            # tokens with end > span start and start < span end
            first = int(np.searchsorted(offsets[:, 1], span["start"], side="right"))
            last = int(np.searchsorted(offsets[:, 0], span["end"], side="left")) - 1
            if first > last:
                stats.spans_without_tokens += 1
                continue
            if taken[first:last + 1].any():
                stats.spans_overlapping += 1
                continue
            if offsets[first, 0] < span["start"] or offsets[last, 1] > span["end"]:
                stats.spans_misaligned += 1
            tags[first] = label_id[f"B-{label}"]
            tags[first + 1:last + 1] = label_id[f"I-{label}"]
            taken[first:last + 1] = True
        if not len(ids):
            continue
        for s in window_starts(len(ids), window, stride):
            e = min(s + window, len(ids))
            input_ids = np.concatenate([[cls_id], ids[s:e], [sep_id]]).astype(np.int64)
            labels = np.concatenate([[IGNORE_INDEX], tags[s:e], [IGNORE_INDEX]]).astype(np.int64)
            features.append((input_ids, labels))
            stats.windows += 1
    return features, stats


def pack_features(features, max_length: int, seed: int = 0):
    """Join consecutive (shuffled) windows into longer sequences, as if one longer text.

    Records are mostly far shorter than a window, but inference runs windows of long
    texts at every position: trained on single records alone, the model never learns
    positions past the longest record (measured on the tiny test model: unpacked, 40% of
    a short text's entities were found again once the text sat deep inside a long one;
    packed, 48-61%). Each packed sequence
    grows to a length drawn uniformly between its first window and ``max_length``, so short
    sequences stay common too.
    """
    if not features:
        return []
    rng = np.random.default_rng(seed)
    room = max_length - 2
    cls_id, sep_id = features[0][0][0], features[0][0][-1]  # every window is [CLS] ... [SEP]
    packed, ids_parts, label_parts, used, target = [], [], [], 0, 0

    def flush():
        packed.append((np.concatenate([[cls_id], *ids_parts, [sep_id]]).astype(np.int64),
                       np.concatenate([[IGNORE_INDEX], *label_parts, [IGNORE_INDEX]]).astype(np.int64)))

    for i in rng.permutation(len(features)):
        ids, labels = features[i][0][1:-1], features[i][1][1:-1]
        if ids_parts and used + len(ids) > target:
            flush()
            ids_parts, label_parts, used = [], [], 0
        if not ids_parts:
            target = int(rng.integers(len(ids), room + 1))
        ids_parts.append(ids)
        label_parts.append(labels)
        used += len(ids)
    if ids_parts:
        flush()
    return packed


# ---------------------------------------------------------------------------- model + training

def build_bert(preset: str, vocab_size: int, bio: list[str], max_length: int, dropout: float = 0.1,
               seed: int | None = None):
    """A freshly initialised BertForTokenClassification of the given preset.

    ``dropout`` (hidden and attention): BERT's 0.1 suits long training; a few hundred
    steps from scratch learn faster without it. ``seed`` makes the initial weights
    reproducible."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    geometry = PRESETS[preset]
    config = BertConfig(
        vocab_size=vocab_size,
        intermediate_size=4 * geometry["hidden_size"],
        max_position_embeddings=max(512, max_length),
        type_vocab_size=1,  # single-segment input: the ONNX graph takes no token_type_ids
        num_labels=len(bio),
        id2label=dict(enumerate(bio)),
        label2id={tag: i for i, tag in enumerate(bio)},
        attn_implementation="eager",  # ORT only fuses attention in the eager graph
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        **geometry,
    )
    if seed is not None:
        torch.manual_seed(seed)
    return BertForTokenClassification(config)


def _pad_batch(features, pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in features)
    input_ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for row, (ids, tags) in enumerate(features):
        input_ids[row, :len(ids)] = torch.from_numpy(ids)
        labels[row, :len(ids)] = torch.from_numpy(tags)
        mask[row, :len(ids)] = 1
    return input_ids, mask, labels


def train_model(model, features, *, pad_id: int, steps: int = 200, batch_size: int = 32, lr: float = 5e-4,
                seed: int = 0, warmup_fraction: float = 0.1, weight_decay: float = 0.01,
                max_grad_norm: float = 1.0, progress: bool = True, num_threads: int | None = None) -> dict:
    """AdamW with linear warm-up then linear decay, gradient clipping, fixed seed.

    Batches are drawn from a reshuffled pass over the features each epoch. Returns the
    training figures: loss at the start and end (mean of 10 steps), seconds, steps.
    ``num_threads`` sets torch's intra-op threads for this call only (None: torch's
    default). Measured on a shared 2-core machine: the tiny preset ran 5x slower on 2
    threads than on 1 (OpenMP threads spin against the other processes).
    """
    import torch

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _train(model, features, pad_id=pad_id, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                      warmup_fraction=warmup_fraction, weight_decay=weight_decay,
                      max_grad_norm=max_grad_norm, progress=progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(model, features, *, pad_id, steps, batch_size, lr, seed, warmup_fraction, weight_decay,
           max_grad_norm, progress) -> dict:
    import torch
    from transformers import get_linear_schedule_with_warmup

    if not features:
        raise ValueError("no training windows: every example text was empty")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, max(1, int(warmup_fraction * steps)), steps)
    order, cursor = rng.permutation(len(features)), 0
    losses = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc="training", unit="step")
    started = time.perf_counter()
    for step in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(features)), 0
        chosen = [features[i] for i in order[cursor:cursor + batch_size]]
        cursor += batch_size
        input_ids, mask, labels = _pad_batch(chosen, pad_id)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    if bar is not None:
        bar.close()
    model.eval()
    return {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "loss_start": round(float(np.mean(losses[:10])), 4),
        "loss_end": round(float(np.mean(losses[-10:])), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def save_checkpoint(model, tokenizer, out_dir, bio: list[str], max_length: int, card: dict) -> Path:
    """The torch checkpoint (save_pretrained) with its tokenizer, labels and card draft:
    everything :func:`export_onnx` needs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    save_tokenizer(tokenizer, out, max_length)
    write_json(out / LABELS_FILE, list(bio))
    write_json(out / CHECKPOINT_CARD, card)
    return out


def is_nerlake_checkpoint(path) -> bool:
    """Is ``path`` a :func:`save_checkpoint` directory (of ``nerlake train`` or ``pretrain``)?"""
    path = Path(path)
    return (path / CHECKPOINT_CARD).is_file() and (path / TOKENIZER_FILE).is_file()


# ---------------------------------------------------------------------------- ONNX export

def _logits_only(model):
    """The HF model as a module with plain tensor inputs and one output, for tracing."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    # eval() matters: the exporter restores the wrapper's mode afterwards, recursively, and
    # a wrapper left in train mode would switch dropout back on in the wrapped model.
    return LogitsOnly(model).eval()


def _parity_inputs(vocab_size: int, max_length: int, seed: int = 0):
    """A padded batch of random token ids of different lengths (exercises the mask)."""
    rng = np.random.default_rng(seed)
    lengths = [max_length, max_length // 2, 7, 3]
    ids = np.zeros((len(lengths), max_length), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(len(SPECIAL_TOKENS), vocab_size, size=n)
        mask[row, :n] = 1
    return ids, mask


def _ort_logits(path, ids, mask):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def export_onnx(hf_dir, out_dir, quantize: bool = True, *, opset: int = 17,
                parity_tolerance: float = 1e-3) -> Path:
    """Export a :func:`save_checkpoint` directory to a model directory (the contract).

    Legacy TorchScript exporter with dynamic batch and sequence axes, then ORT's BERT
    graph fusions, then (``quantize``) dynamic int8 quantisation of the fused graph.
    Checks that the fp32 ONNX logits match torch within ``parity_tolerance`` (raises
    otherwise) and records the figures in the card's metrics.
    """
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import BertForTokenClassification

    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    hf = Path(hf_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    card = json.loads((hf / CHECKPOINT_CARD).read_text(encoding="utf-8"))
    bio = json.loads((hf / LABELS_FILE).read_text(encoding="utf-8"))
    max_length = card["max_length"]
    model = BertForTokenClassification.from_pretrained(hf, attn_implementation="eager").eval()
    config = model.config

    with tempfile.TemporaryDirectory(prefix="nerlake-export-") as tmp:
        raw, fused, int8 = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx", Path(tmp) / "int8.onnx"
        # The example mask must contain padding: transformers drops an all-ones mask while
        # tracing, and the graph would then ignore attention_mask.
        example_mask = torch.ones(2, 16, dtype=torch.long)
        example_mask[1, 10:] = 0
        example = (torch.ones(2, 16, dtype=torch.long), example_mask)
        dynamic = {0: "batch", 1: "sequence"}
        with warnings.catch_warnings():
            # The legacy exporter is deprecated but is the one ORT can fuse; the tracer's
            # constant-shape warnings are covered by the padded-batch parity check below.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")
            torch.onnx.export(
                _logits_only(model), example, str(raw), dynamo=False, opset_version=opset,
                input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "logits": dynamic},
                do_constant_folding=True,
            )
        optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size)
        fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        optimized.save_model_to_file(str(fused))

        ids, mask = _parity_inputs(config.vocab_size, max_length)
        with torch.no_grad():
            torch_logits = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
        valid = mask.astype(bool)
        fp32_logits = _ort_logits(fused, ids, mask)
        parity = float(np.abs(torch_logits - fp32_logits)[valid].max())
        log.info("torch vs fp32 ONNX: max |logit difference| %.2e", parity)
        if not parity < parity_tolerance:
            raise RuntimeError(f"ONNX export parity failed: max |logit difference| {parity:.2e} >= {parity_tolerance}")
        metrics = dict(card.get("metrics", {}), onnx_parity_max_abs_diff=parity)

        final = fused
        if quantize:
            quantize_dynamic(str(fused), str(int8), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            int8_logits = _ort_logits(int8, ids, mask)
            metrics["int8_max_abs_diff"] = float(np.abs(int8_logits - fp32_logits)[valid].max())
            metrics["int8_argmax_agreement"] = float(
                (int8_logits.argmax(-1) == fp32_logits.argmax(-1))[valid].mean())
            final = int8
        shutil.copyfile(final, out / MODEL_FILE)

    for name in (TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, LABELS_FILE):
        shutil.copyfile(hf / name, out / name)
    card.update(
        labels=entity_labels_from_bio(bio),
        metrics=metrics,
        quantized=quantize,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        onnx={"opset": opset, "fusions": fusions, "inputs": ["input_ids", "attention_mask"]},
    )
    write_json(out / CARD_FILE, card)
    ModelDir.load(out)  # what we wrote must satisfy the contract
    return out


# ---------------------------------------------------------------------------- evaluation

def evaluate_spans(model_dir, examples, label_map: dict[str, str] = DEFAULT_LABEL_MAP) -> dict:
    """Exact-match span precision / recall / F1 of the model directory on examples.

    Gold labels are mapped with label_map; gold spans of labels the model does not have
    are left out of the count (reported as ``gold_unlearned``).
    """
    from .ner import NerConfig, OnnxNer

    ner = OnnxNer(model_dir, NerConfig(providers="cpu"))
    learned = set(ner.entity_labels)
    predictions = ner.predict([text for text, _ in examples])
    tp, n_pred, n_gold, unlearned = Counter(), Counter(), Counter(), 0
    for (_, gold), spans in zip(examples, predictions):
        gold_set = set()
        for s in gold:
            label = label_map.get(s["label"], s["label"])
            if label in learned:
                gold_set.add((s["start"], s["end"], label))
            else:
                unlearned += 1
        pred_set = {(s.start, s.end, s.label) for s in spans}
        for _, _, label in gold_set:
            n_gold[label] += 1
        for _, _, label in pred_set:
            n_pred[label] += 1
        for _, _, label in gold_set & pred_set:
            tp[label] += 1

    def prf(t, p, g):
        precision = t / p if p else 0.0
        recall = t / g if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": g}

    per_label = {label: prf(tp[label], n_pred[label], n_gold[label]) for label in sorted(n_gold | n_pred)}
    return {"micro": prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values())),
            "per_label": per_label, "examples": len(examples), "gold_unlearned": unlearned}


# ---------------------------------------------------------------------------- entry point

def build_model_from_examples(
    examples: Iterable[tuple[str, list[dict]]],
    out_dir,
    *,
    labels: list[str] | None = None,
    preset: str = "tiny",
    steps: int = 200,
    batch_size: int = 32,
    max_length: int = 128,
    seed: int = 0,
    lr: float = 5e-4,
    quantize: bool = True,
    name: str = "test-model",
    version: str = "0.0.1",
    progress: bool = True,
    vocab_size: int = 8000,
    stride: int = 32,
    dev_fraction: float = 0.1,
    languages: tuple[str, ...] = ("vi",),
    training_data: str | None = None,
    label_map: dict[str, str] = DEFAULT_LABEL_MAP,
    checkpoint_dir=None,
    num_threads: int | None = None,
    dropout: float = 0.1,
    pack: bool = True,
) -> Path:
    """Train a tokenizer and a BERT tagger on ``(text, [{"start", "end", "label"}])``
    examples and write a model directory to ``out_dir``; returns its path.

    ``labels``: the entity labels to learn (default: those in the gold data, canonical
    order); gold spans of other labels stay O and are counted in the card. A fraction
    ``dev_fraction`` of the examples (taken after a seeded shuffle) is held out and the
    final ONNX model's exact-match span scores on it go into the card's metrics.
    ``checkpoint_dir`` keeps the torch checkpoint there (for re-export, e.g. fp32 next to
    int8); by default it lives in a temporary directory. ``num_threads``: torch threads
    for training (see :func:`train_model`); ``dropout``: see :func:`build_bert`;
    ``pack``: join training windows into longer sequences (see :func:`pack_features`).
    """
    if max_length < 3 or not 0 <= stride < max_length - 2:
        raise ValueError(f"need max_length >= 3 and 0 <= stride < max_length - 2, got {max_length}, {stride}")
    if not 0.0 <= dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1), got {dev_fraction}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    data = check_examples(examples)
    if not data:
        raise ValueError("no examples")
    order = np.random.default_rng(seed).permutation(len(data))
    n_dev = int(len(data) * dev_fraction)
    dev = [data[i] for i in order[:n_dev]]
    train = [data[i] for i in order[n_dev:]]

    entity_labels = list(labels) if labels is not None else entity_labels_for(train, label_map)
    bio = make_bio_labels(entity_labels)
    entity_labels_from_bio(bio)  # duplicate or malformed labels fail here, not after training
    tokenizer = train_tokenizer((text for text, _ in train), vocab_size=vocab_size)
    features, stats = encode_examples(tokenizer, train, bio, max_length, stride, label_map)
    if pack:
        features = pack_features(features, max_length, seed)
    if stats.spans_unlearned:
        log.warning("gold spans of labels not learned (left O): %s", dict(stats.spans_unlearned))
    model = build_bert(preset, tokenizer.get_vocab_size(), bio, max_length, dropout=dropout, seed=seed)
    training = train_model(model, features, pad_id=tokenizer.token_to_id(PAD), steps=steps,
                           batch_size=batch_size, lr=lr, seed=seed, progress=progress, num_threads=num_threads)
    training["encoding"] = stats.as_dict()
    training["sequences"] = len(features)
    training["packed"] = pack

    gold_counts = Counter(label_map.get(s["label"], s["label"]) for _, gold in train for s in gold)
    geometry = PRESETS[preset]
    card = {
        "name": name,
        "version": version,
        "languages": list(languages),
        "labels": entity_labels,
        "training_data": training_data or (
            f"{len(train)} examples ({stats.windows} windows), {len(dev)} more held out for metrics; "
            f"gold spans per label: {dict(gold_counts.most_common())}"),
        "metrics": {},
        "created_at": "",
        "max_length": max_length,
        "quantized": False,
        "base_model": (f"bert-{preset} from scratch ({geometry['num_hidden_layers']} layers, "
                       f"{geometry['hidden_size']} hidden, {geometry['num_attention_heads']} heads)"),
        "preset": preset,
        "vocab_size": tokenizer.get_vocab_size(),
        "label_map": dict(label_map),
        "training": training,
    }
    with tempfile.TemporaryDirectory(prefix="nerlake-ckpt-") as tmp:
        ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else Path(tmp)
        save_checkpoint(model, tokenizer, ckpt, bio, max_length, card)
        out = export_onnx(ckpt, out_dir, quantize=quantize)
    if dev:
        card = json.loads((out / CARD_FILE).read_text(encoding="utf-8"))
        card["metrics"]["dev"] = evaluate_spans(out, dev, label_map)
        write_json(out / CARD_FILE, card)
        log.info("%s dev micro F1 %.3f", name, card["metrics"]["dev"]["micro"]["f1"])
    return out
