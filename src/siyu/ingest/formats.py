"""What each platform's order export looks like: headers, synonyms, required columns, row shape.

A ``Format`` maps our input fields (``FIELDS``) to the headers a platform writes, preferred header
first, then synonyms seen in other years' exports. Headers are matched after Unicode NFKC folding
(full-width ``（元）`` equals ``(元)``), with whitespace removed and case ignored, because exports
and hand-edited files differ in exactly those ways (e.g. ``"收货地址 "`` with a trailing space).

Where the headers come from (public exports and the code of tools that read them):

- Tmall/Taobao 订单报表: the report's column list as modelled by open-source Taobao tools
  (订单编号, 买家会员名, 买家支付宝账号, 买家应付货款, 买家应付邮费, 总金额, 买家实际支付金额,
  订单状态, 买家留言, 收货人姓名, 收货地址, 运送方式, 联系电话, 联系手机, 订单创建时间,
  订单付款时间, 宝贝标题, 宝贝种类, 物流单号, 物流公司, 订单备注, 宝贝总数量, 店铺Id, 店铺名称,
  订单关闭原因) and the widely used public ``tmall_order_report.csv`` (adds 退款金额; some headers
  carry trailing spaces). One row per order.
- JD 订单导出: 订单号, 商品ID, 商品名称, 订购数量, 支付方式, 下单时间, 京东价, 订单金额, 结算金额,
  余额支付, 应付金额, 订单状态, 订单类型, 下单帐号, 客户姓名, 客户地址, 联系电话, 订单备注, …,
  运费金额, 付款确认时间, 货号, 订单完成时间, 订单来源. One row per item; order-level amounts
  (订单金额, 应付金额) repeat on every row of the order.
- Pinduoduo 订单导出: 商品, 订单号, 订单状态, 商品总价(元), 店铺优惠折扣(元), 平台优惠折扣(元),
  邮费(元), 用户实付金额(元), 商家实收金额(元), 商品数量(件), 收货人, 手机, 省, 市, 区, 街道,
  支付时间, 拼单成功时间/成团时间, 发货时间, 确认收货时间, 商品id, 商品规格, 用户购买手机号,
  样式ID, 商家编码-SKU维度, 商家编码-商品维度, 售后状态 (无售后或售后取消, 退款成功, …), 买家留言.
  One row per order (one item each); some files write ``（元）`` full-width.
- Douyin 抖店 订单导出: 主订单编号, 子订单编号, 选购商品, 商品ID, 商家编码, 货号, 商品数量,
  商品单价/商品金额, 订单应付金额, 订单提交时间, 支付完成时间, 订单完成时间, 订单状态, 取消原因,
  售后状态, 收件人, 收件人手机号, 省, 市, 区, 详细地址, 达人昵称. One row per 子订单 (sub-order);
  订单应付金额 and 售后状态 belong to the sub-order, so they are summed per 主订单.
- POS: our own layout, documented on ``POS`` below.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from siyu.core.errors import FieldError, InvalidInput


class Kind(StrEnum):
    """How an input field's text is read."""

    ID = "id"  # text guards removed (="…", leading ' or tab), kept exactly
    TEXT = "text"
    AMOUNT = "amount"  # yuan text → integer fen
    TIME = "time"  # local wall time in the tenant's timezone → aware UTC
    INT = "int"
    PHONE = "phone"  # full mobile → phone, 138****1234 → phone_masked
    EMAIL = "email"
    STATUS = "status"  # free text, classified by the vocabularies below


FIELDS: Mapping[str, Kind] = {
    "external_id": Kind.ID,  # the platform's order number
    "line_id": Kind.ID,  # sub-order number (Douyin 子订单编号); must be unique in a file
    "status": Kind.STATUS,  # order status text
    "refund_status": Kind.STATUS,  # refund / after-sale status text
    "paid": Kind.AMOUNT,  # what the buyer paid, yuan
    "refunded": Kind.AMOUNT,  # refund amount, yuan
    "paid_at": Kind.TIME,
    "created_at": Kind.TIME,  # order creation time; stands in for paid_at on unpaid orders
    "refunded_at": Kind.TIME,
    "buyer_id": Kind.TEXT,
    "receiver_name": Kind.TEXT,
    "phone": Kind.PHONE,
    "email": Kind.EMAIL,
    "province": Kind.TEXT,
    "city": Kind.TEXT,
    "district": Kind.TEXT,
    "address": Kind.TEXT,
    "store_code": Kind.ID,
    "staff_code": Kind.ID,
    "member_no": Kind.ID,
    "unionid": Kind.ID,
    "openid": Kind.ID,
    "sku": Kind.ID,
    "title": Kind.TEXT,
    "quantity": Kind.INT,
    "unit_price": Kind.AMOUNT,
    "line_amount": Kind.AMOUNT,
}
"""Every input field a format or a generic mapping can fill, and how its text is read."""

