"""The biotech desk's companies from ``companies.yaml``: validated models, loader, registry.

The file keeps the seed's shape (``companies: [{id, name, priority, analysis_frequency}]``)
and adds ``active``, ``aliases``, ``excludes`` and ``feeds`` per company plus top-level
``shared_feeds``; ``config/companies.yaml`` documents every field. Every problem of the
file is reported at once, one line each, naming the file, the company and the fix.

PRIORITY_COMPANIES, when set, decides which companies are priority: exactly the ids it
names get ``priority: high`` and any other company the file marks high is lowered to
medium, so ``priority == high`` and ``is_priority`` always agree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Iterable, Iterator
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from flowdesk.biotech.items import Priority
from flowdesk.errors import ConfigError, NotFound
from flowdesk.screening.criteria import TICKER_RE
from flowdesk.settings import get_settings

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("version", "companies", "shared_feeds")
_SEPARATORS = re.compile(r"[\s\-]+")


class AnalysisFrequency(StrEnum):
    """How often the full analysis covers a company; priority adds the hourly quick scan."""

    DAILY = "daily"
    WEEKLY = "weekly"


class CompanyNotFound(NotFound):
    """No company with that id in companies.yaml."""


def _phrase(term: str) -> str:
    """A regex for ``term`` where spaces and hyphens match each other: Bristol-Myers Squibb."""
    return r"[\s\-]+".join(re.escape(part) for part in _SEPARATORS.split(term.strip()) if part)


def _words_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Any of ``terms`` as whole words, case-insensitive, the longest alternative first."""
    alternatives = sorted((_phrase(t) for t in terms), key=len, reverse=True)
    return re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)", re.IGNORECASE)


def _key(term: str) -> str:
    return " ".join(_SEPARATORS.split(term.strip().casefold()))


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s?#]+", url):
        return f"feed {url!r} is not an http(s) URL (e.g. https://example.com/news/rss.xml)"
    return None


