"""Synthetic Vietnamese records with gold entity spans (the core of ``nerlake generate-sample``).

The nightly-job demo, the tests, the benchmarks and the ``vi-domain`` fine-tuning all run on
this data, so it has to look like the real traffic: six domains (chats with banks, carriers
and shops, HR mail, news and COVID-19-style health reports), real Vietnamese names, places,
banks, carriers and hospitals, values that the rule extractors accept (phone prefixes, CCCD
province codes, order-code grammar, plates), and seeded noise: no diacritics, typos, chat
abbreviations, English, odd casing and spacing. A small share of records are defects the job
must quarantine (null, blank, duplicate id, over-long text); their gold is empty.

Record ``i`` depends only on ``(seed, i)``: any chunk can be generated on its own, in any
order or in parallel, and equals the same slice of a full run.

How a record is built: templates (``generator_data/templates.yaml``) are compiled once into
pieces: literal text, ``[a|b]`` alternatives and ``{slot}`` generators. Filling a template
gives a list of ``(text, label)`` segments; noise rewrites literal segments only (plus a
length-preserving diacritic strip of the whole text), and the gold offsets are computed when
the segments are joined, so they are exact by construction.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
import unicodedata
from bisect import bisect
from collections import Counter
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Callable, Iterator, Sequence

import yaml

from .labels import LABELS

DOMAINS = ("customer_service", "logistics", "ecommerce", "hr", "news", "health")
DEFECT_KINDS = ("null_text", "blank_text", "duplicate_id", "overlong_text")
# The extraction job quarantines texts longer than this; over-long defects exceed it.
MAX_TEXT_CHARS = 20_000
DEFAULT_BASE_DATE = dt.date(2024, 3, 12)
FORMATS = ("parquet", "jsonl")

_DATA_DIR = Path(__file__).parent / "generator_data"
# Record i of seed s is seeded with s * _SEED_STRIDE + i: distinct for every (s, i) pair.
_SEED_STRIDE = 1 << 48

# Labels whose surface may be lower-cased by the casing noise: codes, plates, URLs and
# sizes stay as they are, because lower-casing would make them invalid or change meaning.
_LOWERCASE_OK = frozenset({None, "PER", "LOC", "ADDRESS", "ORG", "DATE", "TIME", "DURATION", "SYMPTOM"})
# Labels whose first letter may be capitalised when they open a sentence ("Ngày 12/3, ...").
_SENTENCE_CASE_OK = frozenset({None, "DATE", "TIME", "DURATION", "LOC", "ADDRESS", "SYMPTOM"})


# --------------------------------------------------------------------------- text helpers

def _build_strip_table() -> dict[int, str]:
    table = {ord("đ"): "d", ord("Đ"): "D"}
    for code in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        char = chr(code)
        base = unicodedata.normalize("NFD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            table[code] = base
    return table


_STRIP_TABLE = _build_strip_table()


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese tone and vowel marks and turn đ into d, one character for one.

    Length-preserving, so offsets computed on the original text stay valid.
    """
    return text.translate(_STRIP_TABLE)


def _pick(r: random.Random, seq):
    return seq[int(r.random() * len(seq))]


def _digits(r: random.Random, k: int) -> str:
    return f"{r.randrange(10 ** k):0{k}d}"


def _thousands(n: int, sep: str = ".") -> str:
    return f"{n:,}".replace(",", sep)


def _decimal(x: float, sep: str = ",") -> str:
    """1.2 -> "1,2", 15.0 -> "15" (Vietnamese writes the decimal comma)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", sep)


class _Weighted:
    """Weighted choice by bisection over cumulative weights."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, pairs):
        pairs = list(pairs)
        if not pairs or any(weight < 0 for _, weight in pairs):
            raise ValueError("weighted choice needs at least one item and non-negative weights")
        self.items = tuple(item for item, _ in pairs)
        cum, total = [], 0.0
        for _, weight in pairs:
            total += weight
            cum.append(total)
        self.cum, self.total = tuple(cum), total

    def pick(self, r: random.Random):
        return self.items[bisect(self.cum, r.random() * self.total)]


# --------------------------------------------------------------------------- data

class _Lexicon:
    """Everything loaded from ``generator_data``, reshaped for fast random access."""

    def __init__(self, data_dir: Path):
        names = _load_yaml(data_dir / "names.yaml")
        places = _load_yaml(data_dir / "places.yaml")
        orgs = _load_yaml(data_dir / "organisations.yaml")
        products = _load_yaml(data_dir / "products.yaml")
        self.templates = _load_yaml(data_dir / "templates.yaml")

        self.family = _Weighted(names["family"].items())
        self.middle = {"m": tuple(names["middle_male"]), "f": tuple(names["middle_female"])}
        self.given = {"m": tuple(names["given_male"]), "f": tuple(names["given_female"])}
        self.given2 = {"m": tuple(names["given_male_two"]), "f": tuple(names["given_female_two"])}
        self.honorific = {"m": tuple(names["honorific_male"]), "f": tuple(names["honorific_female"])}
        self.honorific_en = {"m": tuple(names["honorific_male_en"]), "f": tuple(names["honorific_female_en"])}
        self.foreign = tuple(names["foreign"])

        self.provinces = tuple(
            {"name": name, "cccd": cccd, "plates": tuple(plates), "area": area, "weight": weight}
            for name, cccd, plates, area, weight in places["provinces"]
        )
        self.province_weighted = _Weighted((p, p["weight"]) for p in self.provinces)
        self.province_forms = {k: tuple(v) for k, v in places["province_forms"].items()}
        self.cities = {}
        for city, spec in places["cities"].items():
            districts = tuple((kind, name, tuple(wards)) for kind, name, wards in spec["districts"])
            self.cities[city] = {"style": spec["style"], "districts": districts, "streets": tuple(spec["streets"])}
        self.city_weighted = _Weighted(
            (name, {"Hồ Chí Minh": 45, "Hà Nội": 35, "Đà Nẵng": 10, "Hải Phòng": 5, "Cần Thơ": 5}.get(name, 3))
            for name in self.cities
        )
        self.rural = {prov: tuple((k, n, tuple(w)) for k, n, w in ds) for prov, ds in places["rural"].items()}
        self.rural_provinces = tuple(self.rural)
        self.hamlets_north = tuple(places["hamlets_north"])
        self.hamlets_south = tuple(places["hamlets_south"])
        self.buildings = tuple(places["buildings"])
        self.landmarks = tuple(places["landmarks"])
        self.airports = tuple(x for x in self.landmarks if x.startswith("sân bay")) + (
            "sân bay Vân Đồn", "sân bay Phú Quốc", "sân bay Cần Thơ", "sân bay Liên Khương")
        self.highways = tuple(places["highways"])
        self.countries = tuple(places["countries"])
        self.countries_en = tuple(places["countries_en"])
        self.english_cities = tuple(places["english_cities"])

        self.banks = tuple(tuple(forms) for forms in orgs["banks"])
        self.wallets = tuple(orgs["wallets"])
        self.carriers = tuple(tuple(forms) for forms in orgs["carriers"])
        self.order_prefixes = tuple(orgs["order_prefixes"])
        self.order_routes = tuple(orgs["order_routes"])
        self.telecoms = tuple(orgs["telecoms"])
        self.shops = tuple(tuple(forms) for forms in orgs["shops"])
        self.companies = tuple(orgs["companies"])
        self.hospitals = tuple(orgs["hospitals"])
        self.gov_orgs = tuple(orgs["gov_orgs"])
        self.local_org_patterns = tuple(orgs["local_org_patterns"])
        self.schools = tuple(orgs["schools"])
        self.news_orgs = tuple(orgs["news_orgs"])
        self.gold_brands = tuple(orgs["gold_brands"])
        self.mail_domains = tuple(orgs["mail_domains"])
        self.company_domains = tuple(orgs["company_domains"])
        self.airlines = tuple(orgs["airlines"])
        self.flight_prefixes = tuple(orgs["flight_prefixes"])

        cats = products["products"]
        self.products = {name: tuple(items) for name, items in cats.items()}
        shop_categories = ("phones", "electronics", "appliances", "fashion", "beauty", "grocery")
        self.goods = sum((self.products[c] for c in shop_categories), ())
        self.gadgets = self.products["phones"] + self.products["electronics"]
        self.symptoms = tuple(products["symptoms"])
        self.diseases = tuple(products["diseases"])
        self.chronic_diseases = tuple(products["chronic_diseases"])
        self.jobs = tuple(products["jobs"])
        self.jobs_en = tuple(products["jobs_en"])
        self.sizes = tuple(str(s) for s in products["sizes"])
        self.count_units = tuple(products["count_units"])
        self.count_units_en = tuple(products["count_units_en"])

        informal = self.templates["informal"]
        self.informal = {word: tuple(variants) for word, variants in informal.items()}
        words = sorted(informal, key=len, reverse=True)
        self.informal_re = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)

        self.domains = {name: _compile_domain(name, spec) for name, spec in self.templates["domains"].items()}
        missing = set(DOMAINS) - set(self.domains)
        if missing:
            raise ValueError(f"templates.yaml lacks domains {sorted(missing)}")


def _load_yaml(path: Path):
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    return _Lexicon(_DATA_DIR)


# --------------------------------------------------------------------------- generation context

class _Ctx:
    """Per-record state shared by the slot generators."""

    __slots__ = ("rng", "day", "lex", "person")

    def __init__(self, rng: random.Random, lex: _Lexicon):
        self.rng, self.lex = rng, lex
        self.day = DEFAULT_BASE_DATE
        self.person = None  # (family, middle, given) of the last generated person, for e-mails


# A slot generator appends (text, label-or-None) segments to ``out``.
SlotFn = Callable[[_Ctx, list], None]
SLOTS: dict[str, SlotFn] = {}


def _slot(*names: str):
    def deco(fn):
        for name in names:
            SLOTS[name] = fn
        return fn
    return deco


# --------------------------------------------------------------------------- people

def _person(ctx: _Ctx, gender: str | None = None) -> tuple[str, str]:
    """A full name and the given name people use on its own ("Nguyễn Thị Minh Anh", "Minh Anh")."""
    r, lex = ctx.rng, ctx.lex
    g = gender or ("m" if r.random() < 0.5 else "f")
    family = lex.family.pick(r)
    k = r.random()
    middle = ""
    if k < 0.68:
        middle, given = _pick(r, lex.middle[g]), _pick(r, lex.given[g])
    elif k < 0.80:
        given = _pick(r, lex.given2[g])
    elif k < 0.90:  # four syllables: the name goes on after the usual three
        middle, given = _pick(r, lex.middle[g]), _pick(r, lex.given2[g])
    else:
        given = _pick(r, lex.given[g])
    ctx.person = (family, middle, given)
    full = f"{family} {middle} {given}" if middle else f"{family} {given}"
    return full, given


