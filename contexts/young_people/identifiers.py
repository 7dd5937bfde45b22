"""Identifier rules: the NHS number's modulus 11 check digit."""

import re

_NHS_DIGITS = re.compile(r"^\d{10}$")


def normalise_nhs_number(value: str) -> str:
    """Drop the spaces and dashes people type between the 3-3-4 groups."""
    return re.sub(r"[\s-]", "", value)


def nhs_number_is_valid(value: str) -> bool:
    """Check ten digits and the modulus 11 check digit (weights 10 down to 2)."""
    digits = normalise_nhs_number(value)
    if not _NHS_DIGITS.match(digits):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])