def _check_feeds(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise ValueError("feeds must be a list of http(s) URLs")
    problems = [p for p in map(_url_problem, value) if p]
    problems += [
        f"feed {u} is listed twice (remove one)" for u in dict.fromkeys(value) if value.count(u) > 1
    ]
    if problems:
        raise ValueError("; ".join(problems))
    return value


class Company(BaseModel):
    """One watched company: its ticker, names the news uses, priority and feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1)
    priority: Priority
    analysis_frequency: AnalysisFrequency
    active: bool = True
    aliases: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()

    @field_validator("id", mode="before")
    @classmethod
    def _check_id(cls, value: Any) -> Any:
        if isinstance(value, bool):
            # YAML 1.1 reads ON, OFF, YES, NO, TRUE and FALSE unquoted as booleans.
            raise ValueError(f'id {value} is a YAML boolean, not a string (quote it, e.g. "ON")')
        if not isinstance(value, str):
            raise ValueError(f'id {value!r} is not a string (quote it, e.g. "{value}")')
        if not TICKER_RE.match(value):
            fixed = value.strip().upper()
            hint = f"use upper case, e.g. {fixed}" if TICKER_RE.match(fixed) else "e.g. GILD"
            raise ValueError(f"id '{value}' is not a ticker ({hint})")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _strip_name(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("name is empty (write the company's name, e.g. Gilead Sciences)")
        return value.strip() if isinstance(value, str) else value

    @field_validator("aliases", "excludes", mode="before")
    @classmethod
    def _check_terms(cls, value: Any) -> Any:
        if value is None:  # `aliases:` with nothing after it
            return []
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of names, e.g. [Gilead]")
        bad = [t for t in value if not isinstance(t, str) or not re.search(r"\w", t)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))} must be names with a letter or digit")
        keys = [_key(t) for t in value]
        repeated = sorted({t for t, k in zip(value, keys, strict=True) if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed twice (remove the duplicates)")
        return [t.strip() for t in value]

    @field_validator("feeds", mode="before")
    @classmethod
    def _check_feeds(cls, value: Any) -> Any:
        return [] if value is None else _check_feeds(value)

    @property
    def terms(self) -> tuple[str, ...]:
        """The names a news text may use for the company: its name and its aliases."""
        return (self.name, *self.aliases)

    @property
    def is_priority(self) -> bool:
        """Priority companies get the hourly quick scan on top of their analysis."""
        return self.priority is Priority.HIGH


class CompanyRegistry:
    """The companies of one load of the file, by id, and who a news text mentions."""

    def __init__(self, companies: Iterable[Company], shared_feeds: Iterable[str] = ()) -> None:
        self._by_id = {c.id: c for c in companies}
        self.shared_feeds = tuple(shared_feeds)
        self._matchers = [
            (
                c.id,
                _words_pattern(c.terms),
                # Tickers match in upper case only: "mRNA" in a story is not Moderna.
                re.compile(rf"(?<![\w\-]){re.escape(c.id)}(?![\w\-])"),
                _words_pattern(c.excludes) if c.excludes else None,
            )
            for c in self._by_id.values()
        ]

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Company]:
        return iter(self._by_id.values())

    def __contains__(self, company_id: object) -> bool:
        return isinstance(company_id, str) and company_id.strip().upper() in self._by_id

    def all(self) -> list[Company]:
        """Every company in file order, active or not."""
        return list(self._by_id.values())

    def active(self) -> list[Company]:
        """The companies the daily analysis covers."""
        return [c for c in self._by_id.values() if c.active]

    def priority(self) -> list[Company]:
        """The active priority companies: the hourly quick scan's list."""
        return [c for c in self._by_id.values() if c.active and c.is_priority]

    def get(self, company_id: str) -> Company:
        """The company with this id (any case), or CompanyNotFound listing the known ids."""
        try:
            return self._by_id[company_id.strip().upper()]
        except KeyError:
            known = ", ".join(self._by_id)
            raise CompanyNotFound(f"no company '{company_id}'; known ids: {known}") from None

    def match(self, text: str) -> list[str]:
        """Ids of the companies ``text`` names by name, alias or ticker, first mention first."""
        # Whole words, case-insensitive: "Pfizer's" is Pfizer, "Pfizerville" is not. Excludes
        # are blanked out first (same length, so positions hold): "Merck KGaA" is not Merck.
        found: list[tuple[int, str]] = []
        for company_id, names, ticker, excludes in self._matchers:
            scrubbed = excludes.sub(lambda m: " " * len(m[0]), text) if excludes else text
            hits = [m.start() for m in (names.search(scrubbed), ticker.search(scrubbed)) if m]
            if hits:
                found.append((min(hits), company_id))
        return [company_id for _, company_id in sorted(found)]


def _cross_problems(companies: list[Company], shared_feeds: list[str]) -> list[str]:
    """What is wrong between companies: repeated ids, names two companies share, feeds."""
    problems: list[str] = []
    owners: dict[str, str] = {}  # a name, alias or ticker, casefolded -> the company it names
    ids: set[str] = set()
    for company in companies:
        if company.id in ids:
            problems.append(f"company '{company.id}' is listed twice (merge the entries)")
            continue
        ids.add(company.id)
        for term in (*company.terms, company.id):
            other = owners.setdefault(_key(term), company.id)
            if other != company.id:
                problems.append(
                    f"company '{company.id}': '{term}' also names company '{other}', so news "
                    "mentioning it would be attributed to both (keep it on one company)"
                )
        pattern = _words_pattern(company.terms)
        problems += [
            f"company '{company.id}': exclude '{e}' contains none of its names or aliases, "
            "so it excludes nothing (remove it)"
            for e in company.excludes
            if not pattern.search(e)
        ]
        problems += [
            f"company '{company.id}': feed {url} is also in shared_feeds (keep it in one place)"
            for url in company.feeds
            if url in shared_feeds
        ]
    return problems


def _explain(error: ErrorDetails, allowed: tuple[str, ...]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{loc}' (allowed keys: {', '.join(allowed)})"
    if error["type"] == "missing":
        return f"missing key '{loc}' (add it)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error":
        return message if loc == "id" or message.startswith(loc) else f"{loc}: {message}"
    if loc == "analysis_frequency" and error["input"] == "hourly":
        message += "; the hourly quick scan is for priority companies (set priority: high)"
    return f"{loc}: {message} (got {error['input']!r})"


def _build(index: int, entry: Any) -> Company | list[str]:
    label = f"companies[{index}]"
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        label = f"company '{entry['id']}'"
    if not isinstance(entry, dict):
        return [f"{label}: must be a mapping (- id: GILD, name: ...), got {type(entry).__name__}"]
    try:
        return Company.model_validate(entry)
    except ValidationError as exc:
        allowed = tuple(Company.model_fields)
        return [f"{label}: {_explain(e, allowed)}" for e in exc.errors()]


class _StrictLoader(yaml.CSafeLoader):
    """A safe loader that refuses duplicate keys, which plain YAML resolves silently."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable) and key in seen:
            # Two `priority:` lines in one company would otherwise keep the second silently.
            problem = f"duplicate key '{key}' (a key may appear once per mapping; keep one)"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_bytes(), Loader=_StrictLoader)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (create it, or point FLOWDESK_COMPANIES_PATH at it)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or "invalid YAML"
        if not isinstance(exc, yaml.constructor.ConstructorError):
            problem += " (fix the YAML syntax there)"
        raise ConfigError(f"{path}: {line}{problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc


def _apply_override(companies: list[Company], ids: frozenset[str], where: str) -> list[Company]:
    known = {c.id: c for c in companies}
    ids = frozenset(i.strip().upper() for i in ids)
    if not ids:
        raise ConfigError(
            "PRIORITY_COMPANIES is set but names no company (list ids, e.g. GILD,MRNA, "
            f"or unset it to use the priorities in {where})"
        )
    unknown = sorted(ids - known.keys())
    if unknown:
        raise ConfigError(
            f"PRIORITY_COMPANIES names {', '.join(unknown)}, not in {where} "
            f"(fix the ids or add the companies; known ids: {', '.join(known)})"
        )
    inactive = sorted(i for i in ids if not known[i].active)
    if inactive:
        raise ConfigError(
            f"PRIORITY_COMPANIES names {', '.join(inactive)}, inactive in {where}, so it "
            "would never be scanned (set active: true or drop it from PRIORITY_COMPANIES)"
        )
    out = []
    for company in companies:
        priority = company.priority
        if company.id in ids:
            priority = Priority.HIGH
        elif priority is Priority.HIGH:
            priority = Priority.MEDIUM
            logger.info("%s: priority high lowered to medium by PRIORITY_COMPANIES", company.id)
        out.append(company.model_copy(update={"priority": priority}))
    return out


def load_companies(path: Path, priority_override: frozenset[str] | None = None) -> CompanyRegistry:
    """Read and validate the file; every problem is named in one ConfigError."""
    where = str(path)
    doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    problems = [
        f"unknown top-level key '{key}' (allowed keys: {', '.join(TOP_LEVEL_KEYS)})"
        for key in doc
        if key not in TOP_LEVEL_KEYS
    ]
    if "version" in doc and (type(doc["version"]) is not int or doc["version"] != FORMAT_VERSION):
        problems.append(f"version is {doc['version']!r}; this flowdesk reads version 1")
    entries = doc.get("companies")
    if not isinstance(entries, list) or not entries:
        problems.append("'companies' must be a non-empty list (- id: GILD, name: ..., ...)")
        entries = []
    shared = doc.get("shared_feeds") or []
    try:
        _check_feeds(shared)
    except ValueError as exc:
        problems.append(f"shared_feeds: {exc}")
        shared = []
    companies: list[Company] = []
    for index, entry in enumerate(entries):
        built = _build(index, entry)
        if isinstance(built, list):
            problems.extend(built)
        else:
            companies.append(built)
    problems += _cross_problems(companies, shared)
    if problems:
        raise ConfigError("\n".join(f"{where}: {p}" for p in problems))
    if priority_override is not None:
        companies = _apply_override(companies, priority_override, where)
    return CompanyRegistry(companies, shared)


@lru_cache
def get_companies() -> CompanyRegistry:
    """The process's companies: the configured file with the PRIORITY_COMPANIES override."""
    settings = get_settings()
    return load_companies(settings.companies_path, settings.priority_company_ids)