@_slot("per")
def _per(ctx, out):
    full, given = _person(ctx)
    out.append((given if ctx.rng.random() < 0.05 else full, "PER"))


@_slot("per_m")
def _per_m(ctx, out):
    out.append((_person(ctx, "m")[0], "PER"))


@_slot("per_f")
def _per_f(ctx, out):
    out.append((_person(ctx, "f")[0], "PER"))


@_slot("hon_per")
def _hon_per(ctx, out):
    r = ctx.rng
    g = "m" if r.random() < 0.5 else "f"
    full, given = _person(ctx, g)
    out.append((_pick(r, ctx.lex.honorific[g]) + " ", None))
    out.append((given if r.random() < 0.45 else full, "PER"))


@_slot("per_upper")
def _per_upper(ctx, out):
    full = _person(ctx)[0].upper()
    out.append((strip_diacritics(full) if ctx.rng.random() < 0.6 else full, "PER"))


@_slot("per_en")
def _per_en(ctx, out):
    r = ctx.rng
    g = "m" if r.random() < 0.5 else "f"
    _person(ctx, g)
    family, middle, given = (strip_diacritics(p) for p in ctx.person)
    k = r.random()
    if k < 0.2:
        out.append((_pick(r, ctx.lex.honorific_en[g]) + " ", None))
        out.append((f"{given} {family}", "PER"))
    elif k < 0.55:
        out.append((f"{given} {family}", "PER"))
    else:
        out.append((" ".join(p for p in (family, middle, given) if p), "PER"))


@_slot("per_foreign")
def _per_foreign(ctx, out):
    out.append((_pick(ctx.rng, ctx.lex.foreign), "PER"))


def _coordinate(r: random.Random, items: list[str], label: str, out: list, words=(" và ",)):
    """Append "A, B và C" with one span per item (coordinated lists are separate entities)."""
    last_sep = _pick(r, words) if r.random() < 0.6 else ", "
    for i, item in enumerate(items):
        if i:
            out.append((last_sep if i == len(items) - 1 else ", ", None))
        out.append((item, label))


def _distinct(n: int, draw: Callable[[], str]) -> list[str]:
    seen: list[str] = []
    for _ in range(n * 4):
        item = draw()
        if item not in seen:
            seen.append(item)
            if len(seen) == n:
                break
    return seen


@_slot("per_list")
def _per_list(ctx, out):
    r = ctx.rng
    names = _distinct(2 + (r.random() < 0.4), lambda: _person(ctx)[0])
    _coordinate(r, names, "PER", out)


# --------------------------------------------------------------------------- organisations

def _brand(r: random.Random, forms: tuple) -> str:
    """The usual short form most of the time, otherwise another way of writing it."""
    return forms[0] if len(forms) == 1 or r.random() < 0.7 else _pick(r, forms[1:])


@_slot("bank")
def _bank(ctx, out):
    out.append((_brand(ctx.rng, _pick(ctx.rng, ctx.lex.banks)), "ORG"))


@_slot("bank_list")
def _bank_list(ctx, out):
    r = ctx.rng
    banks = _distinct(2 + int(r.random() * 3), lambda: _pick(r, ctx.lex.banks)[0])
    _coordinate(r, banks, "ORG", out, (" và ", " hoặc ", ", "))


@_slot("carrier")
def _carrier(ctx, out):
    out.append((_brand(ctx.rng, _pick(ctx.rng, ctx.lex.carriers)), "ORG"))


@_slot("carrier_list")
def _carrier_list(ctx, out):
    r = ctx.rng
    carriers = _distinct(2 + (r.random() < 0.4), lambda: _pick(r, ctx.lex.carriers)[0])
    _coordinate(r, carriers, "ORG", out, (" hay ", " hoặc ", " với "))


@_slot("shop")
def _shop(ctx, out):
    out.append((_brand(ctx.rng, _pick(ctx.rng, ctx.lex.shops)), "ORG"))


@_slot("company_list")
def _company_list(ctx, out):
    r = ctx.rng
    companies = _distinct(2 + (r.random() < 0.4), lambda: _pick(r, ctx.lex.companies))
    _coordinate(r, companies, "ORG", out)


def _place_for_org(ctx) -> str:
    """A province or district written the way it follows an organisation name."""
    r = ctx.rng
    if r.random() < 0.3:
        kind, name, _ = _pick(r, ctx.lex.cities[ctx.lex.city_weighted.pick(r)]["districts"])
        return _district_form(r, kind, name, full=True)
    return _province_form(r, ctx.lex, ctx.lex.province_weighted.pick(r)["name"], for_org=True)


@_slot("gov_org")
def _gov_org(ctx, out):
    r = ctx.rng
    if r.random() < 0.7:
        out.append((_pick(r, ctx.lex.gov_orgs), "ORG"))
    else:
        out.append((f"{_pick(r, ctx.lex.local_org_patterns)} {_place_for_org(ctx)}", "ORG"))


@_slot("health_org")
def _health_org(ctx, out):
    r = ctx.rng
    if r.random() < 0.2:
        out.append(("Bộ Y tế", "ORG"))
        return
    pattern = _pick(r, ("Sở Y tế", "CDC", "Trung tâm Kiểm soát bệnh tật"))
    province = _province_form(r, ctx.lex, ctx.lex.province_weighted.pick(r)["name"], for_org=True)
    out.append((f"{pattern} {province}", "ORG"))


@_slot("police")
def _police(ctx, out):
    out.append((f"Công an {_place_for_org(ctx)}", "ORG"))


@_slot("id_issuer")
def _id_issuer(ctx, out):
    r = ctx.rng
    options = ("Cục Cảnh sát quản lý hành chính về trật tự xã hội", "Cục Cảnh sát QLHC về TTXH", "Bộ Công an")
    if r.random() < 0.75:
        out.append((_pick(r, options), "ORG"))
    else:
        province = ctx.lex.province_weighted.pick(r)["name"]
        out.append((f"Công an {_province_form(r, ctx.lex, province, for_org=True)}", "ORG"))


def _choice_slot(name: str, attr: str, label: str | None):
    def fn(ctx, out):
        out.append((_pick(ctx.rng, getattr(ctx.lex, attr)), label))
    SLOTS[name] = fn


for _name, _attr, _label in (
    ("wallet", "wallets", "ORG"), ("telecom", "telecoms", "ORG"), ("company", "companies", "ORG"),
    ("hospital", "hospitals", "ORG"), ("school", "schools", "ORG"), ("news_org", "news_orgs", "ORG"),
    ("gold_brand", "gold_brands", "ORG"), ("airline", "airlines", "ORG"),
    ("landmark", "landmarks", "LOC"), ("airport", "airports", "LOC"), ("highway", "highways", "LOC"),
    ("country", "countries", "LOC"), ("country_en", "countries_en", "LOC"), ("city_en", "english_cities", "LOC"),
    ("symptom", "symptoms", "SYMPTOM"), ("disease", "diseases", "SYMPTOM"),
    ("chronic_disease", "chronic_diseases", "SYMPTOM"),
    ("product", "goods", "PRODUCT"), ("product_phone", "gadgets", "PRODUCT"),
    ("job", "jobs", None), ("job_en", "jobs_en", None),
):
    _choice_slot(_name, _attr, _label)


def _product_slot(name: str, category: str):
    def fn(ctx, out):
        out.append((_pick(ctx.rng, ctx.lex.products[category]), "PRODUCT"))
    SLOTS[name] = fn


for _name, _cat in (("product_fashion", "fashion"), ("product_grocery", "grocery"), ("telecom_product", "telecom"),
                    ("bank_product", "banking"), ("drug", "drugs"), ("vaccine", "vaccines"), ("fuel", "fuel"),
                    ("vehicle", "vehicles")):
    _product_slot(_name, _cat)


# --------------------------------------------------------------------------- places

_INFORMAL_CITY_FORMS = frozenset({"Sài Gòn", "thủ đô Hà Nội", "HCM", "HN", "Huế", "Vũng Tàu"})


def _province_form(r: random.Random, lex: _Lexicon, name: str, for_org: bool = False) -> str:
    """How a province is written: "TP. HCM", "Sài Gòn", "Nghệ An", "tỉnh Nghệ An"."""
    forms = lex.province_forms.get(name)
    if forms:
        if for_org:  # "Sở Y tế TP. HCM", never "Sở Y tế Sài Gòn"
            forms = tuple(f for f in forms if f not in _INFORMAL_CITY_FORMS)
        return _pick(r, forms)
    return f"tỉnh {name}" if r.random() < (0.5 if for_org else 0.25) else name


def _district_form(r: random.Random, kind: str, name: str, full: bool = False, style: int | None = None) -> str:
    """quận 1 / Q.1 / Q1; quận Cầu Giấy / Q. Cầu Giấy / Cầu Giấy; huyện Củ Chi / H. Củ Chi."""
    style = (0 if full else int(r.random() * 3)) if style is None else style
    numbered = name.isdigit()
    if kind == "quận":
        if style == 0:
            return f"{'Quận' if r.random() < 0.3 else 'quận'} {name}"
        if style == 1:
            return f"Q.{name}" if numbered and r.random() < 0.5 else f"Q. {name}"
        return f"Q{name}" if numbered else name
    if kind == "huyện":
        return (f"huyện {name}", f"H. {name}", name)[style]
    if kind == "TP.":
        return (f"thành phố {name}" if r.random() < 0.3 else f"TP. {name}", f"TP {name}", name)[style]
    return (f"thị xã {name}", f"TX. {name}", name)[style]


def _ward_form(r: random.Random, district_kind: str, name: str, style: int) -> str:
    if district_kind == "huyện":
        return (f"xã {name}", f"X. {name}", name)[style] if not name.isdigit() else f"xã {name}"
    if name.isdigit():
        return (f"phường {name}", _pick(r, (f"P.{name}", f"P. {name}", f"P{name}")), f"P.{name}")[style]
    return (f"{'Phường' if r.random() < 0.3 else 'phường'} {name}", f"P. {name}", name)[style]


