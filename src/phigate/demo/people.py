"""Synthetic people and their Patient resources, including a few special patients tests rely on.

The special patients have fixed ids and details:

- ``pat-canary``: "Canary Testpatient", full chart; a value to look for when checking
  that the gateway leaks nothing it should not.
- ``pat-minor``: an 11-year-old with a parent as contact (consent and guardian rules).
- ``pat-unicode``: "Zoë Amélie Núñez-O'Brien" with a maiden name (accents, apostrophe, name history).
- ``pat-deceased``: an elderly patient with ``deceasedDateTime``.
- ``pat-empty``: a registered patient with no clinical data and no insurance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from phigate.demo.billing import member_system
from phigate.demo.elements import MRN_SYSTEM, SSN, concept, identifier, meta
from phigate.demo.vocabulary import (
    CITIES,
    FAMILY,
    FEMALE_GIVEN,
    LANGUAGES,
    MALE_GIVEN,
    MARITAL,
    PAYORS,
    STREETS,
    UNIT_PREFIXES,
    City,
)
from phigate.types import PatientId

MARITAL_STATUS = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
CANARY = PatientId("pat-canary")
SPECIAL_PATIENTS = (CANARY, PatientId("pat-minor"), PatientId("pat-unicode"),
                    PatientId("pat-deceased"), PatientId("pat-empty"))  # fmt: skip


@dataclass(frozen=True)
class Person:
    key: str
    given: tuple[str, ...]
    family: str
    gender: str
    birth: date
    city: City
    line: tuple[str, ...]
    postal_code: str
    phone: str
    email: str | None
    mrn: str
    ssn: str | None
    marital: tuple[str, str]
    language: tuple[str, str]
    payor: tuple[str, str, str, str] | None
    member_id: str | None
    has_chart: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def random_person(rng: random.Random, index: int, reference: date) -> Person:
    gender = rng.choice(("female", "male"))
    names = FEMALE_GIVEN if gender == "female" else MALE_GIVEN
    first, middle = rng.sample(names, 2)
    given: tuple[str, ...] = (first, middle) if rng.random() < 0.6 else (first,)
    family = rng.choice(FAMILY)
    city = rng.choice(CITIES)
    line: tuple[str, ...] = (f"{rng.randint(10, 9899)} {rng.choice(STREETS)}",)
    if rng.random() < 0.25:
        line += (f"{rng.choice(UNIT_PREFIXES)} {rng.randint(1, 40)}",)
    insured = rng.random() < 0.95
    payor = rng.choice(PAYORS) if insured else None
    handle = f"{first.lower()}.{family.lower()}{rng.randint(1, 99)}"
    email = f"{handle}@example.com" if rng.random() < 0.8 else None
    return Person(
        key=f"{index:04d}",
        given=given,
        family=family,
        gender=gender,
        birth=reference - timedelta(days=rng.randint(19 * 365, 92 * 365)),
        city=city,
        line=line,
        postal_code=f"{city.zip_prefix}{rng.randint(1, 99):02d}",
        phone=f"({city.area_code}) 555-01{rng.randint(0, 99):02d}",
        email=email,
        mrn=f"M{2000000 + index * 37 + rng.randint(0, 36)}",
        ssn=f"9{rng.randint(0, 99):02d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        marital=rng.choice(MARITAL),
        language=rng.choices(LANGUAGES, weights=(80, 12, 4, 4))[0],
        payor=payor,
        member_id=f"{payor[2]}{100000000 + index * 7919 + rng.randint(0, 7000)}" if payor else None,
    )


def special_people(reference: date) -> list[Person]:
    springfield, columbus, burlington = CITIES[0], CITIES[1], CITIES[4]
    english, spanish = LANGUAGES[0], LANGUAGES[1]
    acme, northwind, contoso = PAYORS
    return [
        Person("canary", ("Canary",), "Testpatient", "female", date(1980, 1, 1), springfield,
               ("1 Canary Lane",), "62701", "(217) 555-0100", "canary.testpatient@example.org",
               "M0000001", "999-00-0001", MARITAL[1], english, acme, "ACME000000001"),
        Person("minor", ("Lily", "Rose"), "Chen", "female", reference - timedelta(days=11 * 365 + 120),
               columbus, ("48 Willow Way",), "43215", "(614) 555-0142", None, "M0000002", None,
               MARITAL[1], english, northwind, "NWM000000002", extra={"contact": [_parent(columbus)]}),
        Person("unicode", ("Zoë", "Amélie"), "Núñez-O'Brien", "female", date(1972, 9, 30), burlington,
               ("12 Église Court", "Apt 3"), "05401", "(802) 555-0157", "zoe.nunez-obrien@example.com",
               "M0000003", "999-00-0003", MARITAL[0], spanish, contoso, "CHP000000003",
               extra={"maiden": ("Núñez", "1998-06-20")}),
        Person("deceased", ("Harold", "James"), "Whitfield", "male", date(1931, 3, 12), springfield,
               ("77 Oak Avenue",), "62704", "(217) 555-0188", None, "M0000004", "999-00-0004",
               MARITAL[3], english, acme, "ACME000000004",
               extra={"deceasedDateTime": (reference - timedelta(days=2)).isoformat() + "T04:10:00-06:00"}),
        Person("empty", ("Noah",), "Ellison", "male", date(1995, 11, 2), columbus, ("5 River Road",),
               "43201", "(614) 555-0199", "noah.ellison@example.com", "M0000005", "999-00-0005",
               MARITAL[1], english, None, None, has_chart=False),
    ]  # fmt: skip


def _parent(city: City) -> dict[str, Any]:
    return {
        "relationship": [concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "MTH", "mother")],
        "name": {"use": "official", "family": "Chen", "given": ["Mei"]},
        "telecom": [{"system": "phone", "value": f"({city.area_code}) 555-0143", "use": "mobile"}],
    }


def patient_resource(person: Person, practitioner: str, hospital: str, updated: datetime) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": f"pat-{person.key}",
        "meta": meta(updated),
        "identifier": _identifiers(person),
        "active": True,
        "name": _names(person),
        "telecom": _telecom(person),
        "gender": person.gender,
        "birthDate": person.birth.isoformat(),
    }
    if "deceasedDateTime" in person.extra:
        resource["deceasedDateTime"] = person.extra["deceasedDateTime"]
    resource |= {
        "address": [{"use": "home", "type": "both", "line": list(person.line), "city": person.city.name,
                     "state": person.city.state, "postalCode": person.postal_code, "country": "US"}],
        "maritalStatus": concept(MARITAL_STATUS, person.marital[0], person.marital[1]),
    }  # fmt: skip
    if "contact" in person.extra:
        resource["contact"] = person.extra["contact"]
    resource |= {
        "communication": [{"language": concept("urn:ietf:bcp:47", *person.language), "preferred": True}],
        "generalPractitioner": [{"reference": practitioner}],
        "managingOrganization": {"reference": hospital},
    }
    return resource


def _identifiers(person: Person) -> list[dict[str, Any]]:
    result = [identifier(MRN_SYSTEM, person.mrn, "MR", use="usual")]
    if person.ssn is not None:
        result.append(identifier(SSN, person.ssn, "SS"))
    if person.payor is not None and person.member_id is not None:
        result.append(identifier(member_system(person.payor[0]), person.member_id, "MB"))
    return result


def _names(person: Person) -> list[dict[str, Any]]:
    names: list[dict[str, Any]] = [{"use": "official", "family": person.family, "given": list(person.given)}]
    if "maiden" in person.extra:
        family, until = person.extra["maiden"]
        maiden = {"use": "maiden", "family": family, "given": list(person.given), "period": {"end": until}}
        names.append(maiden)
    return names


def _telecom(person: Person) -> list[dict[str, Any]]:
    result = [{"system": "phone", "value": person.phone, "use": "home"}]
    if person.email is not None:
        result.append({"system": "email", "value": person.email, "use": "home"})
    return result
