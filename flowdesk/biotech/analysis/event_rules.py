"""The event types and the ordered rules that recognise them in a headline or a summary.

A rule is a label and one or more case-insensitive regular expressions with word
boundaries. `RULES` is in precedence order: the classifier (events.py) takes the first
rule that matches the title, else the first that matches the summary. The order settles
conflicts, so a rule sits before every rule it must beat: "clinical hold lifted" before
"clinical hold", "did not meet" before "endpoint met", "acquires rights" before
"acquisition or merger", and the generic "trial news" last but for `other`. Changing the
order changes what the model says; docs/analysis-model.md lists the table and the reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    """What a news item is about; the values are stored, so they never change."""

    REGULATORY_APPROVAL = "regulatory_approval"
    REGULATORY_REJECTION = "regulatory_rejection"
    REGULATORY_UPDATE = "regulatory_update"
    TRIAL_POSITIVE = "trial_positive"
    TRIAL_NEGATIVE = "trial_negative"
    TRIAL_UPDATE = "trial_update"
    SAFETY = "safety"
    LITIGATION = "litigation"
    FINANCING = "financing"
    M_AND_A = "m_and_a"
    LEADERSHIP = "leadership"
    PARTNERSHIP = "partnership"
    EARNINGS = "earnings"
    OTHER = "other"


_GAP = r"[\w\s,'-]{0,30}?"  # up to ~5 words between two parts of a phrase
_AGENCY = r"(FDA|EMA|European Commission|MHRA|PMDA|NMPA|Health Canada|regulators?|agency)"
_ROLE = (
    r"(CEO|CFO|COO|CMO|CSO|CTO|CCO|chief [\w-]+ officer|president|"
    r"chair(man|woman|person)?|head of R&D|board members?)"
)
_ENDPOINT = r"(primary|main|co-primary|key secondary)\s+(end ?points?|goals?|objectives?)"


@dataclass(frozen=True)
class Rule:
    """Any of `patterns` (case-insensitive) in a field is evidence for `event_type`."""

    event_type: EventType
    label: str
    patterns: tuple[str, ...]

    def compiled(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE)


def _rule(event_type: EventType, label: str, *patterns: str) -> Rule:
    return Rule(event_type, label, patterns)


E = EventType
# In precedence order; docs/analysis-model.md lists them in a table.
# fmt: off
RULES: tuple[Rule, ...] = (
    _rule(E.TRIAL_UPDATE, "clinical hold lifted",
          rf"\b(lift|remov|releas|resolv)\w*\b{_GAP}\bclinical hold\b",
          rf"\bclinical hold\b{_GAP}\b(lifted|removed|released|resolved)\b"),
    _rule(E.TRIAL_UPDATE, "IND cleared",
          rf"\bIND\b{_GAP}\bclear\w*\b", rf"\bclear(s|ed|ance)\b{_GAP}\bIND\b"),
    _rule(E.REGULATORY_REJECTION, "complete response letter",
          r"\bcomplete response letter\b", r"\bCRL\b"),
    _rule(E.REGULATORY_REJECTION, "refuse to file", r"\brefus(e|es|ed|al)[- ]to[- ]file\b"),
    _rule(E.REGULATORY_REJECTION, "not approvable", r"\bnot (been )?(approvable|approved)\b"),
    _rule(E.REGULATORY_REJECTION, "agency rejects",
          rf"\b{_AGENCY}\b{_GAP}\b(reject\w*|den(y|ies|ied))\b",
          rf"\brejected by (the )?{_AGENCY}\b",
          r"\b(declin|refus)\w* to (approve|grant|accept)\b"),
    _rule(E.REGULATORY_REJECTION, "fails to win approval",
          rf"\bfail(s|ed)? to (win|gain|secure|receive|obtain|get)\b{_GAP}\bapproval\b"),
    _rule(E.REGULATORY_REJECTION, "negative opinion or vote",
          r"\bnegative (CHMP )?(opinion|vote|recommendation)\b",
          rf"\b(panel|committee|adcom)s?\b{_GAP}\bvot(e|es|ed) against\b"),
    _rule(E.REGULATORY_REJECTION, "application withdrawn",
          rf"\bwithdr(aw|aws|ew|awn)\b{_GAP}\b(application|BLA|NDA|MAA|submission)\b"),
    _rule(E.M_AND_A, "deal clearance",
          rf"\b(antitrust|shareholder|stockholder|regulatory) (clearance|approval)\b{_GAP}"
          r"\b(merger|acquisition|deal|takeover|transaction)\b"),
    _rule(E.REGULATORY_APPROVAL, "agency approves", rf"\b{_AGENCY}\b{_GAP}\bapprov(es|ed)\b"),
    _rule(E.REGULATORY_UPDATE, "approval pending",
          rf"\b(seek|await|pending|expect|anticipat|plan|path)\w*\b{_GAP}\bapproval\b"),
    _rule(E.REGULATORY_APPROVAL, "receives approval",
          r"\b(receiv|win|won|gain|secur|obtain|grant)\w*\b\s+(\w+\s+){0,3}?"
          r"(FDA|EMA|EU|European|U\.?S\.?|regulatory|marketing|conditional|accelerated|full"
          r"|Japanese|Chinese)\s+(\w+\s+)?(approval|authori[sz]ation)\b"),
    _rule(E.REGULATORY_APPROVAL, "approved in or for", r"\bapproved (in|for|by)\b"),
    _rule(E.REGULATORY_APPROVAL, "clearance or nod",
          r"\b510\(k\) clearance\b", r"\bCE mark\b",
          rf"\b{_AGENCY}\b{_GAP}\bnod\b", rf"\bnod from (the )?{_AGENCY}"),
    _rule(E.SAFETY, "clinical hold", r"\bclinical hold\b"),
    _rule(E.SAFETY, "recall", r"\brecall(s|ed|ing)?\b"),
    _rule(E.SAFETY, "boxed warning", r"\b(black[- ]box|boxed) warning\b"),
    _rule(E.SAFETY, "adverse events",
          r"\b(serious |severe |fatal )?adverse (events?|reactions?)\b"),
    _rule(E.SAFETY, "patient deaths",
          r"\b(patient|participant|subject|trial) deaths?\b",
          r"\bdeaths? (of|in) (a |an |two |three )?(patient|participant|subject)s?\b",
          r"\b(patient|participant|subject)s? died\b"),
    _rule(E.SAFETY, "safety signal", r"\bsafety (signal|concern|issue)s?\b"),
    _rule(E.SAFETY, "market withdrawal",
          rf"\b(withdr\w+|pull(s|ed)?)\b{_GAP}\bfrom (the )?market\b"),
    _rule(E.TRIAL_NEGATIVE, "endpoint failed", rf"\b(fail|miss)\w*\b{_GAP}\b{_ENDPOINT}\b"),
    _rule(E.TRIAL_NEGATIVE, "did not meet",
          r"\b(did|does|do)(n't| not) (meet|achieve|reach|show|demonstrate)\b[\w\s,'-]{0,40}?"
          r"\b(end ?points?|goals?|significan\w*|benefit|efficacy|improvement)"),
    _rule(E.TRIAL_NEGATIVE, "not significant",
          r"\b(not|no|non)[- ]statistically significant\b",
          r"\bnot reach statistical significance\b"),
    _rule(E.TRIAL_NEGATIVE, "no efficacy",
          r"\bnot (effective|efficacious)\b", r"\b(lack of|no) (efficacy|clinical benefit)\b"),
    _rule(E.TRIAL_NEGATIVE, "futility", r"\bfutil(e|ity)\b"),
    _rule(E.TRIAL_NEGATIVE, "program discontinued",
          rf"\b(discontinu|terminat|scrap|halt|abandon)\w*\b{_GAP}"
          r"\b(development|program|programme|trial|study)\b"),
    _rule(E.TRIAL_NEGATIVE, "negative results",
          r"\b(negative|disappointing|mixed|inconclusive) (topline |top-line |interim )?"
          r"(phase \w+ |pivotal )?(data|results?|readout)\b"),
    _rule(E.SAFETY, "dosing paused",
          rf"\b(paus|suspend)\w*\b{_GAP}\b(dosing|enrol?lment|trial|study)\b"),
    _rule(E.TRIAL_POSITIVE, "endpoint met",
          rf"\b(met|meets|meet|achiev\w*|hit|hits|reach\w*)\b{_GAP}\b{_ENDPOINT}\b"),
    _rule(E.TRIAL_POSITIVE, "statistically significant",
          r"\bstatistically significant (improvement|reduction|benefit)s?\b",
          r"\bstatistical significance\b"),
    _rule(E.TRIAL_POSITIVE, "positive results",
          r"\b(positive|encouraging|strong|robust|compelling) (topline |top-line |interim |final )?"
          r"(phase \w+ |pivotal )?(data|results?|readout|efficacy)\b"),
    _rule(E.REGULATORY_UPDATE, "accepted for review",
          rf"\baccept\w*\b{_GAP}\b(review|filing|BLA|NDA|MAA|sBLA|sNDA)\b"),
    _rule(E.REGULATORY_UPDATE, "application submitted",
          rf"\b(submit\w*|submission|files|filed|filing)\b{_GAP}"
          r"\b(BLA|NDA|MAA|sBLA|sNDA|marketing authori[sz]ation)\b"),
    _rule(E.REGULATORY_UPDATE, "designation",
          r"\b(breakthrough therapy|fast track|orphan drug|RMAT|PRIME) (designation|status)\b",
          r"\bpriority review\b"),
    _rule(E.REGULATORY_UPDATE, "review delayed",
          rf"\b(delay|extend|postpon)\w*\b{_GAP}\b(decision|review|approval|PDUFA)\b"),
    _rule(E.REGULATORY_UPDATE, "PDUFA date", r"\bPDUFA\b", r"\b(target )?action date\b"),
    _rule(E.REGULATORY_UPDATE, "positive opinion or vote",
          r"\bpositive (CHMP )?opinion\b",
          rf"\b(panel|committee|adcom)s?\b{_GAP}\bvot(e|es|ed) (in favou?r|to recommend)\b"),
    _rule(E.REGULATORY_APPROVAL, "approval for",
          r"\b(FDA|EU|European|U\.?S\.?|Japanese|Chinese|regulatory|marketing)"
          r" approval (for|of)\b"),
    _rule(E.PARTNERSHIP, "acquires rights", rf"\b(acquir|licens|obtain|gain)\w*\b{_GAP}\brights\b"),
    _rule(E.M_AND_A, "acquisition or merger",
          r"\b(acquir(e|es|ed|ing)|acquisition|buyout|buy out|takeover|take-over|merger"
          r"|merge[sd]?|tender offer)\b"),
    _rule(E.M_AND_A, "buys for", r"\b(to buy|buys|bought)\b[\w\s,'.-]{0,40}?\bfor (US)?[$€£]"),
    _rule(E.M_AND_A, "explores sale",
          r"\b(explor|consider|weigh|review)\w*\b[\w\s'-]{0,20}?"
          r"\b(sale|strategic (alternatives|options))\b",
          r"\bstrategic alternatives\b", r"\bup for sale\b"),
    _rule(E.LITIGATION, "lawsuit",
          r"\b(lawsuit|suit|sues|sued|suing|class[- ]action|litigation|verdict|jury|injunction)\b"),
    _rule(E.LITIGATION, "patent dispute",
          r"\bpatent (infringement|challenge|dispute|litigation|invalidat\w*)\b",
          r"\binfring\w*\b", r"\binter partes review\b"),
    _rule(E.LITIGATION, "settlement", r"\bsettle(s|d|ment)?\b"),
    _rule(E.LITIGATION, "investigation",
          r"\b(SEC|DOJ|FTC|federal|government|criminal|congressional)"
          r" (investigation|probe|inquiry)\b",
          r"\b(investigation|probe) (into|by)\b", r"\bsubpoena\w*\b", r"\bwarning letter\b"),
    _rule(E.FINANCING, "offering",
          r"\b(public offering|private placement|registered direct|at[- ]the[- ]market"
          r"|(stock|share|equity|debt|notes) offering|shelf registration)\b",
          r"\bpric(e|es|ed|ing) (an |its )?(upsized )?offering\b"),
    _rule(E.FINANCING, "debt or raise",
          r"\b(convertible (senior )?notes|senior notes|credit facility|term loan|loan agreement"
          r"|royalty (financing|monetization)|funding round"
          r"|series [a-f] (financing|round|funding))\b",
          r"\brais(e|es|ed|ing) (US)?[$€£]"),
    _rule(E.FINANCING, "dilution", r"\bdilut\w*\b", r"\breverse (stock )?split\b"),
    _rule(E.LEADERSHIP, "executive appointed",
          r"\b(appoint\w*|nam(e|es|ed)|hire[sd]?|promot\w*|tap(s|ped)?)\b"
          rf"[\w\s,'.-]{{0,60}}?\b{_ROLE}\b"),
    _rule(E.LEADERSHIP, "executive departs",
          rf"\b{_ROLE}\b[\w\s,'.-]{{0,60}}?"
          r"\b(resign\w*|step(s|ping|ped)? down|retir\w*|depart\w*|leav(e|es|ing)|ousted|fired)\b"),
    _rule(E.LEADERSHIP, "leadership change",
          r"\b(management|leadership|executive) (change|shake-?up|transition)s?\b"),
    _rule(E.PARTNERSHIP, "collaboration",
          r"\b(collaborat\w*|partner(s|ship|ships|ing|ed)?|licens(e|es|ing) (agreement|deal)"
          r"|co-develop\w*|co-commerciali[sz]\w*|alliance|joint venture|(in|out)-licens\w*"
          r"|exclusive license|option agreement)\b"),
    _rule(E.EARNINGS, "quarterly results",
          r"\b((first|second|third|fourth)[- ]quarter|Q[1-4]|full[- ]year|fiscal (year|\d{4})"
          r"|quarterly|earnings|revenues?|sales|EPS|financial results|net (loss|income))\b",
          r"\b(raise|lower|cut|reaffirm|maintain|update)\w* (its )?(\d{4} |full[- ]year )?"
          r"guidance\b"),
    _rule(E.TRIAL_UPDATE, "trial news",
          r"\b(phase ?(1|2|3|i|ii|iii|1/2|2/3|i/ii|ii/iii|1b|2a|2b)|pivotal|registrational|topline"
          r"|top-line|interim analysis|first patient|enrol?lment)\b",
          r"\bpresent\w* (new |updated |additional )?(clinical |preclinical )?data\b",
          r"\b(trial|study) (data|results?|readout)\b"),
)
# fmt: on