@_slot("city")
def _city(ctx, out):
    """Leans to the big cities, where most customers are."""
    r, lex = ctx.rng, ctx.lex
    name = lex.province_weighted.pick(r)["name"] if r.random() < 0.8 else _pick(r, lex.provinces)["name"]
    out.append((_province_form(r, lex, name), "LOC"))


@_slot("province")
def _province(ctx, out):
    """Any province, as news and health reports mention them."""
    r, lex = ctx.rng, ctx.lex
    name = _pick(r, lex.provinces)["name"] if r.random() < 0.6 else lex.province_weighted.pick(r)["name"]
    out.append((_province_form(r, lex, name), "LOC"))


@_slot("district")
def _district(ctx, out):
    r = ctx.rng
    kind, name, _ = _pick(r, ctx.lex.cities[ctx.lex.city_weighted.pick(r)]["districts"])
    out.append((_district_form(r, kind, name, full=r.random() < 0.8), "LOC"))


@_slot("district_city")
def _district_city(ctx, out):
    r = ctx.rng
    city = ctx.lex.city_weighted.pick(r)
    kind, name, _ = _pick(r, ctx.lex.cities[city]["districts"])
    out.append((_district_form(r, kind, name, full=r.random() < 0.8), "LOC"))
    out.append((", ", None))
    out.append((_province_form(r, ctx.lex, city), "LOC"))


def _house_number(r: random.Random, style: str) -> str:
    n = 1 + int(r.random() * (r.random() * 400))
    k = r.random()
    if style == "north" and k < 0.35:
        alley = 1 + int(r.random() * 200)
        if r.random() < 0.3:
            return f"số {n} ngách {alley}/{1 + int(r.random() * 60)}"
        return f"{_pick(r, ('số', 'Số', 'số nhà'))} {n} ngõ {alley}"
    if style == "south" and k < 0.35:
        return f"{n}/{1 + int(r.random() * 80)}" + (_pick(r, ("A", "B", "C")) if r.random() < 0.15 else "")
    if k < 0.5:
        return _pick(r, ("số", "Số", "số nhà")) + f" {n}"
    return f"{n}{_pick(r, ('A', 'B', 'C')) if r.random() < 0.12 else ''}"


def _urban_address(r: random.Random, lex: _Lexicon) -> str:
    city = lex.city_weighted.pick(r)
    spec = lex.cities[city]
    kind, district, wards = _pick(r, spec["districts"])
    style = int(r.random() * 3)  # 0 words ("phường", "quận"), 1 abbreviations ("P.", "Q."), 2 bare
    street = _pick(r, spec["streets"])
    number = _house_number(r, spec["style"])
    if kind == "huyện":  # communes have roads, not house-numbered streets, as often as not
        street_part = f"{number} đường {street}" if r.random() < 0.5 else f"{number} {street}"
    else:
        street_words = ("đường ", "phố ", "") if spec["style"] == "north" else ("đường ", "", "")
        street_part = f"{number} {_pick(r, street_words)}{street}"
    parts = [street_part]
    if r.random() < 0.06:
        parts.insert(0, f"Tầng {2 + int(r.random() * 30)}, {_pick(r, lex.buildings)}")
    if r.random() < 0.75:
        parts.append(_ward_form(r, kind, _pick(r, wards), style))
    parts.append(_district_form(r, kind, district, style=style))
    if r.random() < 0.9:
        parts.append(_province_form(r, lex, city))
    sep = ", " if r.random() < 0.9 else _pick(r, (" - ", ","))
    return sep.join(parts)


def _rural_address(r: random.Random, lex: _Lexicon) -> str:
    province = _pick(r, lex.rural_provinces)
    kind, district, communes = _pick(r, lex.rural[province])
    south = province in ("Đồng Nai", "Bình Dương", "Long An", "Tiền Giang", "An Giang")
    hamlet = f"{_pick(r, lex.hamlets_south if south else lex.hamlets_north)} {1 + int(r.random() * 12)}"
    if r.random() < 0.6:
        return f"{hamlet}, xã {_pick(r, communes)}, huyện {district}, tỉnh {province}"
    return f"{hamlet}, {_pick(r, communes)}, {district}, {province}"


@_slot("address")
def _address(ctx, out):
    r = ctx.rng
    text = _urban_address(r, ctx.lex) if r.random() < 0.85 else _rural_address(r, ctx.lex)
    out.append((text, "ADDRESS"))


@_slot("address_en")
def _address_en(ctx, out):
    r, lex = ctx.rng, ctx.lex
    city = lex.city_weighted.pick(r)
    spec = lex.cities[city]
    kind, district, wards = _pick(r, spec["districts"])
    street = strip_diacritics(_pick(r, spec["streets"]))
    ward = strip_diacritics(_pick(r, wards))
    district_en = f"District {district}" if district.isdigit() else f"{strip_diacritics(district)} District"
    city_en = {"Hồ Chí Minh": "Ho Chi Minh City", "Hà Nội": "Hanoi", "Đà Nẵng": "Da Nang",
               "Hải Phòng": "Hai Phong", "Cần Thơ": "Can Tho"}[city]
    ward_en = f"Ward {ward}" if ward.isdigit() else f"{ward} Ward"
    out.append((f"{1 + int(r.random() * 300)} {street} Street, {ward_en}, {district_en}, {city_en}", "ADDRESS"))


# --------------------------------------------------------------------------- phones, e-mail, URLs

# Mobile prefixes (Viettel 032-039, 086, 096-098; Vinaphone 081-085, 088, 091, 094;
# MobiFone 070, 076-079, 089, 090, 093; Vietnamobile 052, 056, 058, 092; Gmobile 059, 099;
# Itel 087). 052, 089 and 099 are only allocated with these fourth digits.
_MOBILE_PREFIXES = ("032", "033", "034", "035", "036", "037", "038", "039", "052", "056", "058", "059",
                    "070", "076", "077", "078", "079", "081", "082", "083", "084", "085", "086", "087",
                    "088", "089", "090", "091", "092", "093", "094", "096", "097", "098", "099")
_MOBILE_FOURTH_DIGIT = {"052": "238", "089": "6789", "099": "013456789"}


def _mobile_digits(r: random.Random) -> str:
    prefix = _pick(r, _MOBILE_PREFIXES)
    if prefix in _MOBILE_FOURTH_DIGIT:
        prefix += _pick(r, _MOBILE_FOURTH_DIGIT[prefix])
    return prefix + _digits(r, 10 - len(prefix))


def _format_mobile(r: random.Random, d: str) -> str:
    """d is the 10-digit national form "0912345678"."""
    s = d[1:]
    k = int(r.random() * 12)
    return (
        f"{d[:4]} {d[4:7]} {d[7:]}", f"{d[:4]}.{d[4:7]}.{d[7:]}", d, d, f"{d[:4]}-{d[4:7]}-{d[7:]}",
        f"{d[:3]} {d[3:6]} {d[6:]}", f"+84 {s[:3]} {s[3:6]} {s[6:]}", f"+84{s}", f"84{s}",
        f"(+84) {s[:3]}-{s[3:6]}-{s[6:]}", f"+84 {s[:2]} {s[2:5]} {s[5:]}", f"{d[:4]} {d[4:]}",
    )[k]


def _landline(r: random.Random, lex: _Lexicon) -> str:
    area = lex.province_weighted.pick(r)["area"]
    if len(area) == 3:  # 024 / 028: eight-digit subscriber numbers
        sub = _pick(r, "3333622") + _digits(r, 7)
        parts = (sub[:4], sub[4:])
    else:
        sub = _pick(r, "3336") + _digits(r, 6)
        parts = (sub[:3], sub[3:]) if r.random() < 0.5 else (sub[:4], sub[4:])
    k = int(r.random() * 6)
    if k == 0:
        return f"({area}) {parts[0]} {parts[1]}"
    if k == 1:
        return f"{area}.{parts[0]}.{parts[1]}"
    if k == 2:
        return f"{area}{sub}"
    if k == 3:
        return f"+84 {area[1:]} {parts[0]} {parts[1]}"
    return f"{area} {parts[0]} {parts[1]}"


@_slot("phone")
def _phone(ctx, out):
    r = ctx.rng
    text = _format_mobile(r, _mobile_digits(r)) if r.random() < 0.87 else _landline(r, ctx.lex)
    out.append((text, "PHONE"))


@_slot("mobile")
def _mobile(ctx, out):
    out.append((_format_mobile(ctx.rng, _mobile_digits(ctx.rng)), "PHONE"))


@_slot("landline")
def _landline_slot(ctx, out):
    out.append((_landline(ctx.rng, ctx.lex), "PHONE"))


def _ascii_lower(text: str) -> str:
    return strip_diacritics(text).lower().replace(" ", "")


