"""The cohorts the demo counts, written as a researcher would write them, and the clinical
cohort the benchmarks count (their nodes hold no imaging index)."""

from __future__ import annotations

from typing import Any

from fivesafes.data.synth import concepts as c

DEMO_COHORTS: list[tuple[str, dict[str, Any]]] = [
    (
        "Lung cancer (any subtype)",
        {
            "name": "Lung cancer",
            "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}],
        },
    ),
    (
        "The PICTURES question: CT chest with contrast, current smokers aged 55-65 at the scan",
        {
            "name": "PICTURES: CT chest with contrast, current smokers 55-65",
            "age": {"min": 55, "max": 65},
            "criteria": [
                {
                    "domain": "imaging",
                    "modality": ["CT"],
                    "body_part": ["CHEST"],
                    "contrast": ["yes"],
                },
                {
                    "domain": "observation",
                    "concepts": [c.TOBACCO_SMOKING_STATUS],
                    "value_concepts": [c.CURRENT_SMOKER],
                },
            ],
        },
    ),
    (
        "Women with type 2 diabetes, BMI 35 or more, on metformin",
        {
            "name": "T2DM, BMI >= 35, metformin, women",
            "sex": ["female"],
            "criteria": [
                {"domain": "condition", "concepts": [c.TYPE_2_DIABETES]},
                {
                    "domain": "measurement",
                    "concepts": [c.BMI],
                    "value": {"min": 35},
                    "units": [c.KG_PER_M2],
                },
                {"domain": "drug", "concepts": [c.METFORMIN]},
            ],
        },
    ),
]

SLIDE_COHORT: tuple[str, dict[str, Any]] = (
    "Persons with an H&E biopsy slide (the pathology domain)",
    {"name": "H&E slide", "criteria": [{"domain": "slide", "stain": ["H&E"]}]},
)

CT_CHEST_SMOKERS: tuple[str, dict[str, Any]] = (
    "Current smokers aged 55-65 at a CT of the chest",
    {
        "name": "CT chest, current smokers 55-65",
        "index": {"type": "first_event", "criterion": 0},
        "age": {"min": 55, "max": 65},
        "criteria": [
            {"domain": "procedure", "concepts": [c.CT_CHEST]},
            {
                "domain": "observation",
                "concepts": [c.TOBACCO_SMOKING_STATUS],
                "value_concepts": [c.CURRENT_SMOKER],
            },
        ],
    },
)
"""The PICTURES question's clinical half, a CT of the chest as a recorded procedure: what the
benchmarks of the count count (``benchmarks/bench_federated_count.py``, ``bench_cli_start.py``),
on nodes that hold the OMOP CDM alone."""
