"""Does a reply hold the kind of thing its question asks for?

A question that asks how many ("电话多少", "几个人") is not answered by a reply without a number, one that asks
when ("什么时候交") not by a reply without any time word, and one that asks where ("去哪里充磁") not by a bare
yes/no ("可以，我买了十一回家的票"). These are the question words of every Chinese chat, not weights fitted to
one group: checked on the labelled QQ group, then on the WeChat group, where it caught wrong shown answers and
no right ones (docs/evaluation.md). A reply that points somewhere ("官网上有说", "问辅导员") answers any kind.
"""

from __future__ import annotations

import re

from .extract import clean_text

ASKS_NUMBER = re.compile(r"多少|几[个次号点天月年岁位块元万千百十人门届]")
ASKS_TIME = re.compile(r"什么时候|啥时候|何时|哪天|几号|几点|多久|多长时间|几月")
ASKS_PLACE = re.compile(r"哪里|哪儿|在哪|什么地方|啥地方|去哪|哪个(?:校区|楼|地方|网站|网址|城市)")

_NUMBER = re.compile(r"[0-9０-９一二三四五六七八九十百千万两半俩仨几]|免|不要钱|不收|不用|不需要|没有|没")
_TIME = re.compile(r"[0-9０-９]|[今明后昨前]天|[上下这本]周|周[一二三四五六日末]|星期|月|年|天|号|日|点|时|"
                   r"之前|以前|之后|以后|前|后|马上|立刻|随时|现在|已经|刚|早|晚|快|寒假|暑假|开学|毕业|节")
_YES_NO_START = re.compile(r"^(?:可以|不可以|能|不能|是|不是|对|行|不行|会|不会|有|没有|要|不要|需要|不需要)"
                           r"(?:[的啊呀吧哦]|$|[，,。!！\s])")
_REFERRAL = re.compile(r"官网|网上|网站|通知|公告|群文件|文件里|有说|http|www|打电话|"
                       r"问(?:一下|下)?(?:老师|辅导员|学院|客服|hr|HR)")


def answer_type_mismatch(question: str, reply: str) -> str | None:
    """"number", "time" or "place" when the question asks for that and the reply holds none of it; else None."""
    q, a = clean_text(question), clean_text(reply)
    if _REFERRAL.search(a):
        return None
    if ASKS_NUMBER.search(q) and not _NUMBER.search(a):
        return "number"
    if ASKS_TIME.search(q) and not _TIME.search(a):
        return "time"
    if ASKS_PLACE.search(q) and _YES_NO_START.match(a):
        return "place"
    return None