@_slot("email")
def _email(ctx, out):
    r, lex = ctx.rng, ctx.lex
    if ctx.person is None or r.random() < 0.35:
        _person(ctx)
    family, middle, given = (_ascii_lower(p) for p in ctx.person)
    if r.random() < 0.12:
        user = _pick(r, ("cskh", "hotro", "tuyendung", "hr", "info", "lienhe", "support", "ketoan"))
        out.append((f"{user}@{_pick(r, lex.company_domains)}", "EMAIL"))
        return
    k = int(r.random() * 7)
    year = str(1970 + int(r.random() * 36))
    user = (
        f"{family}{middle}{given}", f"{given}.{family}", f"{given}{family}{year[2:]}",
        f"{family}.{given}{int(r.random() * 100)}", f"{family[0]}{(middle or 'x')[0]}{given}",
        f"{given}{year}", f"{family}{given}.{middle or 'vn'}",
    )[k]
    domain = _pick(r, lex.company_domains) if r.random() < 0.15 else _pick(r, lex.mail_domains)
    out.append((f"{user}@{domain}", "EMAIL"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", strip_diacritics(text).lower()).strip("-")


_ALNUM = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _token(r: random.Random, k: int) -> str:
    return "".join(_pick(r, _ALNUM) for _ in range(k))


@_slot("shop_url")
def _shop_url(ctx, out):
    r = ctx.rng
    slug = _slug(_pick(r, ctx.lex.goods))
    k = int(r.random() * 7)
    url = (
        f"https://shopee.vn/{slug}-i.{r.randrange(10**7, 10**9)}.{r.randrange(10**9, 10**11)}",
        f"https://shopee.vn/product/{r.randrange(10**7, 10**9)}/{r.randrange(10**9, 10**11)}",
        f"https://tiki.vn/{slug}-p{r.randrange(10**6, 10**9)}.html",
        f"https://www.lazada.vn/products/{slug}-i{r.randrange(10**8, 10**10)}.html",
        f"https://www.thegioididong.com/dtdd/{slug}",
        f"https://s.shopee.vn/{_token(r, 10)}",
        f"https://vt.tiktok.com/{_token(r, 9)}/",
    )[k]
    out.append((url, "URL"))


@_slot("tracking_url")
def _tracking_url(ctx, out):
    r = ctx.rng
    code = f"{_pick(r, ('GHN', 'SPX', 'GHTK'))}{r.randrange(10**8, 10**9)}"
    k = int(r.random() * 6)
    url = (
        f"https://donhang.ghn.vn/?order_code={code}", f"https://i.ghtk.vn/{code}",
        "https://viettelpost.com.vn/tra-cuu-hanh-trinh-don/", f"https://spx.vn/track?{code}",
        f"https://jtexpress.vn/vi/tracking?type=track&billcode={r.randrange(10**11, 10**12)}",
        f"https://www.ninjavan.co/vi-vn/tracking?id={code}",
    )[k]
    out.append((url, "URL"))


@_slot("url")
def _url(ctx, out):
    r = ctx.rng
    slug = _slug(_pick(r, ctx.lex.jobs))
    k = int(r.random() * 6)
    url = (
        f"https://www.topcv.vn/viec-lam/{slug}/{r.randrange(10**5, 10**7)}.html",
        f"https://www.vietnamworks.com/{slug}-{r.randrange(10**6, 10**7)}-jv",
        f"www.{_pick(r, ctx.lex.company_domains)}",
        f"https://{_pick(r, ctx.lex.company_domains)}/{_pick(r, ('lien-he', 'tuyen-dung', 'ho-tro', 'khuyen-mai'))}",
        f"fb.com/{_slug(_pick(r, ctx.lex.shops)[0]).replace('-', '')}{r.randrange(100)}",
        f"https://zalo.me/{_mobile_digits(r)}",
    )[k]
    out.append((url, "URL"))


# --------------------------------------------------------------------------- identifiers

_CCCD_CUES = ("CCCD", "CCCD:", "số CCCD", "số CCCD:", "CCCD số", "căn cước", "căn cước công dân",
              "căn cước công dân số", "số định danh", "số định danh cá nhân", "CCCD/CMND", "số căn cước")
_CMND_CUES = ("CMND", "CMND số", "số CMND", "chứng minh nhân dân", "CMT", "số CMT", "CMND:")
_CMND_REGIONS = ("01", "02", "03", "12", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "27",
                 "28", "29", "30", "31", "33", "34", "35", "36")


def _cccd(ctx) -> str:
    """Province code + gender/century digit + two-digit birth year + six random digits."""
    r = ctx.rng
    province = ctx.lex.province_weighted.pick(r)["cccd"]
    birth_year = ctx.day.year - (14 + int(r.random() * 77))  # age 14..90 at the record date
    female = r.random() < 0.5
    century = (0 if birth_year < 2000 else 2) + female
    return f"{province}{century}{birth_year % 100:02d}{_digits(r, 6)}"


@_slot("id_number")
def _id_number(ctx, out):
    r = ctx.rng
    is_cccd = r.random() < 0.85
    value = _cccd(ctx) if is_cccd else _pick(r, _CMND_REGIONS) + _digits(r, 7)
    if r.random() < 0.85:  # most carry a cue word; the cue is never part of the span
        cue = _pick(r, _CCCD_CUES if is_cccd else _CMND_CUES)
        out.append((cue + (" " if cue.endswith(":") or r.random() < 0.7 else ": "), None))
    out.append((value, "ID_NUMBER"))


def _order_code(r: random.Random, lex: _Lexicon) -> str:
    """Shop/carrier code, optional routing segment, 9-digit (no leading 0) or 10-digit (0/1) tail."""
    prefix = _pick(r, lex.order_prefixes)
    tail = str(r.randrange(10**8, 10**9)) if r.random() < 0.5 else f"{r.randrange(2 * 10**9):010d}"
    if r.random() < 0.55:
        if r.random() < 0.5:
            route = _pick(r, lex.order_routes) + (str(r.randrange(1, 100)) if r.random() < 0.4 else "")
            return f"{prefix}-{route}-{tail}"
        return f"{prefix}-{tail}"
    return prefix + tail


@_slot("order_code")
def _order_code_slot(ctx, out):
    out.append((_order_code(ctx.rng, ctx.lex), "ORDER_CODE"))


@_slot("order_list")
def _order_list(ctx, out):
    r = ctx.rng
    codes = [_order_code(r, ctx.lex) for _ in range(2 + (r.random() < 0.4))]
    _coordinate(r, codes, "ORDER_CODE", out)


_PLATE_SERIES = "ABCDEFGHKLMNPSTUVXYZ"


@_slot("plate")
def _plate(ctx, out):
    r = ctx.rng
    code = _pick(r, ctx.lex.province_weighted.pick(r)["plates"])
    series = _pick(r, _PLATE_SERIES)
    number = _digits(r, 5)
    k = r.random()
    if k < 0.45:
        text = f"{code}{series}-{number[:3]}.{number[3:]}"
    elif k < 0.65:
        text = f"{code}{series}-{number}"
    else:
        text = f"{code}{series}{1 + int(r.random() * 9)}-{number[:3]}.{number[3:]}"
    out.append((text, "LICENSE_PLATE"))


# --------------------------------------------------------------------------- dates and times

_WEEKDAYS = (("thứ Hai", "thứ hai", "thứ 2"), ("thứ Ba", "thứ ba", "thứ 3"), ("thứ Tư", "thứ tư", "thứ 4"),
             ("thứ Năm", "thứ năm", "thứ 5"), ("thứ Sáu", "thứ sáu", "thứ 6"), ("thứ Bảy", "thứ bảy", "thứ 7"),
             ("chủ nhật", "Chủ nhật", "CN"))
_DATE_FORMATS = _Weighted((
    ("ngày {d}/{m}/{y}", 20), ("{d}/{m}/{y}", 12), ("{dd}/{mm}/{y}", 10), ("ngày {dd}/{mm}/{y}", 8),
    ("{dd}-{mm}-{y}", 7), ("ngày {d} tháng {m} năm {y}", 10), ("ngày {d}/{m}", 12), ("{d}/{m}", 6),
    ("ngày {d}-{m}", 4), ("{y}-{mm}-{dd}", 4), ("{dd}.{mm}.{y}", 3), ("ngày {d} tháng {m}", 4),
))
_FULL_DATE_FORMATS = _Weighted((
    ("ngày {d}/{m}/{y}", 30), ("{d}/{m}/{y}", 15), ("{dd}/{mm}/{y}", 20), ("ngày {dd}/{mm}/{y}", 15),
    ("ngày {d} tháng {m} năm {y}", 10), ("{dd}-{mm}-{y}", 10),
))
_PAST_WORDS = ("hôm qua", "hôm kia", "tuần trước", "tháng trước", "năm ngoái", "hôm nay", "cuối tuần trước",
               "đầu tuần này", "{wd} tuần trước", "{wd} vừa qua")
_FUTURE_WORDS = ("ngày mai", "ngày kia", "tuần sau", "tuần tới", "tháng sau", "hôm nay", "cuối tuần này",
                 "đầu tháng sau", "cuối tháng này", "{wd} tuần sau", "{wd} tới", "ngày mốt")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _format_date(r: random.Random, d: dt.date, formats: _Weighted = _DATE_FORMATS) -> str:
    return formats.pick(r).format(d=d.day, m=d.month, y=d.year, dd=f"{d.day:02d}", mm=f"{d.month:02d}")


def _relative_words(r: random.Random, words: tuple) -> str:
    text = _pick(r, words)
    return text.format(wd=_pick(r, _pick(r, _WEEKDAYS))) if "{wd}" in text else text


def _offset_day(ctx, lo: int, hi: int) -> dt.date:
    return ctx.day + dt.timedelta(days=lo + int(ctx.rng.random() * (hi - lo + 1)))


@_slot("date_abs")
def _date_abs(ctx, out):
    out.append((_format_date(ctx.rng, _offset_day(ctx, -60, 60)), "DATE"))


@_slot("date_past")
def _date_past(ctx, out):
    r = ctx.rng
    text = _format_date(r, _offset_day(ctx, -60, -1)) if r.random() < 0.55 else _relative_words(r, _PAST_WORDS)
    out.append((text, "DATE"))


@_slot("date_future")
def _date_future(ctx, out):
    r = ctx.rng
    text = _format_date(r, _offset_day(ctx, 1, 45)) if r.random() < 0.55 else _relative_words(r, _FUTURE_WORDS)
    out.append((text, "DATE"))


@_slot("date_rel", "date")
def _date_rel(ctx, out):
    r = ctx.rng
    (_date_past if r.random() < 0.5 else _date_future)(ctx, out)


@_slot("date_issue")
def _date_issue(ctx, out):
    r = ctx.rng
    d = dt.date(2016, 1, 1) + dt.timedelta(days=int(r.random() * 2900))
    out.append((_format_date(r, d, _FULL_DATE_FORMATS), "DATE"))


@_slot("birth_date")
def _birth_date(ctx, out):
    r = ctx.rng
    year = ctx.day.year - (18 + int(r.random() * 43))
    d = dt.date(year, 1, 1) + dt.timedelta(days=int(r.random() * 365))
    out.append((f"năm {year}" if r.random() < 0.2 else _format_date(r, d, _FULL_DATE_FORMATS), "DATE"))


@_slot("birth_year")
def _birth_year(ctx, out):
    out.append((f"năm {ctx.day.year - (18 + int(ctx.rng.random() * 60))}", "DATE"))


@_slot("month")
def _month(ctx, out):
    r = ctx.rng
    d = _offset_day(ctx, -90, 60)
    k = int(r.random() * 7)
    text = (f"tháng {d.month}/{d.year}", f"tháng {d.month} năm {d.year}", f"tháng {d.month:02d}/{d.year}",
            f"tháng {d.month}", "tháng này", "tháng trước", f"tháng {d.month}/{d.year}")[k]
    out.append((text, "DATE"))


@_slot("year")
def _year(ctx, out):
    r = ctx.rng
    k = r.random()
    text = "năm ngoái" if k < 0.15 else "năm nay" if k < 0.3 else f"năm {ctx.day.year - int(r.random() * 4)}"
    out.append((text, "DATE"))


@_slot("date_range")
def _date_range(ctx, out):
    r = ctx.rng
    a = _offset_day(ctx, -20, 20)
    b = a + dt.timedelta(days=1 + int(r.random() * 14))
    k = int(r.random() * 7)
    if k == 0:
        text = f"từ ngày {a.day}/{a.month} đến ngày {b.day}/{b.month}/{b.year}"
    elif k == 1:
        text = f"từ {a.day}/{a.month} đến {b.day}/{b.month}"
    elif k == 2 and a.month == b.month:
        text = f"từ ngày {a.day} đến ngày {b.day}/{b.month}/{b.year}"
    elif k == 3:
        text = f"{a.day}/{a.month} - {b.day}/{b.month}/{b.year}"
    elif k == 4:
        text = f"từ {a.day:02d}/{a.month:02d}/{a.year} đến {b.day:02d}/{b.month:02d}/{b.year}"
    elif k == 5:
        first, last = sorted(r.sample(range(6), 2))
        text = f"từ {_WEEKDAYS[first][0]} đến {_WEEKDAYS[last][0]}"
    else:
        text = f"từ ngày {a.day}/{a.month}/{a.year} đến ngày {b.day}/{b.month}/{b.year}"
    out.append((text, "DATE"))


def _english_date(r: random.Random, d: dt.date, relative: tuple) -> str:
    month = _MONTHS_EN[d.month - 1]
    k = int(r.random() * 8)
    if k >= 5:
        return _pick(r, relative).format(wd=_pick(r, _WEEKDAYS_EN))
    return (f"{month} {d.day}, {d.year}", f"{d.day} {month} {d.year}", f"{month[:3]} {d.day}", d.isoformat(),
            f"{month} {d.day}")[k]


@_slot("date_en")
def _date_en(ctx, out):
    relative = ("yesterday", "tomorrow", "last week", "next {wd}", "today", "next week")
    out.append((_english_date(ctx.rng, _offset_day(ctx, -30, 30), relative), "DATE"))


@_slot("date_en_past")
def _date_en_past(ctx, out):
    relative = ("yesterday", "last week", "last {wd}", "today", "last month")
    out.append((_english_date(ctx.rng, _offset_day(ctx, -60, -1), relative), "DATE"))


@_slot("date_en_future")
def _date_en_future(ctx, out):
    relative = ("tomorrow", "next week", "next {wd}", "this {wd}")
    out.append((_english_date(ctx.rng, _offset_day(ctx, 1, 45), relative), "DATE"))


def _part_of_day(h: int) -> str:
    return "sáng" if h < 11 else "trưa" if h < 13 else "chiều" if h < 18 else "tối"


def _clock(r: random.Random, lo: int = 7, hi: int = 22) -> tuple[str, bool]:
    """A Vietnamese clock time and whether it already names the part of day."""
    h = lo + int(r.random() * (hi - lo + 1))
    minute = _pick(r, (0, 0, 0, 0, 15, 30, 30, 45, 10, 20))
    h12 = h if h <= 12 else h - 12
    k = int(r.random() * 8)
    if k == 0:
        return (f"{h}h{minute:02d}" if minute else f"{h}h"), False
    if k == 1:
        return f"{h}:{minute:02d}", False
    if k == 2:
        return (f"{h} giờ {minute} phút" if minute else f"{h} giờ"), False
    if k == 3:
        return (f"{h12} giờ rưỡi {_part_of_day(h)}" if minute == 30 else f"{h12} giờ {_part_of_day(h)}"), True
    if k == 4:
        return (f"{h12}h{minute:02d} {_part_of_day(h)}" if minute else f"{h12}h {_part_of_day(h)}"), True
    if k == 5:
        return f"{h:02d}:{minute:02d}", False
    if k == 6:
        return (f"{h}h{minute}" if minute else f"{h}h"), False
    return f"{h12} giờ {_part_of_day(h)}", True


@_slot("time")
def _time(ctx, out):
    out.append((_clock(ctx.rng)[0], "TIME"))


@_slot("datetime")
def _datetime(ctx, out):
    r = ctx.rng
    clock, has_part = _clock(r)
    d = _offset_day(ctx, -3, 10)
    if has_part and r.random() < 0.5:
        tail = _pick(r, ("mai", "nay", "hôm nay", "ngày mai", _pick(r, _WEEKDAYS)[0]))
    else:
        tail = _pick(r, (f"ngày {d.day}/{d.month}", f"ngày {d.day}/{d.month}/{d.year}", "hôm nay", "ngày mai",
                         f"{d.day}/{d.month}", f"{_pick(r, _WEEKDAYS)[0]} tuần sau"))
    out.append((f"{clock} {tail}", "TIME"))


@_slot("datetime_this_week")
def _datetime_this_week(ctx, out):
    """A time on a day of this week: "10h20 sáng thứ Hai này". "này" belongs to the span, as
    in "tuần này" (the rule benchmark's convention)."""
    r = ctx.rng
    clock, _ = _clock(r)
    out.append((f"{clock} {_pick(r, _WEEKDAYS)[0]} này", "TIME"))


@_slot("time_range")
def _time_range(ctx, out):
    r = ctx.rng
    a, b = 7 + int(r.random() * 4), 16 + int(r.random() * 6)
    am, bm = _pick(r, (0, 0, 30)), _pick(r, (0, 0, 30))
    k = int(r.random() * 5)
    text = (
        f"từ {a}h đến {b}h" if not (am or bm) else f"từ {a}h{am or ''} đến {b}h{bm or ''}",
        f"{a}h - {b}h",
        f"từ {a} giờ sáng đến {b - 12} giờ {_part_of_day(b)}",
        f"{a:02d}:{am:02d}-{b:02d}:{bm:02d}",
        f"từ {a}:{am:02d} đến {b}:{bm:02d}",
    )[k]
    out.append((text, "TIME"))


def _clock_en(r: random.Random) -> str:
    h = 7 + int(r.random() * 14)
    h12 = h if h <= 12 else h - 12
    suffix = "am" if h < 12 else "pm"
    k = int(r.random() * 6)
    minutes = _pick(r, ("00", "15", "30", "45"))
    return (f"{h12}{suffix}", f"{h12} {suffix.upper()}", f"{h12}:30 {suffix}", f"{h:02d}:{minutes}",
            f"{h12}:00 {suffix.upper()}", f"{h12}{suffix.upper()}")[k]


@_slot("time_en")
def _time_en(ctx, out):
    out.append((_clock_en(ctx.rng), "TIME"))


@_slot("datetime_en")
def _datetime_en(ctx, out):
    """"3pm tomorrow", "9:30 am on March 7": a date-time is one TIME span, as in Vietnamese."""
    r = ctx.rng
    if r.random() < 0.4:
        date = _pick(r, ("today", "tomorrow", f"next {_pick(r, _WEEKDAYS_EN)}"))
    else:
        date = "on " + _english_date(r, _offset_day(ctx, 0, 20), ("{wd}",))
    out.append((f"{_clock_en(r)} {date}", "TIME"))


@_slot("time_range_en")
def _time_range_en(ctx, out):
    r = ctx.rng
    a, b = 8 + int(r.random() * 3), 1 + int(r.random() * 6)
    text = _pick(r, (f"from {a}am to {b}pm", f"between {a}am and {b}pm", f"{a}:00-{b + 12}:00"))
    out.append((text, "TIME"))


# Durations by scale, so that a lunch break is not "4 năm": (unit, min, max) and fixed phrases.
_DURATIONS = {
    # "giờ" alone reads as a clock time ("5 giờ"), so hours are "tiếng" except the round "24 giờ"
    "short": ((("phút", 5, 90), ("phút", 10, 45), ("tiếng", 1, 6)), ("nửa tiếng", "một tiếng", "24 giờ", "48 giờ")),
    "days": ((("ngày", 2, 30), ("ngày", 2, 7), ("tuần", 1, 6)), ("nửa tháng", "một tuần")),
    "long": ((("tháng", 1, 24), ("tháng", 2, 12), ("năm", 1, 5)), ("nửa năm",)),
}


def _duration_of(r: random.Random, scale: str) -> str:
    units, phrases = _DURATIONS[scale]
    if r.random() < 0.05:
        return _pick(r, phrases)
    unit, lo, hi = _pick(r, units)
    n = lo + int(r.random() * (hi - lo + 1))
    half = " rưỡi" if unit == "tiếng" and r.random() < 0.15 else ""
    return f"{n} {unit}{half}"


def _duration_slot(name: str, scale: str | None):
    def fn(ctx, out):
        r = ctx.rng
        out.append((_duration_of(r, scale or _pick(r, ("short", "days", "days", "long"))), "DURATION"))
    SLOTS[name] = fn


for _name, _scale in (("duration", None), ("duration_short", "short"), ("duration_days", "days"),
                      ("duration_long", "long")):
    _duration_slot(_name, _scale)


@_slot("duration_years")
def _duration_years(ctx, out):
    r = ctx.rng
    text = f"{1 + int(r.random() * 15)} năm" if r.random() < 0.8 else f"{6 + int(r.random() * 30)} tháng"
    out.append((text, "DURATION"))


@_slot("duration_en")
def _duration_en(ctx, out):
    r = ctx.rng
    if r.random() < 0.1:
        text = _pick(r, ("an hour", "a week", "two weeks"))
    else:
        unit, lo, hi = _pick(r, (("minutes", 5, 90), ("hours", 2, 48), ("days", 2, 30), ("weeks", 2, 8),
                                 ("months", 2, 12)))
        text = f"{lo + int(r.random() * (hi - lo))} {unit}"
    out.append((text, "DURATION"))


# --------------------------------------------------------------------------- money

_VND_SUFFIXES = ("đ", "đ", " đ", "₫", " VNĐ", " VND", " đồng", " vnđ")


def _vnd(r: random.Random, n: int) -> str:
    k = r.random()
    if n % 100_000 == 0 and n >= 1_000_000 and k < 0.3:
        return _decimal(n / 1_000_000) + _pick(r, (" triệu", " triệu đồng", " triệu", " tr"))
    if n % 1000 == 0 and n < 1_000_000 and k < 0.5:
        return f"{n // 1000}" + _pick(r, ("k", "k", "K", " nghìn", " ngàn", " nghìn đồng"))
    if k < 0.85:
        return _thousands(n) + _pick(r, _VND_SUFFIXES)
    return _thousands(n, ",") + _pick(r, (" VND", " VNĐ", "đ"))


def _usd(r: random.Random, amount: int) -> str:
    k = int(r.random() * 6)
    return (f"${amount}", f"{amount} USD", f"{amount} đô", f"US${amount}", f"{_thousands(amount)} USD",
            f"${_thousands(amount, ',')}")[k]


@_slot("money")
def _money(ctx, out):
    """Everyday amounts: a bill, a transfer, a price."""
    r = ctx.rng
    k = r.random()
    if k < 0.04:
        out.append((_usd(r, _pick(r, (5, 10, 20, 25, 50, 99, 100, 150, 200, 500, 1200))), "MONEY"))
        return
    if k < 0.45:
        n = (10 + int(r.random() * 990)) * 1000
    elif k < 0.8:
        n = (10 + int(r.random() * 190)) * 10_000
    else:
        n = (10 + int(r.random() * 490)) * 100_000
    out.append((_vnd(r, n), "MONEY"))


@_slot("money_small")
def _money_small(ctx, out):
    """A few hundred to a few thousand dong: price changes per litre or per item."""
    r = ctx.rng
    n = (10 + int(r.random() * 490)) * 10
    out.append((_thousands(n) + _pick(r, (" đồng", " đồng", "đ", " đ", " VND")), "MONEY"))


@_slot("money_unit_price")
def _money_unit_price(ctx, out):
    """A unit price between 15.000 and 30.000 dong (a litre of fuel, a dollar)."""
    r = ctx.rng
    n = 15_000 + int(r.random() * 1500) * 10
    out.append((_thousands(n) + _pick(r, (" đồng", " đồng", "đ", " VND")), "MONEY"))


@_slot("money_large")
def _money_large(ctx, out):
    """A household's large amount: a loan, a house, a company payment."""
    r = ctx.rng
    if r.random() < 0.6:
        m = _pick(r, (50, 80, 100, 150, 200, 300, 450, 500, 650, 800, 950))
        if r.random() < 0.7:
            text = f"{m} triệu" + _pick(r, ("", " đồng", " đồng"))
        else:
            text = _thousands(m * 1_000_000) + _pick(r, _VND_SUFFIXES)
    else:
        text = _decimal(_pick(r, (1, 1.2, 1.5, 2, 2.5, 3, 3.8, 4.5, 5))) + _pick(r, (" tỷ", " tỷ đồng", " tỷ đồng"))
    out.append((text, "MONEY"))


@_slot("gold_price")
def _gold_price(ctx, out):
    r = ctx.rng
    m = 700 + int(r.random() * 200)  # hundreds of thousands: 70,0 .. 89,9 million per tael
    text = f"{_decimal(m / 10)} triệu đồng" if r.random() < 0.6 else f"{_thousands(m * 100_000)} đồng"
    out.append((text, "MONEY"))


@_slot("money_big")
def _money_big(ctx, out):
    """National-news scale: investments, revenues, budgets."""
    r = ctx.rng
    k = int(r.random() * 8)
    x = _pick(r, (1.2, 2, 2.5, 3, 5, 12, 15, 45, 120, 350, 500))
    text = (
        f"{_decimal(x)} tỷ đồng", f"{_decimal(x)} tỷ", f"{_thousands(int(x * 100))} tỷ đồng",
        f"{_decimal(x)} nghìn tỷ đồng", f"{_decimal(x)} triệu USD", f"{_decimal(x)} tỷ USD",
        f"{(2 + int(r.random() * 9)) * 100} triệu đồng", f"{_decimal(60 + int(r.random() * 300) / 10)} triệu đồng",
    )[k]
    out.append((text, "MONEY"))


@_slot("salary")
def _salary(ctx, out):
    r = ctx.rng
    m = 6 + int(r.random() * 40)
    k = int(r.random() * 5)
    text = (f"{m} triệu", f"{m} triệu đồng", f"{_thousands(m * 1_000_000)} VNĐ", f"{_thousands(m * 1_000_000)}đ",
            f"{_thousands(m * 40)} USD")[k]
    out.append((text, "MONEY"))


@_slot("money_en_big")
def _money_en_big(ctx, out):
    r = ctx.rng
    x = _decimal(_pick(r, (1.2, 1.5, 2, 3, 5)), ".")
    m = _pick(r, (50, 120, 200, 300, 500, 800))
    text = _pick(r, (f"${m} million", f"USD {x} billion", f"{m} million USD", f"VND {x} trillion", f"${x}bn"))
    out.append((text, "MONEY"))


@_slot("salary_en")
def _salary_en(ctx, out):
    r = ctx.rng
    usd = (6 + int(r.random() * 40)) * 50
    m = 8 + int(r.random() * 40)
    text = _pick(r, (f"${_thousands(usd, ',')}", f"{_thousands(usd, ',')} USD", f"VND {m} million", f"{m} million VND"))
    out.append((text, "MONEY"))


@_slot("money_en")
def _money_en(ctx, out):
    r = ctx.rng
    n = _pick(r, (15, 20, 50, 75, 120, 300, 1500, 2500))
    vnd = (10 + int(r.random() * 990)) * 1000
    k = int(r.random() * 7)
    text = (f"${n}", f"{n} USD", f"VND {_thousands(vnd, ',')}", f"{_thousands(vnd, ',')} VND",
            f"{_decimal(1 + int(r.random() * 30) / 10, '.')} million VND", f"${_thousands(n, ',')}",
            f"USD {_decimal(1 + int(r.random() * 50) / 10, '.')} million")[k]
    out.append((text, "MONEY"))


# --------------------------------------------------------------------------- quantities and measurements

def _qty(r: random.Random, value: float, units: tuple, dec_sep: str | None = None) -> str:
    sep = dec_sep or _pick(r, (",", ",", "."))
    unit = _pick(r, units)
    space = "" if r.random() < 0.4 else " "
    return f"{_decimal(value, sep)}{space}{unit}"


@_slot("qty_count")
def _qty_count(ctx, out):
    r = ctx.rng
    n = 1 + int(r.random() * (r.random() * 30))
    out.append((f"{n} {_pick(r, ctx.lex.count_units)}", "QUANTITY"))


@_slot("weight")
def _weight(ctx, out):
    r = ctx.rng
    k = r.random()
    if k < 0.55:  # a person
        text = f"{38 + int(r.random() * 50)}{_pick(r, ('kg', ' kg', 'kg', ' ký', ' cân'))}"
    elif k < 0.8:
        text = _qty(r, (1 + int(r.random() * 250)) / 10, ("kg", "kg", "kí"))
    else:
        text = f"{(1 + int(r.random() * 19)) * 50}{_pick(r, ('g', ' g', 'gr', ' gram'))}"
    out.append((text, "QUANTITY"))


@_slot("height")
def _height(ctx, out):
    r = ctx.rng
    cm = 145 + int(r.random() * 45)
    k = int(r.random() * 6)
    text = (f"1m{cm - 100:02d}", f"1m{(cm - 100) // 10}" if cm % 10 == 0 else f"1m{cm - 100}",
            f"{_decimal(cm / 100)} m", f"{cm} cm", f"{cm}cm", f"{_decimal(cm / 100, '.')}m")[k]
    out.append((text, "QUANTITY"))


def _length(r: random.Random, glued: bool = False) -> str:
    """A length in m or cm; ``glued`` drops the space before the unit ("1,2m")."""
    metres = r.random() < 0.5
    value = (5 + int(r.random() * 300)) / 100 if metres else 10 + int(r.random() * 190)
    text = _qty(r, value, ("m",) if metres else ("cm",))
    return text.replace(" ", "") if glued else text


@_slot("length")
def _length_slot(ctx, out):
    out.append((_length(ctx.rng), "QUANTITY"))


@_slot("dims")
def _dims(ctx, out):
    """"2,16 m * 1,2 m": one QUANTITY per dimension."""
    r = ctx.rng
    joiner = _pick(r, (" * ", " x ", "x", " × ", " X "))
    glued = not joiner.startswith(" ")  # "2,16mx1,2m", never "2,16 mx1,2 m"
    for i in range(2 + (r.random() < 0.35)):
        if i:
            out.append((joiner, None))
        out.append((_length(r, glued), "QUANTITY"))


@_slot("size")
def _size(ctx, out):
    r = ctx.rng
    size = _pick(r, ctx.lex.sizes)
    if size != "Free size":
        size = f"{_pick(r, ('size', 'size', 'Size', 'sz', 'cỡ'))} {size}"
    out.append((size, "QUANTITY"))


@_slot("temp")
def _temp(ctx, out):
    r = ctx.rng
    t = (370 + int(r.random() * 35)) / 10
    k = int(r.random() * 4)
    text = (f"{_decimal(t)} độ C", f"{_decimal(t)}°C", f"{_decimal(t, '.')} độ", f"{_decimal(t)} độ")[k]
    out.append((text, "QUANTITY"))


@_slot("speed")
def _speed(ctx, out):
    r = ctx.rng
    out.append((f"{60 + int(r.random() * 90)}{_pick(r, (' km/h', 'km/h'))}", "QUANTITY"))


@_slot("dose")
def _dose(ctx, out):
    r = ctx.rng
    out.append((f"{1 + int(r.random() * 3)} {_pick(r, ('viên', 'viên', 'gói', 'ống'))}", "QUANTITY"))


@_slot("qty_en")
def _qty_en(ctx, out):
    r = ctx.rng
    out.append((f"{2 + int(r.random() * 20)} {_pick(r, ctx.lex.count_units_en)}", "QUANTITY"))


@_slot("weight_en")
def _weight_en(ctx, out):
    r = ctx.rng
    out.append((_qty(r, (5 + int(r.random() * 800)) / 10, ("kg",), "."), "QUANTITY"))


@_slot("height_en")
def _height_en(ctx, out):
    r = ctx.rng
    cm = 150 + int(r.random() * 40)
    out.append((f"{cm} cm" if r.random() < 0.5 else f"{_decimal(cm / 100, '.')}m", "QUANTITY"))


_BODY = {  # label -> (cue words, value range in cm)
    "CHEST": (("vòng ngực", "vòng 1", "Vòng 1", "ngực", "V1"), (76, 108)),
    "WAIST": (("vòng eo", "vòng 2", "Vòng 2", "eo", "V2"), (56, 96)),
    "HIP": (("vòng mông", "vòng 3", "Vòng 3", "mông", "V3"), (82, 112)),
}


def _body_value(r: random.Random, label: str, unit: bool = True) -> str:
    lo, hi = _BODY[label][1]
    v = lo + int(r.random() * (hi - lo + 1))
    return f"{v}{_pick(r, ('cm', ' cm', '')) if unit else ''}"


def _body_slot(label: str):
    def fn(ctx, out):
        r = ctx.rng
        out.append((_pick(r, _BODY[label][0]) + _pick(r, (" ", " ", ": ", " là ", " khoảng ")), None))
        out.append((_body_value(r, label), label))
    SLOTS[label.lower()] = fn


for _label in ("CHEST", "WAIST", "HIP"):  # slots {chest}, {waist}, {hip}
    _body_slot(_label)


@_slot("measurements")
def _measurements(ctx, out):
    """"số đo 3 vòng 86-64-92": chest, waist and hip in that order."""
    r = ctx.rng
    out.append((_pick(r, ("số đo 3 vòng ", "3 vòng ", "số đo ", "số đo ba vòng ", "số đo 3 vòng: ")), None))
    sep = _pick(r, ("-", " - ", "/"))
    with_unit = r.random() < 0.2
    for i, label in enumerate(("CHEST", "WAIST", "HIP")):
        if i:
            out.append((sep, None))
        out.append((_body_value(r, label, unit=False) + ("cm" if with_unit else ""), label))


@_slot("measurements_en")
def _measurements_en(ctx, out):
    r = ctx.rng
    cues = (("chest ", "bust "), ("waist ",), ("hips ", "hip "))
    for i, label in enumerate(("CHEST", "WAIST", "HIP")):
        if i:
            out.append((", " if i == 1 else _pick(r, (", ", " and ")), None))
        out.append((_pick(r, cues[i]), None))
        out.append((f"{_body_value(r, label, unit=False)}{_pick(r, ('cm', ' cm'))}", label))


@_slot("symptom_list")
def _symptom_list(ctx, out):
    r = ctx.rng
    symptoms = _distinct(1 + int(r.random() * 3), lambda: _pick(r, ctx.lex.symptoms))
    _coordinate(r, symptoms, "SYMPTOM", out)


@_slot("symptom_en")
def _symptom_en(ctx, out):
    r = ctx.rng
    items = _distinct(1 + (r.random() < 0.5), lambda: _pick(r, (
        "fever", "a cough", "a sore throat", "shortness of breath", "fatigue", "a headache", "loss of taste")))
    _coordinate(r, items, "SYMPTOM", out, (" and ",))


@_slot("disease_en")
def _disease_en(ctx, out):
    out.append((_pick(ctx.rng, ("COVID-19", "dengue fever", "influenza A", "SARS-CoV-2", "measles")), "SYMPTOM"))


# --------------------------------------------------------------------------- filler (not entities)

@_slot("age")
def _age(ctx, out):
    out.append((str(18 + int(ctx.rng.random() * 63)), None))


@_slot("age_any")
def _age_any(ctx, out):
    out.append((str(1 + int(ctx.rng.random() * 95)), None))


@_slot("age_child")
def _age_child(ctx, out):
    out.append((str(1 + int(ctx.rng.random() * 14)), None))


@_slot("count")
def _count(ctx, out):
    r = ctx.rng
    n = 1 + int(r.random() * (r.random() * 3000))
    out.append((_thousands(n), None))


@_slot("patient")
def _patient(ctx, out):
    r = ctx.rng
    n = 100 + int(r.random() * 20000)
    out.append((_pick(r, (f"BN{n}", f"BN {n}", f"BN{_thousands(n)}")), None))


@_slot("flight")
def _flight(ctx, out):
    r = ctx.rng
    out.append((f"{_pick(r, ctx.lex.flight_prefixes)}{100 + int(r.random() * 1800)}", None))


@_slot("digits4")
def _digits4(ctx, out):
    out.append((_digits(ctx.rng, 4), None))


@_slot("account_no")
def _account_no(ctx, out):
    r = ctx.rng
    out.append((str(r.randrange(10**12, 10**13)) if r.random() < 0.5 else f"{r.randrange(10**13):014d}", None))


# --------------------------------------------------------------------------- templates

_TOKEN_RE = re.compile(r"\{(\w+)\}|\[([^\[\]{}]*)\]")


class _Template:
    """Compiled template: pieces are str (literal), tuple (alternatives) or a slot function."""

    __slots__ = ("source", "pieces", "starts_upper", "ends_with_comma")

    def __init__(self, source: str, pieces: tuple):
        self.source, self.pieces = source, pieces
        first, last = pieces[0], pieces[-1]
        # Precomputed so that assembling a record needs no scan for the common cases.
        self.starts_upper = type(first) is str and first[:1].isupper()
        self.ends_with_comma = type(last) is str and last.rstrip().endswith(",")


def _compile_template(text: str, where: str) -> _Template:
    """Parse ``{slot}`` and ``[a|b]`` syntax; reject unknown slots and digits in literal text."""
    pieces, pos = [], 0
    for m in _TOKEN_RE.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos:m.start()])
        if m.group(1) is not None:
            name = m.group(1)
            if name not in SLOTS:
                raise ValueError(f"{where}: unknown slot {{{name}}} in template {text!r}")
            pieces.append(SLOTS[name])
        else:
            options = m.group(2).split("|")
            if "" in options and pieces and isinstance(pieces[-1], str) and pieces[-1].endswith(" "):
                # "theo số {phone} [nhé|ạ|]." must not become "... 678 ." when the empty option wins
                pieces[-1] = pieces[-1][:-1]
                if not pieces[-1]:
                    pieces.pop()
                options = [" " + o if o else o for o in options]
            pieces.append(tuple(options))
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
    for piece in pieces:
        literal = piece if isinstance(piece, str) else "".join(piece) if isinstance(piece, tuple) else ""
        if any(c in literal for c in "{}[]"):
            raise ValueError(f"{where}: unbalanced braces or brackets in template {text!r}")
        if any(c.isdigit() for c in literal):
            # Numbers in literal text would be unlabelled values; they must come from slots.
            raise ValueError(f"{where}: digits in literal text of template {text!r}")
    if not pieces:
        raise ValueError(f"{where}: empty template")
    return _Template(text, tuple(pieces))


