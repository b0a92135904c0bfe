"""Answer extraction and matching of generated answers: the final number of a GSM8k answer, exact numeric
comparison, and accepted answers found as whole words in a normalised response."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from dr_irl.data.schema import DataError

# a number: optional minus (not a hyphen between two words/numbers), optional $, digits with thousands commas,
# optional decimals
_NUMBER = r"(?:(?<![\w-])-)?\$?\d(?:[\d,]*\d)?(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_HASHES_RE = re.compile(r"####\s*(" + _NUMBER + ")")
_ANSWER_IS_RE = re.compile(r"answer is[:\s]*(" + _NUMBER + ")", re.IGNORECASE)


def parse_number(text: str) -> Decimal | None:
    """The value of one number string (``"1,234"``, ``"$5.00"``, ``"- 3"``), or None when it is none."""
    cleaned = re.sub(r"[\s$,]", "", text).rstrip(".")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def extract_gsm8k_answer(response: str) -> str | None:
    """The final number of a GSM8k answer: ``#### N``, else ``The answer is N``, else the last number."""
    for pattern in (_HASHES_RE, _ANSWER_IS_RE):
        found = pattern.findall(response)
        if found:
            return found[-1].strip()
    numbers = _NUMBER_RE.findall(response)
    return numbers[-1].strip() if numbers else None


def gsm8k_reference(answer: str) -> str:
    """The reference number of a GSM8k solution (the text after its last ``####``)."""
    if "####" not in answer:
        raise DataError(f"GSM8k answer without '####': {answer[-80:]!r}")
    return answer.rsplit("####", 1)[1].strip()


def numbers_equal(predicted: str | None, reference: str) -> bool:
    """Exact numeric match of two number strings (``"5.00"`` equals ``"5"``, ``"1,234"`` equals ``"1234"``)."""
    if predicted is None:
        return False
    a, b = parse_number(predicted), parse_number(reference)
    return a is not None and b is not None and a == b


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_answer(text: str) -> str:
    """Lower case, accents stripped, thousands commas dropped, punctuation and articles removed, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_match(response: str, answers: Sequence[str]) -> bool:
    """True when some accepted answer occurs, as whole words, in the normalised response."""
    padded = f" {normalise_answer(response)} "
    return any(f" {a} " in padded for a in map(normalise_answer, answers) if a)
