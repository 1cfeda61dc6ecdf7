from __future__ import annotations

import pytest

from phigate.errors import RequestError
from phigate.fhir.query import MAX_PARAMS, MAX_QUERY_CHARS, parse_query
from phigate.fhir.search import (
    ChainLink,
    HasLink,
    Include,
    ReverseChain,
    SearchParam,
    SearchQuery,
    SearchValue,
    split_escaped,
    split_prefix,
    split_token,
    unescape,
)


def one(query: str, form: bool = False) -> SearchParam:
    parsed = parse_query(query, form=form)
    assert len(parsed.params) == 1
    return parsed.params[0]


# --- modifiers, chains, _has -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name", "modifier"),
    [
        ("name=x", "name", None),
        ("name:exact=x", "name", "exact"),
        ("name:contains=x", "name", "contains"),
        ("gender:missing=true", "gender", "missing"),
        ("gender:not=male", "gender", "not"),
        ("code:text=x", "code", "text"),
        ("code:above=x", "code", "above"),
        ("code:below=x", "code", "below"),
        ("code:in=x", "code", "in"),
        ("code:not-in=x", "code", "not-in"),
        ("identifier:of-type=x", "identifier", "of-type"),
        ("subject:identifier=x", "subject", "identifier"),
        ("subject:Patient=123", "subject", "Patient"),
        ("code-value-quantity=x", "code-value-quantity", None),
        ("_id=1", "_id", None),
        ("_lastUpdated=gt2020", "_lastUpdated", None),
    ],
)
def test_modifiers(query: str, name: str, modifier: str | None) -> None:
    param = one(query)
    assert (param.name, param.modifier, param.chain, param.has) == (name, modifier, (), None)


def test_chains_keep_type_restrictions_and_final_modifier() -> None:
    assert one("subject.name=x").chain == (ChainLink("name"),)
    param = one("subject:Patient.organization:Organization.name:exact=x")
    assert param.name == "subject"
    assert param.modifier == "Patient"
    assert param.chain == (ChainLink("organization", "Organization"), ChainLink("name", "exact"))
    assert param.is_chained
    assert param.key == "subject:Patient.organization:Organization.name:exact"


def test_reverse_chain_is_typed() -> None:
    param = one("_has:Observation:patient:code=1234-5")
    assert param.name == "_has"
    assert param.has == ReverseChain((HasLink("Observation", "patient"),), "code")
    nested = one("_has:Observation:patient:_has:AuditEvent:entity:user:exact=x").has
    assert nested is not None
    assert nested.resource_types == ("Observation", "AuditEvent")
    assert (nested.param, nested.modifier) == ("user", "exact")


@pytest.mark.parametrize(
    "query",
    [
        "name:=x",  # empty modifier
        "name:a:b=x",  # two modifiers
        "name:bogus=x",  # unknown modifier
        "name:exact.given=x",  # a non-type modifier before a chain
        "subject..name=x",  # empty chain link
        "subject.=x",
        "subject.name:Nope=x",
        "_has=x",
        "_has:Observation:patient=x",
        "_has:Observation=x",
        "_has:Nope:patient:code=x",
        "_has:Observation:patient:code:bogus=x",
        "_has:Observation:patient:code:exact:more=x",
        "_has:Observation:patient:code.name=x",
        "_has:Observation:pa%20tient:code=x",
        "_has:Observation:patient:_has=x",
    ],
)
def test_bad_modifier_or_chain_syntax(query: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_query(query)
    assert type(caught.value) is RequestError


# --- values, escapes, prefixes -----------------------------------------------------------------


def test_or_values_honour_escapes() -> None:
    param = one("name=a,b\\,c,d\\\\,e\\$f\\|g")
    assert param.raw_values == ("a", "b\\,c", "d\\\\", "e\\$f\\|g")
    assert [value.text for value in param.values] == ["a", "b,c", "d\\", "e$f|g"]


def test_percent_encoded_comma_is_an_or_separator_and_escaped_comma_is_not() -> None:
    # Percent-decoding happens first; only a FHIR escape protects a comma.
    assert one("name=a%2Cb").raw_values == ("a", "b")
    assert one("name=a%5C%2Cb").raw_values == ("a\\,b",)


@pytest.mark.parametrize("value", ["a\\", "a\\x", "\\n", "a\\\\\\"])
def test_unbalanced_escapes_are_refused_naming_the_parameter(value: str) -> None:
    with pytest.raises(RequestError, match="'family'") as caught:
        parse_query("family=" + value.replace("\\", "%5C"))
    assert value not in caught.value.message


def test_empty_and_missing_values_are_kept() -> None:
    assert one("name=").raw_values == ("",)
    assert one("name").raw_values == ("",)
    assert one("name=a,").raw_values == ("a", "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ge2020-01-01", ("ge", "2020-01-01")),
        ("lt5.4", ("lt", "5.4")),
        ("ne-3", ("ne", "-3")),
        ("ap.5", ("ap", ".5")),
        ("eq10", ("eq", "10")),
        ("sa2020", ("sa", "2020")),
        ("eb2020", ("eb", "2020")),
        ("gt2020", ("gt", "2020")),
        ("le1", ("le", "1")),
        ("2020", (None, "2020")),
        ("general", (None, "general")),  # a string value is never split
        ("ge", (None, "ge")),
        ("xx12", (None, "xx12")),
    ],
)
def test_prefixes(raw: str, expected: tuple[str | None, str]) -> None:
    assert split_prefix(raw) == expected
    value = SearchValue(raw)
    assert (value.prefix, value.unprefixed) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://loinc.org|1234-5", ("http://loinc.org", "1234-5")),
        ("1234-5", (None, "1234-5")),
        ("|1234-5", ("", "1234-5")),
        ("http://loinc.org|", ("http://loinc.org", "")),
        ("a\\|b|c", ("a|b", "c")),
        ("a|b|c", ("a", "b|c")),
    ],
)
def test_token_split(raw: str, expected: tuple[str | None, str]) -> None:
    assert split_token(raw) == expected


