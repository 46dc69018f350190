"""docs/analysis-model.md says what the code does: rule order, examples and numbers."""

from __future__ import annotations

import re
from pathlib import Path

from flowdesk.biotech.analysis.event_rules import RULES, EventType
from flowdesk.biotech.analysis.events import classify
from flowdesk.biotech.analysis.parameters import EVENT_PRIORS, EVENT_WEIGHTS

DOC = (Path(__file__).parents[3] / "docs" / "analysis-model.md").read_text()
RULE_ROW = re.compile(r"^\| (\d+) \| ([^|]+) \| `(\w+)` \| ([^|]+) \|$", re.MULTILINE)
WEIGHT_ROW = re.compile(r"^\| `(\w+)` \| ([\d.]+) \| ([+-][\d.]+) \|$", re.MULTILINE)


class TestAnalysisModelDoc:
    def test_rule_table_lists_the_rules_in_precedence_order(self) -> None:
        rows = [(int(n), label.strip(), kind) for n, label, kind, _ in RULE_ROW.findall(DOC)]

        assert rows == [
            (n, rule.label, rule.event_type.value) for n, rule in enumerate(RULES, start=1)
        ]

    def test_each_example_headline_is_decided_by_its_rule(self) -> None:
        for _, label, kind, example in RULE_ROW.findall(DOC):
            result = classify(example.strip(), "")
            assert (result.event_type.value, result.evidence[0].rule) == (kind, label.strip())

    def test_weight_and_prior_table_matches_the_parameters(self) -> None:
        rows = {kind: (float(w), float(p)) for kind, w, p in WEIGHT_ROW.findall(DOC)}

        assert rows == {e.value: (EVENT_WEIGHTS[e], EVENT_PRIORS[e]) for e in EventType}
