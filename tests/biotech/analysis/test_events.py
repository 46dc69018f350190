"""Event classification: realistic headlines, precedence, negation, confidence, evidence."""

from __future__ import annotations

import pytest

from flowdesk.biotech.analysis.event_rules import RULES, EventType
from flowdesk.biotech.analysis.events import (
    CONFIDENCE_NO_RULE,
    CONFIDENCE_SUMMARY,
    CONFIDENCE_TITLE,
    CONFIDENCE_TITLE_AND_SUMMARY,
    classify,
    is_negated,
)

E = EventType


class TestClassify:
    @pytest.mark.parametrize(
        ("title", "expected"),
        [
            ("FDA approves Gilead's lenacapavir for HIV prevention", E.REGULATORY_APPROVAL),
            ("Leqembi approved in China for early Alzheimer's disease", E.REGULATORY_APPROVAL),
            ("Novo Nordisk wins EU marketing approval for Wegovy pill", E.REGULATORY_APPROVAL),
            (
                "Regeneron receives complete response letter for odronextamab",
                E.REGULATORY_REJECTION,
            ),
            ("FDA issues refusal to file letter for flu vaccine", E.REGULATORY_REJECTION),
            ("FDA advisory committee votes against MDMA therapy", E.REGULATORY_REJECTION),
            ("EMA's CHMP issues negative opinion on Leqembi", E.REGULATORY_REJECTION),
            ("FDA accepts BLA for priority review", E.REGULATORY_UPDATE),
            ("Company receives Breakthrough Therapy designation for CAR-T", E.REGULATORY_UPDATE),
            ("FDA delays decision on Novavax vaccine", E.REGULATORY_UPDATE),
            ("Phase 3 trial of olezarsen met its primary endpoint", E.TRIAL_POSITIVE),
            ("Sarepta reports positive topline results from EMBARK", E.TRIAL_POSITIVE),
            ("Phase 3 trial of zanzalintinib misses main goal", E.TRIAL_NEGATIVE),
            ("Alzheimer's trial stopped early for futility", E.TRIAL_NEGATIVE),
            ("Company doses first patient in Phase 1 trial", E.TRIAL_UPDATE),
            ("FDA places clinical hold on Intellia's Phase 3 trial", E.SAFETY),
            ("Company recalls insulin pens over dosing defect", E.SAFETY),
            ("FDA adds boxed warning to label of gene therapy", E.SAFETY),
            ("Second patient death reported in Duchenne gene therapy program", E.SAFETY),
            ("Merck sues Halozyme over patent infringement", E.LITIGATION),
            ("Company receives subpoena from Justice Department", E.LITIGATION),
            ("Company prices $250 million public offering of common stock", E.FINANCING),
            ("Company raises $100 million to fund Phase 3 trial", E.FINANCING),
            ("Pfizer to acquire Seagen", E.M_AND_A),
            ("Novartis buys Avidity for $12 billion", E.M_AND_A),
            ("Company appoints Jane Doe as Chief Financial Officer", E.LEADERSHIP),
            ("CEO John Smith to step down at year end", E.LEADERSHIP),
            ("Company announces collaboration with Novartis on RNA editing", E.PARTNERSHIP),
            ("Moderna reports second quarter 2024 financial results", E.EARNINGS),
            ("Vertex beats estimates, raises full-year guidance", E.EARNINGS),
            ("Company to host investor day in New York", E.OTHER),
        ],
    )
    def test_realistic_headline_gets_its_event_type(self, title: str, expected: EventType) -> None:
        assert classify(title, "").event_type is expected

    @pytest.mark.parametrize(
        ("title", "expected"),
        [
            ("FDA declines to approve Vertex pain drug", E.REGULATORY_REJECTION),
            ("Agency deems migraine drug not approvable", E.REGULATORY_REJECTION),
            ("Biogen fails to win EU approval for Leqembi", E.REGULATORY_REJECTION),
            ("Pivotal study did not meet its primary endpoint", E.TRIAL_NEGATIVE),
            ("Phase 3 trial fails to meet primary endpoint", E.TRIAL_NEGATIVE),
            ("Reduction in relapses was not statistically significant", E.TRIAL_NEGATIVE),
            ("FDA lifts partial clinical hold on Beam's BEAM-302 trial", E.TRIAL_UPDATE),
            ("Clinical hold on Intellia trial lifted", E.TRIAL_UPDATE),
            ("FDA approves drug with boxed warning", E.REGULATORY_APPROVAL),
            ("FDA places clinical hold after patient death", E.SAFETY),
            ("Moderna seeks approval for next-generation COVID shot", E.REGULATORY_UPDATE),
            ("Company receives antitrust clearance for Seagen acquisition", E.M_AND_A),
            ("AbbVie acquires global rights to bispecific antibody", E.PARTNERSHIP),
            ("Biotech explores sale of the company", E.M_AND_A),
            ("Biogen terminates merger agreement with Sage", E.M_AND_A),
            ("Phase 2 data show no new safety signals", E.TRIAL_UPDATE),
        ],
    )
    def test_negations_and_conflicts_follow_the_documented_precedence(
        self, title: str, expected: EventType
    ) -> None:
        assert classify(title, "").event_type is expected

    def test_title_match_beats_a_higher_precedence_summary_match(self) -> None:
        result = classify(
            "Company prices $150 million public offering",
            "Proceeds fund the launch; the FDA approved the drug in May after a Phase 3 trial.",
        )

        assert result.event_type is E.FINANCING
        assert result.confidence == CONFIDENCE_TITLE

    def test_summary_decides_when_the_title_has_no_rule(self) -> None:
        result = classify("Intellia update", "The FDA placed a clinical hold on the trial.")

        assert result.event_type is E.SAFETY
        assert result.confidence == CONFIDENCE_SUMMARY
        assert [(ev.rule, ev.field) for ev in result.evidence] == [("clinical hold", "summary")]

    def test_agreement_of_title_and_summary_gives_full_confidence(self) -> None:
        result = classify(
            "FDA approves lenacapavir", "The drug was approved for HIV prevention in adults."
        )

        assert result.confidence == CONFIDENCE_TITLE_AND_SUMMARY == 1.0
        assert [(ev.rule, ev.field, ev.text) for ev in result.evidence] == [
            ("agency approves", "title", "FDA approves"),
            ("approved in or for", "summary", "approved for"),
        ]

    def test_no_rule_is_other_with_lowest_confidence(self) -> None:
        result = classify("Company to host investor day", "Webcast at 9 am.")

        assert (result.event_type, result.confidence, result.evidence) == (
            E.OTHER,
            CONFIDENCE_NO_RULE,
            (),
        )

    def test_typographic_apostrophes_and_dashes_match_like_ascii(self) -> None:
        assert classify("Pivotal study didn\u2019t meet its primary endpoint", "").event_type is (
            E.TRIAL_NEGATIVE
        )
        assert classify("FDA issues refuse\u2013to\u2013file letter", "").event_type is (
            E.REGULATORY_REJECTION
        )

    def test_every_event_type_but_other_has_a_rule(self) -> None:
        assert {rule.event_type for rule in RULES} == set(EventType) - {E.OTHER}

    def test_rule_labels_are_unique(self) -> None:
        labels = [rule.label for rule in RULES]

        assert len(labels) == len(set(labels))


class TestIsNegated:
    @pytest.mark.parametrize(
        ("text", "word"),
        [
            ("no new safety signals", "safety"),
            ("the trial did not meet its goal", "meet"),
            ("the trial didn't meet its goal", "meet"),
            ("the company failed to meet its goal", "meet"),
            ("completed without serious adverse events", "serious"),
        ],
    )
    def test_negator_within_three_words_negates(self, text: str, word: str) -> None:
        assert is_negated(text, text.index(word))

    @pytest.mark.parametrize(
        ("text", "word"),
        [
            ("no comment from the company on the approval", "approval"),
            ("Analysts saw no issue. FDA approves the drug", "approves"),
            ("FDA approves the drug", "approves"),
        ],
    )
    def test_distant_or_other_clause_negator_does_not(self, text: str, word: str) -> None:
        assert not is_negated(text, text.index(word))
