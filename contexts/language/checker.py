"""Find victim-blaming wording in free text and suggest the preferred words; never change the text.

Each rule is a regular expression matched case-insensitively on word boundaries. A rule may carry
``not_after``: a regular expression tried against the few words just before a match (within the same
sentence, joined by single spaces); when it matches, the phrase is taken as negated or used correctly
(for example "cannot consent") and not flagged. Anchor it with ``$`` to require the words to come
immediately before the phrase, which is what the shipped rules do so that a negation elsewhere in the
sentence never hides a concern.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from contexts.errors import InvalidInput

RULES_FILE = Path(__file__).with_name("rules.json")
NOT_AFTER_WORDS = 5
"""How many words before a match its rule's ``not_after`` expression sees."""

_LOOKBACK_CHARS = 200
_SENTENCE_BREAK = re.compile(r"[.!?;]|\n[ \t\r\f\v]*\n")
_RULE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_REQUIRED = ("id", "pattern", "suggestion", "reason")
_OPTIONAL = ("not_after", "examples")


@dataclass(frozen=True)
class FiresExample:
    """A sentence its rule must flag, and the exact phrase it must flag in it."""

    text: str
    phrase: str


@dataclass(frozen=True)
class Finding:
    """One flagged phrase: ``text[start:end] == phrase`` (offsets into the Python string, end exclusive)."""

    start: int
    end: int
    phrase: str
    suggestion: str
    reason: str
    rule_id: str


def _compile(rule_id: str, key: str, pattern: str) -> re.Pattern[str]:
    """Compile a rule's expression on word boundaries, or raise naming the rule."""
    try:
        return re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)
    except re.error as problem:
        raise InvalidInput(
            f"Language rule '{rule_id}': {key} is not a valid regular expression ({problem}).",
            field=f"{rule_id}.{key}",
        ) from problem


@dataclass(frozen=True)
class Rule:
    """One wording rule: what to look for, what to suggest, why, and examples that prove it."""

    id: str
    pattern: str
    suggestion: str
    reason: str
    not_after: str | None = None
    fires: tuple[FiresExample, ...] = ()
    quiet: tuple[str, ...] = ()
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    not_after_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate the rule, compile its expressions once and check it against its own examples."""
        if not _RULE_ID.fullmatch(self.id):
            raise InvalidInput(
                f"Language rule '{self.id}': the id must be a slug such as 'runs-away'.", field="id"
            )
        for key in ("pattern", "suggestion", "reason"):
            if not getattr(self, key).strip():
                raise InvalidInput(f"Language rule '{self.id}': {key} is empty.", field=f"{self.id}.{key}")
        regex = _compile(self.id, "pattern", self.pattern)
        if regex.search("") is not None:
            raise InvalidInput(
                f"Language rule '{self.id}': pattern matches empty text.", field=f"{self.id}.pattern"
            )
        object.__setattr__(self, "regex", regex)
        not_after = self.not_after
        object.__setattr__(
            self, "not_after_regex", _compile(self.id, "not_after", not_after) if not_after else None
        )
        self._check_examples()

    def _check_examples(self) -> None:
        """Raise unless every fires-example flags exactly its phrase and every quiet-example nothing."""
        for example in self.fires:
            found = [(f.start, f.phrase) for f in check_text(example.text, (self,))]
            expected = [(example.text.find(example.phrase), example.phrase)]
            if found != expected or expected[0][0] < 0:
                raise InvalidInput(
                    f"Language rule '{self.id}': the example {example.text!r} should flag "
                    f"{example.phrase!r} but flags {[phrase for _, phrase in found]!r}.",
                    field=f"{self.id}.examples",
                )
        for sentence in self.quiet:
            flagged = [f.phrase for f in check_text(sentence, (self,))]
            if flagged:
                raise InvalidInput(
                    f"Language rule '{self.id}': the example {sentence!r} should flag nothing "
                    f"but flags {flagged!r}.",
                    field=f"{self.id}.examples",
                )


def _window_before(text: str, start: int) -> str:
    """The last few words before ``start`` in the same sentence, joined by single spaces."""
    before = text[max(0, start - _LOOKBACK_CHARS) : start]
    sentence_start = 0
    for boundary in _SENTENCE_BREAK.finditer(before):
        sentence_start = boundary.end()
    return " ".join(before[sentence_start:].split()[-NOT_AFTER_WORDS:])


_PREFILTERS: dict[int, tuple[Sequence["Rule"], re.Pattern[str] | None]] = {}
"""Combined patterns by the identity of the rule list they were built from (the list is kept, so its
id cannot be reused while the entry lives): the same few lists are checked against every text."""
_PREFILTER_LIMIT = 16


def _prefilter(rules: Sequence[Rule]) -> re.Pattern[str] | None:
    """Every rule's pattern in one expression, or None when they cannot be combined."""
    cached = _PREFILTERS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    patterns = "|".join(f"(?:{rule.pattern})" for rule in rules)
    try:
        # A rule matches only where no word character comes before (see _compile); this leading
        # group says the same in a form the engine rejects quickly at most positions.
        combined: re.Pattern[str] | None = re.compile(
            rf"(?:\b(?=\w)|(?<!\w)(?=\W))(?:{patterns})", re.IGNORECASE
        )
    except re.error:
        combined = None
    if len(_PREFILTERS) >= _PREFILTER_LIMIT:
        _PREFILTERS.clear()
    _PREFILTERS[id(rules)] = (rules, combined)
    return combined