class _Domain:
    __slots__ = ("name", "weight", "chat", "greeting_rate", "ending_rate", "max_bodies", "greetings", "bodies",
                 "endings")


def _compile_domain(name: str, spec: dict) -> _Domain:
    domain = _Domain()
    domain.name = name
    domain.weight = float(spec["weight"])
    domain.chat = bool(spec["chat"])
    domain.greeting_rate = float(spec["greeting_rate"])
    domain.ending_rate = float(spec["ending_rate"])
    domain.max_bodies = int(spec["max_bodies"])
    for part in ("greetings", "bodies", "endings"):
        pools = {lang: tuple(_compile_template(t, f"{name}.{part}.{lang}") for t in templates)
                 for lang, templates in (spec.get(part) or {}).items()}
        if "vi" not in pools:
            raise ValueError(f"templates.yaml: domain {name} has no vi {part}")
        setattr(domain, part, pools)
    return domain


def template_count() -> int:
    """How many template parts (greetings, bodies, endings, all languages) the data defines."""
    return sum(len(pool) for d in _lexicon().domains.values()
               for part in (d.greetings, d.bodies, d.endings) for pool in part.values())


def _fill(template: _Template, ctx: _Ctx, out: list) -> None:
    r = ctx.rng
    for piece in template.pieces:
        kind = type(piece)
        if kind is str:
            out.append((piece, None))
        elif kind is tuple:
            out.append((piece[int(r.random() * len(piece))], None))
        else:
            piece(ctx, out)


