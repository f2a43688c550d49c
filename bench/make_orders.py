"""Write a Tmall 订单报表-layout CSV of N orders (default 1,000,000) for the ingest benchmark.

    python bench/make_orders.py /tmp/tmall-1m.csv [--rows 1000000] [--encoding utf-8|gbk]

Realistic values: repeat buyers (a pool of ``--buyers`` people, default 40% of the rows, some
buying often, each with one nickname, receiver name, mobile and address), 18-digit order numbers
(some behind ="…" Excel guards or a leading tab),
buyer nicknames, masked and full phones, addresses "省 市 区 详细", ~5% refunds (full and
partial), unpaid and closed orders, 30 columns as the report has. Every character is GBK-safe.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

HEADERS = [
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "支付单号",
    "买家应付货款",
    "买家应付邮费",
    "买家支付积分",
    "总金额",
    "返点积分",
    "买家实际支付金额",
    "买家实际支付积分",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "运送方式",
    "联系电话",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝种类",
    "物流单号",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺Id",
    "店铺名称",
    "订单关闭原因",
    "退款金额",
]
PLACES = [
    ("浙江省", "杭州市", "西湖区"),
    ("浙江省", "宁波市", "鄞州区"),
    ("上海", "上海市", "浦东新区"),
    ("北京", "北京市", "朝阳区"),
    ("广东省", "深圳市", "南山区"),
    ("广东省", "广州市", "天河区"),
    ("江苏省", "南京市", "鼓楼区"),
    ("四川省", "成都市", "武侯区"),
    ("湖北省", "武汉市", "洪山区"),
    ("山东省", "青岛市", "市南区"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀英华玉兰桂红霞平刚"
ROADS = ["文三路", "人民路", "中山路", "解放路", "建设路", "和平路", "长江路", "学院路"]
PRODUCTS = [
    ("玻尿酸保湿面霜 50g", 12900),
    ("烟酰胺亮肤精华液 30ml", 25900),
    ("氨基酸洁面乳 120g", 6900),
    ("修护舒缓面膜 10片装", 9900),
    ("防晒隔离乳 SPF50", 15900),
    ("口红礼盒 三支装", 39900),
]
STATUS_PAID = ("交易成功", "卖家已发货，等待买家确认", "买家已付款，等待卖家发货")


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


Buyer = tuple[str, str, str, str, str, str, str]


def buyer(index: int, seed: int) -> Buyer:
    """The same person every time: nickname, name, mobile, province, city, district, address."""
    rng = random.Random(seed * 1_000_003 + index)
    province, city, district = rng.choice(PLACES)
    name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
    address = f"{province} {city} {district} {rng.choice(ROADS)}{rng.randrange(1, 999)}号"
    mobile = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    return f"tb{index:08d}", name, mobile, province, city, district, address


def row(i: int, rng: random.Random, start: datetime, person: Buyer) -> list[str]:
    order_no = str(100000000000000000 + i * 7919 + rng.randrange(7919))
    guard = rng.random()
    shown_no = f'="{order_no}"' if guard < 0.3 else ("\t" + order_no if guard < 0.4 else order_no)
    title, price = rng.choice(PRODUCTS)
    qty = rng.choice((1, 1, 1, 2, 3))
    goods = price * qty
    post = rng.choice((0, 0, 0, 800, 1000))
    total = goods + post
    created = start + timedelta(seconds=rng.randrange(365 * 86400))
    paid_at = created + timedelta(seconds=rng.randrange(5, 1800))
    fate = rng.random()
    refund = 0
    close_reason = ""
    if fate < 0.02:
        status, paid, paid_text = "等待买家付款", 0, ""
    elif fate < 0.07:
        status, paid, paid_text = "交易关闭", 0, ""
        close_reason = "买家未付款"
    else:
        paid = total - rng.choice((0, 0, 0, 500, 1000))
        paid_text = paid_at.strftime("%Y-%m-%d %H:%M:%S")
        status = rng.choice(STATUS_PAID)
        if fate < 0.10:
            status, refund, close_reason = "交易关闭", paid, "退款"
        elif fate < 0.12:
            refund = paid // 3
    nick, name, mobile, *_place, address = person
    phone = mobile[:3] + "****" + mobile[7:] if rng.random() < 0.6 else mobile
    amount = yuan(paid) if rng.random() < 0.97 else f"￥{paid / 100:,.2f}"
    return [
        shown_no,
        nick,
        f"{mobile[:3]}****{mobile[7:]}",
        f"2024{rng.randrange(10**20):020d}",
        yuan(goods),
        yuan(post),
        "0",
        yuan(total),
        "0",
        amount,
        "0",
        status,
        "",
        name,
        address,
        "快递",
        "",
        phone,
        created.strftime("%Y-%m-%d %H:%M:%S"),
        paid_text,
        title,
        "1",
        f"SF{rng.randrange(10**12):012d}" if paid else "",
        "顺丰速运" if paid else "",
        "",
        str(qty),
        "100200300",
        "某品牌官方旗舰店",
        close_reason,
        yuan(refund),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--encoding", default="utf-8", choices=("utf-8", "gbk"))
    parser.add_argument("--buyers", type=int, help="distinct buyers (default 40%% of rows)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = datetime(2024, 1, 1)  # noqa: DTZ001 - local wall time, as the export writes it
    pool = args.buyers or max(1, args.rows * 2 // 5)
    people: dict[int, Buyer] = {}
    with args.path.open("w", encoding=args.encoding, newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADERS)
        for i in range(args.rows):
            index = int(pool * rng.random() ** 2)  # skewed: a few buy often, most once or twice
            if index not in people:
                people[index] = buyer(index, args.seed)
            out.writerow(row(i, rng, start, people[index]))
    print(
        f"wrote {args.rows:,} orders of {len(people):,} buyers to {args.path} "
        f"({args.path.stat().st_size / 1e6:.0f} MB)"
    )


if __name__ == "__main__":
    main()
