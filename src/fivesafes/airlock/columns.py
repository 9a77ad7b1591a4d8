"""What a CSV's column holds, read from its name: a count, a group (a key such as an age or a
code), a person's identifier, a date of birth. The pre-screen judges only counts as counts
(``screening``), and asks whether a file is row-level data by its columns (``row_level``).

| name (lower case, ``_`` for any run of other characters) | reads as       |
| ---------------------------------------------------------- | -------------- |
| ``n``, ``count``, ``total``, ``persons``, ``n_*``, ``*_count`` … | a count   |
| ``age``, ``year``, ``month``, ``band``, ``code``, ``*_id``, ``*_code`` … | a group |
| ``person_id``, ``patient_id``, ``nhs_number``, ``subject`` …  | an identifier  |
| ``dob``, ``date_of_birth``, ``birth_date`` …                 | a date of birth |

A whole-number column whose name reads as none of these is taken for counts (a crosstab's
columns are named after categories: ``north``, ``south``).
"""

from __future__ import annotations

import re

COUNT = re.compile(
    r"n|count|counts|freq|frequency|total|number|persons|people|patients|cases|events|"
    r"records|observations|obs|denominator|numerator|size|"
    r"(n|num|number|count|total)_.+|.+_(n|count|counts|total|freq|number)"
)
GROUP = re.compile(
    r"age|age_?(band|group|years|at_.+)|year|yr|month|week|day|date|quarter|period|"
    r"decile|quintile|quartile|tertile|centile|percentile|rank|order|index|level|stage|grade|"
    r"wave|visit|cycle|line|code|id|row|yob|year_of_birth|birth_year|.+_(id|code|year|no)"
)
IDENTIFIER = re.compile(
    r"(person|patient|subject|participant|individual)(_?(id|no|num|number|key|ref|identifier))?"
    r"|(client|pat|study|record|case|member)_?(id|no|num|number|key|ref)"
    r"|(nhs|chi|mrn|ssn|upi|pid|eid|hospital)(_?(id|no|num|number))?"
)
BIRTH = re.compile(r"d_?o_?b|date_?of_?birth|birth_?date|birth_?dt|birthday")


def key(name: str) -> str:
    """``"Person ID"`` -> ``person_id``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def is_count(name: str) -> bool:
    return bool(COUNT.fullmatch(key(name)))


def is_group(name: str) -> bool:
    """Named as a group, an identifier or a date of birth (and not as a count)."""
    k = key(name)
    if COUNT.fullmatch(k):
        return False
    return bool(GROUP.fullmatch(k) or IDENTIFIER.fullmatch(k) or BIRTH.fullmatch(k))


def is_identifier(name: str) -> bool:
    return bool(IDENTIFIER.fullmatch(key(name)))


def is_birth(name: str) -> bool:
    return bool(BIRTH.fullmatch(key(name)))