COALESCED = frozenset({"sku", "title"})
"""Fields read from the first non-empty of all present headers, row by row (e.g. 商家编码, else
商品ID). Other fields use the first present header only."""


@dataclass(frozen=True)
class Format:
    """One platform's export layout."""

    source: str  # siyu.orders.models.OrderSource value, or "generic"
    label: str
    columns: Mapping[str, tuple[str, ...]]  # field -> accepted headers, preferred first
    required: tuple[tuple[str, ...], ...]  # each group: at least one of these fields' columns
    rows_per_order: Literal["one", "many"]
    amounts_per: Literal["order", "line"] = "order"  # many-row files: repeated or per line
    split_address: bool = False  # 收货地址 reads "省 市 区 详细地址"
    signature: tuple[str, ...] = field(default=())  # headers only this platform writes

    def headers(self, name: str) -> tuple[str, ...]:
        return self.columns.get(name, ())


_COMMON_REFUND = {
    "refund_status": ("退款状态", "售后状态"),
    "refunded": ("退款金额", "退款金额(元)", "退款金额（元）"),
    "refunded_at": ("退款时间", "退款完成时间", "售后完成时间"),
}

TMALL = Format(
    source="tmall",
    label="Tmall/Taobao 订单报表",
    columns={
        "external_id": ("订单编号", "订单号"),
        "buyer_id": ("买家会员名", "买家昵称"),
        "paid": ("买家实际支付金额", "买家实付金额", "实付金额"),
        "line_amount": ("买家应付货款",),
        "status": ("订单状态",),
        "receiver_name": ("收货人姓名", "收货人"),
        "address": ("收货地址",),
        "phone": ("联系手机", "收货人手机号", "手机号"),
        "created_at": ("订单创建时间", "创建时间"),
        "paid_at": ("订单付款时间", "付款时间"),
        "title": ("宝贝标题", "商品标题"),
        "quantity": ("宝贝总数量", "商品数量"),
        "sku": ("商家编码",),
        **_COMMON_REFUND,
    },
    required=(("external_id",), ("paid",), ("status",), ("paid_at", "created_at")),
    rows_per_order="one",
    split_address=True,
    signature=("买家会员名", "买家实际支付金额", "宝贝标题", "订单付款时间", "买家应付货款"),
)

JD = Format(
    source="jd",
    label="JD 京东 订单导出",
    columns={
        "external_id": ("订单号", "订单编号"),
        "sku": ("货号", "商品ID", "商品编号"),
        "title": ("商品名称",),
        "quantity": ("订购数量", "商品数量"),
        "unit_price": ("京东价", "商品单价"),
        "paid": ("应付金额", "实付金额"),
        "status": ("订单状态",),
        "created_at": ("下单时间",),
        "paid_at": ("付款确认时间", "付款时间"),
        "buyer_id": ("下单帐号", "下单账号", "客户账号"),
        "receiver_name": ("客户姓名", "收货人"),
        "address": ("客户地址", "收货地址"),
        "phone": ("联系电话", "收货人手机"),
        **_COMMON_REFUND,
    },
    required=(("external_id",), ("paid",), ("status",), ("paid_at", "created_at")),
    rows_per_order="many",
    amounts_per="order",
    signature=("京东价", "订购数量", "付款确认时间", "客户姓名", "下单帐号", "结算金额"),
)

PDD = Format(
    source="pdd",
    label="Pinduoduo 拼多多 订单导出",
    columns={
        "external_id": ("订单号",),
        "title": ("商品", "商品名称"),
        "sku": ("商家编码-SKU维度", "样式ID", "商家编码-商品维度", "商品id"),
        "quantity": ("商品数量(件)", "商品数量"),
        "line_amount": ("商品总价(元)",),
        "paid": ("用户实付金额(元)", "实付金额(元)"),
        "status": ("订单状态",),
        "refund_status": ("售后状态", "退款状态"),
        "refunded": ("退款金额(元)", "退款金额"),
        "refunded_at": _COMMON_REFUND["refunded_at"],
        "paid_at": ("支付时间", "成团时间", "拼单成功时间", "订单成交时间"),
        "receiver_name": ("收货人",),
        "phone": ("手机", "收货人手机", "收货人手机号", "用户购买手机号"),
        "province": ("省",),
        "city": ("市",),
        "district": ("区",),
        "address": ("街道", "详细地址"),
    },
    required=(("external_id",), ("paid",), ("status",), ("paid_at",)),
    rows_per_order="one",
    signature=("用户实付金额(元)", "商品数量(件)", "商品总价(元)", "样式ID", "商家编码-SKU维度"),
)

