"""Reading what people type or say: full-width characters, stray spaces and punctuation, spoken
digits from voice recognition, and the words that mean "menu" or a numbered choice."""

from __future__ import annotations

import re
import unicodedata

# Spoken and written Chinese digits as WeChat's speech recognition returns them.
_SPOKEN_DIGITS = {
    "零": "0", "〇": "0", "洞": "0",
    "一": "1", "幺": "1", "么": "1", "壹": "1",
    "二": "2", "两": "2", "贰": "2",
    "三": "3", "叁": "3",
    "四": "4", "肆": "4",
    "五": "5", "伍": "5",
    "六": "6", "陆": "6",
    "七": "7", "柒": "7", "拐": "7",
    "八": "8", "捌": "8",
    "九": "9", "玖": "9", "勾": "9",
}
_SPOKEN_X = ("叉", "差", "艾克斯", "埃克斯")
_PUNCTUATION = re.compile(r"[\s,，.。、;；:：!！?？\"'“”‘’()（）\[\]【】<>《》~～`·…_/\\|+=*#]+")
_NUMBER_JOINERS = re.compile(r"(?<=[0-9Xx])[\s\-－—_.·]+(?=[0-9Xx])")

MENU_WORDS = frozenset({"0", "菜单", "主菜单", "重新开始", "返回", "返回菜单", "回到菜单", "menu", "开始", "退出", "取消"})


def clean(text: str) -> str:
    """NFKC (full-width digits and letters become half-width), outer spaces and punctuation gone."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return text.strip().strip(",.;:!?。，；：！？、 ")


def tidy(text: str) -> str:
    """Free text as written (punctuation kept), without control characters or outer spaces."""
    return "".join(ch for ch in (text or "") if unicodedata.category(ch)[0] != "C" or ch == "\n").strip()


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


def is_yes(text: str) -> bool:
    """Agreement: 同意, 是, 好, 确认, yes, ok."""
    t = clean(text).lower()
    return t in {"同意", "是", "是的", "好", "好的", "确认", "确定", "可以", "对", "嗯", "yes", "y", "ok", "同意并继续"}


def is_no(text: str) -> bool:
    """Refusal: 不同意, 否, 不, no."""
    t = clean(text).lower()
    return t in {"不同意", "否", "不", "不是", "不要", "拒绝", "no", "n", "算了"}
