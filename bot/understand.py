"""Reading what people type or say: the one place that turns a message (typed, or the recognised
text of a voice message) into values, for every chat step and every mini-program API view.

It knows full-width characters, stray spaces and punctuation, spoken digits (幺三八, 两, 叉), small
Chinese numerals (二十, 一百八十), labels and fillers wherever they appear (学号：, 身份证号是, 我叫),
numbered choices and the words for yes, no, skip and menu; it reads names, ID numbers, student
numbers, SMS codes, phone numbers, days and dates. Whether a value is acceptable is decided
elsewhere: an ID number by bot.platform.idcard, a match by bot.binding.rules."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from bot.platform import idcard

# Spoken and written Chinese digits as WeChat's speech recognition returns them.
_SPOKEN_DIGITS = {
    "零": "0",
    "〇": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "么": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "贰": "2",
    "三": "3",
    "叁": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "七": "7",
    "柒": "7",
    "拐": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
    "勾": "9",
}
_SPOKEN_X = ("叉", "差", "艾克斯", "埃克斯")
_PUNCTUATION = re.compile(r"[\s,，.。、;；:：!！?？\"'“”‘’()（）\[\]【】<>《》~～`·…_/\\|+=*#]+")
_NUMBER_JOINERS = re.compile(r"(?<=[0-9Xx])[\s\-－—_.·]+(?=[0-9Xx])")

MENU_WORDS = frozenset(
    {
        "0",
        "菜单",
        "主菜单",
        "重新开始",
        "返回",
        "返回菜单",
        "回到菜单",
        "menu",
        "开始",
        "退出",
        "取消",
    }
)


def clean(text: str) -> str:
    """NFKC (full-width digits and letters become half-width), outer spaces and punctuation gone."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return text.strip().strip(",.;:!?。，；：！？、 ")


def tidy(text: str) -> str:
    """Free text as written (punctuation kept), without control characters or outer spaces."""
    return "".join(
        ch for ch in (text or "") if unicodedata.category(ch)[0] != "C" or ch == "\n"
    ).strip()


# ID numbers (18 or the old 15 characters) and mainland mobile numbers inside free text, digits
# possibly grouped by spaces or hyphens ("139 1234 5678"), full-width ones included
_WIDE = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
_ID_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])\d(?:[ -]?\d){16}[ -]?[0-9Xx](?![0-9A-Za-z])|(?<!\d)\d{15}(?!\d)"
)
_PHONE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?![0-9])")


def mask_personal(text: str) -> str:
    """Free text with every ID number and mobile number in it masked (`1101**********105X`,
    `139****5678`). Every intake of free text (appeal descriptions and added information, staff
    notes, proxy review notes) calls it before the text is stored, echoed or cached."""
    text = (text or "").translate(_WIDE)
    text = _ID_IN_TEXT.sub(lambda m: idcard.mask(re.sub(r"[ -]", "", m[0]).upper()), text)
    return _PHONE_IN_TEXT.sub(lambda m: idcard.mask_phone(re.sub(r"[ -]", "", m[0])[-11:]), text)


def free_text(text: str) -> str:
    """Free text as written (bot.understand.tidy), with ID and mobile numbers masked."""
    return mask_personal(tidy(text))


def spoken_digits(text: str) -> str:
    """Turn spoken digits (幺三八, 两, 叉) into written ones, leaving other characters alone."""
    out = []
    for ch in text:
        out.append(_SPOKEN_DIGITS.get(ch, ch))
    joined = "".join(out)
    for word in _SPOKEN_X:
        joined = joined.replace(word, "X")
    return joined


def number_token(text: str) -> str:
    """A number as typed or spoken, with spaces, dashes and punctuation inside it removed."""
    text = spoken_digits(clean(text))
    return _PUNCTUATION.sub("", _NUMBER_JOINERS.sub("", text)).upper()


def words(text: str) -> list[str]:
    """Split on spaces and any punctuation, Chinese or not."""
    return [w for w in _PUNCTUATION.split(clean(text)) if w]


def is_menu_command(text: str) -> bool:
    """`0`, 菜单, 重新开始 and friends return to the main menu from anywhere."""
    t = clean(text).lower()
    return t in MENU_WORDS or number_token(t) == "0" and len(t) <= 2


