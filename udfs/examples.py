"""One labelled training example, the shared shape of every training-data job.

Tokens and BIO labels are the token-classification view; ``text`` plus character ``spans``
is the span view. ``text`` is the sentence's original text where a corpus gives it (UNER's
``# text``), else the tokens joined by single spaces (no space for languages written
without them); ``offsets[i]`` is where token i sits in ``text``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my"})


@dataclass
class Example:
    dataset: str
    split: str
    example_id: str
    lang: str
    domain: str
    tokens: list[str]
    labels: list[str]  # BIO, one per token
    text: str = ""
    offsets: list[tuple[int, int]] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)  # {"start", "end", "label"} into text

    def __post_init__(self):
        if len(self.tokens) != len(self.labels):
            raise ValueError(f"{self.example_id}: {len(self.tokens)} tokens but {len(self.labels)} labels")
        if not self.text:
            self.text, self.offsets = join_tokens(self.tokens, self.lang)
        elif not self.offsets:
            self.offsets = align_tokens(self.text, self.tokens)
        if not self.spans:
            self.spans = spans_from_bio(self.labels, self.offsets)


def join_tokens(tokens: list[str], lang: str = "") -> tuple[str, list[tuple[int, int]]]:
    sep = "" if lang in NO_SPACE_LANGS else " "
    offsets, pos = [], 0
    for i, tok in enumerate(tokens):
        if i:
            pos += len(sep)
        offsets.append((pos, pos + len(tok)))
        pos += len(tok)
    return sep.join(tokens), offsets


def align_tokens(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Find each token in ``text`` in order; raises ValueError when one is absent."""
    offsets, pos = [], 0
    for tok in tokens:
        at = text.find(tok, pos)
        if at < 0:
            raise ValueError(f"token {tok!r} not found in text after offset {pos}")
        offsets.append((at, at + len(tok)))
        pos = at + len(tok)
    return offsets


def spans_from_bio(labels: list[str], offsets: list[tuple[int, int]]) -> list[dict]:
    """Character spans of a VALID BIO sequence (repair it first: see ``udfs/bio.py``)."""
    spans, start, label, end = [], None, None, None
    for (s, e), tag in zip(offsets, labels):
        if tag.startswith("I-") and label == tag[2:]:
            end = e
            continue
        if label is not None:
            spans.append({"start": start, "end": end, "label": label})
            label = None
        if tag.startswith(("B-", "I-")):
            start, end, label = s, e, tag[2:]
    if label is not None:
        spans.append({"start": start, "end": end, "label": label})
    return spans


_TOKEN_RE = re.compile(r"\w+(?:[.,'’\-/@:]\w+)*|[^\w\s]", re.UNICODE)


def simple_tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words (keeping inner ., - / @ : so numbers, codes and e-mails stay whole) and punctuation."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def bio_from_spans(text: str, spans: list[dict], tokens=None) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """Tokens, BIO labels and offsets for ``text`` with character ``spans``.

    A token belongs to a span when it overlaps it; spans are assumed not to overlap.
    """
    toks = tokens if tokens is not None else simple_tokenize(text)
    words = [t for t, _, _ in toks]
    offsets = [(s, e) for _, s, e in toks]
    labels = ["O"] * len(toks)
    for span in sorted(spans, key=lambda sp: sp["start"]):
        inside = [i for i, (s, e) in enumerate(offsets) if s < span["end"] and span["start"] < e]
        for k, i in enumerate(inside):
            labels[i] = ("B-" if k == 0 else "I-") + span["label"]
    return words, labels, offsets
