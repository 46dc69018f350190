"""Event classification: an ordered list of keyword rules over the title and the summary.

The rules live in event_rules.py. The classifier looks for the first rule, in list
order, that matches the title; only when no rule matches the title does it look for
the first rule that matches the summary. The headline is what the story is about; the
summary often mentions background (an earlier approval, the trial a loan will fund).

List order is the precedence, and it is how conflicts are settled:

- "clinical hold lifted" and "IND cleared" come before the safety rules: the news is that
  the trial can go ahead (`trial_update`), not that there is a safety problem.
- rejections come before approvals ("FDA declines to approve", "not approvable"), approvals
  before safety ("approved with a boxed warning"), safety before trial results ("trial
  halted after patient deaths"), failed endpoints before met ones ("did not meet").
- "acquires rights to" is a licensing deal (`partnership`) and comes before M&A.
- generic trial mentions ("Phase 3", "topline") come last, so that an offering "to fund
  the Phase 3 trial" is financing and "Q2 results; Phase 3 on track" is earnings.

A match preceded, in the same clause, within three words by a negator ("no", "not",
"without", "n't", "fails to", ...) is not evidence: "no new safety signals" is not a
safety event and "did not meet its primary endpoint" is not a positive readout.

Confidence says where the winning type was found: title and summary 1.0, title only 0.85,
summary only 0.6, no rule at all (`other`) 0.5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowdesk.biotech.analysis.event_rules import RULES, EventType

CONFIDENCE_TITLE_AND_SUMMARY = 1.0
CONFIDENCE_TITLE = 0.85
CONFIDENCE_SUMMARY = 0.6
CONFIDENCE_NO_RULE = 0.5

NEGATION_WINDOW_WORDS = 3
NEGATORS = frozenset({"no", "not", "never", "without", "nor", "neither", "none", "cannot"})
NEGATING_PAIRS = frozenset({("fail", "to"), ("fails", "to"), ("failed", "to"), ("unable", "to")})

_WORD = re.compile(r"[\w']+")
_CLAUSE_END = re.compile(r"[.;:!?]\s")
_COMPILED = tuple((rule.event_type, rule.label, rule.compiled()) for rule in RULES)


@dataclass(frozen=True)
class Evidence:
    """One rule that matched: its label, the field it matched in, and the words."""

    rule: str
    field: str  # "title" or "summary"
    text: str


@dataclass(frozen=True)
class Classification:
    event_type: EventType
    confidence: float
    evidence: tuple[Evidence, ...]


def clean(text: str) -> str:
    """Typographic apostrophes and dashes as ASCII, so one pattern covers every feed."""
    return text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")


def is_negated(text: str, start: int, window: int = NEGATION_WINDOW_WORDS) -> bool:
    """True when a negator stands within `window` words before `start`, in the same clause."""
    clause = _CLAUSE_END.split(text[:start])[-1]
    words = [w.casefold() for w in _WORD.findall(clause)][-window:]
    if any(w in NEGATORS or w.endswith("n't") for w in words):
        return True
    return any(pair in NEGATING_PAIRS for pair in zip(words, words[1:], strict=False))


def _matches(text: str, field: str) -> list[tuple[int, int, EventType, Evidence]]:
    """(rule index, position, type, evidence) for every match that is not negated."""
    found = []
    for index, (kind, label, pattern) in enumerate(_COMPILED):
        for match in pattern.finditer(text):
            if not is_negated(text, match.start()):
                evidence = Evidence(label, field, match.group(0).strip())
                found.append((index, match.start(), kind, evidence))
    return sorted(found, key=lambda entry: entry[:2])


def classify(title: str, summary: str) -> Classification:
    """The event type of a news item, with the rule matches that decided it."""
    in_title = _matches(clean(title), "title")
    in_summary = _matches(clean(summary), "summary")
    if not in_title and not in_summary:
        return Classification(EventType.OTHER, CONFIDENCE_NO_RULE, ())
    kind = (in_title or in_summary)[0][2]
    title_evidence = [evidence for *_, k, evidence in in_title if k == kind]
    summary_evidence = [evidence for *_, k, evidence in in_summary if k == kind]
    if title_evidence and summary_evidence:
        confidence = CONFIDENCE_TITLE_AND_SUMMARY
    elif title_evidence:
        confidence = CONFIDENCE_TITLE
    else:
        confidence = CONFIDENCE_SUMMARY
    return Classification(kind, confidence, tuple(title_evidence + summary_evidence))
