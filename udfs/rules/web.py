"""EMAIL and URL extractors.

URLs are found in three shapes: with a scheme ("https://shopee.vn/abc"), starting with
"www." and bare domains ("shopee.vn/product/123"). A bare domain must end in a known
top-level domain (option ``bare_domain_tlds``), which keeps file names ("baocao.pdf"),
decimals and abbreviations ("TP.HCM", "Mr.Nam") out. Trailing sentence punctuation and
unbalanced closing brackets are not part of a URL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import from_dict
from ..spans import Span
from ..textnorm import Doc
from .base import register_rule
from .common import COMBINING_MARKS

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

# Top-level domains accepted without a scheme or "www.": common ones in Vietnamese text.
# Short ones that are also Vietnamese words without diacritics ("co", "ai", "to") are left out.
DEFAULT_BARE_TLDS = (
    "vn", "com", "net", "org", "edu", "gov", "info", "biz", "io", "me", "ly", "gle", "asia",
    "shop", "store", "online", "site", "xyz", "app", "dev", "tech", "link",
)
# File extensions that look like TLDs after an "@" ("icon@2x.png").
DEFAULT_FILE_EXTENSIONS = (
    "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "pdf", "doc", "docx", "xls", "xlsx",
    "ppt", "pptx", "txt", "csv", "zip", "rar", "mp3", "mp4", "mov", "avi", "htm", "html",
)

_EMAIL = re.compile(
    r"(?<![\w.%+\-@])"
    r"[A-Za-z0-9_](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_+\-])?"
    rf"@(?:{_LABEL}\.)+(?P<tld>[A-Za-z]{{2,24}})"
    rf"(?![\w{COMBINING_MARKS}@]|[.\-][A-Za-z0-9])"
)

_TRAILING = ".,;:!?…'\"”’»"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


@dataclass
class EmailSettings:
    score: float = field(default=0.97, metadata={"check": lambda v: 0 <= v <= 1, "help": "0..1"})
    file_extensions: list[str] = field(default_factory=lambda: list(DEFAULT_FILE_EXTENSIONS))


@dataclass
class UrlSettings:
    bare_domain_tlds: list[str] = field(default_factory=lambda: list(DEFAULT_BARE_TLDS))
    score_with_scheme: float = 0.97
    score_www: float = 0.95
    score_bare: float = 0.85


class EmailExtractor:
    name = "email"
    labels = ("EMAIL",)

    def __init__(self, settings: EmailSettings):
        self.settings = settings
        self._file_extensions = {e.lower() for e in settings.file_extensions}

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        if "@" not in text:
            return []
        spans = []
        for m in _EMAIL.finditer(text):
            if m.group("tld").lower() in self._file_extensions:
                continue
            start, end = doc.to_original(*m.span())
            spans.append(Span(start, end, "EMAIL", self.settings.score, "rule", m.group().lower(), self.name))
        return spans


def _trim_url_end(url: str) -> str:
    """Drop trailing punctuation and closing brackets that the URL does not open."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last]):
            url = url[:-1]
        else:
            break
    return url


class UrlExtractor:
    name = "url"
    labels = ("URL",)

    def __init__(self, settings: UrlSettings):
        self.settings = settings
        tlds = sorted({t.lower().lstrip(".") for t in settings.bare_domain_tlds}, key=len, reverse=True)
        path = r"(?:[/?#][^\s<>\"'`]*)?"
        self._pattern = re.compile(
            r"(?<![\w@./\-])(?:"
            r"(?P<scheme>(?:https?|ftp)://[^\s<>\"'`]+)"
            rf"|(?P<www>www\.(?:{_LABEL}\.)+[A-Za-z]{{2,24}}(?![\w{COMBINING_MARKS}\-]|\.[A-Za-z0-9]){path})"
            rf"|(?P<bare>(?:{_LABEL}\.)+(?P<tld>{'|'.join(map(re.escape, tlds))})(?![\w{COMBINING_MARKS}\-@]|\.[A-Za-z0-9]){path})"
            r")",
            re.IGNORECASE,
        )
        # Every URL has a scheme, "www." or a known TLD after a dot: cheap tests that skip most
        # records before the full pattern runs (a pattern starting with "." is scanned fast).
        self._dot_tld = re.compile(rf"\.(?:{'|'.join(map(re.escape, tlds))})(?![A-Za-z0-9])", re.IGNORECASE)

    def extract(self, doc: Doc) -> list[Span]:
        text = doc.norm
        if "." not in text or not ("://" in text or "www." in text or self._dot_tld.search(text)):
            return []
        spans = []
        for m in self._pattern.finditer(text):
            url = _trim_url_end(m.group())
            if m.group("scheme") and url.endswith("://"):
                continue
            if not url:
                continue
            if m.group("bare") and not m.group("tld").islower():
                continue  # "ASP.NET", "VB.NET": bare domains are written with a lower-case TLD
            kind = "scheme" if m.group("scheme") else "www" if m.group("www") else "bare"
            score = {"scheme": self.settings.score_with_scheme, "www": self.settings.score_www,
                     "bare": self.settings.score_bare}[kind]
            start, end = doc.to_original(m.start(), m.start() + len(url))
            spans.append(Span(start, end, "URL", score, "rule", url, self.name))
        return spans


@register_rule("email")
def build_email(options: dict | None = None) -> EmailExtractor:
    return EmailExtractor(from_dict(EmailSettings, options, prefix="rules.options.email"))


@register_rule("url")
def build_url(options: dict | None = None) -> UrlExtractor:
    return UrlExtractor(from_dict(UrlSettings, options, prefix="rules.options.url"))
