"""ONNX token-classification inference, as it runs inside Spark executors.

Only onnxruntime, tokenizers and numpy: executors never need torch. One :class:`OnnxNer`
per Python worker (see :func:`get_ner`) loads the session and tokenizer once; ``predict``
takes a batch of texts (a pandas UDF batch) and returns model spans in input order.

How a batch runs:

1. tokenise every text without special tokens (offsets index the original text);
2. cut texts longer than a window into overlapping windows (``stride`` shared tokens);
3. sort windows by length and group them into batches whose padded size stays under
   ``max_batch_tokens`` (bucketing: short records no longer pay for the longest one);
4. run the session, keep per token its arg-max label and probability; where windows
   overlap, keep the prediction from the window in which the token is farthest from an
   edge (the one that saw the most context on both sides);
5. decode BIO to character spans.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import ConfigError
from .model_dir import ModelDir
from .spans import Span

log = logging.getLogger(__name__)

PROVIDER_CHOICES = ("auto", "cpu", "cuda", "tensorrt")
_ORT_PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


@dataclass(frozen=True)
class NerConfig:
    """Inference settings. Frozen (hashable): it is part of the per-worker cache key."""

    # tokens per window including [CLS]/[SEP]; None = the model card's max_length
    max_length: int | None = field(default=None, metadata={"check": lambda v: v >= 3, "help": ">= 3"})
    # tokens shared by consecutive windows of a long text; must be < max_length - 2
    stride: int = field(default=32, metadata={"check": lambda v: v >= 0, "help": ">= 0"})
    batch_size: int = field(default=32, metadata={"check": lambda v: v >= 1, "help": ">= 1"})
    # padded tokens (sequences x longest sequence) per session call
    max_batch_tokens: int = field(default=8192, metadata={"check": lambda v: v >= 1, "help": ">= 1"})
    providers: str = field(default="auto", metadata={"choices": PROVIDER_CHOICES})
    # 0 = one thread per CPU the Spark task owns (see default_threads)
    intra_op_threads: int = field(default=0, metadata={"check": lambda v: v >= 0, "help": ">= 0 (0 = auto)"})
    min_score: float = field(default=0.0, metadata={"check": lambda v: 0.0 <= v <= 1.0, "help": "between 0 and 1"})
    # sort windows by length before batching; off only to measure what sorting buys
    sort_by_length: bool = True

    def __post_init__(self):
        # from_dict validates YAML; this catches the same mistakes in direct construction.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ConfigError(f"{f.name}: {value!r} is not allowed; choose one of {', '.join(choices)}")
            check = f.metadata.get("check")
            if check is not None and value is not None and not check(value):
                raise ConfigError(f"{f.name}: {value!r} is not allowed; must be {f.metadata['help']}")


class ProviderError(RuntimeError):
    """The requested execution provider cannot be used on this machine."""


# ---------------------------------------------------------------------------- providers

def gpu_visible(environ=os.environ) -> bool:
    """False when CUDA_VISIBLE_DEVICES hides every GPU; otherwise let the provider decide."""
    value = environ.get("CUDA_VISIBLE_DEVICES")
    return value is None or value.strip() not in ("", "-1")


def resolve_providers(requested: str, available: list[str], gpu: bool) -> list[str]:
    """The ORT provider list to ask for, best first, always ending with CPU.

    ``auto`` takes TensorRT and/or CUDA when onnxruntime has them and a GPU is visible;
    an explicit ``cuda`` or ``tensorrt`` that cannot be honoured raises ProviderError.
    """
    if requested not in PROVIDER_CHOICES:
        raise ProviderError(f"unknown provider {requested!r}; choose one of {', '.join(PROVIDER_CHOICES)}")
    cpu = _ORT_PROVIDER["cpu"]
    if requested == "cpu":
        return [cpu]
    if requested == "auto":
        if not gpu:
            return [cpu]
        return [p for p in (_ORT_PROVIDER["tensorrt"], _ORT_PROVIDER["cuda"]) if p in available] + [cpu]
    wanted = _ORT_PROVIDER[requested]
    if wanted not in available:
        raise ProviderError(
            f"providers={requested!r} but this onnxruntime only has {', '.join(available)}; "
            "install onnxruntime-gpu (the nerlake[gpu] extra) on GPU executors, or use 'auto' or 'cpu'"
        )
    if not gpu:
        raise ProviderError(
            f"providers={requested!r} but CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r} "
            "hides every GPU; check the executor's GPU resource settings, or use 'auto' or 'cpu'"
        )
    if requested == "tensorrt" and _ORT_PROVIDER["cuda"] in available:
        # TensorRT hands the nodes it cannot run to CUDA, not straight to CPU.
        return [wanted, _ORT_PROVIDER["cuda"], cpu]
    return [wanted, cpu]


def default_threads(environ=os.environ) -> int:
    """CPUs this Spark task may use: spark.task.cpus when exported, else OMP_NUM_THREADS
    (Spark's Python runner sets it for its workers), else the process's CPUs."""
    for key in ("SPARK_TASK_CPUS", "spark.task.cpus", "OMP_NUM_THREADS"):
        value = environ.get(key, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ConfigError(f"{key}={value!r} is not an integer number of CPUs") from None
            if n >= 1:
                return n
    count = getattr(os, "process_cpu_count", os.cpu_count)()  # respects CPU affinity on 3.13+
    return count or 1


# ---------------------------------------------------------------------------- pure helpers

def window_starts(n_tokens: int, window: int, stride: int) -> list[int]:
    """Start token of each window of ``window`` tokens covering ``n_tokens`` tokens.

    Consecutive windows share ``stride`` tokens; the last window ends at the last token
    (so it may share more), and a text that fits gets one window starting at 0.
    """
    if window < 1 or not 0 <= stride < window:
        raise ValueError(f"need window >= 1 and 0 <= stride < window, got window={window} stride={stride}")
    if n_tokens <= window:
        return [0]
    starts = list(range(0, n_tokens - window, window - stride))
    starts.append(n_tokens - window)
    return starts


def edge_distance(start: int, end: int, n_tokens: int) -> np.ndarray:
    """For each token of window [start, end), how far it is from the nearest window edge.

    The text's own first and last tokens are not window edges (no window sees past them),
    so a window touching them only has the other edge. Ties go to the earlier window.
    """
    length = end - start
    pos = np.arange(length)
    left = pos if start > 0 else np.full(length, n_tokens)
    right = (length - 1 - pos) if end < n_tokens else np.full(length, n_tokens)
    return np.minimum(left, right)


def _is_attached(c: str) -> bool:
    # Combining marks and Hangul medial/final jamo belong to the character before them.
    return unicodedata.category(c)[0] == "M" or "\u1160" <= c <= "\u11ff"


def token_offsets(encoding, text: str) -> np.ndarray:
    """[n, 2] character offsets of the tokens of ``encoding`` into ``text`` (the original).

    tokenizers' NFC normaliser maps a composed character back to its first original code
    point only (measured with tokenizers 0.23: NFD "ở" gives (0, 1), not (0, 3)); on
    non-NFC input each token end is therefore pushed over the marks it swallowed.
    """
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    if len(offsets) and not unicodedata.is_normalized("NFC", text):
        n = len(text)
        for row in offsets:
            end = int(row[1])
            while end < n and _is_attached(text[end]):
                end += 1
            row[1] = end
    return offsets


_SURROGATES = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """Lone surrogates (undecodable bytes smuggled into str) -> U+FFFD, same length."""
    return _SURROGATES.sub("\ufffd", text)


def decode_bio(labels: np.ndarray, probs: np.ndarray, offsets: np.ndarray, text: str,
               bio_labels: tuple[str, ...], min_score: float = 0.0) -> list[Span]:
    """Character spans from per-token label ids, max probabilities and offsets.

    ``B-X`` starts an entity; ``I-X`` continues the entity of type X on the previous token,
    or starts one (a model may skip the B-). The span runs from the first token's start to
    the last token's end, trimmed of whitespace; score = mean of its tokens' probabilities.
    """
    spans: list[Span] = []
    current = None  # [type, first token, last token, prob sum]

    def close():
        kind, first, last, total = current
        start, end = int(offsets[first, 0]), int(offsets[last, 1])
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        score = total / (last - first + 1)
        if end > start and score >= min_score:
            spans.append(Span(start, end, kind, float(score), source="model"))

    # Most tokens are O: visit only the others.
    for j in np.flatnonzero(labels != 0).tolist():
        tag = bio_labels[labels[j]]
        prefix, kind = tag[0], tag[2:]
        p = float(probs[j])
        if current is not None and prefix == "I" and current[0] == kind and current[2] == j - 1:
            current[2] = j
            current[3] += p
            continue
        if current is not None:
            close()
        current = [kind, j, j, p]
    if current is not None:
        close()
    return spans


def _as_text(value, index: int) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    raise TypeError(f"texts[{index}] is {type(value).__name__}, expected str or None")


# ---------------------------------------------------------------------------- inference

class OnnxNer:
    """A loaded model: ONNX Runtime session + tokenizer + labels. Build once per worker."""

    def __init__(self, model_dir, cfg: NerConfig | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model = ModelDir.load(model_dir)
        self.cfg = cfg = cfg or NerConfig()
        self.max_length = cfg.max_length or self.model.max_length
        if self.max_length > self.model.max_length:
            raise ConfigError(
                f"max_length: {self.max_length} exceeds the {self.model.max_length} tokens "
                f"model {self.model.name} was trained for"
            )
        self.window = self.max_length - 2  # room for [CLS] and [SEP]
        if cfg.stride >= self.window:
            raise ConfigError(f"stride: {cfg.stride} must be < max_length - 2 = {self.window}")

        self.tokenizer = Tokenizer.from_file(str(self.model.tokenizer_path))
        # save_pretrained may leave padding/truncation in tokenizer.json; windowing is ours.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        tok_cfg = self.model.tokenizer_config
        self.cls_id = self._special_id(tok_cfg.get("cls_token", "[CLS]"))
        self.sep_id = self._special_id(tok_cfg.get("sep_token", "[SEP]"))
        self.pad_id = self._special_id(tok_cfg.get("pad_token", "[PAD]"))

        requested = resolve_providers(cfg.providers, ort.get_available_providers(), gpu_visible())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = cfg.intra_op_threads or default_threads()
        options.inter_op_num_threads = 1  # sequential graph: all threads go to the matmuls
        # Idle intra-op threads spin by default; next to the JVM and other workers that
        # steals their cores (measured, 2 threads on a busy 2-core box: 1.2-1.3k seq/s
        # spinning, 1.6-2.2k not).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.model.model_path), options, providers=requested)
        got = self.session.get_providers()
        if cfg.providers in ("cuda", "tensorrt") and requested[0] not in got:
            # ORT falls back to CPU silently when the CUDA libraries do not load.
            raise ProviderError(f"providers={cfg.providers!r}: {requested[0]} failed to load (session got {got})")
        if got[0] != requested[0]:
            log.warning("asked onnxruntime for %s, got %s", requested, got)
        log.info("model %s %s on providers %s, %d intra-op threads", self.model_name,
                 self.model_version, got, options.intra_op_num_threads)

        inputs = {i.name for i in self.session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise ConfigError(f"{self.model.model_path}: inputs {sorted(inputs)} lack input_ids/attention_mask")
        self._has_token_types = "token_type_ids" in inputs
        n_out = self.session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(self.model.bio_labels):
            raise ConfigError(
                f"{self.model.model_path}: {n_out} logits per token but labels.json has "
                f"{len(self.model.bio_labels)} labels"
            )

    def _special_id(self, token: str) -> int:
        token_id = self.tokenizer.token_to_id(token)
        if token_id is None:
            raise ConfigError(f"{self.model.tokenizer_path}: special token {token!r} not in the vocabulary")
        return token_id

    @property
    def model_name(self) -> str:
        return self.model.name

    @property
    def model_version(self) -> str:
        return self.model.version

    @property
    def entity_labels(self) -> tuple[str, ...]:
        return self.model.entity_labels

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    # -- predict --------------------------------------------------------------------------

    def predict(self, texts) -> list[list[Span]]:
        """Model spans for each text, in input order (any sequence: list, pandas Series).

        A null text (None, or the float NaN pandas uses for missing values) and a blank
        text give []; anything else that is not a str raises TypeError.
        """
        texts = [_as_text(t, i) for i, t in enumerate(texts)]
        if not texts:
            return []
        try:
            encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        except TypeError:  # a lone surrogate somewhere: the Rust side only takes valid UTF-8
            texts = [replace_surrogates(t) for t in texts]
            encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)

        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        # (text index, first token, end token) of every window
        windows = [
            (i, s, min(s + self.window, len(tok_ids)))
            for i, tok_ids in enumerate(ids) if len(tok_ids)
            for s in window_starts(len(tok_ids), self.window, self.cfg.stride)
        ]
        n_tokens = [len(x) for x in ids]
        labels = [np.zeros(n, dtype=np.int64) for n in n_tokens]
        probs = [np.zeros(n, dtype=np.float32) for n in n_tokens]
        best = [np.full(n, -1, dtype=np.int64) for n in n_tokens]  # distance to window edge

        for batch in self._batches(windows):
            window_labels, window_probs = self._run(ids, batch)
            for (i, s, e), lab, prob in zip(batch, window_labels, window_probs):
                length = e - s
                dist = edge_distance(s, e, n_tokens[i])
                better = dist > best[i][s:e]
                best[i][s:e][better] = dist[better]
                labels[i][s:e][better] = lab[1:length + 1][better]  # skip [CLS]
                probs[i][s:e][better] = prob[1:length + 1][better]

        out = []
        for i, text in enumerate(texts):
            if not n_tokens[i]:
                out.append([])
                continue
            offsets = token_offsets(encodings[i], text)
            out.append(decode_bio(labels[i], probs[i], offsets, text, self.model.bio_labels, self.cfg.min_score))
        return out

    def _batches(self, windows):
        """Group windows into session calls under batch_size and the padding budget."""
        if self.cfg.sort_by_length:
            windows = sorted(windows, key=lambda w: w[2] - w[1], reverse=True)
        batch, widest = [], 0
        for w in windows:
            length = w[2] - w[1] + 2
            grown = max(widest, length)
            if batch and (len(batch) >= self.cfg.batch_size or grown * (len(batch) + 1) > self.cfg.max_batch_tokens):
                yield batch
                batch, grown = [], length
            batch.append(w)
            widest = grown
        if batch:
            yield batch

    def _run(self, ids, batch):
        """Arg-max label and its probability for every position of every window in batch."""
        width = max(e - s for _, s, e in batch) + 2
        input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, (i, s, e) in enumerate(batch):
            length = e - s
            input_ids[row, 0] = self.cls_id
            input_ids[row, 1:length + 1] = ids[i][s:e]
            input_ids[row, length + 1] = self.sep_id
            mask[row, :length + 2] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if self._has_token_types:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        logits = self.session.run(None, feed)[0]
        top = logits.max(axis=-1, keepdims=True)
        # softmax max probability = 1 / sum(exp(logit - max logit))
        prob = 1.0 / np.exp(logits - top).sum(axis=-1)
        return logits.argmax(axis=-1), prob


@lru_cache(maxsize=8)
def _cached_ner(real_path: str, cfg: NerConfig) -> OnnxNer:
    return OnnxNer(real_path, cfg)


def get_ner(model_dir: str, cfg: NerConfig | None = None) -> OnnxNer:
    """The worker's OnnxNer for (model_dir, cfg), loaded on first use.

    Spark reuses Python workers, so this loads each model once per worker. The cache lives
    behind this module-level function, which cloudpickle ships by reference: a UDF closure
    that calls get_ner never carries (or re-creates) the cache itself.
    """
    return _cached_ner(os.path.realpath(Path(model_dir)), cfg or NerConfig())