def test_quantity_and_composite_parts() -> None:
    quantity = SearchValue("5.4|http://unitsofmeasure.org|mg")
    assert quantity.parts("|") == ("5.4", "http://unitsofmeasure.org", "mg")
    assert SearchValue("code\\$x$lt5").parts("$") == ("code$x", "lt5")


def test_split_escaped_refuses_bad_escapes_from_other_sources() -> None:
    with pytest.raises(ValueError, match="escape"):
        split_escaped("a\\q", ",")
    assert unescape("a\\,b\\\\") == "a,b\\"


# --- includes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("_include=Observation:subject", Include("Observation", "subject")),
        ("_include=Observation:subject:Patient", Include("Observation", "subject", "Patient")),
        ("_include:iterate=Observation:subject", Include("Observation", "subject", iterate=True)),
        ("_include:recurse=Observation:subject", Include("Observation", "subject", iterate=True)),
        ("_include=*", Include(None, "*", wildcard=True)),
        ("_include:iterate=*", Include(None, "*", iterate=True, wildcard=True)),
        ("_include=Observation:*", Include("Observation", "*", wildcard=True)),
    ],
)
def test_includes(query: str, expected: Include) -> None:
    parsed = parse_query(query)
    assert parsed.includes == (expected,)
    assert parsed.params == ()


def test_revincludes_are_kept_apart_in_order() -> None:
    parsed = parse_query("_revinclude=Provenance:target&_revinclude:iterate=AuditEvent:entity")
    assert parsed.revincludes == (
        Include("Provenance", "target"),
        Include("AuditEvent", "entity", iterate=True),
    )


@pytest.mark.parametrize(
    "query",
    [
        "_include=Observation",
        "_include=",
        "_include=Observation:",
        "_include=Observation:subject:Patient:extra",
        "_include=Nope:subject",
        "_include=Observation:subject:Nope",
        "_include=Observation:sub%20ject",
        "_include:bogus=Observation:subject",
        "_include.x=Observation:subject",
        "_revinclude=:subject",
    ],
)
def test_bad_includes(query: str) -> None:
    with pytest.raises(RequestError, match=r"'_(rev)?include'"):
        parse_query(query)


# --- result parameters -------------------------------------------------------------------------


