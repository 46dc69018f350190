"""Sentiment in [-1, 1]: the event type's prior plus a small domain lexicon.

    sentiment = clamp(prior(event) + 0.6 * T + 0.3 * S, -1, 1), rounded to 3 decimals

where T and S are the sums of the lexicon terms found in the title and in the summary,
each clamped to [-1, 1] so that a long summary cannot outvote its headline. The prior
carries what the event means (a rejection is bad news before any word is read); the
terms carry what the event type cannot ("beats estimates", "delay", "premium").

A term's contribution is its weight, times 1.5 after an intensifier ("significantly",
"sharply") or 0.5 after a softener ("slightly", "modestly") within two words, times -0.5
after a negator within three words in the same clause ("no safety concerns" is mildly
good, not bad). Words that name a disease are kept out of the lexicon: "heart failure",
"weight loss", "cognitive decline" and "HER2-positive" carry no sentiment. Lexicon
entries are tried in order and a later entry never re-counts words an earlier one
matched, so "misses estimates" counts once, as -0.4, not again as "miss".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.events import clean, is_negated
from flowdesk.biotech.analysis.parameters import DEFAULT_PARAMETERS, ModelParameters

NEGATED_FACTOR = -0.5
INTENSIFIER_FACTOR = 1.5
SOFTENER_FACTOR = 0.5
MODIFIER_WINDOW_WORDS = 2
INTENSIFIERS = frozenset(
    {"significantly", "sharply", "substantially", "strongly", "highly", "dramatically"}
)
SOFTENERS = frozenset({"slightly", "modestly", "marginally", "somewhat"})

# (pattern, weight); phrases before the single words they contain.
LEXICON: tuple[tuple[str, float], ...] = (
    (r"\b(beat|beats|exceed|exceeds|exceeded|tops?|topped) (analyst |consensus )?"
     r"(estimates|expectations|consensus)\b", 0.4),
    (r"\bmiss(es|ed)? (analyst |consensus )?(estimates|expectations|consensus)\b", -0.4),
    (r"\brais(e|es|ed|ing) (its )?(full-year |annual )?(guidance|outlook|forecast)\b", 0.4),
    (r"\b(cut|cuts|lower|lowers|lowered) (its )?(full-year |annual )?"
     r"(guidance|outlook|forecast)\b", -0.4),
    (r"\blift(s|ed)? (the |a )?(partial )?clinical hold\b", 0.6),
    (r"\bclinical hold\b[\w\s,'-]{0,30}?\b(lifted|removed)\b", 0.6),
    (r"\b(did|does)(n't| not) (meet|achieve|reach|show|demonstrate)\b", -0.4),
    (r"\bextend(s|ed)? (the )?(PDUFA|review|target action)\b", -0.3),
    (r"\b(black[- ]box|boxed) warning\b", -0.3),
    (r"\bsafety (signal|concern|issue)s?\b", -0.3),
    (r"\b(terminat\w*|ends|ended|exits?|exited|cancel\w*|walks away from)\b[\w\s,'$.-]{0,30}?"
     r"\b(collaboration|partnership|agreement|deal|license|merger|acquisition)\b", -0.8),
    (r"\bgoing concern\b", -0.6),
    (r"\b(bankrupt\w*|chapter 11|insolven\w*)\b", -0.7),
    (r"\b(layoffs?|job cuts|workforce reduction|restructuring)\b", -0.3),
    (r"\bstrategic alternatives\b", -0.2),
    (r"\breverse (stock )?split\b", -0.3),
    (r"\bahead of schedule\b", 0.2),
    (r"\bwell[- ]tolerated\b", 0.2),
    (r"\bclinically meaningful\b", 0.2),
    (r"\b(breakthrough|superior|best-in-class|first-in-class)\b", 0.3),
    (r"(?<!-)\b(positive|favou?rable|encouraging)\b", 0.3),
    (r"\brecord (revenue|sales|quarter|year|high)\b", 0.3),
    (r"\b(premium|upgrade[sd]?)\b", 0.3),
    (r"\b(strong|robust|durable|improv\w*|wins?|won)\b", 0.2),
    (r"\bsettle(s|d|ment)?\b", 0.1),
    (r"\b(disappoint\w*|fail(s|ed|ing)?|(trial|study|regulatory) failure|deaths?|died)\b", -0.4),
    (r"\b(delay\w*|halt\w*|suspend\w*|paus(e|es|ed|ing)|discontinu\w*|terminat\w*)\b", -0.3),
    (r"\b(withdr(aw|aws|ew|awn)|reject\w*|miss(es|ed)?|weak\w*|downgrade[sd]?|toxic\w*)\b", -0.3),
    (r"(?<!cognitive )(?<!functional )\bdeclin(e|es|ed|ing)\b", -0.3),
    (r"\b(plunge[sd]?|slump(s|ed)?|tumble[sd]?|fell|falls)\b", -0.3),
    (r"\b(dilut\w*|concerns?|abrupt\w*|resign\w*|step(s|ping)? down|ousted"
     r"|(net|wider|operating) loss(es)?)\b", -0.2),
)  # fmt: skip

_LEXICON = tuple((re.compile(p, re.IGNORECASE), w) for p, w in LEXICON)
_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class SentimentTerm:
    """One lexicon match and what it contributed, before the title/summary weight."""

    text: str
    field: str  # "title" or "summary"
    contribution: float


@dataclass(frozen=True)
class Sentiment:
    score: float
    prior: float
    terms: tuple[SentimentTerm, ...]


def score_sentiment(
    title: str,
    summary: str,
    event_type: EventType,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
) -> Sentiment:
    """The item's sentiment in [-1, 1]: event prior plus weighted lexicon terms."""
    prior = parameters.event_priors[event_type]
    title_terms = lexicon_terms(title, "title")
    summary_terms = lexicon_terms(summary, "summary")
    title_sum = _clamp(sum(t.contribution for t in title_terms))
    summary_sum = _clamp(sum(t.contribution for t in summary_terms))
    raw = prior + parameters.title_weight * title_sum + parameters.summary_weight * summary_sum
    return Sentiment(round(_clamp(raw), 3), prior, title_terms + summary_terms)


def lexicon_terms(text: str, field: str) -> tuple[SentimentTerm, ...]:
    """The lexicon terms in `text`, in reading order, each with its modified weight."""
    text = clean(text)
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, SentimentTerm]] = []
    for pattern, weight in _LEXICON:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            value = weight * _modifier(text, start)
            if is_negated(text, start):
                value *= NEGATED_FACTOR
            found.append((start, SentimentTerm(match.group(0), field, round(value, 3))))
    return tuple(term for _, term in sorted(found, key=lambda pair: pair[0]))


def _modifier(text: str, start: int) -> float:
    before = [w.casefold() for w in _WORD.findall(text[:start])][-MODIFIER_WINDOW_WORDS:]
    if any(w in INTENSIFIERS for w in before):
        return INTENSIFIER_FACTOR
    if any(w in SOFTENERS for w in before):
        return SOFTENER_FACTOR
    return 1.0


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))
