"""Name lists, places and clinical code tables the synthetic generator draws from.

Every person, place and organisation is fictional; phone numbers use the 555-01xx
range reserved for fiction and social security numbers the never-issued 9xx area.
The clinical codes are real (SNOMED CT, RxNorm, LOINC, CVX, CPT) so that the data
looks like what an EHR returns.
"""

from __future__ import annotations

from typing import NamedTuple

FEMALE_GIVEN = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Emily", "Donna", "Michelle", "Carol",
    "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Sharon", "Cynthia", "Kathleen", "Amy",
    "Angela", "Anna", "Brenda", "Pamela", "Nicole", "Samantha", "Katherine", "Christine", "Rachel", "Maria",
    "Aisha", "Mei", "Priya", "Fatima", "Sofia", "Hannah", "Olivia", "Grace", "Yuki", "Ingrid",
)  # fmt: skip

MALE_GIVEN = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
    "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
    "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon",
    "Ahmed", "Wei", "Raj", "Omar", "Mateo", "Hiroshi", "Kwame", "Lars", "Dmitri", "Diego",
)  # fmt: skip

FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Kim", "Chen", "Okafor", "Kowalski", "Schmidt", "Novak", "Tanaka", "Haddad", "Oyelaran",
)  # fmt: skip

STREETS = (
    "Maple Street", "Oak Avenue", "Cedar Lane", "Pine Road", "Elm Street", "Washington Avenue",
    "Lakeview Drive", "Hillcrest Road", "Park Place", "Sunset Boulevard", "Highland Avenue", "River Road",
    "Church Street", "Meadow Lane", "Forest Drive", "Main Street", "Chestnut Street", "Willow Way",
    "Birch Court", "Spring Street", "Franklin Avenue", "Jefferson Street", "Madison Avenue", "Orchard Lane",
)  # fmt: skip

UNIT_PREFIXES = ("Apt", "Unit", "Suite")


class City(NamedTuple):
    name: str
    state: str
    zip_prefix: str
    utc_offset: str
    area_code: str


CITIES = (
    City("Springfield", "IL", "627", "-06:00", "217"),
    City("Columbus", "OH", "432", "-05:00", "614"),
    City("Madison", "WI", "537", "-06:00", "608"),
    City("Albany", "NY", "122", "-05:00", "518"),
    City("Burlington", "VT", "054", "-05:00", "802"),
    City("Raleigh", "NC", "276", "-05:00", "919"),
    City("Harrisburg", "PA", "171", "-05:00", "717"),
    City("Richmond", "VA", "232", "-05:00", "804"),
    City("Lansing", "MI", "489", "-05:00", "517"),
    City("Des Moines", "IA", "503", "-06:00", "515"),
    City("Nashville", "TN", "372", "-06:00", "615"),
    City("Hartford", "CT", "061", "-05:00", "860"),
)

MARITAL = (("M", "Married"), ("S", "Never Married"), ("D", "Divorced"), ("W", "Widowed"))
LANGUAGES = (("en-US", "English (United States)"), ("es", "Spanish"), ("zh", "Chinese"), ("vi", "Vietnamese"))

PRACTITIONERS = (
    ("Helen", "Okonkwo", "female", "Family Medicine"),
    ("Marcus", "Feldman", "male", "Internal Medicine"),
    ("Elena", "Vasquez", "female", "Endocrinology"),
    ("Samuel", "Whitaker", "male", "Cardiology"),
    ("Priya", "Raman", "female", "Pediatrics"),
    ("Thomas", "Lindqvist", "male", "Emergency Medicine"),
    ("Grace", "Mbeki", "female", "Pulmonology"),
    ("Daniel", "Brennan", "male", "Pathology"),
)


class Concept(NamedTuple):
    code: str
    display: str


class Lab(NamedTuple):
    code: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int


class Panel(NamedTuple):
    code: str
    display: str
    cpt: str
    labs: tuple[Lab, ...]