DOUYIN = Format(
    source="douyin",
    label="Douyin 抖店 订单导出",
    columns={
        "external_id": ("主订单编号", "父订单编号"),
        "line_id": ("子订单编号",),
        "title": ("选购商品", "商品名称"),
        "sku": ("商家编码", "货号", "商品ID"),
        "quantity": ("商品数量",),
        "unit_price": ("商品单价", "商品金额"),
        "paid": ("订单应付金额",),
        "line_amount": ("订单应付金额",),
        "created_at": ("订单提交时间",),
        "paid_at": ("支付完成时间", "支付时间"),
        "status": ("订单状态",),
        "receiver_name": ("收件人", "收件人姓名"),
        "phone": ("收件人手机号", "收件人电话"),
        "buyer_id": ("买家昵称", "用户昵称"),
        "province": ("省",),
        "city": ("市",),
        "district": ("区",),
        "address": ("详细地址", "街道"),
        **_COMMON_REFUND,
    },
    required=(("external_id",), ("paid",), ("status",), ("paid_at", "created_at")),
    rows_per_order="many",
    amounts_per="line",
    signature=("主订单编号", "子订单编号", "选购商品", "订单应付金额", "达人昵称"),
)

POS = Format(
    source="pos",
    label="POS / member system CSV",
    columns={
        "external_id": ("小票号", "单号", "order_no"),
        "store_code": ("门店编码", "store_code"),
        "staff_code": ("导购工号", "工号", "staff_code"),
        "member_no": ("会员卡号", "member_no"),
        "receiver_name": ("会员姓名", "name"),
        "phone": ("手机号", "phone"),
        "email": ("邮箱", "email"),
        "unionid": ("unionid",),
        "openid": ("openid",),
        "status": ("状态", "status"),
        "paid": ("实付金额", "paid"),
        "refunded": ("退款金额", "refunded"),
        "paid_at": ("交易时间", "paid_at"),
        "refunded_at": ("退款时间", "refunded_at"),
        "sku": ("商品编码", "sku"),
        "title": ("商品名称", "title"),
        "quantity": ("数量", "quantity"),
        "unit_price": ("单价", "unit_price"),
        "line_amount": ("金额", "amount"),
    },
    required=(("external_id",), ("store_code",), ("paid",), ("paid_at",)),
    rows_per_order="many",
    amounts_per="order",
    signature=("小票号", "门店编码", "导购工号", "会员卡号"),
)
"""Our POS / member-system layout: UTF-8 or GBK CSV (or XLSX), one row per item line.

Required: 小票号 (receipt number, the order id), 门店编码 (store code), 实付金额 (paid, yuan, the
whole receipt's amount repeated on each of its rows), 交易时间 (local time). Optional: 导购工号
(staff code), 会员卡号 (member number), 会员姓名, 手机号, 邮箱, unionid, openid, 状态 (已完成 /
已退款 / 部分退款 / 已取消; default paid), 退款金额, 退款时间, 商品编码, 商品名称, 数量, 单价, 金额.
English headers (order_no, store_code, …) are accepted too. Rows of one receipt must be adjacent.
"""

GENERIC = Format(
    source="generic",
    label="generic (mapped columns)",
    columns={},
    required=(("external_id",), ("paid",), ("paid_at", "created_at")),
    rows_per_order="one",
    amounts_per="order",
)
"""Any file, read through a mapping {field: header} supplied per source (see ``format_for``)."""

LINE_FIELDS = frozenset({"line_id", "sku", "title", "quantity", "unit_price", "line_amount"})

FORMATS: Mapping[str, Format] = {f.source: f for f in (TMALL, JD, PDD, DOUYIN, POS, GENERIC)}
"""Every supported layout by source id."""

# Status vocabularies, matched as substrings of the status text (case-insensitive).
UNPAID_MARKERS = ("等待买家付款", "待买家付款", "待付款", "待支付", "等待付款", "未付款", "unpaid")
CLOSED_MARKERS = ("交易关闭", "已关闭", "已取消", "订单取消", "取消", "作废", "cancel", "void")
NO_REFUND_MARKERS = (
    "无售后",
    "售后关闭",
    "售后取消",
    "退款关闭",
    "退款失败",
    "拒绝退款",
    "撤销",
    "退款中",
    "处理中",
    "待商家",
    "待买家",
)
PARTIAL_REFUND_MARKERS = ("部分退款", "partial")
FULL_REFUND_MARKERS = ("退款成功", "退货退款成功", "已退款", "全额退款", "退款完成", "售后完成")
FULL_REFUND_MARKERS_EN = ("refunded",)


