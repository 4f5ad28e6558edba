"""What the staff console shows of a lost-certificate ticket beside the appeal's own page: how the
学历证明书 is delivered, the postal address (masked unless revealed, like the person's data), the
fee asked at filing and the purpose. The actions are the appeals' (bot/appeals/staff.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.lost import rules as lost
from bot.platform.crypto import PiiCipher
from models import Appeal, Delivery

DELIVERY_LABELS = {Delivery.PICKUP: "到学校自取", Delivery.POST: "邮寄"}


@dataclass(frozen=True)
class LostView:
    """A lost-certificate ticket's own facts, as the console shows them."""

    delivery: str
    address: str
    fee: str
    purpose: str


def lost_view(db: Session, cipher: PiiCipher, appeal: Appeal, reveal: bool) -> LostView | None:
    """The facts of a lost-certificate ticket (None for an appeal); the address masked unless
    `reveal` (the page that reveals it is audited)."""
    details = lost.of(db, appeal)
    if details is None:
        return None
    return LostView(
        delivery=DELIVERY_LABELS[Delivery(details.delivery)],
        address=lost.address_of(cipher, details, reveal),
        fee=f"{details.fee_yuan}元（到窗口现场缴纳）" if details.fee_yuan else "免费",
        purpose=details.purpose or "—",
    )
