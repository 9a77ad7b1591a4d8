"""The OMOP standard concepts the synthetic generator uses, and their hierarchy.

Every id is a real OMOP vocabulary concept id; ``docs/synthetic-data.md`` says where
each one was checked. The generator writes exactly these concepts into the
``concept`` table and the transitive closure of :data:`PARENTS` (plus the self-rows
OMOP always has) into ``concept_ancestor``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

# --- demographics --------------------------------------------------------------------
MALE: Final = 8507
FEMALE: Final = 8532
WHITE: Final = 8527
BLACK: Final = 8516
ASIAN: Final = 8515
HISPANIC: Final = 38003563
NOT_HISPANIC: Final = 38003564
# --- visits and provenance -----------------------------------------------------------
INPATIENT_VISIT: Final = 9201
OUTPATIENT_VISIT: Final = 9202
ER_VISIT: Final = 9203
EHR: Final = 32817  # type concept used for every *_type_concept_id
# --- conditions (SNOMED) -------------------------------------------------------------
DIABETES_MELLITUS: Final = 201820
TYPE_2_DIABETES: Final = 201826
HYPERTENSIVE_DISORDER: Final = 316866
ESSENTIAL_HYPERTENSION: Final = 320128
MALIGNANT_NEOPLASTIC_DISEASE: Final = 443392
LUNG_CANCER: Final = 443388  # "Malignant tumor of lung"
NSCLC: Final = 4115276
SCLC: Final = 4110591
COPD: Final = 255573
ASTHMA: Final = 317009
OSTEOARTHRITIS: Final = 80180
MYOCARDIAL_INFARCTION: Final = 4329847
# --- drugs (RxNorm ingredients) ------------------------------------------------------
METFORMIN: Final = 1503297
ATORVASTATIN: Final = 1545958
LISINOPRIL: Final = 1308216
AMLODIPINE: Final = 1332418
ALBUTEROL: Final = 1154343
CARBOPLATIN: Final = 1344905
CISPLATIN: Final = 1397599
ACETAMINOPHEN: Final = 1125315
# --- procedures (SNOMED) -------------------------------------------------------------
CT_CHEST: Final = 4058335
CHEST_XRAY: Final = 4163872
# --- measurements (LOINC) and units (UCUM) -------------------------------------------
BMI: Final = 3038553
HBA1C: Final = 3004410
SYSTOLIC_BP: Final = 3004249
KG_PER_M2: Final = 9531
PERCENT: Final = 8554
MM_HG: Final = 8876
# --- observations (LOINC) ------------------------------------------------------------
TOBACCO_SMOKING_STATUS: Final = 43054909
CURRENT_SMOKER: Final = 45881517  # "Current every day smoker"
FORMER_SMOKER: Final = 45883458
NEVER_SMOKER: Final = 45879404
# --- background conditions (SNOMED), only with generate(background_conditions=...) ----
VIRAL_SINUSITIS: Final = 40481087
ACUTE_VIRAL_PHARYNGITIS: Final = 4112343
ACUTE_BRONCHITIS: Final = 260139
OTITIS_MEDIA: Final = 372328
STREPTOCOCCAL_SORE_THROAT: Final = 28060
SPRAIN_OF_ANKLE: Final = 81151
SPRAIN_OF_WRIST: Final = 78272
CONCUSSION_NO_LOSS_OF_CONSCIOUSNESS: Final = 378001
SINUSITIS: Final = 4283893
ACUTE_BACTERIAL_SINUSITIS: Final = 4294548
CHRONIC_SINUSITIS: Final = 257012
CONCUSSION_INJURY_OF_BRAIN: Final = 4001336
TRAUMATIC_BRAIN_INJURY: Final = 4132546


@dataclass(frozen=True)
class Concept:
    """One row of the OMOP ``concept`` table."""

    concept_id: int
    concept_name: str
    domain_id: str
    vocabulary_id: str
    concept_class_id: str
    concept_code: str
    standard_concept: str | None = "S"


def _snomed(cid: int, name: str, code: str, domain: str = "Condition") -> Concept:
    cls = "Disorder" if domain == "Condition" else "Procedure"
    return Concept(cid, name, domain, "SNOMED", cls, code)


def _rxnorm(cid: int, name: str, code: str) -> Concept:
    return Concept(cid, name, "Drug", "RxNorm", "Ingredient", code)


def _ucum(cid: int, name: str, code: str) -> Concept:
    return Concept(cid, name, "Unit", "UCUM", "Unit", code)


CONCEPTS: Final[tuple[Concept, ...]] = (
    Concept(MALE, "MALE", "Gender", "Gender", "Gender", "M"),
    Concept(FEMALE, "FEMALE", "Gender", "Gender", "Gender", "F"),
    Concept(WHITE, "White", "Race", "Race", "Race", "5"),
    Concept(BLACK, "Black or African American", "Race", "Race", "Race", "3"),
    Concept(ASIAN, "Asian", "Race", "Race", "Race", "2"),
    Concept(HISPANIC, "Hispanic or Latino", "Ethnicity", "Ethnicity", "Ethnicity", "Hispanic"),
    Concept(
        NOT_HISPANIC,
        "Not Hispanic or Latino",
        "Ethnicity",
        "Ethnicity",
        "Ethnicity",
        "Not Hispanic",
    ),
    Concept(INPATIENT_VISIT, "Inpatient Visit", "Visit", "Visit", "Visit", "IP"),
    Concept(OUTPATIENT_VISIT, "Outpatient Visit", "Visit", "Visit", "Visit", "OP"),
    Concept(ER_VISIT, "Emergency Room Visit", "Visit", "Visit", "Visit", "ER"),
    Concept(EHR, "EHR", "Type Concept", "Type Concept", "Type Concept", "OMOP4976890"),
    _snomed(DIABETES_MELLITUS, "Diabetes mellitus", "73211009"),
    _snomed(TYPE_2_DIABETES, "Type 2 diabetes mellitus", "44054006"),
    _snomed(HYPERTENSIVE_DISORDER, "Hypertensive disorder", "38341003"),
    _snomed(ESSENTIAL_HYPERTENSION, "Essential hypertension", "59621000"),
    _snomed(MALIGNANT_NEOPLASTIC_DISEASE, "Malignant neoplastic disease", "363346000"),
    _snomed(LUNG_CANCER, "Malignant tumor of lung", "363358000"),
    _snomed(NSCLC, "Non-small cell lung cancer", "254637007"),
    _snomed(SCLC, "Small cell carcinoma of lung", "254632001"),
    _snomed(COPD, "Chronic obstructive lung disease", "13645005"),
    _snomed(ASTHMA, "Asthma", "195967001"),
    _snomed(OSTEOARTHRITIS, "Osteoarthritis", "396275006"),
    _snomed(MYOCARDIAL_INFARCTION, "Myocardial infarction", "22298006"),
    _rxnorm(METFORMIN, "metformin", "6809"),
    _rxnorm(ATORVASTATIN, "atorvastatin", "83367"),
    _rxnorm(LISINOPRIL, "lisinopril", "29046"),
    _rxnorm(AMLODIPINE, "amlodipine", "17767"),
    _rxnorm(ALBUTEROL, "albuterol", "435"),
    _rxnorm(CARBOPLATIN, "carboplatin", "40048"),
    _rxnorm(CISPLATIN, "cisplatin", "2555"),
    _rxnorm(ACETAMINOPHEN, "acetaminophen", "161"),
    _snomed(CT_CHEST, "CT of chest", "169069000", domain="Procedure"),
    _snomed(CHEST_XRAY, "Plain chest X-ray", "399208008", domain="Procedure"),
    Concept(
        BMI,
        "Body mass index (BMI) [Ratio]",
        "Measurement",
        "LOINC",
        "Clinical Observation",
        "39156-5",
    ),
    Concept(
        HBA1C,
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "Measurement",
        "LOINC",
        "Lab Test",
        "4548-4",
    ),
    Concept(
        SYSTOLIC_BP,
        "Systolic blood pressure",
        "Measurement",
        "LOINC",
        "Clinical Observation",
        "8480-6",
    ),
    _ucum(KG_PER_M2, "kilogram per square meter", "kg/m2"),
    _ucum(PERCENT, "percent", "%"),
    _ucum(MM_HG, "millimeter mercury column", "mm[Hg]"),
    Concept(
        TOBACCO_SMOKING_STATUS,
        "Tobacco smoking status",
        "Observation",
        "LOINC",
        "Clinical Observation",
        "72166-2",
    ),
    Concept(
        CURRENT_SMOKER, "Current every day smoker", "Meas Value", "LOINC", "Answer", "LA18976-3"
    ),
    Concept(FORMER_SMOKER, "Former smoker", "Meas Value", "LOINC", "Answer", "LA15920-4"),
    Concept(NEVER_SMOKER, "Never smoker", "Meas Value", "LOINC", "Answer", "LA18978-9"),
)

# child -> parents ("Is a"). A subset of SNOMED's hierarchy: intermediate concepts
# between these ancestors and descendants are left out, so levels are counted within
# this subset only.
PARENTS: Final[dict[int, tuple[int, ...]]] = {
    TYPE_2_DIABETES: (DIABETES_MELLITUS,),
    ESSENTIAL_HYPERTENSION: (HYPERTENSIVE_DISORDER,),
    LUNG_CANCER: (MALIGNANT_NEOPLASTIC_DISEASE,),
    NSCLC: (LUNG_CANCER,),
    SCLC: (LUNG_CANCER,),
}


BACKGROUND_CONCEPTS: Final[tuple[Concept, ...]] = (
    _snomed(VIRAL_SINUSITIS, "Viral sinusitis", "444814009"),
    _snomed(ACUTE_VIRAL_PHARYNGITIS, "Acute viral pharyngitis", "195662009"),
    _snomed(ACUTE_BRONCHITIS, "Acute bronchitis", "10509002"),
    _snomed(OTITIS_MEDIA, "Otitis media", "65363002"),
    _snomed(STREPTOCOCCAL_SORE_THROAT, "Streptococcal sore throat", "43878008"),
    _snomed(SPRAIN_OF_ANKLE, "Sprain of ankle", "44465007"),
    _snomed(SPRAIN_OF_WRIST, "Sprain of wrist", "70704007"),
    _snomed(
        CONCUSSION_NO_LOSS_OF_CONSCIOUSNESS, "Concussion with no loss of consciousness", "62106007"
    ),
    _snomed(SINUSITIS, "Sinusitis", "36971009"),
    _snomed(ACUTE_BACTERIAL_SINUSITIS, "Acute bacterial sinusitis", "75498004"),
    _snomed(CHRONIC_SINUSITIS, "Chronic sinusitis", "40055000"),
    _snomed(CONCUSSION_INJURY_OF_BRAIN, "Concussion injury of brain", "110030002"),
    _snomed(TRAUMATIC_BRAIN_INJURY, "Traumatic brain injury", "127295002"),
)
"""Common conditions of the opt-in background records (``generate(background_conditions=...)``),
written into ``concept`` only when that option is used: none of them enters a planted model.
Ids, names and codes as in the Eunomia GiBleed CDM's vocabulary."""

