"""De-duplication: seen fingerprints, exact and near duplicates, earliest kept, determinism."""

from __future__ import annotations

from flowdesk.biotech.analysis.dedupe import dedupe, jaccard, title_words
from tests.biotech.analysis.factories import news


class TestDedupe:
    def test_previously_seen_fingerprint_is_dropped(self) -> None:
        stored = news("FDA approves lenacapavir", hours_ago=30)
        again = news("FDA approves lenacapavir", "Rescanned.", hours_ago=30)

        assert dedupe([again], {stored.fingerprint}) == []

    def test_same_headline_from_two_feeds_keeps_the_earliest(self) -> None:
        wire = news("FDA Approves Lenacapavir!", source="wire", hours_ago=5)
        blog = news("FDA approves lenacapavir", source="blog", hours_ago=2)

        assert dedupe([blog, wire], set()) == [wire]

    def test_same_canonical_url_is_one_story_even_with_another_title(self) -> None:
        first = news("Gilead wins approval", url="https://www.fierce.com/a/?utm=rss", hours_ago=9)
        retitled = news("Update: Gilead HIV shot approved", url="http://fierce.com/a", hours_ago=1)

        assert dedupe([retitled, first], set()) == [first]

    def test_publisher_suffix_does_not_make_a_new_story(self) -> None:
        first = news("Intellia pauses dosing in Phase 3 gene editing trial", hours_ago=8)
        aggregated = news(
            "Intellia pauses dosing in Phase 3 gene editing trial - Reuters", hours_ago=7
        )

        assert dedupe([first, aggregated], set()) == [first]

    def test_one_extra_word_within_the_window_is_a_near_duplicate(self) -> None:
        first = news("Vertex raises full-year guidance after strong quarter", hours_ago=30)
        extra = news("Vertex raises its full-year guidance after strong quarter", hours_ago=2)

        assert dedupe([extra, first], set()) == [first]

    def test_near_duplicate_outside_the_window_is_kept(self) -> None:
        first = news("Vertex raises full-year guidance after strong quarter", hours_ago=24 * 5)
        extra = news("Vertex raises its full-year guidance after strong quarter", hours_ago=1)

        assert dedupe([first, extra], set()) == [first, extra]

    def test_one_changed_word_in_a_long_title_is_a_different_story(self) -> None:
        phase2 = news("Intellia reports Phase 2 data for NTLA-2001 in ATTR cardiomyopathy")
        phase3 = news("Intellia reports Phase 3 data for NTLA-2001 in ATTR cardiomyopathy")

        assert len(dedupe([phase2, phase3], set())) == 2

    def test_same_headline_about_two_companies_is_two_stories(self) -> None:
        ntla = news("Company announces CEO transition", company_id="NTLA", url="https://x.io/1")
        beam = news("Company announces CEO transition!", company_id="BEAM", url="https://x.io/1")

        assert len(dedupe([ntla, beam], set())) == 2

    def test_result_does_not_depend_on_input_order(self) -> None:
        items = [
            news("FDA approves Gilead's lenacapavir for HIV", source="b", hours_ago=3),
            news("FDA approves Gilead's lenacapavir for HIV - BioSpace", source="a", hours_ago=3),
            news("Gilead prices notes offering", hours_ago=1),
            news("Gilead prices notes offering", source="c", hours_ago=4),
        ]

        kept = dedupe(items, set())

        assert dedupe(list(reversed(items)), set()) == kept
        assert [(i.source, i.title) for i in kept] == [
            ("c", "Gilead prices notes offering"),
            ("a", "FDA approves Gilead's lenacapavir for HIV - BioSpace"),
        ]


class TestTitleWords:
    def test_short_suffix_after_a_long_head_is_dropped(self) -> None:
        assert title_words("FDA approves Gilead HIV shot | BioSpace") == {
            "fda",
            "approves",
            "gilead",
            "hiv",
            "shot",
        }

    def test_suffix_is_kept_when_the_head_would_be_too_short(self) -> None:
        assert title_words("FDA approves lenacapavir - BioSpace") == {
            "fda",
            "approves",
            "lenacapavir",
            "biospace",
        }

    def test_dash_in_a_short_title_is_not_a_publisher(self) -> None:
        assert title_words("Gilead - FDA approves HIV shot") == {
            "gilead",
            "fda",
            "approves",
            "hiv",
            "shot",
        }

    def test_jaccard_of_one_added_word_in_six(self) -> None:
        a = frozenset("a b c d e f".split())

        assert round(jaccard(a, a | {"g"}), 3) == 0.857
        assert jaccard(frozenset(), frozenset()) == 0.0
