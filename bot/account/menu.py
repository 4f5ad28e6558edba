"""The main menu: numbered options, the words that mean the same (and short requests in people's
own words: 你好, 谢谢, 我要查毕业证, 人工客服, hello), and the menu text itself.

    1 绑定身份   2 查询毕业证书   3 异议申请   4 我的异议   5 代办（家人）
    6 其他查询渠道（学信网、川教通）   7 证书遗失补办   0 帮助

What each choice starts is the router's table (bot/router.py); this module only reads choices and
shows the menu.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot import understand as text
from bot.core.flow import Context, Outcome
from bot.core.state import Conversation
from bot.platform.idcard import mask_name
from bot.proxies import rules as proxies

FLOW = "menu"


class Intent(StrEnum):
    """What a menu choice, a menu click or a keyword asks for."""

    BIND = "bind"
    DIPLOMA = "diploma"
    APPEAL = "appeal"
    MY_APPEALS = "my_appeals"
    PROXY = "proxy"
    HELP = "help"
    UNBIND = "unbind"
    DELETE_ME = "delete_me"
    MY_PROXIES = "my_proxies"
    GREETING = "greeting"
    THANKS = "thanks"
    GUIDE = "guide"  # 其他查询渠道 (bot/guide)
    LOST = "lost"  # 证书遗失: a 学历证明书 in its place (bot/lost)


NUMBERED = {
    1: Intent.BIND,
    2: Intent.DIPLOMA,
    3: Intent.APPEAL,
    4: Intent.MY_APPEALS,
    5: Intent.PROXY,
    6: Intent.GUIDE,
    7: Intent.LOST,
}

KEYWORDS = {
    Intent.BIND: ("绑定", "绑定身份", "身份绑定", "身份认证", "实名", "实名认证"),
    Intent.DIPLOMA: ("查询", "查证书", "毕业证", "毕业证书", "学历", "查询毕业证书", "证书"),
    Intent.APPEAL: ("异议", "申诉", "异议申请", "提交异议", "查不到"),
    Intent.MY_APPEALS: ("我的异议", "我的申请", "进度", "申请进度"),
    Intent.PROXY: ("代办", "代查", "家人", "帮孩子查"),
    Intent.HELP: (
        "帮助",
        "help",
        "help me",
        "?",
        "？",
        "怎么用",
        "客服",
        "人工",
        "人工客服",
        "转人工",
    ),
    Intent.UNBIND: ("解绑", "解除绑定", "取消绑定"),
    Intent.DELETE_ME: ("删除我的信息", "删除信息", "注销", "删除我的数据"),
    Intent.MY_PROXIES: ("我的代办人", "谁在帮我代办", "代办人"),
    Intent.GUIDE: ("其他查询渠道", "其他渠道", "查询渠道"),
    Intent.LOST: ("证书遗失", "遗失", "证书遗失补办", "补办", "学历证明书", "补办学历证明"),
}
# Words that work from anywhere, not only at the menu.
GLOBAL = (Intent.UNBIND, Intent.DELETE_ME, Intent.MY_PROXIES)

# What people say in their own words, read when no keyword matched exactly (order matters: "查不到"
# is an appeal before "查" is a look-up).
_PHRASES = (
    (
        Intent.LOST,
        re.compile(
            r"(?:丢|遗失|补办|补发).{0,6}(?:毕业证|证书|学历证明书)"
            r"|(?:毕业证|证书).{0,4}(?:丢|遗失|掉了|不见了|补办|补发)"
        ),
    ),
    (Intent.APPEAL, re.compile(r"查不到|查询不到|查不出|信息有误|不一致|对不上")),
    (
        Intent.GREETING,
        re.compile(
            r"^(?:(?:你好|您好|在吗|在么|在不在|在不|有人吗|有人在吗|有人不|老师好|老师|哈喽|嗨|喂"
            r"|早上好|下午好|晚上好"
            r"|hello|hi|hey)[啊呀呢]?)+$"
        ),
    ),
    (
        Intent.THANKS,
        re.compile(
            r"^(?:好的|好|嗯|ok)?(?:谢谢|感谢|多谢|谢了|thanks|thankyou)(?:你|您|老师|啦|了)*$"
        ),
    ),
    (Intent.HELP, re.compile(r"人工|客服|电话|联系|help|帮助|怎么用|怎么办")),
    (
        Intent.PROXY,
        re.compile(r"帮(?:我)?(?:孩子|家人|儿子|女儿|老婆|老公|爱人|妈妈|爸爸)|代办|代查"),
    ),
    (
        Intent.DIPLOMA,
        re.compile(
            r"(?:查|看|要|开|办|找|弄).{0,6}(?:毕业证|证书|学历|证明)"
            r"|(?:毕业证|证书|学历).{0,4}(?:查|看)"
        ),
    ),
    (Intent.BIND, re.compile(r"^(?:我要|我想|怎么)?绑定")),
)
_PHRASE_LONGEST = 20  # a longer message is content (an appeal's description), not a request
# Requests that are never a ticket's content, even while one waits for more information.
CHATTER = (Intent.GREETING, Intent.THANKS)
# Help words understood at every step of a form without being taken as its data.
HELP_WORDS = frozenset(KEYWORDS[Intent.HELP]) | {"帮助一下", "怎么弄", "怎么办", "不会弄"}

# WeChat custom-menu CLICK keys map to the same intents as text.
CLICK_KEYS = {
    "MENU_BIND": Intent.BIND,
    "MENU_DIPLOMA": Intent.DIPLOMA,
    "MENU_APPEAL": Intent.APPEAL,
    "MENU_MY_APPEALS": Intent.MY_APPEALS,
    "MENU_PROXY": Intent.PROXY,
    "MENU_HELP": Intent.HELP,
    "MENU_GUIDE": Intent.GUIDE,
    "MENU_LOST": Intent.LOST,
}


def intent_of(message: str, phrases: tuple[Intent, ...] | None = None) -> Intent | None:
    """The intent of a typed or spoken message, if it names one: a number, a keyword, or a short
    request in the person's own words (only the intents in `phrases`, when given)."""
    number = text.choice(message, len(NUMBERED))
    if number:
        return NUMBERED[number]
    if message.strip() in ("?", "？"):
        return Intent.HELP
    cleaned = text.clean(message).lower()
    for intent, words in KEYWORDS.items():
        if cleaned in words:
            return intent
    said = "".join(text.words(cleaned))
    if len(said) <= _PHRASE_LONGEST:
        for intent, phrase in _PHRASES:
            if (phrases is None or intent in phrases) and phrase.search(said):
                return intent
    return None


