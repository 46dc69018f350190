"""Sentiment: the documented formula, signs, bounds, negation and modifiers."""

from __future__ import annotations

import pytest

from flowdesk.biotech.analysis.event_rules import EventType
from flowdesk.biotech.analysis.events import classify
from flowdesk.biotech.analysis.sentiment import lexicon_terms, score_sentiment

E = EventType


def sentiment_of(title: str, summary: str = "") -> float:
    return score_sentiment(title, summary, classify(title, summary).event_type).score


class TestScoreSentiment:
    @pytest.mark.parametrize(
        "title",
        [
            "FDA approves Gilead's lenacapavir for HIV prevention",
            "Phase 3 trial of olezarsen met its primary endpoint",
            "Vertex beats estimates, raises full-year guidance",
            "FDA lifts partial clinical hold on Beam's BEAM-302 trial",
            "Company announces collaboration with Novartis on RNA editing",
        ],
    )
    def test_good_news_is_positive(self, title: str) -> None:
        assert sentiment_of(title) > 0

    @pytest.mark.parametrize(
        "title",
        [
            "Regeneron receives complete response letter for odronextamab",
            "Pivotal study did not meet its primary endpoint",
            "FDA places clinical hold on Intellia's Phase 3 trial",
            "Biogen terminates merger agreement with Sage",
            "Company terminates collaboration with Novartis",
            "Company reports wider net loss, misses estimates, cuts guidance",
            "CFO resigns abruptly",
        ],
    )
    def test_bad_news_is_negative(self, title: str) -> None:
        assert sentiment_of(title) < 0

    def test_score_is_prior_plus_weighted_title_and_summary_terms(self) -> None:
        result = score_sentiment(
            "Company reports disappointing topline results",
            "Shares fell after the readout.",
            E.TRIAL_NEGATIVE,
        )

        # -0.6 prior + 0.6 * (-0.4 "disappointing") + 0.3 * (-0.3 "fell")
        assert result.prior == -0.6
        assert [(t.text, t.field, t.contribution) for t in result.terms] == [
            ("disappointing", "title", -0.4),
            ("fell", "summary", -0.3),
        ]
        assert result.score == -0.93

    def test_many_bad_words_stay_within_minus_one(self) -> None:
        title = "FDA rejects drug; deaths, delays, layoffs, bankruptcy and going concern doubt"

        assert score_sentiment(title, title, E.REGULATORY_REJECTION).score == -1.0

    def test_many_good_words_stay_within_plus_one(self) -> None:
        title = "FDA approves breakthrough, superior, well-tolerated drug after positive results"

        assert score_sentiment(title, title, E.REGULATORY_APPROVAL).score == 1.0

    def test_summary_terms_are_capped_so_they_cannot_outvote_the_title(self) -> None:
        summary = "Decline, weak sales, delays, layoffs, downgrade, concerns, losses. " * 5

        result = score_sentiment("FDA approves lenacapavir", summary, E.REGULATORY_APPROVAL)

        assert result.score == pytest.approx(0.6 + 0.3 * -1.0)

    def test_same_input_gives_the_same_score(self) -> None:
        args = ("Vertex beats estimates", "Revenue grew strongly.", E.EARNINGS)

        assert score_sentiment(*args) == score_sentiment(*args)


class TestLexiconTerms:
    def test_negated_term_flips_at_half_weight(self) -> None:
        assert [(t.text, t.contribution) for t in lexicon_terms("no safety concerns", "title")] == [
            ("safety concerns", 0.15)
        ]

    def test_intensifier_and_softener_scale_the_next_term(self) -> None:
        strong = lexicon_terms("significantly improved survival", "title")
        slight = lexicon_terms("slightly improved survival", "title")

        assert [t.contribution for t in strong] == [0.3]
        assert [t.contribution for t in slight] == [0.1]

    def test_phrase_is_counted_once_not_again_as_its_words(self) -> None:
        terms = lexicon_terms("Company misses estimates", "title")

        assert [(t.text, t.contribution) for t in terms] == [("misses estimates", -0.4)]

    @pytest.mark.parametrize(
        "text",
        [
            "Drug for heart failure",
            "Once-weekly weight loss injection",
            "Slows cognitive decline",
            "HER2-positive breast cancer",
        ],
    )
    def test_disease_names_carry_no_sentiment(self, text: str) -> None:
        assert lexicon_terms(text, "title") == ()
