"""Augmentation: mention swap, synonym replacement, determinism and BIO invariants."""
from __future__ import annotations

import copy as copying
import dataclasses
import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerlake.udfs.augment import (
    AugmentConfig, GazetteerList, InvalidExampleError, MentionBank, SynonymMap, augment_examples, bio_error,
    build_mention_bank, load_augment_config, load_synonyms, mentions_of, replace_synonyms, swap_mentions,
)
from nerlake.udfs.config import ConfigError
from nerlake.udfs.examples import Example


def make_example(tagged: str, text: str = "", lang: str = "vi", example_id: str = "ex1", split: str = "train",
                 dataset: str = "gold") -> Example:
    """'Hôm_nay/O anh/O Nguyễn/B-PER An/I-PER' -> Example (``_`` stands for a space inside a token)."""
    tokens, labels = [], []
    for item in tagged.split():
        token, _, label = item.rpartition("/")
        tokens.append(token.replace("_", " "))
        labels.append(label)
    return Example(dataset, split, example_id, lang, "news", tokens, labels, text=text)


def assert_valid_bio(labels: list[str]) -> None:
    """Written independently of ``augment.bio_error``: I-X only right after B-X or I-X."""
    for i, tag in enumerate(labels):
        assert tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2), (i, tag)
        if tag.startswith("I-"):
            assert i > 0 and labels[i - 1] in ("B-" + tag[2:], tag), (i, labels)


def assert_consistent(example: Example) -> None:
    assert len(example.tokens) == len(example.labels) == len(example.offsets)
    assert_valid_bio(example.labels)
    for token, (start, end) in zip(example.tokens, example.offsets):
        assert example.text[start:end] == token
    # every span is exactly the text of its B-/I- tokens
    expected, current = [], None
    for (start, end), tag in zip(example.offsets, example.labels):
        if tag.startswith("I-"):
            current["end"] = end
            continue
        current = None
        if tag.startswith("B-"):
            current = {"start": start, "end": end, "label": tag[2:]}
            expected.append(current)
    assert example.spans == expected


def one_each(**mentions: str) -> MentionBank:
    """A bank with one mention per label, so that a swap has exactly one possible outcome."""
    return MentionBank.from_mentions(("vi", label, text.split()) for label, text in mentions.items())


# --- mention swap ---------------------------------------------------------------------

SWAP_CASES = [
    # one token -> three tokens
    ("anh/O An/B-PER đến/O", "", {"PER": "Trần Thị Mai"}, "anh Trần Thị Mai đến",
     ["O", "B-PER", "I-PER", "I-PER", "O"]),
    # three tokens -> one token, punctuation glued to the mention stays glued
    ("ở/O Thành_phố/B-LOC Hồ/I-LOC Chí_Minh/I-LOC ./O", "ở Thành phố Hồ Chí Minh.", {"LOC": "Huế"}, "ở Huế.",
     ["O", "B-LOC", "O"]),
    # mentions at both ends, two labels, original spacing kept
    ("Vietcombank/B-ORG tại/O Hà/B-LOC Nội/I-LOC", "Vietcombank  tại Hà Nội", {"ORG": "Ngân hàng ACB", "LOC": "Huế"},
     "Ngân hàng ACB  tại Huế", ["B-ORG", "I-ORG", "I-ORG", "O", "B-LOC"]),
    # two adjacent mentions of one label stay two mentions
    ("An/B-PER Bình/B-PER", "", {"PER": "Lê Văn Tám"}, "Lê Văn Tám Lê Văn Tám",
     ["B-PER", "I-PER", "I-PER", "B-PER", "I-PER", "I-PER"]),
    # a label the bank does not know stays as it is
    ("giá/O 500k/B-MONEY ở/O Huế/B-LOC", "", {"LOC": "Đà Nẵng"}, "giá 500k ở Đà Nẵng",
     ["O", "B-MONEY", "O", "B-LOC", "I-LOC"]),
]


