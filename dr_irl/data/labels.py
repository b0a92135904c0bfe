"""How a data set's labels and prompts are compared: normalised prompts, normalised labels, and the keyword
heuristic that gives a category to a prompt without a (mapped) harm label.

Shared by the training sources (:mod:`dr_irl.data.sources`) and the evaluation sets
(:mod:`dr_irl.evaluation.benchmarks`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def normalize_prompt(text: str) -> str:
    """Case-insensitive, whitespace-normalised prompt text: the key of held-out disjointness."""
    return " ".join(text.lower().split())


def label_key(label: str) -> str:
    """Lower case, runs of non-alphanumerics → ``_``: how labels and ``dataset.category_map`` keys are compared."""
    return re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_")


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """A whole word (or ``_``-joined words) of a :func:`label_key`-normalised text, with an optional ending."""
    return re.compile(r"(?:^|_)" + re.escape(keyword) + r"(?:s|es|d|ed|ing|er|ers)?(?:_|$)")


def _keywords(category: str, words: str) -> dict[str, str]:
    return dict.fromkeys(words.split(), category)


# A heuristic for a set without harm labels: whole-word keywords (``_`` joins multi-word keys), priority order.
HH_RLHF_KEYWORDS: dict[str, str] = {
    **_keywords(
        "mental_health",
        "kill_myself hurt_myself self_harm suicide suicidal depressed depression hopeless worthless",
    ),
    **_keywords(
        "privacy_property",
        "address home_address phone_number social_security ssn password personal_information "
        "private_information credit_card_number spy_on dox",
    ),
    **_keywords(
        "insult", "insult insulting stupid idiot dumb ugly fat mean_things cuss swear_word roast bully"
    ),
    **_keywords(
        "unfairness_discrimination",
        "racist racism sexist stereotype immigrant black_people white_people asian mexican jew jewish muslim "
        "gay transgender women minorities",
    ),
    **_keywords(
        "physical_harm",
        "kill murder hurt poison gun weapon bomb explosive stab shoot punch beat_up fight attack",
    ),
    **_keywords(
        "crimes_illegal",
        "steal stole rob robbery robbing shoplift burglar break_into drug cocaine heroin meth launder fraud "
        "scam hack illegal smuggle counterfeit fake_id get_away_with",
    ),
    **_keywords("ethics_morality", "cheat lie lying affair revenge prank manipulate betray porn sex"),
}


def keyword_category(prompt: str, table: Mapping[str, str] = HH_RLHF_KEYWORDS) -> str | None:
    """The category of the first keyword of ``table`` that occurs in ``prompt`` (None: no keyword)."""
    normalized = label_key(prompt)
    for keyword, category in table.items():
        if category and keyword_pattern(keyword).search(normalized):
            return category
    return None
