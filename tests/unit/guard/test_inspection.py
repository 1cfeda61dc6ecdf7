from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phigate.errors import ConfigError
from phigate.guard.inspection import RuleSet, default_rules, inspect_json, inspect_params

RULES = default_rules()


def test_the_rule_set_is_versioned_and_covers_every_class() -> None:
    assert RULES.version
    classes = {rule.rule_class for rule in RULES.rules}
    assert {"sql", "nosql", "script", "command", "ldap", "template", "path", "xhtml"} <= classes


@pytest.mark.parametrize(
    ("value", "rule_class"),
    [
        ("' OR 1=1--", "sql"),
        ("1 UNION SELECT pw FROM users", "sql"),
        ("x'; DROP TABLE t;--", "sql"),
        ("1' AND SLEEP(5)--", "sql"),
        ('{"$ne": null}', "nosql"),
        ("this.password == 'x'", "nosql"),
        ("<script>alert(1)</script>", "script"),
        ("<img src=x onerror=alert(1)>", "script"),
        ("javascript:alert(1)", "script"),
        ("; cat /etc/passwd", "command"),
        ("$(curl x.example)", "command"),
        ("*)(uid=*))(|(uid=*", "ldap"),
        ("{{7*7}}", "template"),
        ("${jndi:ldap://x}", "template"),
        ("../../etc/passwd", "path"),
        ("x%00.json", "path"),
    ],
)
def test_injection_patterns_in_values_are_flagged(value: str, rule_class: str) -> None:
    hits = inspect_json({"resourceType": "Patient", "name": [{"family": value}]}, RULES)
    assert [hit.expression for hit in hits] == ["Patient.name[0].family"]
    assert hits[0].rule.startswith(rule_class + ".")
    assert value not in hits[0].message


@pytest.mark.parametrize(
    "value",
    [
        "O'Brien",
        "Patient's blood pressure; recheck in 2 weeks",
        "Take 1-2 tablets (max 8/day) | with food",
        "Result: 5 < 7 and 7 > 5",
        "See http://hl7.org/fhir/ValueSet/x",
        "a == b",
        "50% of dose",
        "{{title}}",
        "Type/id",
        "C:\\data",
        "x--y",
    ],
)
def test_ordinary_clinical_text_is_not_flagged(value: str) -> None:
    assert inspect_json({"resourceType": "Patient", "name": [{"family": value}]}, RULES) == []


def test_nosql_operators_as_keys_are_flagged() -> None:
    hits = inspect_json({"resourceType": "Patient", "name": [{"family": {"$where": "1"}}]}, RULES)
    assert [(hit.rule, hit.expression) for hit in hits] == [("nosql.operator-key", "Patient.name[0].family")]


def div(inner: str) -> dict[str, Any]:
    html = f'<div xmlns="http://www.w3.org/1999/xhtml">{inner}</div>'
    return {"resourceType": "Patient", "text": {"status": "generated", "div": html}}


def test_narrative_xhtml_is_allowed_but_not_scripts() -> None:
    assert (
        inspect_json(
            div('<p>Hi <b>there</b></p><table><tr><td>x</td></tr></table><a href="http://x">x</a>'), RULES
        )
        == []
    )
    for bad in [
        "<script>x</script>",
        '<p onclick="x()">a</p>',
        '<a href="javascript:x()">a</a>',
        '<a href="&#106;avascript:x()">a</a>',
        "<iframe src=x/>",
        "<form><input/></form>",
    ]:
        hits = inspect_json(div(bad), RULES)
        assert [hit.expression for hit in hits] == ["Patient.text.div"], bad


def test_report_mode_returns_hits_that_do_not_block() -> None:
    hits = inspect_json({"resourceType": "Patient", "id": "' or 1=1--"}, RULES, mode="report")
    assert hits and not any(hit.blocking for hit in hits)


def test_search_values_are_inspected_by_parameter_name() -> None:
    hits = inspect_params([("name", "<script>"), ("family", "Smith")], RULES)
    assert [(hit.expression, hit.rule) for hit in hits] == [("name", "script.tag")]


def test_rule_sets_are_configurable_and_checked() -> None:
    assert (
        inspect_json({"resourceType": "Patient", "id": "{{7*7}}"}, RULES.without(["template.expression"]))
        == []
    )
    with pytest.raises(ConfigError) as caught:
        RuleSet.from_mapping(
            {
                "version": "",
                "rules": [{"id": "x", "class": "c", "pattern": "(", "targets": ["value"], "literals": ["("]}],
            }
        )
    assert len(caught.value.problems) == 2


def test_the_typical_cost_is_reported(fhir_examples: list[tuple[str, dict[str, Any]]]) -> None:
    resource = dict(fhir_examples)["Observation-example.json"]
    start = time.perf_counter()
    for _ in range(200):
        inspect_json(resource, RULES)
    print(f"\ninspect Observation-example: {(time.perf_counter() - start) / 200 * 1000:.3f} ms")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="<>'\"(){}$;|&`*=/\\.%-#: aorsuniclet", max_size=2000))
def test_rules_never_crash_on_punctuation_soup(text: str) -> None:
    for hit in inspect_json({"resourceType": "Patient", "id": text}, RULES):
        assert hit.expression == "Patient.id"