@pytest.mark.parametrize("tagged, text, bank_mentions, expected_text, expected_labels", SWAP_CASES)
def test_swap_mentions(tagged, text, bank_mentions, expected_text, expected_labels):
    example = make_example(tagged, text)
    before = copying.deepcopy(example)
    swapped = swap_mentions(example, one_each(**bank_mentions), random.Random(1))
    assert swapped.text == expected_text
    assert swapped.labels == expected_labels
    assert_consistent(swapped)
    assert example == before, "the input is not modified"


def test_swap_never_picks_the_mention_it_replaces():
    bank = MentionBank.from_mentions([("vi", "PER", ["An"]), ("vi", "PER", ["Bình"])])
    example = make_example("anh/O An/B-PER")
    for seed in range(30):
        assert swap_mentions(example, bank, random.Random(seed)).tokens == ["anh", "Bình"]


@pytest.mark.parametrize("rows, expected_text", [
    # a gazetteer name keeps its spacing ("TP. HCM", not "TP . HCM")
    ([("vi", "LOC", ["TP", ".", "HCM"], "TP. HCM")], "ở TP. HCM nhé"),
    # so does a corpus mention, whatever the token order of the rows
    ([("vi", "LOC", ["TP", ".", "HCM"]), ("vi", "LOC", ["TP", ".", "HCM"], "TP . HCM"),
      ("vi", "LOC", ["TP", ".", "HCM"], "TP.  HCM")], "ở TP . HCM nhé"),
    # a surface the tokens do not cover is not used: the tokens are joined
    ([("vi", "LOC", ["TP", ".", "HCM"], "Thành phố HCM")], "ở TP . HCM nhé"),
])
def test_swapped_mentions_keep_how_they_were_written(rows, expected_text):
    example = make_example("ở/O Huế/B-LOC nhé/O")
    for ordered in (rows, rows[::-1]):
        swapped = swap_mentions(example, MentionBank.from_mentions(ordered), random.Random(0))
        assert swapped.text == expected_text and swapped.tokens == ["ở", "TP", ".", "HCM", "nhé"]
        assert_consistent(swapped)


def test_corpus_mentions_carry_their_text():
    example = make_example("ở/O TP/B-LOC ./I-LOC HCM/I-LOC", text="ở TP. HCM")
    assert mentions_of(example) == [("vi", "LOC", ("TP", ".", "HCM"), "TP. HCM")]
    swapped = swap_mentions(make_example("tại/O Huế/B-LOC"), MentionBank().add_examples([example]), random.Random(0))
    assert swapped.text == "tại TP. HCM"


def test_swap_leaves_a_mention_alone_when_the_bank_has_no_other():
    example = make_example("anh/O An/B-PER")
    assert swap_mentions(example, one_each(PER="An"), random.Random(0)) == example


@pytest.mark.parametrize("probability, changed", [(0.0, False), (1.0, True)])
def test_swap_probability(probability, changed):
    example = make_example("An/B-PER và/O Bình/B-PER")
    swapped = swap_mentions(example, one_each(PER="Chi"), random.Random(0), probability)
    assert (swapped.tokens != example.tokens) is changed


def test_swap_takes_mentions_of_the_examples_language_only():
    english = make_example("John/B-PER left/O", lang="en")
    assert swap_mentions(english, one_each(PER="Trần Mai"), random.Random(0)) == english


def test_swap_joins_tokens_without_spaces_in_languages_written_without_them():
    example = make_example("我/O 在/O 北京/B-LOC", lang="zh")
    bank = MentionBank.from_mentions([("zh", "LOC", ["上", "海"])])
    swapped = swap_mentions(example, bank, random.Random(0))
    assert swapped.text == "我在上海" and swapped.labels == ["O", "O", "B-LOC", "I-LOC"]
    assert_consistent(swapped)


# --- synonyms -------------------------------------------------------------------------

SYNONYMS = SynonymMap([["bây giờ", "lúc này", "hiện giờ"], ["mua", "đặt mua"], ["hoà bình", "yên bình"],
                       ["thank you", "thanks"]])