def choice(text: str, options: int) -> int | None:
    """A numbered choice 1..options from `2`, `２`, `二`, `第二个`, `选2`; None if it is not one."""
    t = clean(text)
    t = re.sub(r"^(第|选|选择|我选|回复)", "", t)
    t = re.sub(r"(个|项|号)$", "", t)
    t = number_token(t)
    if t.isdigit() and 1 <= int(t) <= options:
        return int(t)
    return None


def _plain(text: str) -> str:
    """Lower case, without a leading 我 or trailing particles, a doubled word once: 我同意的 → 同意,
    嗯嗯 → 嗯, 好的好的 → 好的."""
    t = re.sub(r"^我", "", clean(text).lower())
    half = len(t) // 2
    if len(t) % 2 == 0 and half and t[:half] == t[half:]:
        t = t[:half]
    return re.sub(r"(?<=.)[的了啊呀吧哈]+$", "", t)


def is_yes(text: str) -> bool:
    """Agreement: 同意, 是, 好, 确认, yes, ok (also 我同意, 嗯嗯, 好的好的)."""
    t = clean(text).lower()
    return t in _YES or _plain(t) in _YES


def is_no(text: str) -> bool:
    """Refusal: 不同意, 否, 不, no."""
    t = clean(text).lower()
    return t in _NO or _plain(t) in _NO


_YES = frozenset(
    {
        "同意",
        "是",
        "是的",
        "好",
        "好的",
        "确认",
        "确定",
        "可以",
        "对",
        "嗯",
        "yes",
        "y",
        "ok",
        "同意并继续",
        "行",
        "没问题",
        "好吧",
    }
)
_NO = frozenset({"不同意", "否", "不", "不是", "不要", "拒绝", "no", "n", "算了", "不愿意"})


# -- labels, names, ID numbers, student numbers ----------------------------------------------------
SKIP_WORDS = frozenset(
    {"跳过", "不记得", "不记得了", "忘了", "忘记了", "没有", "不知道", "记不清", "记不清了", "skip"}
)
STUDENT_NO = re.compile(r"[0-9A-Z]{4,20}")
PHONE = re.compile(r"1[3-9]\d{9}")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff"
_LABELS = re.compile(
    r"(?:我的)?(?:身份证号码|身份证号|身份证|学号|手机号码|手机号|电话|号码|姓名|名字)(?:是|为|叫)?"
    r"|(?:(?:我|他|她|我家)(?:的)?(?:孩子|儿子|女儿|闺女|爱人|老婆|老公|妻子|丈夫)?"
    r"|孩子|儿子|女儿|闺女|爱人|老婆|老公|妻子|丈夫)叫"
    rf"|我是|你好|您好|(?<![{_HAN}])是(?![{_HAN}])|:"
)
_NAME_DOT = re.compile(rf"(?<=[{_HAN}])\s*[·•・.‧∙]\s*(?=[{_HAN}])")
_STRAY_DOT = re.compile(rf"(?<![{_HAN}])·|·(?![{_HAN}])")
_HAN_NAME = re.compile(rf"[{_HAN}]+(?:·[{_HAN}]+)*")
_LATIN_NAME = re.compile(r"[A-Za-z]+(?:[ ·][A-Za-z]+)*")
_SCRIPT_EDGE = re.compile(rf"(?<=[{_HAN}])(?=[0-9A-Za-z])|(?<=[0-9A-Za-z])(?=[{_HAN}])")
_SEPARATORS = re.compile(
    r"([\s,，;；、。!！?？\"'“”‘’()（）\[\]【】<>《》~～`…/\\|+=*#_\-—－.•・‧∙]+)"
)
# digits as speech recognition writes them
_VOICE_NUMERALS = frozenset("零〇洞一幺么二两三四五六七八九拐勾叉差")


@dataclass(frozen=True)
class Identity:
    """Name, ID number and student number read from one message; any of them may be missing."""

    name: str | None
    id_number: str = ""  # normalised, for bot.platform.idcard to validate; "" when none was given
    student_no: str | None = None


def strip_labels(said: str) -> str:
    """The message cleaned, with labels and fillers (学号：, 身份证号是, 我叫, 是) turned into spaces."""
    return _LABELS.sub(" ", clean(said)).strip()


def read_name(said: str) -> str | None:
    """A name alone: Chinese (spaces inside dropped, any middle dot read as ·) or Latin letters
    (case kept, single spaces), 2 to 30 characters; None when it is not one."""
    return _name(strip_labels(said))