# --------------------------------------------------------------------------- noise

_WORD_RE = re.compile(r"[^\W\d_]{3,}")


def _typo(r: random.Random, text: str) -> str:
    words = [m.span() for m in _WORD_RE.finditer(text)]
    if not words:
        return text
    start, end = _pick(r, words)
    i = start + 1 + int(r.random() * (end - start - 2))
    k = int(r.random() * 4)
    if k == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if k == 1:
        return text[:i] + text[i + 1:]
    if k == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i] + strip_diacritics(text[i]) + text[i + 1:]


def _spacing(r: random.Random, text: str) -> str:
    k = int(r.random() * 4)
    if k == 0 and ", " in text:
        return text.replace(", ", ",", 1)
    if k == 1 and "?" in text:
        return text.replace("?", " ?", 1)
    if k == 2 and ". " in text:
        return text.replace(". ", ".\n", 1)
    i = text.find(" ", int(r.random() * len(text)))
    return text if i < 0 else text[:i] + " " + text[i:]  # a doubled space


def _informal(r: random.Random, lex: _Lexicon, text: str) -> str:
    def swap(m):
        word = m.group(0)
        if r.random() < 0.35:
            return word
        variant = _pick(r, lex.informal[word.lower()])
        return variant[0].upper() + variant[1:] if word[0].isupper() else variant
    return lex.informal_re.sub(swap, text)