SYNONYM_CASES = [
    # two-token phrase -> either two-token alternative, capital kept; one token -> two tokens
    ("Bây/O giờ/O em/O mua/O", {"Lúc này em đặt mua", "Hiện giờ em đặt mua"}),
    ("em/O mua/O áo/O", {"em đặt mua áo"}),
    # old tone-mark placement, written decomposed, still matches
    ("hoa\u0300/O bi\u0300nh/O", {"yên bình"}),
    # English two-token entry -> one token
    ("Thank/O you/O !/O", {"Thanks !"}),
]


@pytest.mark.parametrize("tagged, expected_texts", SYNONYM_CASES)
def test_replace_synonyms(tagged, expected_texts):
    example = make_example(tagged)
    texts = set()
    for seed in range(20):
        new = replace_synonyms(example, SYNONYMS, random.Random(seed))
        assert_consistent(new)
        assert set(new.labels) == {"O"}
        texts.add(new.text)
    assert texts == expected_texts


def test_synonyms_never_touch_entity_tokens():
    # "bây giờ" inside a DATE mention, and half inside one, is not context
    example = make_example("bây/B-DATE giờ/I-DATE mua/O bây/O giờ/B-DATE")
    new = replace_synonyms(example, SYNONYMS, random.Random(0))
    assert new.tokens[:2] == ["bây", "giờ"] and new.tokens[-2:] == ["bây", "giờ"]
    assert new.tokens[2:-2] == ["đặt", "mua"]
    assert_consistent(new)


def test_longest_synonym_entry_wins():
    synonyms = SynonymMap([["giờ", "tiếng"], ["bây giờ", "lúc này"]])
    new = replace_synonyms(make_example("bây/O giờ/O"), synonyms, random.Random(0))
    assert new.tokens == ["lúc", "này"]


def test_synonym_probability_zero_changes_nothing():
    example = make_example("bây/O giờ/O mua/O")
    assert replace_synonyms(example, SYNONYMS, random.Random(0), probability=0.0) == example


@pytest.mark.parametrize("groups, message", [
    ([["mua"]], "two different phrases"),
    ([["mua", "Mua"]], "two different phrases"),
    (["mua"], "expected a list"),
    ([["mua", ""]], "not a word"),
])
def test_bad_synonym_groups(groups, message):
    with pytest.raises(ConfigError, match=message):
        SynonymMap(groups)


def test_packaged_synonyms_load():
    maps = load_synonyms()
    assert {"vi", "en"} <= set(maps)
    assert ("lúc", "này") in maps["vi"].alternatives(("bây", "giờ"))
    assert ("purchase",) in maps["en"].alternatives(("Buy",))