def read_id_number(said: str) -> str:
    """An ID number as typed or spoken, normalised (labels out, x upper-cased); idcard validates it."""
    return number_token(strip_labels(said))


def read_student_no(said: str) -> str | None:
    """A student number, 4 to 20 digits or letters, normalised; None when unreadable (or a skip word)."""
    number = number_token(strip_labels(said))
    return number if STUDENT_NO.fullmatch(number) else None


def is_skip(said: str) -> bool:
    """跳过, 不记得 and friends: the person does not know the (optional) value."""
    return clean(said).lower() in SKIP_WORDS


def read_identity(said: str) -> Identity:
    """Name, ID number and student number from one message, in any order, labelled or not."""
    t = strip_labels(said).replace("艾克斯", "X").replace("埃克斯", "X")
    t = _STRAY_DOT.sub(" ", _NAME_DOT.sub("·", t))
    pieces = _SEPARATORS.split(_SCRIPT_EDGE.sub(" ", t))  # part, separator, part, ...
    name: list[str] = []
    numbers: list[str] = []
    name_done = False
    for i in range(0, len(pieces), 2):
        part = pieces[i]
        if not part:
            continue
        if name and not name_done and pieces[i - 1].isspace() and _continues_name(name, part):
            name.append(part)  # 张 三, ZHANG SAN
        elif _is_number(part):
            numbers.append(number_token(part))
            name_done = name_done or bool(name)
        elif not name and _name_like(part):
            name.append(part)
        else:
            name_done = name_done or bool(name)  # the first name stands; other words are left out
    id_number, student_no = _split_numbers(numbers)
    return Identity(_name(" ".join(name)) if name else None, id_number, student_no)


def _name_like(part: str) -> bool:
    return bool(_HAN_NAME.fullmatch(part) or _LATIN_NAME.fullmatch(part))


def _continues_name(name: list[str], part: str) -> bool:
    if not _is_number(part):
        return _name_like(part)
    # 王 五: a given name that reads as spoken digits
    return len(name) == 1 and len(name[0]) == 1 and len(part) <= 2


def _name(candidate: str) -> str | None:
    t = re.sub(r"\s*[·•・.‧∙]\s*", "·", candidate.strip())
    han = re.sub(r"\s+", "", t)
    if _HAN_NAME.fullmatch(han) and 2 <= len(han) <= 30:
        return han
    latin = re.sub(r"\s+", " ", t)
    return latin if _LATIN_NAME.fullmatch(latin) and 2 <= len(latin) <= 30 else None


def _is_number(part: str) -> bool:
    if re.search(rf"[{_HAN}]", part):
        return all(ch in _VOICE_NUMERALS for ch in part)
    token = spoken_digits(part).upper()
    return bool(re.fullmatch(r"[0-9A-Z]+", token)) and (
        token == "X" or bool(re.search(r"[0-9]", token))
    )


def _split_numbers(tokens: list[str]) -> tuple[str, str | None]:
    """(ID number, student number): a valid ID found even when spoken in pieces, else the most
    likely ID (18 characters together, a long piece, or all of it); the rest is the student number."""
    for wanted in (idcard.is_valid, lambda c: len(c) == 18):
        for i in range(len(tokens)):
            for j in range(i + 1, len(tokens) + 1):
                candidate = "".join(tokens[i:j])
                if len(candidate) > 18:
                    break
                if len(candidate) == 18 and wanted(candidate):
                    return candidate, "".join(tokens[:i] + tokens[j:]) or None
    for i, token in enumerate(tokens):
        if len(token) >= 15:
            return token, "".join(tokens[:i] + tokens[i + 1 :]) or None
    return "".join(tokens), None


# -- codes, phone numbers, numbers, days, dates ----------------------------------------------------
_NUMERAL_RUN = re.compile(r"[零〇一幺二两三四五六七八九十百]+")
_DIGIT_VALUES = {ch: int(d) for ch, d in _SPOKEN_DIGITS.items()}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100}


def read_code(said: str) -> str | None:
    """The six digits of a code as typed or spoken: "１２３ ４５６", "验证码是123456", "幺二三四五六"."""
    m = re.fullmatch(r"\D*(\d{6})\D*", number_token(said))
    return m.group(1) if m else None


def read_phone(said: str) -> str | None:
    """A mainland mobile number (11 digits), spaces, dashes and labels out; None otherwise."""
    number = number_token(strip_labels(said))
    return number if PHONE.fullmatch(number) else None