def might_flag(text: str, rules: Sequence[Rule]) -> bool:
    """A cheap first test, in one pass over the text: False means no rule flags anything in it."""
    if not rules or not text:
        return False
    combined = _prefilter(rules)
    return combined is None or combined.search(text) is not None


def check_text(text: str, rules: Sequence[Rule], *, prefilter: bool = True) -> list[Finding]:
    """Every flagged phrase in text order; of overlapping matches keep the earliest, then the longest.

    Most texts flag nothing, and one pass of all the patterns together says so in about half the time
    of a pass per rule; `prefilter=False` skips that first pass (tests hold the two equal).
    """
    if prefilter and not might_flag(text, rules):
        return []
    candidates: list[tuple[int, int, int, Rule]] = []
    for order, rule in enumerate(rules):
        for match in rule.regex.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            if rule.not_after_regex is not None and rule.not_after_regex.search(_window_before(text, start)):
                continue
            candidates.append((start, end, order, rule))
    candidates.sort(key=lambda candidate: (candidate[0], candidate[0] - candidate[1], candidate[2]))
    findings: list[Finding] = []
    covered_to = 0
    for start, end, _, rule in candidates:
        if start < covered_to:
            continue
        findings.append(
            Finding(
                start=start,
                end=end,
                phrase=text[start:end],
                suggestion=rule.suggestion,
                reason=rule.reason,
                rule_id=rule.id,
            )
        )
        covered_to = end
    return findings


def count_findings(texts: Iterable[str | None], rules: Sequence[Rule]) -> int:
    """How many phrases the rules flag across several texts (missing texts count as none)."""
    return sum(len(check_text(text, rules)) for text in texts if text)


def _text_of(entry: dict[str, Any], key: str, rule_id: str) -> str:
    """A rule's string field, or raise naming the rule."""
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"Language rule '{rule_id}': {key} is missing or is not text.", field=f"{rule_id}.{key}"
        )
    return value


