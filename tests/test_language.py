"""The language checker: every shipped rule against its own examples, offsets, overlaps and extra rules."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from contexts.errors import InvalidInput
from contexts.language.checker import (
    Finding,
    FiresExample,
    Rule,
    check_text,
    count_findings,
    load_rules,
    might_flag,
)
from contexts.language.schemas import LanguageCheckRequest, LanguageCheckResponse, LanguageFinding
from tests.conftest import World, bearer

RULES = load_rules()
RULES_BY_ID = {rule.id: rule for rule in RULES}

FIRES = [
    pytest.param(rule, example, id=f"{rule.id}-fires-{number}")
    for rule in RULES
    for number, example in enumerate(rule.fires, start=1)
]
QUIET = [
    pytest.param(rule, sentence, id=f"{rule.id}-quiet-{number}")
    for rule in RULES
    for number, sentence in enumerate(rule.quiet, start=1)
]

# Every "avoid" row of DOMAIN.md's Language table, as a practitioner might write it.
DOMAIN_AVOID = [
    ("She is putting herself at risk.", "putting herself at risk", "putting-themselves-at-risk"),
    ("They are putting themselves at risk.", "putting themselves at risk", "putting-themselves-at-risk"),
    ("He has a risky lifestyle.", "risky lifestyle", "risky-lifestyle"),
    ("Risk-taking behaviour noted.", "Risk-taking behaviour", "risk-taking-behaviour"),
    ("She is sexually active.", "sexually active", "sexually-active"),
    ("She is having sex with him.", "having sex with", "having-sex-with"),
    ("She consented.", "consented", "consented"),
    ("Her boyfriend is 22.", "boyfriend", "boyfriend-girlfriend"),
    ("His girlfriend is 30.", "girlfriend", "boyfriend-girlfriend"),
    ("She is in a relationship with an adult.", "in a relationship with", "relationship-with"),
    ("He is associating with older males.", "associating with", "associating-with"),
    ("She is a child prostitute.", "child prostitute", "child-prostitute"),
    ("Concerns about prostitution.", "prostitution", "prostitution"),
    ("She is selling sex.", "selling sex", "selling-sex"),
    ("She is exchanging sex for drugs.", "exchanging sex", "exchanging-sex"),
    ("Child pornography was found.", "Child pornography", "child-pornography"),
    ("He was recruited.", "recruited", "recruited"),
    ("He is working for a gang.", "working for a gang", "working-for"),
    ("He is a drug runner.", "drug runner", "drug-runner"),
    ("He is involved in crime.", "involved in crime", "involved-in-crime"),
    ("She keeps going missing.", "keeps going missing", "keeps-going-missing"),
    ("She absconded.", "absconded", "absconded"),
    ("He runs away.", "runs away", "runs-away"),
    ("She has been sexting.", "sexting", "sexting"),
    ("She is sending explicit pictures to adults.", "sending explicit pictures", "sending-explicit-pictures"),
    ("He is a gang member.", "gang member", "gang-member"),
    ("She refused to engage.", "refused to engage", "refused-to-engage"),
    ("He is hard to reach.", "hard to reach", "hard-to-reach"),
    ("She is non-compliant.", "non-compliant", "non-compliant"),
    ("He has disengaged.", "disengaged", "disengaged"),
]

# Words that name harm plainly: flagging them would water a concern down.
PLAIN_CONCERNS = [
    "She was raped by an adult at the hotel.",
    "He is being criminally exploited by an organised group.",
    "She was sexually abused by adults she met online.",
    "An adult is grooming her and controlling where she goes.",
    "She is at significant risk of sexual exploitation.",
    "He was trafficked to Norfolk and went missing for three days.",
    "She cannot consent to sexual activity with an adult.",
    "Police seized indecent images of children from his phone.",
    "Adults are putting her at risk; she is not yet able to trust services.",
    "A return interview was offered within 72 hours of her going missing.",
]


def rule(rule_id: str, pattern: str, **extra: Any) -> Rule:
    """A rule made in the test, with stock wording."""
    return Rule(id=rule_id, pattern=pattern, suggestion=f"instead of {rule_id}", reason="test", **extra)


def entry(rule_id: str, pattern: str, **extra: Any) -> dict[str, Any]:
    """A rule as an administrator writes it in an extra JSON file."""
    return {"id": rule_id, "pattern": pattern, "suggestion": "say it plainly", "reason": "why", **extra}


def write_rules(directory: Path, rules: list[Any]) -> Path:
    """Write an extra rules file and return its path."""
    path = directory / "extra-rules.json"
    path.write_text(json.dumps(rules), encoding="utf-8")
    return path


@pytest.mark.parametrize(("rule", "example"), FIRES)
def test_fires_example_flags_exactly_the_phrase(rule: Rule, example: FiresExample) -> None:
    start = example.text.index(example.phrase)
    findings = [f for f in check_text(example.text, RULES) if f.rule_id == rule.id]
    assert findings == [
        Finding(
            start=start,
            end=start + len(example.phrase),
            phrase=example.phrase,
            suggestion=rule.suggestion,
            reason=rule.reason,
            rule_id=rule.id,
        )
    ]
    assert example.text[findings[0].start : findings[0].end] == example.phrase


@pytest.mark.parametrize(("rule", "sentence"), QUIET)
def test_quiet_example_is_not_flagged_by_its_rule(rule: Rule, sentence: str) -> None:
    assert check_text(sentence, (rule,)) == []
    assert [f for f in check_text(sentence, RULES) if f.rule_id == rule.id] == []


def test_every_rule_has_enough_examples_and_a_unique_slug() -> None:
    assert len(RULES) >= 30
    assert len(RULES_BY_ID) == len(RULES)
    for each in RULES:
        assert len(each.fires) >= 2, each.id
        assert len(each.quiet) >= 2, each.id
        assert each.suggestion.strip()
        assert "\n" not in each.reason, each.id


@pytest.mark.parametrize(("text", "phrase", "rule_id"), DOMAIN_AVOID)
def test_every_row_of_the_domain_language_table_is_covered(text: str, phrase: str, rule_id: str) -> None:
    start = text.index(phrase)
    assert [(f.start, f.phrase, f.rule_id) for f in check_text(text, RULES)] == [(start, phrase, rule_id)]


@pytest.mark.parametrize("text", PLAIN_CONCERNS)
def test_plain_words_for_harm_are_never_flagged(text: str) -> None:
    assert check_text(text, RULES) == []


@pytest.mark.parametrize("each", RULES, ids=lambda each: each.id)
def test_suggested_wording_passes_the_checker(each: Rule) -> None:
    assert check_text(each.suggestion, RULES) == []


def test_offsets_index_the_python_string_not_bytes() -> None:
    text = "Zoë keeps going missing"
    [finding] = check_text(text, RULES)
    assert (finding.start, finding.end, finding.phrase) == (4, 23, "keeps going missing")
    assert len(text.encode("utf-8")) == len(text) + 1

    decomposed = "Zoe\u0308 👩🏽‍🦱 — she keeps going missing; “sexting” too"
    findings = check_text(decomposed, RULES)
    assert [f.rule_id for f in findings] == ["keeps-going-missing", "sexting"]
    for finding in findings:
        assert decomposed[finding.start : finding.end] == finding.phrase


def test_phrase_keeps_the_original_case_and_line_breaks() -> None:
    text = "She KEEPS going\r\nMissing and is RISK-\ntaking."
    assert [f.phrase for f in check_text(text, RULES)] == ["KEEPS going\r\nMissing", "RISK-\ntaking"]


def test_findings_come_in_text_order() -> None:
    text = "He is a gang member. She absconded. Her boyfriend is 30. She keeps going missing."
    findings = check_text(text, RULES)
    assert [f.rule_id for f in findings] == [
        "gang-member",
        "absconded",
        "boyfriend-girlfriend",
        "keeps-going-missing",
    ]
    assert [f.start for f in findings] == sorted(f.start for f in findings)


def test_overlapping_shipped_rules_keep_the_earliest_then_longest() -> None:
    text = "She is a child prostitute who keeps running away."
    assert [(f.phrase, f.rule_id) for f in check_text(text, RULES)] == [
        ("child prostitute", "child-prostitute"),
        ("keeps running away", "keeps-going-missing"),
    ]


def test_overlap_earliest_start_wins_over_a_longer_later_match() -> None:
    rules = [rule("later-longer", r"going\s+missing\s+from\s+home"), rule("earlier", r"keeps\s+going")]
    [finding] = check_text("She keeps going missing from home.", rules)
    assert (finding.rule_id, finding.phrase) == ("earlier", "keeps going")


def test_overlap_same_start_longest_wins_then_rule_order() -> None:
    short, long = rule("short", r"keeps\s+going"), rule("long", r"keeps\s+going\s+missing")
    assert [f.rule_id for f in check_text("she keeps going missing", [short, long])] == ["long"]
    first, second = rule("first", "keeps"), rule("second", "keeps")
    assert [f.rule_id for f in check_text("she keeps", [first, second])] == ["first"]
    assert [f.rule_id for f in check_text("she keeps", [second, first])] == ["second"]


def test_non_overlapping_matches_from_several_rules_all_count() -> None:
    rules = [rule("a", "alpha"), rule("b", "beta")]
    assert [f.phrase for f in check_text("alpha beta alpha", rules)] == ["alpha", "beta", "alpha"]


def test_matches_only_whole_words() -> None:
    text = "Mr Sexton met the sextortion team; she ran a pre-sexting session"
    start = text.index("pre-") + len("pre-")
    assert check_text(text, RULES) == [
        Finding(
            start=start,
            end=start + len("sexting"),
            phrase="sexting",
            suggestion=RULES_BY_ID["sexting"].suggestion,
            reason=RULES_BY_ID["sexting"].reason,
            rule_id="sexting",
        )
    ]


def test_not_after_looks_only_at_the_same_sentence() -> None:
    consent = RULES_BY_ID["consented"]
    assert check_text("She could not consent to sex.", [consent]) == []
    assert [f.phrase for f in check_text("She could not. She consented to sex.", [consent])] == ["consented"]
    assert [f.phrase for f in check_text("It is not clear whether she consented.", [consent])] == [
        "consented"
    ]


def test_not_after_counts_only_the_last_few_words() -> None:
    negated = rule("blamed", "blamed", not_after="not")
    assert check_text("she was not blamed", [negated]) == []
    assert check_text("not one two three four blamed", [negated]) == []
    assert [f.phrase for f in check_text("not one two three four five blamed", [negated])] == ["blamed"]


def test_checker_never_changes_the_text() -> None:
    text = "Zoë keeps going missing.\nHer ‘boyfriend’ is 24 and she is sexting him."
    before = str(text)
    findings = check_text(text, RULES)
    assert text == before
    assert findings
    assert all(text[f.start : f.end] == f.phrase for f in findings)
    with pytest.raises(dataclasses.FrozenInstanceError):
        findings[0].phrase = "something else"  # type: ignore[misc]


def test_twenty_thousand_characters_are_all_checked() -> None:
    paragraph = (
        "Zoë keeps going missing from her placement and was seen with her boyfriend, who is 24. "
        "She cannot consent to sexual activity with an adult. The youth worker offered support on Tuesday. "
    )
    text = (paragraph * 200)[:20000]
    hard = ("a " * 5000) + ("-" * 5000) + ("risk" + " " * 4996)
    findings = check_text(text, RULES)
    assert check_text(hard, RULES) == []
    assert len(text) == 20000
    assert {f.rule_id for f in findings} == {"keeps-going-missing", "boyfriend-girlfriend"}
    assert len(findings) == 2 * text.count("boyfriend")
    assert all(text[f.start : f.end] == f.phrase for f in findings)


def test_count_findings_skips_missing_texts() -> None:
    texts = [
        "She keeps going missing.",
        None,
        "",
        "Nothing to flag here.",
        "He is a gang member who absconded.",
    ]
    assert count_findings(texts, RULES) == 3
    assert count_findings([], RULES) == 0


def test_the_one_pass_prefilter_never_hides_a_finding() -> None:
    texts = [example.text for rule in RULES for example in rule.fires]
    texts += [sentence for rule in RULES for sentence in rule.quiet]
    texts += [phrase.upper() for rule in RULES for example in rule.fires for phrase in [example.phrase]]
    flagged = [text for text in texts if check_text(text, RULES, prefilter=False)]
    assert len(flagged) >= len(RULES)
    differ = [text for text in texts if check_text(text, RULES) != check_text(text, RULES, prefilter=False)]
    assert differ == []
    assert all(might_flag(text, RULES) for text in flagged)
    assert not might_flag("Seen at the library with a youth worker", RULES)


def test_rules_that_cannot_be_combined_are_still_checked_one_by_one() -> None:
    backreference = Rule(
        id="said-twice",
        pattern=r"(?P<word>very) (?P=word)",
        suggestion="very",
        reason="Say it once.",
        fires=(FiresExample(text="It was very very late.", phrase="very very"),),
    )
    rules = (backreference, backreference)
    assert might_flag("It was very very late.", rules)
    assert [f.phrase for f in check_text("It was very very late.", rules)] == ["very very"]


def test_empty_text_has_no_findings() -> None:
    assert check_text("", RULES) == []


def test_shipped_rules_are_cached() -> None:
    assert load_rules() is load_rules()
    assert load_rules(None) is RULES


def test_extra_rules_replace_by_id_and_add_new_ones(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path,
        [
            entry(
                "sexting",
                r"sext(?:s|ed|ing)?",
                examples={
                    "fires": [{"text": "She is sexting.", "phrase": "sexting"}],
                    "quiet": ["Mr Sexton"],
                },
            ),
            entry("olders", r"olders?", not_after=r"the\s+word\W*$"),
        ],
    )
    rules = load_rules(path)
    ids = [each.id for each in rules]
    assert ids == [each.id for each in RULES] + ["olders"]
    assert ids.index("sexting") == [each.id for each in RULES].index("sexting")
    replaced = rules[ids.index("sexting")]
    assert replaced.suggestion == "say it plainly"
    assert [(f.phrase, f.rule_id) for f in check_text("He runs with the olders.", rules)] == [
        ("olders", "olders")
    ]
    assert check_text("Avoid the word 'olders'.", rules) == []
    assert RULES_BY_ID["sexting"].suggestion != "say it plainly"
    assert load_rules() is RULES


def test_extra_rules_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = write_rules(tmp_path, [entry("olders", "olders")])
    assert load_rules(path) is load_rules(path)
    path.write_text(json.dumps([entry("youngers", "youngers"), entry("olders", "olders")]), encoding="utf-8")
    assert [each.id for each in load_rules(path)][-2:] == ["youngers", "olders"]


@pytest.mark.parametrize(
    ("rules", "named", "words"),
    [
        pytest.param(
            [entry("broken-regex", "(unclosed")], "broken-regex", "regular expression", id="bad-regex"
        ),
        pytest.param(
            [entry("broken-guard", "fine", not_after="[oops")],
            "broken-guard",
            "not_after",
            id="bad-not-after",
        ),
        pytest.param(
            [{"id": "no-suggestion", "pattern": "x", "reason": "r"}],
            "no-suggestion",
            "suggestion",
            id="missing",
        ),
        pytest.param([entry("blank-reason", "x", reason="  ")], "blank-reason", "reason", id="blank"),
        pytest.param([{"pattern": "x", "suggestion": "s", "reason": "r"}], "number 1", "id", id="no-id"),
        pytest.param([entry("Not A Slug", "x")], "Not A Slug", "slug", id="bad-id"),
        pytest.param([entry("typo", "x", notafter="no")], "typo", "notafter", id="unknown-field"),
        pytest.param([entry("empty-match", "x*")], "empty-match", "empty", id="matches-empty"),
        pytest.param([entry("twice", "x"), entry("twice", "y")], "twice", "more than once", id="duplicate"),
        pytest.param(
            [
                entry(
                    "wrong-example",
                    "olders",
                    examples={"fires": [{"text": "the elders", "phrase": "elders"}]},
                )
            ],
            "wrong-example",
            "should flag",
            id="fires-example-fails",
        ),
        pytest.param(
            [entry("noisy-example", "olders", examples={"quiet": ["the olders"]})],
            "noisy-example",
            "should flag nothing",
            id="quiet-example-fails",
        ),
        pytest.param(
            [entry("odd-examples", "olders", examples={"fires": ["the olders"]})],
            "odd-examples",
            "examples",
            id="malformed-examples",
        ),
        pytest.param(["just text"], "1", "not a JSON object", id="not-an-object"),
    ],
)
def test_broken_extra_rule_raises_naming_the_rule(
    tmp_path: Path, rules: list[Any], named: str, words: str
) -> None:
    path = write_rules(tmp_path, rules)
    with pytest.raises(InvalidInput) as raised:
        load_rules(path)
    assert named in raised.value.detail
    assert words in raised.value.detail


def test_broken_extra_file_raises(tmp_path: Path) -> None:
    not_json = tmp_path / "not.json"
    not_json.write_text("[{", encoding="utf-8")
    not_a_list = write_rules(tmp_path, {"rules": []})  # type: ignore[arg-type]
    for path in (not_json, not_a_list, tmp_path / "missing.json"):
        with pytest.raises(InvalidInput) as raised:
            load_rules(path)
        assert raised.value.field == "language_rules_file"
        assert path.name in raised.value.detail


def test_rule_made_in_code_is_validated() -> None:
    with pytest.raises(InvalidInput, match="in-code"):
        rule("in-code", "(")
    made = rule(
        "in-code", "olders", fires=(FiresExample(text="the olders", phrase="olders"),), quiet=("elders",)
    )
    assert made.regex.pattern.endswith("(?!\\w)")


def test_schemas_carry_findings_and_limit_the_text() -> None:
    [finding] = check_text("She keeps going missing.", RULES)
    response = LanguageCheckResponse(findings=[LanguageFinding.model_validate(finding)])
    assert response.model_dump() == {
        "findings": [
            {
                "start": 4,
                "end": 23,
                "phrase": "keeps going missing",
                "suggestion": finding.suggestion,
                "reason": finding.reason,
                "rule_id": "keeps-going-missing",
            }
        ]
    }
    assert LanguageCheckRequest(text="x" * 20000).text
    with pytest.raises(ValueError, match="20000"):
        LanguageCheckRequest(text="x" * 20001)


def test_api_returns_findings_with_offsets(client: TestClient, world: World) -> None:
    text = "Zoë keeps going missing and is putting herself at risk."
    response = client.post(
        "/api/language/check", json={"text": text}, headers=bearer(client, "user-practitioner")
    )
    assert response.status_code == 200
    findings = response.json()["findings"]
    assert [text[f["start"] : f["end"]] for f in findings] == [f["phrase"] for f in findings]
    assert {"keeps going missing", "putting herself at risk"} <= {f["phrase"] for f in findings}
    assert all(set(f) == {"start", "end", "phrase", "suggestion", "reason", "rule_id"} for f in findings)


def test_api_needs_sign_in_and_limits_length(client: TestClient, world: World) -> None:
    assert client.post("/api/language/check", json={"text": "hello"}).status_code == 401
    too_long = client.post(
        "/api/language/check", json={"text": "x" * 20_001}, headers=bearer(client, "user-practitioner")
    )
    assert too_long.status_code == 422
    assert "xxxx" not in too_long.text


def test_app_refuses_to_start_with_a_broken_rules_file(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "rules.json"
    broken.write_text('[{"id": "bad", "pattern": "(", "suggestion": "s", "reason": "r"}]', encoding="utf-8")
    with pytest.raises(InvalidInput, match="bad"):
        create_app(settings.model_copy(update={"language_rules_file": broken}))