def read_number(said: str) -> int | None:
    """A whole number as typed or spoken: 90, ９０, 九零, 九十, 一百八十, 一百八, 两百."""
    t = clean(said)
    digits = number_token(t)
    if re.fullmatch(r"[0-9]{1,9}", digits):
        return int(digits)
    return _numeral(re.sub(r"\s+", "", t))


_MONTHS = re.compile(r"(.+?)个?月$")


def read_days(said: str) -> int | None:
    """A number of days: 90, 90天, 九十天, 要90天的; 半年 (180), 三个月 (90, 30 days a month)."""
    t = re.sub(r"^(要|我要|开|就|大概)+|的$|吧$", "", clean(said).replace(" ", ""))
    if t == "半年":
        return 180
    months = _MONTHS.fullmatch(t)
    if months:
        count = 1 if months.group(1) == "一" else read_number(months.group(1))
        return count * 30 if count is not None else None
    return read_number(re.sub(r"\s*(天|日|days?)$", "", t, flags=re.I))


def read_date(said: str, today: date) -> date | None:
    """2026-12-20, 2026/12/20, 2026年12月20日, 20261220, 12月20号 (this year, or next when past),
    十二月二十日; None when it is not a real date."""
    t = _NUMERAL_RUN.sub(_numeral_digits, clean(said))
    m = re.search(r"(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})", t) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", t
    )
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = re.search(r"(\d{1,2})月(\d{1,2})", t)
        if m:
            day = date(today.year, int(m.group(1)), int(m.group(2)))
            return day if day >= today else date(today.year + 1, day.month, day.day)
    except ValueError:
        return None
    return None


def _numeral_digits(m: re.Match) -> str:
    value = _numeral(m.group())
    return str(value) if value is not None else spoken_digits(m.group())


def _numeral(t: str) -> int | None:
    """二十 → 20, 一百八十 → 180, 一百零五 → 105, 一百八 → 180; None unless it has 十 or 百."""
    if not any(ch in _UNITS for ch in t) or any(
        ch not in _UNITS and ch not in _DIGIT_VALUES for ch in t
    ):
        return None
    total, digit, last_unit = 0, None, 0
    for ch in t:
        if ch in _UNITS:
            if last_unit and _UNITS[ch] >= last_unit:
                return None
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit, last_unit = None, _UNITS[ch]
        elif digit:  # two digits in a row ("一二十")
            return None
        else:
            digit = _DIGIT_VALUES[ch]
    if digit:
        total += digit * (last_unit // 10 if t[-2] in _UNITS and last_unit >= 100 else 1)
    return total


# The other channels people ask about (bot/guide), by the words they use; the first match wins
# (英文 before 学信网: "学信网英文认证" asks about the English report).
_GUIDE_TOPICS = (
    (
        "major_name",
        re.compile(r"专业.{0,4}(?:名称|名字|名)?.{0,3}(?:不一样|不一致|不同|变了|改了|对不上)"),
    ),
    ("english", re.compile(r"英文|英语|english|出国认证|留学认证")),
    ("chuanjiaotong", re.compile(r"川教通")),
    ("chsi", re.compile(r"学信网|学信|chsi|学历认证|认证报告|^认证$")),
    (
        "channels",
        re.compile(r"其他查询渠道|其他渠道|查询渠道|别的渠道|其他查询|还能在哪(?:里|儿)?查"),
    ),
)
_GUIDE_LONGEST = 30  # a longer message is content (an appeal's description), not a question


def guide_topic(said: str) -> str | None:
    """Which of the other channels a short message asks about: `chsi` (学信网, 认证), `chuanjiaotong`
    (川教通), `english` (英文认证), `major_name` (专业名称不一样) or `channels` (其他查询渠道)."""
    cleaned = "".join(words(said)).lower()
    if not cleaned or len(cleaned) > _GUIDE_LONGEST:
        return None
    for topic, pattern in _GUIDE_TOPICS:
        if pattern.search(cleaned):
            return topic
    return None


EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")


def read_email(said: str) -> str | None:
    """An e-mail address (full-width ＠ and spaces tolerated), lower-cased; None if it is not one."""
    t = clean(said).replace("＠", "@").replace(" ", "")
    return t.lower() if len(t) <= 254 and EMAIL.fullmatch(t) else None
