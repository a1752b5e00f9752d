"""Entity label vocabulary shared by the rules, the models, the merge and the sample generator.

Boundary conventions (gold data, rules and merge all follow them):
- DATE / TIME / DURATION include their Vietnamese trigger words when they belong to the
  expression ("ngày 12/3/2024", "3 giờ chiều", "từ 8h đến 17h", "tuần trước").
- MONEY includes the number and its currency or scale word ("1,2 triệu đồng", "$50").
- PHONE, ID_NUMBER, ORDER_CODE, LICENSE_PLATE, EMAIL, URL cover the value only, never the
  cue word before it ("sđt", "CCCD", "mã đơn").
- ADDRESS is a full postal address ("12 Lê Lợi, phường Bến Nghé, quận 1, TP. HCM");
  LOC is a place name on its own ("Hà Nội", "quận 1" alone, "Đà Nẵng").
- CHEST / WAIST / HIP are fine labels of the BODY_MEASUREMENT group: the model sees the
  group, the merge step restores the fine label from context ("vòng ngực", "vòng eo", ...).
"""
from __future__ import annotations

CORE_LABELS = ("PER", "ORG", "LOC")

# label -> one-line meaning; the order is the canonical order used for BIO label lists.
LABELS: dict[str, str] = {
    "PER": "person name",
    "ORG": "organisation, company, bank, hospital, school",
    "LOC": "place name: country, province, city, district, landmark",
    "ADDRESS": "full postal address",
    "PHONE": "telephone number",
    "EMAIL": "e-mail address",
    "URL": "web address",
    "ID_NUMBER": "national ID number (CCCD 12 digits, CMND 9 digits)",
    "ORDER_CODE": "order or parcel tracking code",
    "LICENSE_PLATE": "vehicle licence plate",
    "DATE": "calendar date, month, relative date or date range",
    "TIME": "clock time, date-time or time range",
    "DURATION": "length of time",
    "MONEY": "amount of money with currency",
    "QUANTITY": "measured quantity with unit, product count, clothing size",
    "PRODUCT": "product or service name",
    "SYMPTOM": "symptom or disease (health reports)",
    "BODY_MEASUREMENT": "body measurement whose fine label is unknown (group label)",
    "CHEST": "chest circumference",
    "WAIST": "waist circumference",
    "HIP": "hip circumference",
}


def bio_labels(entity_labels) -> list[str]:
    """``O`` followed by B-/I- for each label, in the given order."""
    out = ["O"]
    for label in entity_labels:
        out += [f"B-{label}", f"I-{label}"]
    return out