GLUCOSE = Lab("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 99, 0)
HEMOGLOBIN = Lab("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.5, 1)
CREATININE = Lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 2)
HBA1C = Lab("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 1)
POTASSIUM = Lab("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 1)
SODIUM = Lab("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136, 145, 0)
LEUKOCYTES = Lab("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11.0, 1)
PLATELETS = Lab("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 0)
CHOLESTEROL = Lab("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 100, 199, 0)
HDL = Lab("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 40, 90, 0)
LDL = Lab("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL",
          40, 99, 0)
TRIGLYCERIDES = Lab("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 40, 149, 0)

PANELS = (
    Panel("51990-0", "Basic metabolic panel - Blood", "80048", (GLUCOSE, CREATININE, POTASSIUM, SODIUM)),
    Panel("58410-2", "CBC panel - Blood by Automated count", "85025", (HEMOGLOBIN, LEUKOCYTES, PLATELETS)),
    Panel("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "83036", (HBA1C,)),
    Panel("57698-3", "Lipid panel with direct LDL - Serum or Plasma", "80061",
          (CHOLESTEROL, HDL, LDL, TRIGLYCERIDES)),
)


class Vital(NamedTuple):
    code: str
    display: str
    unit: str
    low: float
    high: float
    decimals: int


HEART_RATE = Vital("8867-4", "Heart rate", "/min", 58, 98, 0)
BODY_WEIGHT = Vital("29463-7", "Body weight", "kg", 48, 118, 1)
BODY_HEIGHT = Vital("8302-2", "Body height", "cm", 150, 192, 1)
BODY_TEMPERATURE = Vital("8310-5", "Body temperature", "Cel", 36.2, 37.6, 1)
BLOOD_PRESSURE = Concept("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Vital("8480-6", "Systolic blood pressure", "mm[Hg]", 104, 152, 0)
DIASTOLIC = Vital("8462-4", "Diastolic blood pressure", "mm[Hg]", 62, 96, 0)


class Disorder(NamedTuple):
    code: str
    display: str
    chronic: bool
    medications: tuple[Concept, ...]


METFORMIN = Concept("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet")
LISINOPRIL = Concept("314076", "lisinopril 10 MG Oral Tablet")
AMLODIPINE = Concept("197361", "amlodipine 5 MG Oral Tablet")
HYDROCHLOROTHIAZIDE = Concept("310798", "hydrochlorothiazide 25 MG Oral Tablet")
ATORVASTATIN = Concept("259255", "atorvastatin 80 MG Oral Tablet")
SIMVASTATIN = Concept("312961", "simvastatin 20 MG Oral Tablet")
ALBUTEROL = Concept("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler")
FLUTICASONE = Concept("895994", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler")
SERTRALINE = Concept("312938", "sertraline 100 MG Oral Tablet")
LEVOTHYROXINE = Concept("966222", "levothyroxine sodium 0.075 MG Oral Tablet")
WARFARIN = Concept("855332", "warfarin sodium 5 MG Oral Tablet")
IBUPROFEN = Concept("310965", "ibuprofen 200 MG Oral Tablet")
ACETAMINOPHEN = Concept("313782", "acetaminophen 325 MG Oral Tablet")
AMOXICILLIN = Concept("308182", "amoxicillin 250 MG Oral Capsule")
NITROFURANTOIN = Concept("311995", "nitrofurantoin 100 MG Oral Capsule")

DISORDERS = (
    Disorder("44054006", "Diabetes mellitus type 2 (disorder)", True, (METFORMIN,)),
    Disorder("38341003", "Hypertensive disorder, systemic arterial (disorder)", True,
             (LISINOPRIL, AMLODIPINE, HYDROCHLOROTHIAZIDE)),
    Disorder("55822004", "Hyperlipidemia (disorder)", True, (ATORVASTATIN, SIMVASTATIN)),
    Disorder("195967001", "Asthma (disorder)", True, (ALBUTEROL, FLUTICASONE)),
    Disorder("35489007", "Depressive disorder (disorder)", True, (SERTRALINE,)),
    Disorder("40930008", "Hypothyroidism (disorder)", True, (LEVOTHYROXINE,)),
    Disorder("49436004", "Atrial fibrillation (disorder)", True, (WARFARIN,)),
    Disorder("239873007", "Osteoarthritis of knee (disorder)", True, (IBUPROFEN, ACETAMINOPHEN)),
    Disorder("13645005", "Chronic obstructive lung disease (disorder)", True, (ALBUTEROL,)),
    Disorder("444814009", "Viral sinusitis (disorder)", False, (ACETAMINOPHEN,)),
    Disorder("10509002", "Acute bronchitis (disorder)", False, (AMOXICILLIN,)),
    Disorder("68566005", "Urinary tract infectious disease (disorder)", False, (NITROFURANTOIN,)),
    Disorder("271737000", "Anemia (disorder)", False, ()),
)  # fmt: skip


class Visit(NamedTuple):
    class_code: str
    class_display: str
    type_code: str
    type_display: str
    cpt: str
    cpt_display: str
    price: float


VISITS = (
    Visit("AMB", "ambulatory", "185349003", "Encounter for check up (procedure)", "99213",
          "Office or other outpatient visit, established patient, low complexity", 128.0),
    Visit("AMB", "ambulatory", "390906007", "Follow-up encounter (procedure)", "99214",
          "Office or other outpatient visit, established patient, moderate complexity", 184.0),
    Visit("AMB", "ambulatory", "185345009", "Encounter for symptom (procedure)", "99213",
          "Office or other outpatient visit, established patient, low complexity", 128.0),
    Visit("EMER", "emergency", "50849002", "Emergency room admission (procedure)", "99284",
          "Emergency department visit, moderate to high severity", 612.0),
    Visit("IMP", "inpatient encounter", "32485007", "Hospital admission (procedure)", "99223",
          "Initial hospital inpatient care, high severity", 1460.0),
)  # fmt: skip

VACCINES_ADULT = (
    Concept("140", "Influenza, seasonal, injectable, preservative free"),
    Concept("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, "
                   "30 mcg/0.3mL dose"),
    Concept("115", "Tdap"),
    Concept("33", "pneumococcal polysaccharide vaccine, 23 valent"),
    Concept("187", "zoster vaccine recombinant"),
    Concept("43", "Hep B, adult"),
)
VACCINES_CHILD = (
    Concept("20", "DTaP"),
    Concept("10", "IPV"),
    Concept("03", "MMR"),
    Concept("08", "Hep B, adolescent or pediatric"),
    Concept("140", "Influenza, seasonal, injectable, preservative free"),
)
VACCINE_ADMIN = Concept("90471", "Immunization administration, one vaccine")
VACCINE_PRICE = 42.0
PANEL_PRICE = 38.0

PAYORS = (
    ("org-payor-acme", "Acme Health Insurance", "ACME", "PPO Gold"),
    ("org-payor-northwind", "Northwind Mutual Health", "NWM", "HMO Standard"),
    ("org-payor-contoso", "Contoso Health Plan", "CHP", "EPO Silver"),
)