def _set_initial_case(segs: list, first: int, upper: bool) -> None:
    """Capitalise (or lower) the first letter of the part starting at segs[first]."""
    for i in range(first, len(segs)):
        text, label = segs[i]
        if not text:
            continue
        if upper:
            if label in _SENTENCE_CASE_OK and text[0].islower():
                segs[i] = (text[0].upper() + text[1:], label)
        elif label is None and text[0].isupper() and (len(text) == 1 or not text[1].isupper()):
            segs[i] = (text[0].lower() + text[1:], label)
        return


# --------------------------------------------------------------------------- records

class _RecordMaker:
    def __init__(self, seed: int, base_date: dt.date, defect_rate: float, domains: Sequence[str] | None):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(base_date, dt.date):
            raise ValueError(f"base_date must be a datetime.date, got {base_date!r}")
        if isinstance(defect_rate, bool) or not isinstance(defect_rate, (int, float)) or not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"defect_rate must be a number in [0, 1], got {defect_rate!r}")
        if domains is None:
            domains = DOMAINS
        if isinstance(domains, str):
            domains = (domains,)
        unknown = [d for d in domains if d not in DOMAINS]
        if unknown or not domains:
            raise ValueError(f"unknown or empty domains {list(domains)!r}; choose from {', '.join(DOMAINS)}")
        self.lex = _lexicon()
        self.seed = seed
        self.defect_rate = float(defect_rate)
        self.base = dt.datetime(base_date.year, base_date.month, base_date.day)
        self.domains = _Weighted((self.lex.domains[d], self.lex.domains[d].weight) for d in dict.fromkeys(domains))
        self.rng = random.Random()
        self.ctx = _Ctx(self.rng, self.lex)
        self._probe = random.Random()  # replays the header of earlier records, see _defect

    def _header(self, r: random.Random, index: int) -> tuple[int, _Domain, str | None]:
        """The first draws of record ``index``: creation offset, domain and defect kind."""
        r.seed(self.seed * _SEED_STRIDE + index)
        offset = int(r.random() * 4 * 86400) - 3 * 86400
        domain = self.domains.pick(r)
        kind = None
        if r.random() < self.defect_rate:
            kind = _pick(r, DEFECT_KINDS if index > 0 else DEFECT_KINDS[:2] + DEFECT_KINDS[3:])
        return offset, domain, kind

    def record(self, index: int) -> dict:
        offset, domain, kind = self._header(self.rng, index)
        created = self.base + dt.timedelta(seconds=offset)
        self.ctx.day = created.date()
        self.ctx.person = None
        record = {"id": f"rec-{index:010d}", "text": None, "domain": domain.name, "lang": "vi",
                  "created_at": created.isoformat(timespec="seconds"), "gold": []}
        if kind is not None:
            return self._defect(record, index, domain, kind)
        record["text"], record["lang"], record["gold"] = self._text(domain)
        return record

    def _defect(self, record: dict, index: int, domain: _Domain, kind: str) -> dict:
        r = self.rng
        if kind == "null_text":
            return record
        if kind == "blank_text":
            record["text"] = _pick(r, ("", " ", "   ", "\n", "\t", " \n ", "\r\n"))
            return record
        text, lang, _ = self._text(domain)
        record["lang"] = lang
        if kind == "duplicate_id":
            # Re-use the id of a recent earlier record, so that a chunk usually holds both copies;
            # skip records that are duplicates themselves, whose own id never appears.
            earlier = index - 1 - int(r.random() * min(index, 1000))
            while self._header(self._probe, earlier)[2] == "duplicate_id":
                earlier -= 1  # record 0 is never a duplicate, so this ends
            record["id"] = f"rec-{earlier:010d}"
            record["text"] = text
        else:  # overlong_text: a pasted log, repeated past the job's length limit
            record["text"] = "\n".join([text] * (MAX_TEXT_CHARS // (len(text) + 1) + 2))
        return record

    def _parts(self, domain: _Domain) -> tuple[list, str]:
        """Choose the templates of one record and its language."""
        r = self.rng
        k = r.random()
        mode = "en" if k < 0.07 and "en" in domain.bodies else "mixed" if k < 0.19 else "vi"
        side_lang = "en" if mode == "en" else ("mixed" if mode == "mixed" and r.random() < 0.5 else "vi")
        wanted = []  # (pools, language wanted)
        if r.random() < domain.greeting_rate:
            wanted.append((domain.greetings, side_lang))
        n_bodies = min(1 if r.random() < 0.6 else 2 if r.random() < 0.8 else 3, domain.max_bodies)
        wanted.append((domain.bodies, mode))
        wanted += [(domain.bodies, "vi" if mode == "mixed" else mode)] * (n_bodies - 1)
        if r.random() < domain.ending_rate:
            wanted.append((domain.endings, side_lang))
        parts, used = [], set()
        for pools, pool_lang in wanted:
            if pool_lang not in pools:  # e.g. no mixed news: fall back to Vietnamese
                pool_lang = "vi"
            used.add(pool_lang)
            pool = pools[pool_lang]
            parts.append(pool[int(r.random() * len(pool))])
        lang = "en" if used == {"en"} else "vi" if used == {"vi"} else "mixed"
        return parts, lang

    def _text(self, domain: _Domain) -> tuple[str, str, list]:
        r, ctx = self.rng, self.ctx
        parts, lang = self._parts(domain)
        chat = domain.chat
        segs: list = []
        sep = "\n" if chat and r.random() < 0.2 else " "
        after_comma = False
        for i, template in enumerate(parts):
            if i:
                segs.append((sep, None))
            first = len(segs)
            _fill(template, ctx, segs)
            # "Chào shop, em muốn..." goes on in lower case after a greeting that ends in a comma.
            if after_comma or not template.starts_upper:
                _set_initial_case(segs, first, upper=not after_comma)
            after_comma = template.ends_with_comma

        if lang != "en":
            self._noise(segs, chat)
        text_parts, gold, pos = [], [], 0
        for text, label in segs:
            if label is not None:
                gold.append({"start": pos, "end": pos + len(text), "label": label})
            text_parts.append(text)
            pos += len(text)
        text = "".join(text_parts)
        if lang != "en" and r.random() < 0.08:
            text = strip_diacritics(text)  # one char for one: the offsets stay valid
        return text, lang, gold

    def _noise(self, segs: list, chat: bool) -> None:
        """Chat style, typos, spacing and casing; only literal text changes length."""
        r, lex = self.rng, self.lex
        informal = r.random() < (0.35 if chat else 0.05)
        typos = r.random() < 0.06
        spacing = r.random() < 0.05
        casing = r.random()
        lower_all = casing < (0.12 if chat else 0.02)
        lower_first = not lower_all and casing < (0.25 if chat else 0.03)
        if not (informal or typos or spacing or lower_all or lower_first):
            return  # the common case: keep it cheap
        literal = [i for i, (text, label) in enumerate(segs) if label is None and len(text) > 3]
        if literal:
            if informal:
                for i in literal:
                    segs[i] = (_informal(r, lex, segs[i][0]), None)
            if typos:
                for _ in range(1 + (r.random() < 0.3)):
                    i = _pick(r, literal)
                    segs[i] = (_typo(r, segs[i][0]), None)
            if spacing:
                i = _pick(r, literal)
                segs[i] = (_spacing(r, segs[i][0]), None)
        if lower_all:
            for i, (text, label) in enumerate(segs):
                if label in _LOWERCASE_OK:
                    segs[i] = (text.lower(), label)
        elif lower_first:
            _set_initial_case(segs, 0, upper=False)


def generate_records(n: int, seed: int = 0, start: int = 0, base_date: dt.date = DEFAULT_BASE_DATE,
                     defect_rate: float = 0.002, domains: Sequence[str] | None = None) -> Iterator[dict]:
    """Yield records ``start .. start + n - 1``; record ``i`` depends only on ``(seed, i)``.

    Each record: ``id`` ("rec-0000000042"; injected duplicates re-use an earlier id), ``text``
    (None for null defects), ``domain``, ``lang`` ("vi", "en" or "mixed"), ``created_at``
    (ISO datetime, local time, within the three days before ``base_date`` or on it) and
    ``gold``: ``{"start", "end", "label"}`` dicts sorted by start, non-overlapping, with
    ``text[start:end]`` the exact entity surface. Defect records have empty gold.
    """
    for name, value in (("n", n), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if start + n > _SEED_STRIDE:
        raise ValueError(f"record indices must stay below {_SEED_STRIDE}")
    maker = _RecordMaker(seed, base_date, defect_rate, domains)
    return (maker.record(i) for i in range(start, start + n))


def generate_record(index: int, seed: int = 0, **kwargs) -> dict:
    """The single record ``index`` of the stream ``seed`` (same arguments as :func:`generate_records`)."""
    return next(generate_records(1, seed=seed, start=index, **kwargs))


# --------------------------------------------------------------------------- writing

def sample_schema():
    """The Parquet/Arrow schema of written samples."""
    import pyarrow as pa

    span = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
    return pa.schema([("id", pa.string()), ("text", pa.string()), ("domain", pa.string()), ("lang", pa.string()),
                      ("created_at", pa.string()), ("gold", pa.list_(span))])


def records_to_arrow(records: Sequence[dict]):
    """A list of records as a ``pyarrow.Table`` with :func:`sample_schema`."""
    import pyarrow as pa

    golds = [rec["gold"] for rec in records]
    flat = [span for gold in golds for span in gold]
    spans = pa.StructArray.from_arrays(
        [pa.array([span[key] for span in flat], typ) for key, typ in
         (("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()))],
        names=["start", "end", "label"])
    offsets = pa.array(list(accumulate(map(len, golds), initial=0)), pa.int32())
    gold = pa.ListArray.from_arrays(offsets, spans)
    columns = [pa.array([rec[key] for rec in records], pa.string())
               for key in ("id", "text", "domain", "lang", "created_at")]
    return pa.Table.from_arrays(columns + [gold], schema=sample_schema())


def is_defect(record: dict, index: int) -> bool:
    """Whether record ``index`` of a stream is an injected defect (null, blank, over-long, duplicate id)."""
    text = record["text"]
    return (text is None or not text.strip() or len(text) > MAX_TEXT_CHARS
            or record["id"] != f"rec-{index:010d}")


def write_sample(path: str | os.PathLike, n: int, seed: int = 0, fmt: str = "parquet", chunk_size: int = 50_000,
                 progress: Callable[[int], None] | None = None, **kwargs) -> dict:
    """Generate ``n`` records and stream them to ``path`` in chunks of ``chunk_size``.

    ``fmt`` is "parquet" (one row group per chunk) or "jsonl" (one JSON object per line);
    memory is bounded by the chunk, so tens of millions of records are fine. ``kwargs`` go to
    :func:`generate_records` (start, base_date, defect_rate, domains). ``progress`` is called
    with the number of records written so far after each chunk. Returns a summary:
    ``{"records", "path", "format", "entities", "by_label", "defects", "seconds"}``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    began = time.perf_counter()
    records = generate_records(n, seed=seed, **kwargs)
    first_index = kwargs.get("start", 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    by_label: Counter = Counter()
    written = defects = 0

    def chunks():
        nonlocal written, defects
        while written < n:
            chunk = [next(records) for _ in range(min(chunk_size, n - written))]
            by_label.update([span["label"] for rec in chunk for span in rec["gold"]])
            defects += sum(is_defect(rec, i) for i, rec in enumerate(chunk, start=first_index + written))
            written += len(chunk)
            yield chunk
            if progress is not None:
                progress(written)

    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(str(path), sample_schema(), compression="zstd") as writer:
            for chunk in chunks():
                writer.write_table(records_to_arrow(chunk), row_group_size=len(chunk))
    else:
        with open(path, "w", encoding="utf-8") as fh:
            for chunk in chunks():
                fh.write("".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in chunk))
    unknown = set(by_label) - set(LABELS)
    if unknown:  # a data-file mistake, caught here rather than in the training job
        raise ValueError(f"generator produced labels outside labels.py: {sorted(unknown)}")
    return {"records": written, "path": str(path), "format": fmt, "entities": sum(by_label.values()),
            "by_label": dict(sorted(by_label.items())), "defects": defects,
            "seconds": round(time.perf_counter() - began, 3)}
