"""GB 11643-1999 validation and the normalisation of what people type or say."""

import random
from datetime import date, timedelta

import pytest

from bot.platform.idcard import IdProblem, check_character, is_valid, mask, mask_student_no, problem
from bot.understand import read_id_number


def _generated(n: int, seed: int = 11643) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        region = f"{rng.randint(1, 8)}{rng.randint(0, 99999):05d}"
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
        first17 = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
        out.append(first17 + check_character(first17))
    return out


def test_the_standards_example_is_valid():
    assert problem("11010519491231002X") is None


def test_two_hundred_generated_numbers_pass():
    numbers = _generated(200)
    assert len(set(numbers)) == 200
    assert all(is_valid(n) for n in numbers)
    assert any(n.endswith("X") for n in _generated(200, seed=1))


@pytest.mark.parametrize("number", _generated(20, seed=7) + ["11010519491231002X"])
def test_every_single_character_change_fails(number):
    for pos in range(18):
        for ch in "0123456789X":
            if ch == number[pos] or (ch == "X" and pos < 17):
                continue
            changed = number[:pos] + ch + number[pos + 1 :]
            assert not is_valid(changed), (pos, ch)


@pytest.mark.parametrize(
    "number, expected",
    [
        ("", IdProblem.EMPTY),
        ("110105491231002", IdProblem.FIFTEEN),
        ("1101051949123100", IdProblem.LENGTH),
        ("11010519491231002A", IdProblem.CHARACTERS),
        ("01010519491231002X", IdProblem.REGION),
        ("110105199902300012", IdProblem.BIRTH_DATE),  # 1999-02-30
        ("110105203001010010", IdProblem.BIRTH_DATE),  # born in the future
        ("110105194912310021", IdProblem.CHECKSUM),
    ],
)
def test_each_kind_of_mistake_is_named(number, expected):
    assert problem(number) == expected


def test_date_like_19990230_fails_whatever_the_check_character():
    first17 = "11010519990230001"
    assert problem(first17 + check_character(first17)) == IdProblem.BIRTH_DATE


@pytest.mark.parametrize(
    "typed",
    [
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "110105 19491231 002X",
        "110105-19491231-002x",
        " 11010519491231002X。",
        "幺幺零幺零五幺九四九幺二三幺零零二叉",
        "一一零一零五一九四九一二三一零零二X",
    ],
)
def test_messy_input_normalises_to_the_number(typed):
    assert read_id_number(typed) == "11010519491231002X"


def test_student_numbers_are_masked_one_way():
    assert mask_student_no("2017020118") == "2017****18" and mask_student_no("B1234") == "B1234"


def test_mask_keeps_four_and_four():
    assert mask("51082119980312441X") == "5108**********441X"
