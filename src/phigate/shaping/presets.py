"""Built-in de-identification profiles usable as a contract's ``masking.preset``.

``safe-harbor``: HIPAA §164.514(b)(2), the 18 identifiers, after Microsoft's
Safe Harbor sample configuration (best effort, to be reviewed per data set):

- (A) names: ``HumanName``; reference displays (they often carry a name);
- (B) geography smaller than a state: address lines, city, district, postal
  code cut to its first 3 digits (``000`` where the ZIP3 holds <= 20,000 people);
- (C) dates except the year, and birth dates implying an age over 89: every
  date-typed element is cut to its year;
- (D-F) phone, fax, email: ``ContactPoint``;
- (G-L) SSN, medical record, health plan, account, licence numbers: every
  ``Identifier``, ``Coverage.subscriberId``;
- (M) device identifiers: ``Device.udiCarrier``, serial and lot numbers of devices;
- (N, O) URLs and IP addresses: ``Attachment``, telecom, ``url`` of devices;
- (P, Q) biometrics and photographs: ``Attachment`` (photo, media content);
- (R) other unique numbers: resource ids and references become per-vendor
  pseudonyms (cryptoHash; a re-identification code needs the root secret);
  free text that may hold any of the above (narrative, notes, extensions) is removed;
  Bundle links, which echo the query (and so identifiers), are removed.

``limited-data-set``: §164.514(e): dates, town or city, state and ZIP code may
stay; the direct identifiers above go.
"""

from __future__ import annotations

from phigate.settings.contracts import MaskRuleSettings

_R = MaskRuleSettings

_COMMON_HEAD: tuple[MaskRuleSettings, ...] = (
    _R(path="nodesByType('Extension')", method="redact"),
    _R(path="nodesByType('Narrative') | nodesByType('Annotation')", method="redact"),
    _R(path="Resource.id", method="cryptoHash"),
    _R(path="nodesByType('Reference').reference", method="cryptoHash"),
    _R(path="Bundle.entry.fullUrl", method="cryptoHash"),
    _R(path="Bundle.link", method="redact"),
    _R(path="nodesByType('Reference')", method="redact"),  # display, identifier: the reference itself stays
    _R(path="nodesByType('Identifier')", method="redact"),
    _R(path="Coverage.subscriberId", method="redact"),
    _R(path="nodesByType('HumanName')", method="redact"),
    _R(path="nodesByType('ContactPoint')", method="redact"),
    _R(path="nodesByType('Attachment')", method="redact"),
    _R(path="Patient.contact | RelatedPerson.name | Person.name", method="redact"),
    _R(path="Device.udiCarrier | Device.serialNumber | Device.lotNumber | Device.url", method="redact"),
)

SAFE_HARBOR: tuple[MaskRuleSettings, ...] = (
    *_COMMON_HEAD,
    _R(path="nodesByType('Address').state | nodesByType('Address').country", method="keep"),
    _R(path="nodesByType('Address').postalCode", method="generalize", to="postcode3"),
    _R(path="nodesByType('Address')", method="redact"),
    _R(path="Patient.birthDate", method="generalize", to="year", top_age=90),
    _R(path="nodesByType('date') | nodesByType('dateTime') | nodesByType('instant')", method="generalize",
       to="year"),
)  # fmt: skip

LIMITED_DATA_SET: tuple[MaskRuleSettings, ...] = (
    *_COMMON_HEAD,
    _R(path="nodesByType('Address').city | nodesByType('Address').state", method="keep"),
    _R(path="nodesByType('Address').postalCode | nodesByType('Address').country", method="keep"),
    _R(path="nodesByType('Address')", method="redact"),
)

PRESETS: dict[str, tuple[MaskRuleSettings, ...]] = {
    "safe-harbor": SAFE_HARBOR,
    "limited-data-set": LIMITED_DATA_SET,
}
