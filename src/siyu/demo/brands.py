"""The two demo brands as data: org tree, staff layout, product catalogue and channel mix."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from siyu.core.actor import Role
from siyu.orders.models import OrderSource


@dataclass(frozen=True)
class StoreSpec:
    """A store; customers live in ``city`` or, sometimes, one of the ``nearby`` cities."""

    name: str
    code: str
    province: str
    city: str
    weight: int
    nearby: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegionSpec:
    name: str
    code: str
    stores: tuple[StoreSpec, ...]


@dataclass(frozen=True)
class Product:
    """A SKU. ``where`` limits it to store tills or online shops; ``months`` to a season."""

    sku: str
    title: str
    price_fen: int
    weight: int
    max_quantity: int = 1
    where: str = "any"  # "any" | "store" | "online"
    months: frozenset[int] = frozenset()

    def on_sale(self, *, in_store: bool, on: date) -> bool:
        if self.where == "store" and not in_store:
            return False
        if self.where == "online" and in_store:
            return False
        return not self.months or on.month in self.months


@dataclass(frozen=True)
class BrandSpec:
    """Everything that differs between demo brands.

    ``hq_staff`` is ``(role, wecom_userid)`` for the HQ team; each region gets one manager and
    each store one manager and ``guides_per_store`` guides. ``logins`` maps a staff member's
    ``wecom_userid`` to the username of the login created for them.
    """

    name: str
    slug: str
    hq_name: str
    regions: tuple[RegionSpec, ...]
    hq_staff: tuple[tuple[Role, str], ...]
    guides_per_store: int
    catalogue: tuple[Product, ...]
    source_weights: dict[OrderSource, int]
    female_share: float
    logins: dict[str, str] = field(default_factory=dict)

    @property
    def stores(self) -> tuple[StoreSpec, ...]:
        return tuple(store for region in self.regions for store in region.stores)


_WINTER = frozenset({12, 1, 2})
_MID_AUTUMN = frozenset({8, 9})

WARM_HILL = BrandSpec(
    name="暖山咖啡 Warm Hill Coffee",
    slug="demo",
    hq_name="暖山咖啡总部",
    regions=(
        RegionSpec(
            name="华东大区",
            code="EAST",
            stores=(
                StoreSpec("上海静安店", "SH01", "上海市", "上海市", 30),
                StoreSpec("杭州湖滨店", "HZ01", "浙江省", "杭州市", 18, ("嘉兴市", "绍兴市")),
                StoreSpec("南京新街口店", "NJ01", "江苏省", "南京市", 15, ("镇江市", "扬州市")),
            ),
        ),
        RegionSpec(
            name="华南大区",
            code="SOUTH",
            stores=(
                StoreSpec("广州天河店", "GZ01", "广东省", "广州市", 15, ("佛山市",)),
                StoreSpec("深圳南山店", "SZ01", "广东省", "深圳市", 14, ("东莞市",)),
                StoreSpec("厦门中山路店", "XM01", "福建省", "厦门市", 8, ("泉州市", "漳州市")),
            ),
        ),
    ),
    hq_staff=(
        (Role.ADMIN, "admin_hq"),
        (Role.OPERATOR, "operator_hq_1"),
        (Role.OPERATOR, "operator_hq_2"),
        (Role.ANALYST, "analyst_hq_1"),
    ),
    guides_per_store=3,
    catalogue=(
        Product("WH-BN-CLS-250", "暖山经典拼配咖啡豆 250g", 8800, 14, 3),
        Product("WH-BN-YN-250", "云南保山小粒咖啡豆 250g", 7800, 8, 3),
        Product("WH-BN-YGC-200", "埃塞俄比亚耶加雪菲 G1 咖啡豆 200g", 12800, 7, 2),
        Product("WH-BN-COL-250", "哥伦比亚慧兰咖啡豆 250g", 10800, 5, 2),
        Product("WH-BN-GSH-100", "巴拿马瑰夏咖啡豆 100g", 26800, 2),
        Product("WH-BN-ESP-1K", "深烘意式拼配咖啡豆 1kg", 23800, 4, 2),
        Product("WH-DB-CLS-10", "经典拼配挂耳咖啡 10片装", 4900, 16, 5),
        Product("WH-DB-YGC-10", "耶加雪菲挂耳咖啡 10片装", 6900, 8, 4),
        Product("WH-DB-MIX-30", "混合风味挂耳咖啡 30片装", 12900, 7, 3),
        Product("WH-CB-6", "冷萃咖啡液 6瓶装", 8900, 8, 3),
        Product("WH-FD-24", "冻干咖啡粉 24颗装", 9900, 7, 3),
        Product("WH-MUG-350", "暖山陶瓷马克杯 350ml", 6900, 4, 2),
        Product("WH-TUM-450", "随行保温杯 450ml", 13900, 4, 2),
        Product("WH-POUR-SET", "手冲咖啡壶套装", 29900, 2),
        Product("WH-SRV-600", "玻璃分享壶 600ml", 8900, 2),
        Product("WH-GRD-HND", "手摇磨豆机", 19900, 2),
        Product("WH-FLT-100", "V60 锥形滤纸 100张", 2500, 5, 3),
        Product("WH-GB-4S", "四季咖啡礼盒", 39800, 3, 2),
        Product("WH-GB-MAF", "中秋咖啡礼盒", 36800, 12, 4, months=_MID_AUTUMN),
        Product("WH-GB-CNY", "新春限定咖啡礼盒", 45800, 10, 3, months=_WINTER),
        Product("WH-DR-LAT", "热拿铁 (大杯)", 3200, 20, 3, where="store"),
        Product("WH-DR-AME", "美式咖啡 (大杯)", 2600, 16, 3, where="store"),
        Product("WH-DR-OAT", "燕麦拿铁 (大杯)", 3600, 12, 2, where="store"),
        Product("WH-DR-POUR", "手冲单品咖啡", 4800, 6, 2, where="store"),
        Product("WH-BK-CRS", "黄油可颂", 2200, 10, 3, where="store"),
    ),
    source_weights={
        OrderSource.TMALL: 28,
        OrderSource.JD: 10,
        OrderSource.PDD: 7,
        OrderSource.DOUYIN: 15,
        OrderSource.POS: 25,
        OrderSource.MINIPROGRAM: 15,
    },
    female_share=0.58,
    logins={"admin_hq": "admin", "manager_sh01": "manager", "guide_sh01_1": "guide"},
)

SHIGUANG = BrandSpec(
    name="拾光护肤 Shiguang Skincare",
    slug="demo-skincare",
    hq_name="拾光护肤总部",
    regions=(
        RegionSpec(
            name="华北大区",
            code="NORTH",
            stores=(
                StoreSpec("北京三里屯店", "BJ01", "北京市", "北京市", 60),
                StoreSpec("天津大悦城店", "TJ01", "天津市", "天津市", 40),
            ),
        ),
    ),
    hq_staff=((Role.ADMIN, "admin_hq"), (Role.OPERATOR, "operator_hq_1")),
    guides_per_store=2,
    catalogue=(
        Product("SG-SR-HA-30", "拾光玻尿酸保湿精华 30ml", 23900, 14, 2),
        Product("SG-SR-NIA-30", "烟酰胺焕亮精华 30ml", 26900, 12, 2),
        Product("SG-CR-REP-50", "积雪草修护面霜 50g", 29900, 10, 2),
        Product("SG-CL-AA-120", "氨基酸温和洁面 120g", 8900, 14, 3),
        Product("SG-SUN-50", "清透防晒乳 SPF50+ 50ml", 15900, 10, 3),
        Product("SG-MSK-10", "玻尿酸补水面膜 10片装", 12900, 14, 4),
        Product("SG-EYE-15", "抗初老眼霜 15g", 32900, 5),
        Product("SG-TNR-150", "舒缓爽肤水 150ml", 13900, 8, 2),
        Product("SG-TRV-SET", "旅行装体验套装", 9900, 6, 2),
        Product("SG-GB-STAR", "星光护肤礼盒", 59900, 4, 2),
        Product("SG-GB-CNY", "新春限定护肤礼盒", 69900, 10, 2, months=_WINTER),
    ),
    source_weights={
        OrderSource.TMALL: 32,
        OrderSource.JD: 10,
        OrderSource.PDD: 5,
        OrderSource.DOUYIN: 28,
        OrderSource.POS: 15,
        OrderSource.MINIPROGRAM: 10,
    },
    female_share=0.86,
)

# Full and partial refund rates per channel, in basis points. Live-stream (douyin) buyers return
# far more; store purchases almost never. Over the demo's channel mix: ~6 % full, ~4 % partial.
REFUND_BP: dict[OrderSource, tuple[int, int]] = {
    OrderSource.TMALL: (600, 400),
    OrderSource.JD: (600, 400),
    OrderSource.PDD: (800, 500),
    OrderSource.DOUYIN: (1400, 700),
    OrderSource.POS: (150, 150),
    OrderSource.MINIPROGRAM: (500, 400),
}

# What the customer pays against list price, in basis points (platform coupons, member price).
PRICE_BP: dict[OrderSource, int] = {
    OrderSource.TMALL: 10000,
    OrderSource.JD: 10000,
    OrderSource.PDD: 8800,
    OrderSource.DOUYIN: 8500,
    OrderSource.POS: 10000,
    OrderSource.MINIPROGRAM: 9500,
}

# Mainland mobile prefixes in real use (China Mobile, Unicom, Telecom, Broadnet).
MOBILE_PREFIXES = (
    "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
    "172", "178", "182", "183", "184", "187", "188", "195", "197", "198",
    "130", "131", "132", "145", "155", "156", "166", "175", "176", "185", "186", "196",
    "133", "149", "153", "173", "177", "180", "181", "189", "190", "191", "193", "199",
    "192",
)  # fmt: skip

EMAIL_DOMAINS: dict[str, int] = {
    "qq.com": 35,
    "163.com": 20,
    "126.com": 8,
    "foxmail.com": 7,
    "icloud.com": 10,
    "outlook.com": 8,
    "gmail.com": 7,
    "sina.com": 5,
}