def _examples_of(entry: dict[str, Any], rule_id: str) -> tuple[tuple[FiresExample, ...], tuple[str, ...]]:
    """A rule's examples as ``fires`` and ``quiet``, or raise naming the rule."""
    raw = entry.get("examples", {})
    problem = InvalidInput(
        f"Language rule '{rule_id}': examples must look like "
        '{"fires": [{"text": "...", "phrase": "..."}], "quiet": ["..."]}.',
        field=f"{rule_id}.examples",
    )
    if not isinstance(raw, dict) or set(raw) - {"fires", "quiet"}:
        raise problem
    fires_raw, quiet_raw = raw.get("fires", []), raw.get("quiet", [])
    if not isinstance(fires_raw, list) or not isinstance(quiet_raw, list):
        raise problem
    fires: list[FiresExample] = []
    for item in fires_raw:
        if not (
            isinstance(item, dict)
            and set(item) == {"text", "phrase"}
            and isinstance(item["text"], str)
            and isinstance(item["phrase"], str)
            and item["phrase"]
        ):
            raise problem
        fires.append(FiresExample(text=item["text"], phrase=item["phrase"]))
    if not all(isinstance(sentence, str) for sentence in quiet_raw):
        raise problem
    return tuple(fires), tuple(quiet_raw)


def _rule_from(entry: object, position: int, source: str) -> Rule:
    """Build one rule from its JSON object, or raise naming it."""
    if not isinstance(entry, dict):
        raise InvalidInput(f"Language rule {position} in {source} is not a JSON object.", field=str(position))
    raw_id = entry.get("id")
    rule_id = raw_id if isinstance(raw_id, str) and raw_id.strip() else f"number {position} in {source}"
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise InvalidInput(
            f"Language rule '{rule_id}': unknown field(s) {', '.join(unknown)}.",
            field=f"{rule_id}.{unknown[0]}",
        )
    values = {key: _text_of(entry, key, rule_id) for key in _REQUIRED}
    not_after = entry.get("not_after")
    if not_after is not None and (not isinstance(not_after, str) or not not_after.strip()):
        raise InvalidInput(
            f"Language rule '{rule_id}': not_after must be text or left out.", field=f"{rule_id}.not_after"
        )
    fires, quiet = _examples_of(entry, rule_id)
    return Rule(
        id=values["id"],
        pattern=values["pattern"],
        suggestion=values["suggestion"],
        reason=values["reason"],
        not_after=not_after,
        fires=fires,
        quiet=quiet,
    )


def _read_rules(path: Path) -> tuple[Rule, ...]:
    """Read and validate a rules file: a JSON list of rule objects with unique ids."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise InvalidInput(
            f"The language rules file {path.name} cannot be read as JSON ({problem}).",
            field="language_rules_file",
        ) from problem
    if not isinstance(raw, list):
        raise InvalidInput(
            f"The language rules file {path.name} must hold a JSON list of rules.",
            field="language_rules_file",
        )
    rules = tuple(_rule_from(entry, position, path.name) for position, entry in enumerate(raw, start=1))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise InvalidInput(
                f"Language rule '{rule.id}' appears more than once in {path.name}.", field=f"{rule.id}.id"
            )
        seen.add(rule.id)
    return rules


@lru_cache(maxsize=1)
def _shipped_rules() -> tuple[Rule, ...]:
    """The rules that ship with csmap, read and compiled once per process."""
    return _read_rules(RULES_FILE)


@lru_cache(maxsize=8)
def _with_extra(path: Path, _modified_ns: int, _size: int) -> tuple[Rule, ...]:
    """Shipped rules merged with an extra file (cached until the file changes)."""
    merged = {rule.id: rule for rule in _shipped_rules()}
    for rule in _read_rules(path):
        merged[rule.id] = rule
    return tuple(merged.values())


def load_rules(extra_file: Path | None = None) -> tuple[Rule, ...]:
    """The shipped rules, plus an administrator's extra file whose rules replace shipped ones by id."""
    if extra_file is None:
        return _shipped_rules()
    try:
        status = extra_file.stat()
    except OSError as problem:
        raise InvalidInput(
            f"The language rules file {extra_file.name} cannot be read.", field="language_rules_file"
        ) from problem
    return _with_extra(extra_file.resolve(), status.st_mtime_ns, status.st_size)