BACKGROUND_PARENTS: Final[dict[int, tuple[int, ...]]] = {
    VIRAL_SINUSITIS: (SINUSITIS,),
    ACUTE_BACTERIAL_SINUSITIS: (SINUSITIS,),
    CHRONIC_SINUSITIS: (SINUSITIS,),
    CONCUSSION_NO_LOSS_OF_CONSCIOUSNESS: (CONCUSSION_INJURY_OF_BRAIN,),
    CONCUSSION_INJURY_OF_BRAIN: (TRAUMATIC_BRAIN_INJURY,),
}
"""child -> parents among :data:`BACKGROUND_CONCEPTS` (Eunomia's ``concept_ancestor``)."""


def concept_by_id() -> dict[int, Concept]:
    """Every concept used, keyed by concept id."""
    return {c.concept_id: c for c in CONCEPTS}


def ancestor_rows(
    concepts: tuple[Concept, ...] = CONCEPTS,
    parents: dict[int, tuple[int, ...]] = PARENTS,
) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(ancestor, descendant, min_levels, max_levels)`` as in ``concept_ancestor``.

    The transitive closure of ``parents`` (by default :data:`PARENTS`) over ``concepts``
    (:data:`CONCEPTS`), with a level-0 self-row for every standard concept, as OMOP's own
    ``concept_ancestor`` has.
    """
    for concept in concepts:
        levels: dict[int, list[int]] = {}
        frontier = [(concept.concept_id, 0)]
        while frontier:
            cid, depth = frontier.pop()
            levels.setdefault(cid, []).append(depth)
            frontier.extend((parent, depth + 1) for parent in parents.get(cid, ()))
        for ancestor, depths in sorted(levels.items()):
            yield ancestor, concept.concept_id, min(depths), max(depths)
