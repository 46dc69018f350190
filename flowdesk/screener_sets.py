"""Screener sets and presets from ``screener_sets.yml``: validated models, loader, hot reload."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Hashable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from flowdesk.errors import ConfigError, InvalidRequest, ScreenerSetNotFound
from flowdesk.screening.criteria import CRITERIA_NAMES, TICKER_RE, FilterCriteria
from flowdesk.settings import get_settings

logger = logging.getLogger(__name__)
M = TypeVar("M", "ScreenerSet", "Preset")

NAME_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
NAME_RE = re.compile(NAME_PATTERN)
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("version", "sets", "presets")
# Criteria that can never exceed 1 as fractions: a 15 there is a percentage typed by mistake.
FRACTION_CRITERIA = ("return_on_equity_min", "profit_margin_min", "dividend_yield_min")
NAME_HINT = "lower-case letters, digits and _, starting with a letter, 2-64 characters"


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in values)


class ScreenerSet(BaseModel):
    """A named universe of tickers a screener run scans."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    display_name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    categories: tuple[str, ...]
    tickers: tuple[str, ...]

    @field_validator("categories", mode="before")
    @classmethod
    def _check_categories(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError("categories must be a non-empty list of lower-case words")
        bad = [c for c in value if not isinstance(c, str) or not CATEGORY_RE.match(c)]
        if bad:
            raise ValueError(
                f"categories {_names(repr(c) for c in bad)} are not lower-case words "
                "(letters, digits and _, e.g. large_cap)"
            )
        return value

    @field_validator("tickers", mode="before")
    @classmethod
    def _check_tickers(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError("tickers must be a non-empty list (e.g. [AAPL, MSFT])")
        problems = [p for p in (_ticker_problem(t) for t in value) if p]
        problems += [
            f"ticker '{t}' is listed {n} times (remove the duplicates)"
            for t, n in Counter(t for t in value if isinstance(t, str)).items()
            if n > 1
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @property
    def ticker_count(self) -> int:
        return len(self.tickers)


def _ticker_problem(ticker: Any) -> str | None:
    if isinstance(ticker, bool):
        # YAML 1.1 reads ON, OFF, YES, NO, TRUE and FALSE as booleans: ON Semiconductor is "ON".
        return f'ticker {ticker} is a YAML boolean, not a string (quote it, e.g. "ON")'
    if not isinstance(ticker, str):
        return f'ticker {ticker!r} is not a string (quote it, e.g. "{ticker}")'
    if TICKER_RE.match(ticker):
        return None
    fixed = ticker.strip().upper()
    if TICKER_RE.match(fixed):
        return f"ticker '{ticker}' is not a valid ticker (use upper case, e.g. {fixed})"
    return (
        f"ticker '{ticker}' is not a valid ticker (upper-case letters, digits, '.' and '-', "
        "at most 15 characters, e.g. AAPL or BRK.B)"
    )


class Preset(BaseModel):
    """Named filter criteria a screener run can apply instead of spelling them out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(min_length=1)
    criteria: FilterCriteria

    @field_validator("criteria", mode="before")
    @classmethod
    def _check_fractions(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in FRACTION_CRITERIA:
                number = value.get(key)
                if isinstance(number, int | float) and number > 1:
                    raise ValueError(
                        f"{key} is {number}, which looks like a percentage; "
                        f"write a fraction (0.15 is 15 %)"
                    )
        return value


class ScreenerCatalog(BaseModel):
    """Every set and preset of one version of the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sets: dict[str, ScreenerSet]
    presets: dict[str, Preset]
    version: str = Field(description="First 12 hex characters of the file's sha256.")
    path: Path

    def resolve_set(self, name: str) -> ScreenerSet:
        """The set called ``name``, or ScreenerSetNotFound listing the known names."""
        try:
            return self.sets[name]
        except KeyError:
            raise ScreenerSetNotFound(
                f"no screener set '{name}'; known sets: {_names(sorted(self.sets))}"
            ) from None

    def resolve_preset(self, name: str) -> Preset:
        """The preset called ``name``, or InvalidRequest listing the known names."""
        try:
            return self.presets[name]
        except KeyError:
            raise InvalidRequest(
                f"no preset '{name}'; known presets: {_names(sorted(self.presets))}"
            ) from None

    def all_tickers(self) -> list[str]:
        """Every ticker of every set, once each, sorted."""
        return sorted({t for s in self.sets.values() for t in s.tickers})


class _StrictLoader(yaml.CSafeLoader):
    """A safe loader that refuses duplicate keys, which plain YAML resolves silently."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            continue  # construct_mapping names unhashable keys itself
        if key in seen:
            # Two `tech_majors:` blocks would otherwise keep only the second, without a word.
            problem = f"duplicate key '{key}' (a key may appear once per mapping; merge them)"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_yaml(path: Path, where: str) -> tuple[bytes, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: file not found (create it, or point FLOWDESK_SCREENER_SETS_PATH at it)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from exc
    try:
        return raw, yaml.load(raw, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if not isinstance(exc, yaml.constructor.ConstructorError):
            problem += " (fix the YAML syntax there)"
        raise ConfigError(f"{where}: {line}{problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML ({exc})") from exc


def _explain(error: ErrorDetails, allowed: tuple[str, ...]) -> str:
    """One pydantic error as a sentence with the fix."""
    loc = [str(part) for part in error["loc"]]
    kind = error["type"]
    if kind == "extra_forbidden" and loc[:1] == ["criteria"]:
        return f"unknown criterion '{loc[-1]}' (known criteria: {_names(CRITERIA_NAMES)})"
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}' (allowed keys: {_names(allowed)})"
    if kind == "missing":
        return f"missing key '{'.'.join(loc)}' (add it)"
    message = str(error["msg"])
    if kind == "value_error":
        # Our validators' messages already name the field and the fix.
        return message.removeprefix("Value error, ")
    if loc[:1] == ["criteria"] and len(loc) > 1:
        return f"criterion '{loc[1]}': {message} (got {error['input']!r})"
    return f"{'.'.join(loc)}: {message}" if loc else message


def _build_one(model: type[M], kind: str, name: Any, body: Any) -> M | list[str]:
    """Validate one set or preset, returning it or its problems."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        return [f"{kind} name '{name}' is invalid (use {NAME_HINT}, e.g. tech_majors)"]
    if not isinstance(body, dict):
        return [f"{kind} '{name}': must be a mapping of keys, got {type(body).__name__}"]
    if "name" in body:
        # The key is the name; a `name:` inside would silently disagree with it.
        return [f"{kind} '{name}': unknown key 'name' (the key above it is the name)"]
    allowed = tuple(f for f in model.model_fields if f != "name")
    try:
        return model.model_validate({**body, "name": name})
    except ValidationError as exc:
        return [f"{kind} '{name}': {_explain(e, allowed)}" for e in exc.errors()]


def _build(model: type[M], doc: dict[str, Any], key: str, problems: list[str]) -> dict[str, M]:
    """Validate every entry under ``key`` ("sets" or "presets"), adding problems to the list."""
    entries = doc.get(key) or {}
    if not isinstance(entries, dict):
        problems.append(f"'{key}' must be a mapping of name -> {key[:-1]}")
        return {}
    built: dict[str, M] = {}
    for name, body in entries.items():
        one = _build_one(model, key[:-1], name, body)
        if isinstance(one, list):
            problems.extend(one)
        else:
            built[name] = one
    return built


def load_catalog(path: Path) -> ScreenerCatalog:
    """Read and validate the file; every problem is named in one ConfigError."""
    where = _display(path)
    raw, doc = _read_yaml(path, where)
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {_names(TOP_LEVEL_KEYS)}")
    problems = [
        f"unknown top-level key '{key}' (allowed keys: {_names(TOP_LEVEL_KEYS)})"
        for key in doc
        if key not in TOP_LEVEL_KEYS
    ]
    if type(doc.get("version")) is not int or doc["version"] != FORMAT_VERSION:
        problems.append(
            f"version is {doc.get('version')!r}; this flowdesk reads version {FORMAT_VERSION}"
        )
    if not doc.get("sets"):
        problems.append("no sets are defined (add at least one under 'sets:')")
    sets = _build(ScreenerSet, doc, "sets", problems)
    presets = _build(Preset, doc, "presets", problems)
    if problems:
        raise ConfigError("\n".join(f"{where}: {p}" for p in problems))
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return ScreenerCatalog(sets=sets, presets=presets, version=digest, path=path)


Stamp = tuple[int, int] | None


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


class CatalogStore:
    """The last good catalog of one file, reloaded when the file's (mtime_ns, size) changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_error: str | None = None
        self._lock = threading.Lock()
        # Stat before reading: a write racing the read then shows as a change next call.
        self._stamp = _stamp(path)
        # Start-up fails loudly: there is no last good catalog to fall back on yet.
        self._catalog = load_catalog(path)

    def get(self) -> ScreenerCatalog:
        """The current catalog; one os.stat per call, a reload only when the file changed."""
        stamp = _stamp(self.path)
        with self._lock:
            if stamp == self._stamp:
                return self._catalog
            # Remember the bad version's stamp too, so it is parsed and logged once.
            self._stamp = stamp
            try:
                catalog = load_catalog(self.path)
            except ConfigError as exc:
                self.last_error = exc.detail
                logger.error(
                    "screener sets not reloaded, still serving version %s: %s",
                    self._catalog.version,
                    exc.detail,
                )
                return self._catalog
            if catalog.version != self._catalog.version:
                logger.info("screener sets reloaded: version %s", catalog.version)
            self._catalog, self.last_error = catalog, None
            return catalog


@lru_cache
def get_catalog_store() -> CatalogStore:
    """The process's store for the configured screener sets file."""
    return CatalogStore(get_settings().screener_sets_path)