def test_result_params_are_kept_as_params() -> None:
    parsed = parse_query("code=x&_count=10&_sort=-date,status&_summary=count&_elements=id,name"
                         "&_total=accurate&_contained=both&_format=application/fhir+json")  # fmt: skip
    assert [param.name for param in parsed.params] == [
        "code", "_count", "_sort", "_summary", "_elements", "_total", "_contained", "_format",
    ]  # fmt: skip
    assert parsed.named("_format")[0].raw_values == ("application/fhir+json",)
    assert [param.name for param in parsed.criteria] == ["code"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("_count=-1", "_count"),
        ("_count=abc", "_count"),
        ("_count=", "_count"),
        ("_count=1.5", "_count"),
        ("_count=1,2", "_count"),
        ("_count=1234567890", "_count"),
        ("_count:exact=1", "_count"),
        ("_summary=maybe", "_summary"),
        ("_total=all", "_total"),
        ("_contained=yes", "_contained"),
        ("_containedType=x", "_containedType"),
        ("_sort=", "_sort"),
        ("_sort=a,,b", "_sort"),
        ("_elements=na%20me", "_elements"),
        ("_type=Patient,Nope", "_type"),
        ("_count=1&_count=1000", "_count"),
        ("_summary=true&_summary=false", "_summary"),
    ],
)
def test_bad_result_params_name_the_parameter(query: str, name: str) -> None:
    with pytest.raises(RequestError, match=f"'{name}'"):
        parse_query(query)


def test_count_zero_and_type_list_are_valid() -> None:
    assert one("_count=0").raw_values == ("0",)
    assert one("_type=Patient,Observation").raw_values == ("Patient", "Observation")


# --- the query string itself -------------------------------------------------------------------


def test_duplicates_are_separate_and_ordered() -> None:
    parsed = parse_query("date=ge2020&code=a&date=le2021")
    assert [(param.name, param.raw_values) for param in parsed.params] == [
        ("date", ("ge2020",)), ("code", ("a",)), ("date", ("le2021",)),
    ]  # fmt: skip


def test_plus_is_literal_in_urls_and_a_space_in_form_bodies() -> None:
    assert one("date=2024-01-01T00:00:00+01:00").raw_values == ("2024-01-01T00:00:00+01:00",)
    assert one("name=John+Smith", form=True).raw_values == ("John Smith",)
    assert one("name=a%2Bb", form=True).raw_values == ("a+b",)


def test_decoding_happens_once() -> None:
    assert one("name=%2541").raw_values == ("%41",)
    assert one("na%6De=x").name == "name"
    assert one("name=%C3%A9").raw_values == ("é",)


def test_empty_pairs_are_skipped() -> None:
    assert parse_query("") == SearchQuery()
    assert [param.name for param in parse_query("&a=1&&b=2&").params] == ["a", "b"]


@pytest.mark.parametrize(
    "query",
    [
        "=x",  # empty name
        "%3D=x",
        "1abc=x",
        "na me=x",
        "name%00=x",
        "na%ZZme=x",
        "-a=x",
        "name!=x",
        "a" * 201 + "=x",
    ],
)
def test_bad_names_are_refused_without_echo(query: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_query(query)
    assert "'" not in caught.value.message


@pytest.mark.parametrize(
    "value",
    ["%00", "a%0Ab", "%1F", "%7F", "%C2%85", "%", "%4", "%G1", "%FF", "%C3"],
)
def test_bad_values_are_refused_naming_only_the_parameter(value: str) -> None:
    with pytest.raises(RequestError, match="'family'") as caught:
        parse_query(f"family={value}")
    assert value not in caught.value.message


def test_raw_control_characters_are_refused() -> None:
    with pytest.raises(RequestError):
        parse_query("family=a\tb")


def test_caps() -> None:
    parse_query("&".join(f"p{i}=x" for i in range(MAX_PARAMS)))
    with pytest.raises(RequestError, match="more than 100"):
        parse_query("&".join(f"p{i}=x" for i in range(MAX_PARAMS + 1)))
    parse_query("a=" + "x" * (MAX_QUERY_CHARS - 2))
    with pytest.raises(RequestError, match="too long"):
        parse_query("a=" + "x" * (MAX_QUERY_CHARS - 1))


def test_to_query_encodes_what_needs_encoding() -> None:
    query = SearchQuery(
        (SearchParam("name", (SearchValue("a b+c&d=é"), SearchValue("x\\,y"))),),
        (Include("Observation", "subject", iterate=True),),
        (Include(None, "*", wildcard=True),),
    )
    text = query.to_query()
    assert text == "name=a%20b%2Bc%26d%3D%C3%A9,x%5C,y&_include:iterate=Observation:subject&_revinclude=*"
    assert parse_query(text) == query
    assert parse_query(text, form=True) == query