def format_for(source: str, mapping: Mapping[str, str] | None = None) -> Format:
    """Return the layout to read a ``source`` file with.

    A generic file is one row per order, unless its mapping names line fields (sku, title, …):
    then one row per line, rows of an order adjacent, order-level values (amounts, status,
    buyer) read from the order's first row, as on JD.
    """
    fmt = FORMATS[source]
    if source == "generic" and mapping and LINE_FIELDS & set(mapping):
        return replace(fmt, rows_per_order="many")
    return fmt


class UnknownFormat(InvalidInput):
    """The file's headers match no supported platform layout."""

    code = "unknown_format"


@dataclass(frozen=True)
class Resolved:
    """Which of the file's headers fill which field (original header text, as in the file)."""

    format: Format
    headers: Mapping[str, tuple[str, ...]]  # field -> present headers, in preference order

    def header(self, name: str) -> str | None:
        """Return the header read for ``name`` (the first present one), if any."""
        present = self.headers.get(name, ())
        return present[0] if present else None


def fold(header: str) -> str:
    """Return the comparison key of a header: NFKC, no whitespace, lower case."""
    return "".join(unicodedata.normalize("NFKC", header).split()).lower()


def resolve(
    fmt: Format, headers: Sequence[str], mapping: Mapping[str, str] | None = None
) -> Resolved:
    """Match ``headers`` to ``fmt``'s fields; raise ``InvalidInput`` naming missing columns.

    ``mapping`` ({field: header}) overrides the format's headers for the fields it names.
    """
    columns = dict(fmt.columns)
    if mapping:
        unknown = sorted(set(mapping) - set(FIELDS))
        if unknown:
            raise InvalidInput(
                f"unknown fields in the column mapping: {', '.join(unknown)}",
                hint=f"map only these fields: {', '.join(FIELDS)}",
            )
        columns.update({name: (header,) for name, header in mapping.items() if header})
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(fold(header), header)
    found = {
        name: present for name, wanted in columns.items() if (present := _present(wanted, by_key))
    }
    absent = sorted(h for name, h in (mapping or {}).items() if h and name not in found)
    if absent:
        raise InvalidInput(
            f"the column mapping names headers this file does not have: {', '.join(absent)}",
            hint=f"fix the mapping; columns found: {_preview(headers)}",
            errors=[FieldError("mapped column not in file", column=h) for h in absent],
        )
    missing = [group for group in fmt.required if not any(name in found for name in group)]
    if missing:
        names = [_describe(group, columns) for group in missing]
        hint = (
            "map these fields to your file's headers: {field: header}"
            if fmt.source == "generic"
            else "export again with the platform's default columns, or check the header row"
        )
        raise InvalidInput(
            f"{fmt.label} file is missing required columns: {'; '.join(names)}",
            hint=f"{hint}; columns found: {_preview(headers)}",
            errors=[FieldError("required column missing", column=name) for name in names],
        )
    return Resolved(fmt, found)


def detect_source(headers: Sequence[str]) -> str | None:
    """Return the source whose layout ``headers`` fit best, or None when none fits.

    A layout fits when its required columns are all present; among fitting layouts the one with
    the most of its own headers present wins, its ``signature`` headers counting double.
    """
    keys = {fold(h) for h in headers}
    best: tuple[int, str] | None = None
    for fmt in FORMATS.values():
        if fmt.source == "generic":
            continue
        known = {fold(h) for wanted in fmt.columns.values() for h in wanted}
        if not all(any(_has(fmt.headers(n), keys) for n in group) for group in fmt.required):
            continue
        score = len(keys & known) + len(keys & {fold(h) for h in fmt.signature})
        if best is None or score > best[0]:
            best = (score, fmt.source)
    return best[1] if best else None


def unknown_format(headers: Sequence[str]) -> UnknownFormat:
    """Return the error for a file no layout fits, listing what each layout expects."""
    expected = "; ".join(
        f"{fmt.source}: {', '.join(_describe(g, fmt.columns) for g in fmt.required)}"
        for fmt in FORMATS.values()
        if fmt.source != "generic"
    )
    return UnknownFormat(
        f"cannot tell which platform exported this file; its headers are: {_preview(headers)}",
        hint=(
            f"pick the source explicitly or map the columns (generic). Required headers per "
            f"source — {expected}"
        ),
    )


def _present(wanted: Iterable[str], by_key: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(by_key[k] for h in wanted if (k := fold(h)) in by_key))


def _has(wanted: Iterable[str], keys: set[str]) -> bool:
    return any(fold(h) in keys for h in wanted)


def _describe(group: tuple[str, ...], columns: Mapping[str, tuple[str, ...]]) -> str:
    names = [columns[n][0] if columns.get(n) else n for n in group]
    return " or ".join(names)


def _preview(headers: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(h for h in headers[:limit])
    return shown + (f", … ({len(headers)} in all)" if len(headers) > limit else "")
