"""Direct identifiers checked and written one way (``linkage.identifiers``): the NHS number's
modulus-11 check catches every single-digit error and every swap of two adjacent different
digits (property tests); postcodes, names, dates and sex as a hospital's systems write them;
a refusal names the field and the reason, never the value."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.linkage.identifiers import (
    IdentifierError,
    identity,
    name,
    nhs_check_digit,
    nhs_number,
    postcode,
)

TODAY = date(2026, 12, 7)
nine = st.text(alphabet="0123456789", min_size=9, max_size=9)


def valid(first_nine: str) -> str | None:
    check = nhs_check_digit(first_nine)
    return None if check is None else first_nine + str(check)


def test_a_published_example_number_is_valid_in_the_forms_it_is_printed():
    assert nhs_number("943 476 5919") == "9434765919"
    assert nhs_number("943-476-5919") == "9434765919"
    assert nhs_number("") is None
    for wrong in ("9434765918", "943476591", "94347659190", "943476591x", "\uff19" * 10):
        with pytest.raises(IdentifierError):
            nhs_number(wrong)


@given(nine, st.integers(0, 9), st.integers(1, 9))
def test_every_single_digit_error_fails_the_check(first, position, shift):
    number = valid(first)
    if number is None:
        return
    wrong = list(number)
    wrong[position] = str((int(wrong[position]) + shift) % 10)
    with pytest.raises(IdentifierError, match="modulus-11"):
        nhs_number("".join(wrong))


@given(nine, st.integers(0, 8))
def test_every_swap_of_two_adjacent_different_digits_fails_the_check(first, position):
    number = valid(first)
    if number is None or number[position] == number[position + 1]:
        return
    swapped = list(number)
    swapped[position], swapped[position + 1] = swapped[position + 1], swapped[position]
    with pytest.raises(IdentifierError, match="modulus-11"):
        nhs_number("".join(swapped))


@pytest.mark.parametrize(
    ("written", "kept"),
    [("SW1A 1AA", "SW1A 1AA"), ("sw1a1aa", "SW1A 1AA"), ("M1 1AE", "M1 1AE"),
     ("B33 8TH", "B33 8TH"), ("cr2  6xh", "CR2 6XH"), ("DN55 1PT", "DN55 1PT"),
     ("EC1A 1BB", "EC1A 1BB"), ("W1A 0AX", "W1A 0AX"), ("", None)],
)  # fmt: skip
def test_postcodes_are_written_one_way(written, kept):
    assert postcode(written) == kept


@pytest.mark.parametrize("wrong", ["12345", "SW1A 1A", "ABC 123", "SW1A 1AAA", "1AB 2CD"])
def test_what_is_not_a_postcode_is_refused(wrong):
    with pytest.raises(IdentifierError, match="postcode: is not a UK postcode"):
        postcode(wrong)


def test_names_are_letters_only_upper_case_without_accents():
    assert name("O'Brien-Smith", "family_name") == "OBRIENSMITH"
    assert name(" Zoë  Anne ", "given_name") == "ZOEANNE"
    with pytest.raises(IdentifierError, match="given_name: has no letters"):
        name("123 -", "given_name")


ROW = {"person_id": "17", "nhs_number": "943 476 5919", "given_name": "Zoë",
       "family_name": "O'Brien", "date_of_birth": "1961-03-04", "sex": "female",
       "postcode": "ls1 4ap"}  # fmt: skip


def test_a_row_is_one_identity_checked_and_normalised():
    person = identity(ROW, TODAY)
    assert (person.person_id, person.nhs_number, person.given_name, person.family_name,
            person.date_of_birth, person.sex, person.postcode) == (
        17, "9434765919", "ZOE", "OBRIEN", date(1961, 3, 4), "F", "LS1 4AP")  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("person_id", "P-17", "is not a whole number (the CDM's person_id)"),
     ("date_of_birth", "04/03/1961", "is not a date written YYYY-MM-DD"),
     ("date_of_birth", "2027-01-01", "is in the future or before 1880"),
     ("sex", "other-value", "is not female, male or unknown"),
     ("nhs_number", "9434765918", "fails the modulus-11 check"),
     ("family_name", "X" * 201, "is longer than 200 characters")],
)  # fmt: skip
def test_a_refusal_names_the_field_and_reason_never_the_value(field, value, reason):
    with pytest.raises(IdentifierError) as refused:
        identity(ROW | {field: value}, TODAY)
    assert (refused.value.field, refused.value.reason) == (field, reason)
    assert value not in str(refused.value)
