"""The ``biotech_weekly`` report: the desk's week across the portfolio, and its renderings.

The rules, with the numbers:

- **Window**: the ``days`` (default 7) before ``as_of``, the moment the run's snapshot was
  resolved: ``[as_of - days, as_of)``. An insight counts when it was published in the
  window and stored by ``as_of``, so rerunning the snapshot later reports the same week;
  an alert counts when it was created in the window.
- **Risk**: *now* is a company's latest score at or before ``as_of``, *then* its latest
  at or before the window start, and the change is now − then. A company never scored
  shows "—"; one first scored inside the window shows its score and "new".
- **Top movers**: the 3 largest rises and the 3 largest falls, ties by company id. The
  notification names risers of at least 5 points: one fresh critical item moves a score
  about 13 (25 × 0.9 × 0.6), while a week of decay alone takes about 6 off a score of 70.
- **Portfolio sentiment**: the window's insights' mean sentiment weighted by materiality;
  positive above +0.1, negative below −0.1, neutral between.
- **Dominant event type**: a company's most frequent event type in the window, ties
  alphabetically.
- **Coverage**: a company with no scan in the window is a data gap: its zeros mean "not
  looked at", not "nothing happened".
- **Lists**: the ``top_n`` most material events (then newest, company, title); critical
  and warning alerts newest first, at most ``alerts_limit``; companies by priority (high
  first), then risk now (highest first, unscored last), then id.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

import markdown
from pydantic import BaseModel, ConfigDict

from flowdesk.reports.system_status import _CSS, _table, _text, _when

MOVERS_SHOWN = 3
NOTABLE_RISE = 5.0
SENTIMENT_BAND = 0.1
SEVERITIES = ("critical", "warning", "info")
LISTED_SEVERITIES = ("critical", "warning")
PRIORITY_ORDER = ("high", "medium", "low")
# Parentheses, spaces and pipes are percent-encoded: they would end a markdown link or cell.
_URL_SAFE = ":/?#@!$&'*+,;=%~-._"
ARTIFACTS_POINTER = "Full report: report.md, report.html and data.json in the run's artifacts."


class _Gathered(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompanyWeek(_Gathered):
    """One company's window: risk then and now, insight and alert counts, last scan."""

    company_id: str
    name: str
    priority: str
    risk_then: float | None
    risk_now: float | None
    insights: int
    sentiment_mean: float | None
    weighted_sentiment: float  # sum of sentiment x materiality
    materiality_total: float
    event_counts: dict[str, int]
    alerts: dict[str, int]  # by severity
    last_scan_at: datetime | None
    scanned_in_window: bool

    @property
    def risk_change(self) -> float | None:
        """Risk now minus risk then, or None unless both exist."""
        if self.risk_now is None or self.risk_then is None:
            return None
        return round(self.risk_now - self.risk_then, 2)

    @property
    def dominant_event(self) -> str | None:
        """The most frequent event type, ties alphabetically."""
        ranked = sorted(self.event_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[0][0] if ranked else None


class MaterialEvent(_Gathered):
    company_id: str
    title: str
    url: str | None
    source: str
    event_type: str
    sentiment: float
    materiality: float
    severity: str | None
    published_at: datetime


class AlertEntry(_Gathered):
    company_id: str
    severity: str
    title: str
    created_at: datetime
    delivered_at: datetime | None


class BiotechWeekly(_Gathered):
    """Everything the report shows, gathered from the desk's tables."""

    as_of: datetime
    days: int
    window_start: datetime
    top_n: int
    alerts_limit: int
    companies: list[CompanyWeek]
    material_events: list[MaterialEvent]
    alerts: list[AlertEntry]


def portfolio_rows(report: BiotechWeekly) -> list[CompanyWeek]:
    """Companies by priority, then risk now (highest first, unscored last), then id."""

    def key(c: CompanyWeek) -> tuple[int, bool, float, str]:
        rank = PRIORITY_ORDER.index(c.priority) if c.priority in PRIORITY_ORDER else 3
        return rank, c.risk_now is None, -(c.risk_now or 0.0), c.company_id

    return sorted(report.companies, key=key)


def total_insights(report: BiotechWeekly) -> int:
    """Insights in the window, all companies."""
    return sum(c.insights for c in report.companies)


def alert_totals(report: BiotechWeekly) -> dict[str, int]:
    """Alerts in the window by severity: critical, warning, info, then any other."""
    totals: Counter[str] = Counter()
    for company in report.companies:
        totals.update(company.alerts)
    others = sorted(s for s in totals if s not in SEVERITIES)
    return {s: totals[s] for s in (*SEVERITIES, *others)}


def event_breakdown(report: BiotechWeekly) -> dict[str, int]:
    """Insights in the window by event type, most first, ties alphabetically."""
    totals: Counter[str] = Counter()
    for company in report.companies:
        totals.update(company.event_counts)
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


def risers(report: BiotechWeekly) -> list[CompanyWeek]:
    """The companies whose risk rose most, largest rise first."""
    up = [c for c in report.companies if (c.risk_change or 0.0) > 0]
    return sorted(up, key=lambda c: (-(c.risk_change or 0.0), c.company_id))[:MOVERS_SHOWN]


def fallers(report: BiotechWeekly) -> list[CompanyWeek]:
    """The companies whose risk fell most, largest fall first."""
    down = [c for c in report.companies if (c.risk_change or 0.0) < 0]
    return sorted(down, key=lambda c: (c.risk_change or 0.0, c.company_id))[:MOVERS_SHOWN]


def portfolio_sentiment(report: BiotechWeekly) -> float | None:
    """Mean sentiment weighted by materiality, or None when no insight has materiality."""
    weight = sum(c.materiality_total for c in report.companies)
    if weight <= 0:
        return None
    return round(sum(c.weighted_sentiment for c in report.companies) / weight, 4)


def data_gaps(report: BiotechWeekly) -> list[str]:
    """Ids of the companies with no scan in the window."""
    return sorted(c.company_id for c in report.companies if not c.scanned_in_window)


def _mood(value: float) -> str:
    if value > SENTIMENT_BAND:
        return "positive"
    return "negative" if value < -SENTIMENT_BAND else "neutral"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _move(c: CompanyWeek) -> str:
    return f"{c.company_id} {_score(c.risk_then)} → {_score(c.risk_now)} ({c.risk_change:+.1f})"


def _by_severity(totals: dict[str, int]) -> str:
    """``2 critical, 0 warning, 1 info``: critical and warning always, others when any."""
    return ", ".join(f"{n} {s}" for s, n in totals.items() if n or s in LISTED_SEVERITIES)


def executive_sentences(report: BiotechWeekly) -> list[str]:
    """The summary's prose: activity, movers, sentiment and coverage, one sentence each."""
    n, insights = len(report.companies), total_insights(report)
    span = f"the {report.days} days to {_when(report.as_of)}"
    totals = alert_totals(report)
    total = sum(totals.values())
    alerts = f"{total} alert{'s' * (total != 1)} ({_by_severity(totals)})" if total else "no alerts"
    if insights == 0:
        lines = [
            f"No insights were recorded for the {n} companies covered in {span}; "
            f"the desk raised {alerts}."
        ]
    else:
        active = sum(1 for c in report.companies if c.insights)
        lines = [
            f"In {span} the desk recorded {insights} insights on {active} of {n} companies "
            f"and raised {alerts}."
        ]
    up, down = risers(report), fallers(report)
    if up or down:
        moves = [f"rose most at {_move(up[0])}"] if up else []
        moves += [f"fell most at {_move(down[0])}"] if down else []
        lines.append(f"Risk {' and '.join(moves)}.")
    else:
        lines.append("No company's risk score changed over the window.")
    mood = portfolio_sentiment(report)
    if mood is not None:
        lines.append(f"Portfolio sentiment was {_mood(mood)} ({mood:+.2f}, materiality-weighted).")
    gaps = data_gaps(report)
    if gaps:
        lines.append(
            f"{len(gaps)} of {n} companies had no analysis scan in the window "
            f"({', '.join(gaps)}): their zeros are a data gap, not a quiet week."
        )
    elif n:
        lines.append("Every company covered was scanned in the window.")
    return lines


def executive_bullets(report: BiotechWeekly) -> list[str]:
    """The summary's key figures as plain-text bullet lines (no markdown)."""
    n, insights = len(report.companies), total_insights(report)
    priority = sum(1 for c in report.companies if c.priority == "high")
    mood = portfolio_sentiment(report)
    gaps = data_gaps(report)
    active = sum(1 for c in report.companies if c.insights)
    return [
        f"Companies covered: {n} ({priority} priority)",
        f"Insights: {insights} on {active} companies" if insights else "Insights: none",
        f"Alerts: {sum(alert_totals(report).values())} ({_by_severity(alert_totals(report))})",
        f"Risk up most: {', '.join(map(_move, risers(report))) or 'none'}",
        f"Risk down most: {', '.join(map(_move, fallers(report))) or 'none'}",
        "Portfolio sentiment: "
        + ("n/a (no insights)" if mood is None else f"{mood:+.2f} ({_mood(mood)})"),
        f"Analysis coverage: {n - len(gaps)} of {n} companies scanned"
        + (f"; data gap: {', '.join(gaps)}" if gaps else ""),
    ]


def _link(title: str, url: str | None) -> str:
    if url is None or not url.startswith(("https://", "http://")):
        return _text(title)
    return f"[{_text(title)}]({quote(url, safe=_URL_SAFE)})"


def _executive_section(report: BiotechWeekly) -> list[str]:
    lines = ["## Executive summary", "", _text(" ".join(executive_sentences(report))), ""]
    lines += [f"- {_text(b)}" for b in executive_bullets(report)]
    lines += ["", f"### Most material events (top {report.top_n})", ""]
    if not report.material_events:
        return lines + ["No insights in the window.", ""]
    return lines + _table(
        ["Published", "Company", "Event", "Materiality", "Sentiment", "Severity", "Title"],
        [
            [
                _when(e.published_at),
                _text(e.company_id),
                _text(e.event_type),
                f"{e.materiality:.2f}",
                f"{e.sentiment:+.2f}",
                _text(e.severity),
                _link(e.title, e.url),
            ]
            for e in report.material_events
        ],
    )


def _portfolio_section(report: BiotechWeekly) -> list[str]:
    lines = ["## Portfolio", ""]
    if not report.companies:
        return lines + ["No companies covered.", ""]
    rows = []
    for c in portfolio_rows(report):
        change = "new" if c.risk_now is not None and c.risk_then is None else "—"
        rows.append(
            [
                f"{_text(c.company_id)} ({_text(c.name)})",
                _text(c.priority),
                _score(c.risk_now),
                change if c.risk_change is None else f"{c.risk_change:+.1f}",
                str(c.insights),
                *(str(c.alerts.get(s, 0)) for s in SEVERITIES),
                _text(c.dominant_event),
                "—" if c.sentiment_mean is None else f"{c.sentiment_mean:+.2f}",
                _when(c.last_scan_at) + ("" if c.scanned_in_window else " (gap)"),
            ]
        )
    header = ["Company", "Priority", "Risk", "Change", "Insights", "Critical", "Warning"]
    header += ["Info", "Dominant event", "Sentiment", "Last scan"]
    note = "Critical, Warning and Info count the company's alerts in the window."
    return lines + [note, ""] + _table(header, rows)


def _events_section(report: BiotechWeekly) -> list[str]:
    lines, breakdown = ["## Event breakdown", ""], event_breakdown(report)
    if not breakdown:
        return lines + ["No insights in the window.", ""]
    total = sum(breakdown.values())
    rows = [[_text(e), str(n), f"{n / total:.0%}"] for e, n in breakdown.items()]
    return lines + _table(["Event type", "Insights", "Share"], rows)


def _alerts_section(report: BiotechWeekly) -> list[str]:
    lines = ["## Critical and warning alerts", ""]
    listed = sum(alert_totals(report)[s] for s in LISTED_SEVERITIES)
    if not listed:
        return lines + ["No critical or warning alerts in the window.", ""]
    if not report.alerts:
        return lines + [f"{listed} in the window; none listed (alerts_limit is 0).", ""]
    lines += [f"The {len(report.alerts)} most recent of {listed}, newest first.", ""]
    rows = [
        [_when(a.created_at), _text(a.company_id), _text(a.severity), _text(a.title)]
        + [_when(a.delivered_at) if a.delivered_at else "not delivered"]
        for a in report.alerts
    ]
    return lines + _table(["Created", "Company", "Severity", "Title", "Delivered"], rows)


def report_title(report: BiotechWeekly) -> str:
    """The report's title: the week it ends."""
    return f"Weekly biotech report — week ending {report.as_of:%Y-%m-%d}"


def render_markdown(report: BiotechWeekly) -> str:
    """The report as markdown: summary, material events, portfolio, events, alerts."""
    lines = (
        [f"# {report_title(report)}", ""] + _executive_section(report) + _portfolio_section(report)
    )
    lines += _events_section(report) + _alerts_section(report)
    lines += ["---", "", f"Window: {_when(report.window_start)} to {_when(report.as_of)}."]
    return "\n".join(lines) + "\n"


def render_html(report: BiotechWeekly) -> str:
    """The markdown rendering as a standalone HTML page."""
    converter = markdown.Markdown(extensions=["tables"])
    # As for system_status: user text is escaped already and raw HTML is refused too.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = converter.convert(render_markdown(report))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{report_title(report)} — flowdesk</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _mover(c: CompanyWeek) -> dict[str, Any]:
    return {"company_id": c.company_id, "then": c.risk_then, "now": c.risk_now}


def summary(report: BiotechWeekly) -> dict[str, Any]:
    """The short result summary the API shows for a finished run."""
    return {
        "as_of": report.as_of.isoformat(),
        "days": report.days,
        "companies": len(report.companies),
        "insights": total_insights(report),
        "alerts": alert_totals(report),
        "risk_up": [_mover(c) | {"change": c.risk_change} for c in risers(report)],
        "risk_down": [_mover(c) | {"change": c.risk_change} for c in fallers(report)],
        "portfolio_sentiment": portfolio_sentiment(report),
        "data_gaps": data_gaps(report),
    }


def to_json(report: BiotechWeekly) -> dict[str, Any]:
    """The gathered facts plus every computed figure, JSON-safe."""
    data = report.model_dump(mode="json")
    for row, company in zip(data["companies"], report.companies, strict=True):
        row.update(risk_change=company.risk_change, dominant_event=company.dominant_event)
    data.update(summary=summary(report), event_breakdown=event_breakdown(report))
    return data


def notification(report: BiotechWeekly) -> tuple[str, str]:
    """The (subject, plain-text body) to send: headline counts, then the summary bullets."""
    critical = alert_totals(report)["critical"]
    notable = [c.company_id for c in risers(report) if (c.risk_change or 0) >= NOTABLE_RISE]
    news = [f"{critical} critical alert{'s' * (critical != 1)}"]
    news += [f"risk up at {', '.join(notable)}"] if notable else []
    if not total_insights(report):
        news.append("no insights in the window")
    subject = f"flowdesk weekly biotech report — week ending {report.as_of:%Y-%m-%d}: "
    window = f"{_when(report.window_start)} to {_when(report.as_of)}"
    body = [report_title(report), f"Window: {window}", ""]
    body += [f"- {b}" for b in executive_bullets(report)] + ["", ARTIFACTS_POINTER]
    return subject + ", ".join(news), "\n".join(body) + "\n"