# --- configuration, bank sources ------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"copies": 0}, "copies"),
    ({"swap_probability": 1.5}, "swap_probability"),
    ({"synonym_probability": -0.1}, "synonym_probability"),
    ({"mention_source": "web"}, "mention_source"),
    ({"gazetteers": [{"path": "x.txt", "label": "NOPE"}]}, "gazetteers"),
    ({"colour": "red"}, "unknown key"),
])
def test_bad_config(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_augment_config(overrides)


def test_packaged_gazetteers_give_org_and_loc_mentions():
    bank = build_mention_bank(load_augment_config({"mention_source": "gazetteer"}))
    assert ("Vietcombank",) in bank.mentions("vi", "ORG")
    assert ("Hà", "Nội") in bank.mentions("vi", "LOC")
    assert bank.labels("en") == []


def test_gazetteer_file_with_variants(tmp_path):
    terms = tmp_path / "shops.txt"
    terms.write_text("# shops\nThế Giới Di Động\tTGDĐ\nFPT Shop\n", encoding="utf-8")
    cfg = AugmentConfig(mention_source="gazetteer", gazetteers=[GazetteerList(str(terms), "ORG")])
    bank = build_mention_bank(cfg)
    assert bank.mentions("vi", "ORG") == (("FPT", "Shop"), ("TGDĐ",), ("Thế", "Giới", "Di", "Động"))


def test_unreadable_gazetteer_is_a_config_error(tmp_path):
    cfg = AugmentConfig(mention_source="gazetteer", gazetteers=[GazetteerList(str(tmp_path / "none.txt"), "ORG")])
    with pytest.raises(ConfigError, match="none.txt"):
        build_mention_bank(cfg)


def test_corpus_bank_uses_only_the_augmented_splits():
    train = make_example("anh/O An/B-PER", example_id="a")
    test = make_example("chị/O Bích/B-PER", example_id="b", split="test")
    bank = build_mention_bank(AugmentConfig(mention_source="corpus"), examples=[train, test],
                              mentions=[("vi", "LOC", ("Huế",))])
    assert bank.mentions("vi", "PER") == (("An",),)
    assert bank.mentions("vi", "LOC") == (("Huế",),)
    assert mentions_of(test) == [("vi", "PER", ("Bích",), "Bích")]


# --- augment_examples -----------------------------------------------------------------

CORPUS = [
    make_example("Bây/O giờ/O anh/O An/B-PER mua/O ở/O Hà/B-LOC Nội/I-LOC", example_id="s1"),
    make_example("chị/O Trần/B-PER Thị/I-PER Mai/I-PER gửi/O hàng/O cho/O Vietcombank/B-ORG", example_id="s2"),
    make_example("John/B-PER bought/O it/O in/O London/B-LOC", lang="en", example_id="s3"),
    make_example("rất/O tốt/O", example_id="s4"),
    make_example("anh/O Bình/B-PER ở/O Huế/B-LOC", example_id="s5", split="dev"),
]
CONFIG = AugmentConfig(copies=3, swap_probability=0.9, synonym_probability=0.5, seed=7, mention_source="both")
BANK = build_mention_bank(CONFIG, examples=CORPUS)


def by_id(examples) -> dict[str, Example]:
    return {e.example_id: e for e in examples}


def test_augmented_copies_ids_datasets_and_invariants():
    out = list(augment_examples(CORPUS, CONFIG, BANK))
    assert out, "nothing augmented"
    for copy in out:
        original_id, _, k = copy.example_id.partition("#aug")
        original = by_id(CORPUS)[original_id]
        assert 1 <= int(k) <= CONFIG.copies
        assert copy.dataset == "gold_aug" and copy.split == "train" and copy.lang == original.lang
        assert copy.tokens != original.tokens
        assert_consistent(copy)
    assert not any(e.example_id.startswith("s5") for e in out), "dev examples are not augmented"
    assert len({tuple(e.tokens) for e in out}) == len(out), "no duplicate copies"


def test_augmentation_is_independent_of_order_and_partitioning():
    whole = by_id(augment_examples(CORPUS, CONFIG, BANK))
    shuffled = CORPUS[:]
    random.Random(3).shuffle(shuffled)
    parts = [*augment_examples(shuffled[:2], CONFIG, BANK), *augment_examples(shuffled[2:], CONFIG, BANK)]
    rebuilt_bank = build_mention_bank(CONFIG, examples=list(reversed(CORPUS)))
    assert by_id(parts) == whole
    assert by_id(augment_examples(shuffled, CONFIG, rebuilt_bank)) == whole


def test_augmentation_is_the_same_in_another_process():
    code = (
        "import json, sys; sys.path.insert(0, 'tests'); from test_augment import CORPUS, CONFIG, BANK;"
        "from nerlake.udfs.augment import augment_examples;"
        "print(json.dumps([[e.example_id, e.text] for e in augment_examples(CORPUS, CONFIG, BANK)]))"
    )
    here = [[e.example_id, e.text] for e in augment_examples(CORPUS, CONFIG, BANK)]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True)
    assert json.loads(result.stdout) == here


