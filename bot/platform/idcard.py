"""Chinese resident ID numbers (GB 11643-1999): validating a number and telling exactly what is
wrong (reading it from what people type is bot.understand.read_id_number), and masking personal
data for display: ID numbers, phones, names, student numbers."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from operator import mul

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"  # ISO 7064 MOD 11-2, index = sum % 11


class IdProblem(StrEnum):
    """Each kind of mistake, with its own reply template (templates/replies/idcard/<value>.txt)."""

    EMPTY = "empty"
    FIFTEEN = "fifteen"  # the old 15-digit number
    LENGTH = "length"
    CHARACTERS = "characters"
    REGION = "region"
    BIRTH_DATE = "birth_date"
    CHECKSUM = "checksum"


def check_character(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    return CHECK[sum(map(mul, map(int, first17), WEIGHTS)) % 11]


def problem(number: str, today: date | None = None) -> IdProblem | None:
    """What is wrong with a normalised number, or None when it is valid."""
    if not re.search(r"\d", number):  # nothing that reads as a number ("不知道", "好的")
        return IdProblem.EMPTY
    if len(number) == 15 and number.isdigit():
        return IdProblem.FIFTEEN
    if len(number) != 18:
        return IdProblem.LENGTH
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return IdProblem.CHARACTERS
    if number[0] not in "12345678":
        return IdProblem.REGION
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return IdProblem.BIRTH_DATE
    if born.year < 1900 or born > (today or date.today()):
        return IdProblem.BIRTH_DATE
    if check_character(number[:17]) != number[17]:
        return IdProblem.CHECKSUM
    return None


def is_valid(number: str) -> bool:
    """True for a valid normalised 18-character number."""
    return problem(number) is None


def mask(number: str) -> str:
    """`5108**********441X`: first 4 and last 4 characters."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    """`138****5678`."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def mask_name(name: str) -> str:
    """`张**`: the family name and one star per other character."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_student_no(number: str) -> str:
    """`2017****18`: the first 4 and last 2 characters (numbers of 6 or fewer are shown whole)."""
    return number[:4] + "*" * (len(number) - 6) + number[-2:] if len(number) > 6 else number
