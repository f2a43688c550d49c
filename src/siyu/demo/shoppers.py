"""Customers and their orders for one demo brand, planned as rows ready for bulk insert.

A few customers are near-duplicates of others (``near_duplicate_count``): the same person again,
with a phone mistyped in its masked middle digits, so no strong key joins them, and a receiver
block on their orders that matches or nearly matches the original's. Their weak evidence
(``plan_evidence``) is what the merge-proposal review queue is for.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from faker import Faker

from siyu.customers.models import Gender
from siyu.demo.brands import (
    EMAIL_DOMAINS,
    MOBILE_PREFIXES,
    PRICE_BP,
    REFUND_BP,
    BrandSpec,
    Product,
    StoreSpec,
)
from siyu.demo.timeline import TZ, Calendar, id_at
from siyu.identity.proposals import evidence_row
from siyu.orders.models import OrderSource, OrderStatus
from siyu.orders.service import status_for
from siyu.security.pii import blind_index

Row = dict[str, Any]
_LINE_COUNT_WEIGHTS = {1: 55, 2: 28, 3: 12, 4: 5}
_AGE_BANDS = ((18, 24, 20), (25, 34, 45), (35, 44, 25), (45, 60, 10))
_STREETS = (
    "人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "文化路", "青年路", "胜利路",
    "长江路", "滨江大道", "环城北路",
)  # fmt: skip
_ESTATES = ("阳光花园", "金色家园", "翠苑", "锦绣华庭", "世纪新城", "桂花园", "未来城", "")
_NEAR_DUPLICATE_VARIANTS = ("prefixed", "unit", "honorific", "moved", "typo")
"""How a near-duplicate's receiver block differs: the address written after its province and
city (as some platforms export it), no flat number, 陈女士 for 陈静, a new address, one
character of the name."""


def near_duplicate_count(customers: int) -> int:
    """How many of a brand's ``customers`` are near-duplicates of others: 1 in 60, 3 to 12."""
    return 0 if customers < 50 else min(12, max(3, customers // 60))


@dataclass
class Context:
    """State shared by both brands: the random sources, the time window, the used phones."""

    rng: random.Random
    fake: Faker
    now: datetime
    start: datetime
    calendar: Calendar = field(init=False)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    member_nos: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.calendar = Calendar(self.start, self.now)


@dataclass(frozen=True)
class Store:
    spec: StoreSpec
    id: uuid.UUID
    region_index: int
    guide_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class _Receiver:
    """Who the customer's orders go to: the weak evidence they leave."""

    name: str
    phone: str
    gender: Gender
    province: str
    city: str
    twin_of: uuid.UUID | None = None
    """The customer this one nearly duplicates, with ``variant`` saying how it differs."""
    variant: str = ""


@dataclass(frozen=True)
class _Buyer:
    """What order and evidence generation need to know about a customer."""

    id: uuid.UUID
    created_at: datetime
    store: Store
    owner_id: uuid.UUID | None
    purchases: tuple[tuple[OrderSource, datetime], ...]
    receiver: _Receiver


class ShopperPlanner:
    """Plans one brand's customers (``plan_customers``), then their orders (``plan_orders``)."""

    def __init__(
        self, ctx: Context, brand: BrandSpec, tenant_id: uuid.UUID, stores: list[Store]
    ) -> None:
        self.ctx = ctx
        self.brand = brand
        self.rng = ctx.rng
        self.tenant_id = tenant_id
        self.stores = stores
        self.customers: list[_Buyer] = []
        self.order_count = 0
        self.status_counts: dict[OrderStatus, int] = {}
        self._external_ids: set[tuple[OrderSource, str]] = set()
        self._receipt_seq: dict[tuple[str, date], int] = {}
        self._sources = list(brand.source_weights)
        self._source_cum = list(accumulate(brand.source_weights[s] for s in self._sources))

    # customers ---------------------------------------------------------------------------------

    def plan_customers(self, count: int) -> list[Row]:
        """Return ``count`` customer rows and remember each one's purchases for ``plan_orders``."""
        ctx, rng = self.ctx, self.rng
        store_cum = list(accumulate(s.spec.weight for s in self.stores))
        latest = ctx.now - timedelta(hours=2)
        rows = []
        twins = near_duplicate_count(count)
        for _ in range(count - twins):
            store = rng.choices(self.stores, cum_weights=store_cum)[0]
            channel = self._source()
            created_at = ctx.calendar.pick(
                rng, ctx.start, latest, store_hours=channel is OrderSource.POS
            )
            owner_id = rng.choice(store.guide_ids) if rng.random() < 0.85 else None
            purchases = self._purchases(created_at, channel)
            customer_id = id_at(rng, created_at)
            row = self._customer_row(customer_id, created_at, store, owner_id, len(purchases))
            receiver = _Receiver(
                row["name"], row["phone"], Gender(row["gender"]), row["province"], row["city"]
            )
            self.customers.append(
                _Buyer(customer_id, created_at, store, owner_id, purchases, receiver)
            )
            rows.append(row)
        return rows + self._plan_near_duplicates(twins)

    def _plan_near_duplicates(self, count: int) -> list[Row]:
        """Return ``count`` customers who are buyers planned before, again.

        Each is another online account of a buyer: no guide, no e-mail or member number, the
        phone mistyped in a digit that masking hides, and a name and address that match the
        original's or vary as ``_NEAR_DUPLICATE_VARIANTS`` says.
        """
        ctx, rng = self.ctx, self.rng
        online = [s for s in self._sources if s is not OrderSource.POS]
        latest = ctx.now - timedelta(hours=2)
        buyers = [b for b in self.customers if b.purchases]
        taken: set[uuid.UUID] = set()
        rows = []
        for n in range(count):
            variant = _NEAR_DUPLICATE_VARIANTS[n % len(_NEAR_DUPLICATE_VARIANTS)]
            free = [b for b in buyers if b.id not in taken]
            long_names = [b for b in free if len(b.receiver.name) >= 3]
            original = rng.choice(long_names if variant == "typo" and long_names else free)
            taken.add(original.id)
            base = original.receiver
            name = base.name
            if variant == "honorific":
                name = base.name[0] + ("先生" if base.gender is Gender.MALE else "女士")
            elif variant == "typo" and len(name) >= 3:
                name = name[:-1] + rng.choice([c for c in "芳敏静丽娜伟强磊" if c != name[-1]])
            for _ in range(20):  # an online buyer who has bought: a few draws at most
                created_at = ctx.calendar.pick(rng, ctx.start, latest)
                purchases = self._purchases(created_at, rng.choice(online))
                if purchases:
                    break
            customer_id = id_at(rng, created_at)
            phone = self._mistyped(base.phone)
            receiver = _Receiver(
                name, phone, base.gender, base.province, base.city, original.id, variant
            )
            self.customers.append(
                _Buyer(customer_id, created_at, original.store, None, purchases, receiver)
            )
            rows.append(
                {
                    "tenant_id": self.tenant_id,
                    "id": customer_id,
                    "name": name,
                    "phone": phone,
                    "phone_bidx": blind_index(self.tenant_id, "phone", phone),
                    "email": None,
                    "email_bidx": None,
                    "gender": base.gender.value,
                    "birthday_on": None,
                    "province": base.province,
                    "city": base.city,
                    "member_no": None,
                    "org_unit_id": original.store.id,
                    "owner_staff_id": None,
                    "created_at": created_at,
                    "updated_at": created_at,
                }
            )
        return rows

    def _mistyped(self, phone: str) -> str:
        """Return ``phone`` with one of the digits masking hides (4th to 7th) changed."""
        rng = self.rng
        while True:
            at = rng.randrange(3, 7)
            digit = rng.choice([d for d in "0123456789" if d != phone[at]])
            typo = phone[:at] + digit + phone[at + 1 :]
            if typo not in self.ctx.phones:
                self.ctx.phones.add(typo)
                return typo

    def _source(self) -> OrderSource:
        return self.rng.choices(self._sources, cum_weights=self._source_cum)[0]

    def _purchases(
        self, created_at: datetime, channel: OrderSource
    ) -> tuple[tuple[OrderSource, datetime], ...]:
        """Plan a customer's orders as ``(source, paid_at)``, oldest first.

        About 15 % never buy. The others want a Pareto-distributed number of orders (two thirds
        one, a long tail dozens) and buy again after exponential gaps around a personal rhythm until
        they have them all or reach ``now``; so recent customers have had fewer chances, and the
        monthly volume grows with the customer base instead of piling up at the end.
        """
        ctx, rng = self.ctx, self.rng
        if rng.random() < 0.12:  # plus those whose first purchase would fall after ``now``
            return ()
        wanted = min(int(rng.paretovariate(1.45)), 40)
        rhythm_days = rng.uniform(10, 35) if wanted >= 8 else rng.uniform(25, 80)
        purchases: list[tuple[OrderSource, datetime]] = []
        previous = created_at
        while len(purchases) < wanted:
            source = channel if rng.random() < 0.75 else self._source()
            in_store = source is OrderSource.POS
            if not purchases and rng.random() < 0.65:
                # Bought when they became a customer: added on WeCom at the till, or the
                # platform order that brought them in.
                window = timedelta(minutes=30) if in_store else timedelta(hours=48)
                end = min(created_at + window, ctx.now)
                paid_at = created_at + (end - created_at) * rng.uniform(0.001, 0.999)
            else:
                gap = timedelta(days=rng.expovariate(1 / rhythm_days) + 0.5)
                if previous + gap >= ctx.now:
                    break
                end = min(previous + 2 * gap, ctx.now)
                paid_at = ctx.calendar.pick(rng, previous, end, store_hours=in_store)
            purchases.append((source, paid_at))
            previous = paid_at
        return tuple(purchases)

    def _customer_row(
        self,
        customer_id: uuid.UUID,
        created_at: datetime,
        store: Store,
        owner_id: uuid.UUID | None,
        order_count: int,
    ) -> Row:
        ctx, rng = self.ctx, self.rng
        draw = rng.random()
        if draw < self.brand.female_share:
            gender, name = Gender.FEMALE, ctx.fake.name_female()
        elif draw < 0.93:
            gender, name = Gender.MALE, ctx.fake.name_male()
        else:
            gender, name = Gender.UNKNOWN, ctx.fake.name()
        phone = self._phone()
        email = self._email() if rng.random() < 0.2 else None
        member_share = 0.3 if order_count == 0 else 0.45 if order_count == 1 else 0.75
        city = store.spec.city
        if store.spec.nearby and rng.random() < 0.15:
            city = rng.choice(store.spec.nearby)
        return {
            "tenant_id": self.tenant_id,
            "id": customer_id,
            "name": name,
            "phone": phone,
            "phone_bidx": blind_index(self.tenant_id, "phone", phone),
            "email": email,
            "email_bidx": None if email is None else blind_index(self.tenant_id, "email", email),
            "gender": gender.value,
            "birthday_on": self._birthday() if rng.random() < 0.6 else None,
            "province": store.spec.province,
            "city": city,
            "member_no": self._member_no() if rng.random() < member_share else None,
            "org_unit_id": store.id,
            "owner_staff_id": owner_id,
            "created_at": created_at,
            "updated_at": created_at,
        }

    def _phone(self) -> str:
        rng = self.rng
        while True:
            phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            if phone not in self.ctx.phones:
                self.ctx.phones.add(phone)
                return phone

    def _email(self) -> str:
        rng = self.rng
        domains = list(EMAIL_DOMAINS)
        while True:
            domain = rng.choices(domains, weights=list(EMAIL_DOMAINS.values()))[0]
            if domain == "qq.com":
                local = str(rng.randint(10**5, 3 * 10**9))
            else:
                local = self.ctx.fake.user_name()
                if rng.random() < 0.6:
                    local += str(rng.randint(1, 9999))
            email = f"{local}@{domain}".lower()
            if email not in self.ctx.emails:
                self.ctx.emails.add(email)
                return email

    def _birthday(self) -> date:
        rng = self.rng
        low, high, _ = rng.choices(_AGE_BANDS, weights=[band[2] for band in _AGE_BANDS])[0]
        year = self.ctx.now.astimezone(TZ).year - rng.randint(low, high)
        return date(year, 1, 1) + timedelta(days=rng.randrange(365))

    def _member_no(self) -> str:
        while True:
            member_no = f"M{self.rng.randrange(10**9, 10**10)}"
            if member_no not in self.ctx.member_nos:
                self.ctx.member_nos.add(member_no)
                return member_no

    # orders ------------------------------------------------------------------------------------

    def plan_orders(self) -> list[tuple[Row, list[Row]]]:
        """Return ``(order row, line rows)`` for every planned order of this brand's customers."""
        planned = [
            self._order(buyer, source, paid_at)
            for buyer in self.customers
            for source, paid_at in buyer.purchases
        ]
        self.order_count = len(planned)
        for order, _ in planned:
            status = OrderStatus(order["status"])
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
        return planned

    def plan_evidence(self) -> list[Row]:
        """Return one weak-evidence row per buyer: the receiver block of their orders.

        Online orders ship to an address; store purchases leave a name and phone only. Call it
        after ``plan_customers``: a near-duplicate's address derives from its original's.
        """
        addresses: dict[uuid.UUID, str | None] = {}
        rows = []
        for buyer in self.customers:
            if not buyer.purchases:
                continue
            r = buyer.receiver
            shipped = next((s for s, _ in buyer.purchases if s is not OrderSource.POS), None)
            address = None
            if shipped is not None:
                original = addresses.get(r.twin_of) if r.twin_of else None
                address = self._address(like=original, variant=r.variant)
                if r.variant == "prefixed" and original is not None:
                    region = r.city if r.city == r.province else r.province + r.city
                    address = region + address
            addresses[buyer.id] = address
            values = {
                "name": r.name,
                "phone": r.phone,
                "province": r.province,
                "city": r.city,
                "address": address,
            }
            source = (shipped or OrderSource.POS).value
            row = evidence_row(self.tenant_id, buyer.id, source, values)
            if row is not None:
                rows.append(row | {"created_at": buyer.purchases[0][1]})
        return rows

    def _address(self, *, like: str | None = None, variant: str = "") -> str:
        """Return a street address; with ``like``, that one as a near-duplicate writes it."""
        if like is not None and variant != "moved":
            return re.sub(r"\d+室$", "", like) if variant == "unit" else like
        rng = self.rng
        return (
            f"{rng.choice(_STREETS)}{rng.randint(1, 999)}号{rng.choice(_ESTATES)}"
            f"{rng.randint(1, 30)}栋{rng.randint(1, 30)}{rng.randint(1, 4):02d}室"
        )

    def _order(
        self, buyer: _Buyer, source: OrderSource, paid_at: datetime
    ) -> tuple[Row, list[Row]]:
        ctx, rng = self.ctx, self.rng
        order_id = id_at(rng, paid_at)
        store_id: uuid.UUID | None = None
        staff_id: uuid.UUID | None = None
        if source is OrderSource.POS:
            store = buyer.store
            if rng.random() < 0.1:
                store = rng.choice([s for s in self.stores if s.region_index == store.region_index])
            store_id = store.id
            staff_id = buyer.owner_id if buyer.owner_id in store.guide_ids else None
            staff_id = staff_id or rng.choice(store.guide_ids)
        elif source is OrderSource.MINIPROGRAM and buyer.owner_id and rng.random() < 0.5:
            # Shared by their guide in WeCom: the sale is credited to the guide and the store.
            store_id, staff_id = buyer.store.id, buyer.owner_id
        lines = self._lines(order_id, source, paid_at)
        paid_fen = sum(line["amount_fen"] for line in lines)
        refunded_fen, refunded_at = 0, None
        if ctx.now - paid_at > timedelta(hours=2):  # the last hours' orders are not refunded yet
            refunded_fen = self._refund(source, paid_fen, lines)
        if refunded_fen:
            refunded_at = min(
                paid_at + timedelta(days=rng.uniform(1, 10)), paid_at + (ctx.now - paid_at) / 2
            )
        row = {
            "tenant_id": self.tenant_id,
            "id": order_id,
            "customer_id": buyer.id,
            "source": source.value,
            "external_id": self._external_id(source, paid_at, store_id),
            "status": status_for(paid_fen, refunded_fen).value,
            "org_unit_id": store_id,
            "staff_id": staff_id,
            "paid_fen": paid_fen,
            "refunded_fen": refunded_fen,
            "paid_at": paid_at,
            "refunded_at": refunded_at,
            "created_at": min(paid_at + timedelta(minutes=rng.randint(1, 30)), ctx.now),
        }
        return row, lines

    def _lines(self, order_id: uuid.UUID, source: OrderSource, paid_at: datetime) -> list[Row]:
        rng = self.rng
        day = paid_at.astimezone(TZ).date()
        products = [
            p for p in self.brand.catalogue if p.on_sale(in_store=source is OrderSource.POS, on=day)
        ]
        wanted = rng.choices(list(_LINE_COUNT_WEIGHTS), weights=list(_LINE_COUNT_WEIGHTS.values()))
        chosen: list[Product] = []
        weights = [p.weight for p in products]
        for _ in range(wanted[0] * 3):
            product = rng.choices(products, weights=weights)[0]
            if product not in chosen:
                chosen.append(product)
            if len(chosen) == wanted[0]:
                break
        price_bp = PRICE_BP[source]
        lines = []
        for product in chosen:
            quantity = 1
            if product.max_quantity > 1 and rng.random() < 0.25:
                quantity = rng.randint(2, product.max_quantity)
            unit_price_fen = product.price_fen * price_bp // 10000 // 10 * 10
            lines.append(
                {
                    "tenant_id": self.tenant_id,
                    "id": id_at(rng, paid_at),
                    "order_id": order_id,
                    "sku": product.sku,
                    "title": product.title,
                    "quantity": quantity,
                    "unit_price_fen": unit_price_fen,
                    "amount_fen": quantity * unit_price_fen,
                }
            )
        return lines

    def _refund(self, source: OrderSource, paid_fen: int, lines: list[Row]) -> int:
        """Return the refunded amount: everything, part of it (a line, a unit, a price match), 0."""
        rng = self.rng
        full_bp, partial_bp = REFUND_BP[source]
        draw = rng.randrange(10000)
        if draw < full_bp:
            return paid_fen
        if draw >= full_bp + partial_bp:
            return 0
        if len(lines) > 1:
            return int(rng.choice(lines)["amount_fen"])
        line = lines[0]
        if line["quantity"] > 1:
            return int(line["unit_price_fen"]) * rng.randint(1, line["quantity"] - 1)
        refund = paid_fen * rng.randint(10, 30) // 100 // 100 * 100  # price protection, whole yuan
        return refund if 0 < refund < paid_fen else paid_fen // 2

    def _external_id(
        self, source: OrderSource, paid_at: datetime, store_id: uuid.UUID | None
    ) -> str:
        rng = self.rng
        local = paid_at.astimezone(TZ)
        while True:
            if source is OrderSource.TMALL:
                external_id = str(rng.randrange(10**17, 4 * 10**18))  # 18-19 digits
            elif source is OrderSource.JD:
                external_id = str(rng.randrange(2 * 10**11, 4 * 10**11))
            elif source is OrderSource.PDD:
                external_id = f"{local:%y%m%d}-{rng.randrange(10**15):015d}"
            elif source is OrderSource.DOUYIN:
                external_id = f"69{rng.randrange(10**17):017d}"
            elif source is OrderSource.POS:
                code = next(s.spec.code for s in self.stores if s.id == store_id)
                seq = self._receipt_seq.get((code, local.date()), 0) + 1
                self._receipt_seq[(code, local.date())] = seq
                external_id = f"{code}{local:%Y%m%d}{seq:04d}"
            else:
                external_id = f"WX{local:%Y%m%d%H%M%S}{rng.randrange(10**6):06d}"
            if (source, external_id) not in self._external_ids:
                self._external_ids.add((source, external_id))
                return external_id