def test_seed_changes_the_copies():
    other = dataclasses.replace(CONFIG, seed=8)
    assert by_id(augment_examples(CORPUS, CONFIG, BANK)) != by_id(augment_examples(CORPUS, other, BANK))


def test_copies_that_change_nothing_are_not_emitted():
    lonely = make_example("xin/O chào/O", example_id="q")  # "xin chào" is a synonym entry
    cfg = AugmentConfig(copies=2, synonym_probability=0.0, mention_source="corpus")
    assert list(augment_examples([lonely], cfg, MentionBank())) == []


@pytest.mark.parametrize("labels, problem", [
    (["I-PER", "O"], "does not continue"),
    (["B-PER", "I-LOC"], "does not continue"),
    (["B-", "O"], "is not O, B-X or I-X"),
    (["PER", "O"], "is not O, B-X or I-X"),
])
def test_invalid_bio_is_refused_with_the_example_id(labels, problem):
    assert problem in bio_error(labels)
    example = Example("gold", "train", "bad-1", "vi", "news", ["a", "b"], labels)
    for call in (lambda: swap_mentions(example, BANK, random.Random(0)),
                 lambda: replace_synonyms(example, SYNONYMS, random.Random(0)),
                 lambda: list(augment_examples([example], CONFIG, BANK))):
        with pytest.raises(InvalidExampleError, match=f"bad-1: invalid BIO: .*{problem}"):
            call()


# --- property: any valid BIO example stays valid --------------------------------------

WORDS = ["anh", "bây", "giờ", "mua", "rất", "tốt", "ở", "và", "Hà", "Nội", "An", "Mai", ".", ",", "xin", "chào"]
ENTITY_LABELS = ["PER", "LOC", "ORG", "DATE"]


@st.composite
def bio_examples(draw):
    tokens, labels = [], []
    for _ in range(draw(st.integers(0, 8))):
        label = draw(st.sampled_from(["O", "O", *ENTITY_LABELS]))
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3 if label != "O" else 1))
        tokens += words
        labels += ["O"] if label == "O" else [f"B-{label}"] + [f"I-{label}"] * (len(words) - 1)
    separators = draw(st.lists(st.sampled_from([" ", "  ", "\t", "\n "]), min_size=len(tokens) + 1,
                               max_size=len(tokens) + 1))
    text = separators[0] + "".join(t + s for t, s in zip(tokens, separators[1:]))
    lang = draw(st.sampled_from(["vi", "en"]))
    return Example("gold", "train", draw(st.text(min_size=1, max_size=5)), lang, "chat", tokens, labels,
                   text=text if tokens else "")


def mention_tokens(example: Example) -> set[tuple]:
    return {(lang, label, tokens) for lang, label, tokens, _ in mentions_of(example)}


mention_rows = st.lists(st.tuples(st.sampled_from(["vi", "en"]), st.sampled_from(ENTITY_LABELS),
                                  st.lists(st.sampled_from(WORDS + ["Lê Văn", "Tám"]), min_size=1, max_size=4)),
                        max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bio_examples(), mention_rows, st.integers(1, 3), st.floats(0, 1), st.floats(0, 1))
def test_augmentation_keeps_examples_valid(example, rows, copies, swap_p, synonym_p):
    bank = MentionBank.from_mentions(rows)
    cfg = AugmentConfig(copies=copies, swap_probability=swap_p, synonym_probability=synonym_p)
    allowed = {(lang, label, tuple(tokens)) for lang, label, tokens in rows} | mention_tokens(example)
    for copy in augment_examples([example], cfg, bank, synonyms={"vi": SYNONYMS, "en": SYNONYMS}):
        assert_consistent(copy)
        assert mention_tokens(copy) <= allowed
        # the same mentions in the same order, and the text around the tokens is kept
        assert [row[1] for row in mentions_of(copy)] == [row[1] for row in mentions_of(example)]
        assert copy.text[:copy.offsets[0][0]] == example.text[:example.offsets[0][0]]
        assert copy.text[copy.offsets[-1][1]:] == example.text[example.offsets[-1][1]:]
