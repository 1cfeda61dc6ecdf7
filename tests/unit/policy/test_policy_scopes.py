"""SMART scopes as values: parsing (v2, v1, non-clinical), refusals naming the scope, the grant rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phigate.errors import RequestError
from phigate.policy.scopes import (
    ClinicalScope,
    Constraint,
    Context,
    InvalidScope,
    ScopeSet,
    parse_scope,
)

LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"


def scope(text: str) -> ClinicalScope:
    parsed = parse_scope(text)
    assert isinstance(parsed, ClinicalScope)
    return parsed


VALID = [
    ("system/Observation.rs", ClinicalScope(Context.SYSTEM, "Observation", "rs")),
    ("patient/*.cruds", ClinicalScope(Context.PATIENT, "*", "cruds")),
    ("user/Patient.r", ClinicalScope(Context.USER, "Patient", "r")),
    ("user/Encounter.cu", ClinicalScope(Context.USER, "Encounter", "cu")),
    ("system/Condition.d", ClinicalScope(Context.SYSTEM, "Condition", "d")),
    (
        f"patient/Observation.rs?category={LAB}",
        ClinicalScope(Context.PATIENT, "Observation", "rs", (Constraint("category", (LAB,)),)),
    ),
    (
        f"user/Observation.rs?status=final&category={LAB}",
        ClinicalScope(
            Context.USER,
            "Observation",
            "rs",
            (Constraint("category", (LAB,)), Constraint("status", ("final",))),
        ),
    ),
    (
        f"patient/Observation.r?category={VITALS},{LAB}",
        ClinicalScope(Context.PATIENT, "Observation", "r", (Constraint("category", (LAB, VITALS)),)),
    ),
    # percent-encoding in the query is decoded once, as in any FHIR query
    (
        "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category%7Cproblem-list-item",
        ClinicalScope(
            Context.PATIENT,
            "Condition",
            "rs",
            (
                Constraint(
                    "category",
                    ("http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",),
                ),
            ),
        ),
    ),
    ("system/Observation.rs?_tag=urn:x|research", None),
    # v1: read -> rs, write -> cud, * -> cruds, never wider
    ("patient/*.read", ClinicalScope(Context.PATIENT, "*", "rs", version=1)),
    ("user/Observation.write", ClinicalScope(Context.USER, "Observation", "cud", version=1)),
    ("system/Patient.*", ClinicalScope(Context.SYSTEM, "Patient", "cruds", version=1)),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_clinical_scopes_parse_to_values(text: str, expected: ClinicalScope | None) -> None:
    parsed = scope(text)
    if expected is not None:
        assert parsed == expected
    assert scope(parsed.to_string()) == parsed


def test_v1_read_is_exactly_read_and_search() -> None:
    read = scope("patient/*.read")
    assert read.permissions == "rs"
    assert not any(read.allows(p) for p in "cud")
    assert scope("patient/*.write").permissions == "cud"
    assert not scope("patient/*.write").allows("r")


@pytest.mark.parametrize(
    "name",
    ["openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access",
     "online_access"],
)  # fmt: skip
def test_non_clinical_scopes_are_names(name: str) -> None:
    assert parse_scope(name) == name
    assert name in ScopeSet.parse(f"{name} system/Observation.rs")


MALFORMED = [
    ("patient/Observation.sr", "order"),
    ("patient/Observation.rr", "repeats a permission"),
    ("patient/Observation.rsr", "repeats a permission"),
    ("patient/Observation.rx", "letters of 'cruds'"),
    ("patient/Observation.", "no permission"),
    ("patient/Observation", "not a known scope"),
    ("patient/Foo.rs", "unknown resource type"),
    ("patient/observation.rs", "unknown resource type"),
    ("admin/Patient.r", "context must be patient, user or system"),
    ("Patient/Patient.r", "context must be patient, user or system"),
    ("patient/Observation.read?category=x", "v1 permission"),
    ("patient/Observation.*?category=x", "v1 permission"),
    ("patient/Observation.READ", "letters of 'cruds'"),
    ("patient/*.rs?category=x", "named resource type"),
    ("patient/Observation.rs?subject=Patient/1", "cannot enforce a constraint on 'subject'"),
    ("patient/Observation.rs?category:not=x", "modifier"),
    ("patient/Observation.rs?category=a&category=b", "repeats a constraint"),
    ("patient/Observation.rs?category=", "empty value"),
    ("patient/Observation.rs?_include=Observation:subject", "only search parameters"),
    ("patient/Observation.rs?category=%ZZ", "does not parse"),
    ("launch/other", "not a known scope"),
    ("openid2", "not a known scope"),
    ("fhiruser", "not a known scope"),
]


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_malformed_scopes_are_refused_naming_the_scope(text: str, problem: str) -> None:
    with pytest.raises(InvalidScope) as caught:
        parse_scope(text)
    assert f"'{text}'" in caught.value.message
    assert problem in caught.value.message
    assert isinstance(caught.value, RequestError) and caught.value.status == 400


def test_a_malformed_scope_in_a_set_refuses_the_whole_set() -> None:
    with pytest.raises(InvalidScope, match=r"'patient/Observation\.sr'"):
        ScopeSet.parse("openid patient/Observation.sr system/Patient.r")


@pytest.mark.parametrize("text", ["openid  fhirUser", " openid", "openid "])
def test_empty_scopes_between_spaces_are_refused(text: str) -> None:
    with pytest.raises(InvalidScope, match="empty"):
        ScopeSet.parse(text)


def test_scope_text_with_control_characters_is_refused_without_echoing_them() -> None:
    with pytest.raises(InvalidScope) as caught:
        parse_scope("patient/Observation.rs\n{evil}")
    assert "\n" not in caught.value.message
    with pytest.raises(InvalidScope):
        parse_scope('patient/Observation.rs?category="x"')


def test_empty_scope_string_is_the_empty_set() -> None:
    assert not ScopeSet.parse("")
    assert ScopeSet.parse("").to_string() == ""


def test_to_string_is_canonical_and_round_trips() -> None:
    text = f"system/Observation.rs openid patient/Observation.rs?status=final&category={LAB} launch/patient"
    parsed = ScopeSet.parse(text)
    canonical = parsed.to_string()
    assert canonical == (
        f"launch/patient openid patient/Observation.rs?category={LAB}&status=final system/Observation.rs"
    )
    assert ScopeSet.parse(canonical) == parsed
    assert ScopeSet.parse(" ".join(reversed(canonical.split(" ")))).to_string() == canonical


# -- the grant rule: requested.within(registered) ---------------------------------------------


WITHIN = [
    # SMART lets the server grant fewer scopes: the narrower registered scope is granted.
    ("system/*.rs", "system/Observation.rs", "system/Observation.rs"),
    ("system/Observation.rs", "system/*.rs", "system/Observation.rs"),
    ("system/Observation.cruds", "system/Observation.rs", "system/Observation.rs"),
    ("system/Observation.rs", "system/Observation.r", "system/Observation.r"),
    ("system/Observation.rs", "system/Patient.rs", ""),
    ("patient/Observation.rs", "user/Observation.rs", ""),
    ("system/Observation.c", "system/Observation.rs", ""),
    # a constrained registration never yields an unconstrained grant
    (
        "patient/Observation.rs",
        f"patient/Observation.rs?category={LAB}",
        f"patient/Observation.rs?category={LAB}",
    ),
    (
        f"patient/Observation.rs?category={LAB}",
        "patient/Observation.rs",
        f"patient/Observation.rs?category={LAB}",
    ),
    (f"patient/Observation.rs?category={VITALS}", f"patient/Observation.rs?category={LAB}", ""),
    (
        f"patient/Observation.rs?category={LAB},{VITALS}",
        f"patient/Observation.r?category={LAB}",
        f"patient/Observation.r?category={LAB}",
    ),
    (
        "patient/Observation.rs?status=final",
        f"patient/Observation.rs?category={LAB}",
        f"patient/Observation.rs?category={LAB}&status=final",
    ),
    # v1 stays v1 when it can; never wider than either side
    ("patient/*.read", "patient/*.cruds", "patient/*.read"),
    ("patient/*.*", "patient/Observation.rs", "patient/Observation.read"),
    ("patient/Observation.write", "patient/Observation.cu", "patient/Observation.cu"),
    # non-clinical scopes: the intersection too
    ("openid fhirUser launch/patient", "openid launch/patient offline_access", "launch/patient openid"),
    # permissions on the same type and constraints are merged; a scope covered by another is not repeated
    ("system/Observation.r system/Observation.s", "system/*.rs", "system/Observation.rs"),
    ("patient/*.read patient/*.write", "patient/*.cruds", "patient/*.*"),
    ("system/Observation.rs system/Observation.r", "system/*.rs", "system/Observation.rs"),
    (
        "system/*.rs",
        "system/Observation.rs system/Condition.r",
        "system/Condition.r system/Observation.rs",
    ),
]


@pytest.mark.parametrize(("requested", "registered", "granted"), WITHIN)
def test_granted_scopes_are_the_intersection(requested: str, registered: str, granted: str) -> None:
    result = ScopeSet.parse(requested).within(ScopeSet.parse(registered))
    assert result.to_string() == granted


# -- properties: granted is never wider than either side, and loses nothing both allow ---------

CATEGORY_VALUES = ("a", "b", "sys|c")
CONTEXTS = st.sampled_from(list(Context))
TYPES = st.sampled_from(["*", "Observation", "Condition"])
PERMISSION_SETS = st.sets(st.sampled_from("cruds"), min_size=1).map(
    lambda s: "".join(p for p in "cruds" if p in s)
)


@st.composite
def clinical_scopes(draw: st.DrawFn) -> ClinicalScope:
    context = draw(CONTEXTS)
    resource_type = draw(TYPES)
    letters = draw(PERMISSION_SETS)
    constraints: tuple[Constraint, ...] = ()
    if resource_type != "*" and draw(st.booleans()):
        values = draw(st.sets(st.sampled_from(CATEGORY_VALUES), min_size=1))
        constraints = (Constraint("category", tuple(sorted(values))),)
    v1 = {"rs": "read", "cud": "write", "cruds": "*"}
    if not constraints and letters in v1 and draw(st.booleans()):
        return scope(f"{context.value}/{resource_type}.{v1[letters]}")
    return ClinicalScope(context, resource_type, letters, constraints)


SCOPE_SETS = st.sets(clinical_scopes(), max_size=5).map(ScopeSet.of)


@st.composite
def points(draw: st.DrawFn) -> ClinicalScope:
    """One permission on one type, optionally for a resource of one category."""
    category = draw(st.one_of(st.none(), st.sampled_from(CATEGORY_VALUES)))
    constraints = () if category is None else (Constraint("category", (category,)),)
    return ClinicalScope(
        draw(CONTEXTS),
        draw(st.sampled_from(["Observation", "Condition"])),
        draw(st.sampled_from("cruds")),
        constraints,
    )


BOUNDED = settings(max_examples=300, deadline=None)


@BOUNDED
@given(SCOPE_SETS, SCOPE_SETS)
def test_every_granted_permission_is_covered_by_both_sides(requested: ScopeSet, registered: ScopeSet) -> None:
    granted = requested.within(registered)
    for item in granted.clinical:
        for permission in item.permissions:
            single = replace(item, permissions=permission, version=2)
            assert requested.covers(single), single
            assert registered.covers(single), single


@BOUNDED
@given(SCOPE_SETS, SCOPE_SETS, st.lists(points(), min_size=1, max_size=20))
def test_granted_allows_exactly_what_both_sides_allow(
    requested: ScopeSet, registered: ScopeSet, probes: list[ClinicalScope]
) -> None:
    granted = requested.within(registered)
    for probe in probes:
        assert granted.covers(probe) == (requested.covers(probe) and registered.covers(probe)), probe


@BOUNDED
@given(SCOPE_SETS)
def test_scope_sets_round_trip_through_their_canonical_text(scopes: ScopeSet) -> None:
    assert ScopeSet.parse(scopes.to_string()) == scopes


@BOUNDED
@given(clinical_scopes(), clinical_scopes())
def test_intersection_is_symmetric_in_what_it_allows(first: ClinicalScope, second: ClinicalScope) -> None:
    one, other = first.intersect(second), second.intersect(first)
    assert (one is None) == (other is None)
    if one is not None and other is not None:
        assert one.covers(other) and other.covers(one)