def asks_for_help(message: str) -> bool:
    """帮助, help, ？, 人工客服...: a request for help, at any step (never the step's data)."""
    return message.strip() in ("?", "？") or text.clean(message).lower() in HELP_WORDS


def show(conv: Conversation, ctx: Context, prefix: str | None = None) -> Outcome:
    """The menu itself, at the menu step, keeping who the user acts for."""
    home = conv.home()
    replies = [ctx.say(prefix)] if prefix else []
    replies.append(
        ctx.say("menu/main", "1", "2", "3", "4", "5", "6", "7", "0", status=_status(home, ctx))
    )
    return Outcome(home, replies)


def _status(conv: Conversation, ctx: Context) -> str:
    """Who the user is here, and for whom they act now."""
    lines = []
    bound_name = ctx.services.who().bound_name  # cached beside the state: no SQL at the menu
    if bound_name:
        lines.append(f"已绑定：{bound_name}")
    if conv.acting_for is not None:
        for proxy in proxies.actives_of(
            ctx.services.db, ctx.services.account_id, ctx.services.now()
        ):
            if proxy.student_id == conv.acting_for:
                who = proxies.GRADUATE_AS[proxy.relation]
                lines.append(f"现在代 {mask_name(proxy.student.name)}（{who}）办理，回复5切换")
    return "\n".join(lines)
