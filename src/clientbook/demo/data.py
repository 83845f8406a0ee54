"""The fixed facts of the demo company 茗康茶业 (Mingkang Tea & Health Foods):
its branches, products, sources, and the places its customers live.

District codes are those of GB/T 2260, so the 身份证 numbers generated for
customers carry the region code of their home district.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

COMPANY = "茗康茶业"
PASSWORD = "demo-2026"
ADMIN_USERNAME = "demo"
BRANCH_STAFF_USERNAME = "sh01-staff"


@dataclass(frozen=True)
class District:
    name: str
    code: str  # GB/T 2260
    postcode: str


@dataclass(frozen=True)
class City:
    province: str
    name: str
    region: str
    districts: tuple[District, ...]
    phone_area: str  # landline area code, without the leading 0


def _d(*rows: tuple[str, str, str]) -> tuple[District, ...]:
    return tuple(District(*row) for row in rows)


CITIES = {
    "上海": City(
        "上海市",
        "上海市",
        "华东",
        _d(
            ("黄浦区", "310101", "200001"),
            ("徐汇区", "310104", "200030"),
            ("长宁区", "310105", "200050"),
            ("静安区", "310106", "200040"),
            ("普陀区", "310107", "200333"),
            ("杨浦区", "310110", "200082"),
            ("闵行区", "310112", "201100"),
            ("浦东新区", "310115", "200120"),
        ),
        "21",
    ),
    "杭州": City(
        "浙江省",
        "杭州市",
        "华东",
        _d(
            ("上城区", "330102", "310002"),
            ("拱墅区", "330105", "310011"),
            ("西湖区", "330106", "310013"),
            ("滨江区", "330108", "310051"),
            ("余杭区", "330110", "311100"),
        ),
        "571",
    ),
    "南京": City(
        "江苏省",
        "南京市",
        "华东",
        _d(
            ("玄武区", "320102", "210018"),
            ("秦淮区", "320104", "210001"),
            ("建邺区", "320105", "210019"),
            ("鼓楼区", "320106", "210009"),
            ("江宁区", "320115", "211100"),
        ),
        "25",
    ),
    "北京": City(
        "北京市",
        "北京市",
        "华北",
        _d(
            ("东城区", "110101", "100010"),
            ("西城区", "110102", "100032"),
            ("朝阳区", "110105", "100020"),
            ("丰台区", "110106", "100071"),
            ("海淀区", "110108", "100080"),
        ),
        "10",
    ),
    "天津": City(
        "天津市",
        "天津市",
        "华北",
        _d(
            ("和平区", "120101", "300041"),
            ("河西区", "120103", "300202"),
            ("南开区", "120104", "300100"),
        ),
        "22",
    ),
    "广州": City(
        "广东省",
        "广州市",
        "华南",
        _d(
            ("荔湾区", "440103", "510140"),
            ("越秀区", "440104", "510030"),
            ("海珠区", "440105", "510220"),
            ("天河区", "440106", "510630"),
            ("番禺区", "440113", "511400"),
        ),
        "20",
    ),
    "深圳": City(
        "广东省",
        "深圳市",
        "华南",
        _d(
            ("罗湖区", "440303", "518001"),
            ("福田区", "440304", "518033"),
            ("南山区", "440305", "518052"),
            ("宝安区", "440306", "518101"),
        ),
        "755",
    ),
    "成都": City(
        "四川省",
        "成都市",
        "西南",
        _d(
            ("锦江区", "510104", "610021"),
            ("青羊区", "510105", "610031"),
            ("武侯区", "510107", "610041"),
            ("成华区", "510108", "610051"),
        ),
        "28",
    ),
    # Cities without a shop: their customers buy online.
    "重庆": City(
        "重庆市",
        "重庆市",
        "西南",
        _d(
            ("渝中区", "500103", "400010"),
            ("江北区", "500105", "400020"),
            ("南岸区", "500108", "400060"),
        ),
        "23",
    ),
    "武汉": City(
        "湖北省",
        "武汉市",
        "华中",
        _d(
            ("江岸区", "420102", "430014"),
            ("武昌区", "420106", "430061"),
            ("洪山区", "420111", "430070"),
        ),
        "27",
    ),
    "西安": City(
        "陕西省",
        "西安市",
        "西北",
        _d(
            ("新城区", "610102", "710004"),
            ("碑林区", "610103", "710001"),
            ("雁塔区", "610113", "710061"),
        ),
        "29",
    ),
    "苏州": City(
        "江苏省",
        "苏州市",
        "华东",
        _d(
            ("虎丘区", "320505", "215004"),
            ("吴中区", "320506", "215100"),
            ("姑苏区", "320508", "215000"),
        ),
        "512",
    ),
}


@dataclass(frozen=True)
class BranchInfo:
    code: str
    name: str
    city: str  # key of CITIES, or "" for the online shop
    address: str
    weight: float  # share of the customers it serves


ONLINE_BRANCH = "WEB01"

BRANCHES = (
    BranchInfo("SH01", "上海南京路店", "上海", "上海市黄浦区南京东路 299 号", 0.17),
    BranchInfo("SH02", "上海徐家汇店", "上海", "上海市徐汇区虹桥路 1 号", 0.11),
    BranchInfo("HZ01", "杭州西湖店", "杭州", "杭州市上城区湖滨路 23 号", 0.10),
    BranchInfo("NJ01", "南京新街口店", "南京", "南京市秦淮区中山南路 1 号", 0.08),
    BranchInfo("BJ01", "北京王府井店", "北京", "北京市东城区王府井大街 138 号", 0.13),
    BranchInfo("TJ01", "天津滨江道店", "天津", "天津市和平区滨江道 188 号", 0.06),
    BranchInfo("GZ01", "广州天河店", "广州", "广州市天河区天河路 208 号", 0.09),
    BranchInfo("SZ01", "深圳福田店", "深圳", "深圳市福田区福华一路 88 号", 0.07),
    BranchInfo("CD01", "成都春熙路店", "成都", "成都市锦江区春熙路 9 号", 0.07),
    BranchInfo(ONLINE_BRANCH, "线上旗舰店", "", "天猫 / 京东 / 微信小程序", 0.12),
)
ONLINE_CITIES = ("重庆", "武汉", "西安", "苏州", "上海", "北京", "广州")


@dataclass(frozen=True)
class SourceInfo:
    code: str
    name: str
    kind: str
    legal_basis: str
    trust: int


# Every SourceKind once, with the legal basis it is collected under.
SOURCES = (
    SourceInfo("member-signup", "门店会员注册", "registration", "consent", 90),
    SourceInfo("pos", "门店收银系统", "in_store", "contract", 85),
    SourceInfo("after-sales", "售后服务", "service", "contract", 80),
    SourceInfo("complaints", "投诉处理", "complaint", "legitimate_interest", 75),
    SourceInfo("tea-fair", "茶博会 / 品鉴会", "event", "consent", 60),
    SourceInfo("mini-program", "微信小程序与官网", "website", "consent", 70),
    SourceInfo("call-centre", "客服中心 400 热线", "call_centre", "consent", 75),
    SourceInfo("partner-bank", "合作银行积分兑换", "partner", "consent", 50),
    SourceInfo("purchased-list", "外购名单(健康杂志订户)", "purchased", "consent", 30),
    SourceInfo(
        "business-registry", "企业公示信息", "public_record", "public_record", 65
    ),
    SourceInfo("staff-entry", "员工录入", "manual", "contract", 70),
    SourceInfo("open-api", "电商平台接口", "api", "contract", 80),
)


@dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    category: str
    price: str
    margin: float  # share of the price that is margin


def _products(category: str, prefix: str, margin: float, rows) -> list[ProductInfo]:
    return [
        ProductInfo(f"{prefix}-{i:03d}", name, category, price, row_margin or margin)
        for i, (name, price, row_margin) in enumerate(rows, start=1)
    ]


PRODUCTS = (
    *_products(
        "茶叶",
        "TEA",
        0.55,
        [
            ("西湖龙井 明前特级 250g", "680.00", None),
            ("洞庭碧螺春 250g", "398.00", None),
            ("安溪铁观音 清香型 250g", "268.00", None),
            ("武夷大红袍 200g", "520.00", None),
            ("云南普洱熟茶饼 357g", "298.00", None),
            ("云南普洱生茶饼 357g", "468.00", None),
            ("福鼎白茶 白牡丹 300g", "328.00", None),
            ("祁门红茶 200g", "238.00", None),
            ("正山小种 200g", "258.00", None),
            ("茉莉花茶 250g", "128.00", None),
            ("黄山毛峰 250g", "198.00", None),
            ("六安瓜片 250g", "288.00", None),
            ("凤凰单丛 鸭屎香 250g", "358.00", None),
        ],
    ),
    *_products(
        "茶具",
        "WARE",
        0.45,
        [
            ("宜兴紫砂壶 西施", "880.00", None),
            ("白瓷盖碗", "168.00", None),
            ("玻璃公道杯", "58.00", None),
            ("旅行茶具套装", "298.00", None),
            ("竹制茶盘", "368.00", None),
            ("品茗杯 6 只装", "128.00", None),
            ("电陶炉", "459.00", 0.25),
            ("锡制茶叶罐", "88.00", None),
        ],
    ),
    *_products(
        "养生食品",
        "HLT",
        0.40,
        [
            ("宁夏枸杞 500g", "89.00", None),
            ("新疆若羌红枣 1kg", "59.00", None),
            ("黑芝麻丸 300g", "79.00", None),
            ("阿胶糕 500g", "198.00", None),
            ("即食银耳羹 6 杯", "69.00", None),
            ("五谷杂粮粉 600g", "65.00", None),
            ("杭白菊 100g", "35.00", None),
            ("黄芪片 250g", "49.00", None),
        ],
    ),
    *_products(
        "鲜榨饮品",
        "DRK",
        0.70,
        [
            ("鲜榨胡萝卜汁", "18.00", None),
            ("鲜榨橙汁", "22.00", None),
            ("茶香奶茶", "16.00", None),
            ("手打柠檬茶", "15.00", None),
            ("红枣桂圆茶", "20.00", None),
            ("冷泡乌龙", "19.00", None),
        ],
    ),
    *_products(
        "节日礼盒",
        "GIFT",
        0.35,
        [
            ("中秋月饼茶礼盒", "298.00", None),
            ("春节团圆茶礼", "598.00", None),
            ("端午粽香礼盒", "188.00", None),
            ("企业定制茶礼", "1288.00", 0.30),
            ("龙井与茶具礼盒", "888.00", None),
            ("新年坚果礼盒", "268.00", None),
        ],
    ),
    *_products(
        "滋补品",
        "TON",
        0.30,
        [
            ("西洋参片 100g", "368.00", None),
            ("铁皮石斛枫斗 50g", "580.00", None),
            ("灵芝孢子粉 60 袋", "698.00", None),
            ("冬虫夏草 10g", "2680.00", 0.18),
            ("长白山人参 礼盒", "880.00", None),
            ("燕窝 即食 6 瓶", "1280.00", 0.25),
        ],
    ),
    *_products(
        "健康零食",
        "SNK",
        0.50,
        [
            ("低糖全麦饼干", "29.00", None),
            ("冻干草莓", "39.00", None),
            ("每日坚果 30 袋", "99.00", None),
            ("山楂条", "19.00", None),
            ("烤海苔", "25.00", None),
            ("芒果干", "32.00", None),
            ("85% 黑巧克力", "45.00", None),
        ],
    ),
    *_products(
        "课程与服务",
        "SRV",
        0.75,
        [
            ("茶艺入门课(4 课时)", "399.00", None),
            ("茶室包间 2 小时", "188.00", None),
            ("新茶品鉴会门票", "128.00", None),
            ("年度会员卡", "365.00", 0.90),
            ("茶叶恒温仓储 一年", "200.00", None),
            ("评茶员培训", "1980.00", 0.60),
        ],
    ),
)
CATEGORIES = tuple(dict.fromkeys(p.category for p in PRODUCTS))

OCCUPATIONS = (
    # (occupation, weights of income bands low / middle / high / top)
    ("教师", (2, 6, 2, 0)),
    ("医生", (0, 4, 5, 1)),
    ("护士", (3, 6, 1, 0)),
    ("软件工程师", (0, 3, 6, 1)),
    ("会计", (2, 6, 2, 0)),
    ("销售经理", (1, 4, 4, 1)),
    ("公务员", (1, 7, 2, 0)),
    ("个体经营者", (2, 4, 3, 1)),
    ("律师", (0, 3, 5, 2)),
    ("设计师", (2, 5, 3, 0)),
    ("企业高管", (0, 1, 5, 4)),
    ("银行职员", (1, 6, 3, 0)),
    ("工人", (6, 4, 0, 0)),
    ("司机", (5, 5, 0, 0)),
    ("餐饮从业者", (5, 5, 0, 0)),
    ("自由职业", (4, 4, 2, 0)),
    ("退休", (4, 5, 1, 0)),
    ("学生", (10, 0, 0, 0)),
)
POSITIONS = ("职员", "主管", "经理", "总监", "副总经理", "合伙人", "店长")
INCOME_BANDS = ("low", "middle", "high", "top")
# How much more a customer of each band spends per order.
INCOME_SPEND = {"": 1.0, "low": 0.6, "middle": 1.0, "high": 1.6, "top": 2.6}

ROADS = (
    "中山路",
    "人民路",
    "解放路",
    "建设路",
    "和平路",
    "长江路",
    "新华路",
    "胜利路",
    "文化路",
    "青年路",
    "东风路",
    "光明路",
    "复兴路",
    "延安路",
    "学院路",
    "滨江路",
    "科技路",
    "湖滨路",
    "迎宾大道",
    "世纪大道",
)
ESTATES = (
    "阳光花园",
    "锦绣苑",
    "翠湖小区",
    "金色家园",
    "御景湾",
    "名都花园",
    "怡景苑",
    "华府",
    "枫林绿洲",
    "碧水云天",
)
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com")
# Prefixes of mainland mobile numbers in common use.
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]

TAGS = (
    "VIP",
    "老客户推荐",
    "送礼客户",
    "茶艺课学员",
    "素食",
    "养生爱好者",
    "企业客户",
    "价格敏感",
    "投诉过",
    "线上活跃",
)

# (category, key, values) a customer may state.
PREFERENCES = (
    ("饮品", "饮品", ("胡萝卜汁", "鲜橙汁", "红枣桂圆茶", "冷泡乌龙", "少糖奶茶")),
    ("茶", "茶类", ("普洱", "龙井", "铁观音", "白茶", "红茶", "花茶", "岩茶")),
    ("茶", "口味", ("清淡", "浓香", "陈香", "回甘")),
    ("房间", "茶室包间", ("高楼层远离电梯", "靠窗", "安静包间", "可容纳 8 人")),
    ("送货", "收货时间", ("工作日晚上", "周末上午", "随时")),
    ("包装", "礼盒", ("简装", "精装礼盒", "企业定制")),
    ("联系", "联系方式", ("微信优先", "电话优先", "短信即可", "请勿电话")),
)

CUSTOM_FIELDS = (
    # (key, label, kind, type, choices)
    (
        "member_level",
        "会员等级",
        "individual",
        "choice",
        ["普通", "银卡", "金卡", "钻石"],
    ),
    ("tea_years", "饮茶年数", "individual", "integer", []),
    ("company_size", "企业规模", "organisation", "choice", ["小微", "中型", "大型"]),
    ("gift_budget", "年度礼品预算", "organisation", "decimal", []),
)


def member_level(revenue: float) -> str:
    if revenue >= 30_000:
        return "钻石"
    if revenue >= 8_000:
        return "金卡"
    if revenue >= 2_000:
        return "银卡"
    return "普通"


# Dates of the festivals that move sales: Chinese New Year (春节) and the
# Mid-Autumn Festival (中秋) follow the lunar calendar.
SPRING_FESTIVAL = {
    2022: dt.date(2022, 2, 1),
    2023: dt.date(2023, 1, 22),
    2024: dt.date(2024, 2, 10),
    2025: dt.date(2025, 1, 29),
    2026: dt.date(2026, 2, 17),
    2027: dt.date(2027, 2, 6),
    2028: dt.date(2028, 1, 26),
    2029: dt.date(2029, 2, 13),
    2030: dt.date(2030, 2, 3),
}
MID_AUTUMN = {
    2022: dt.date(2022, 9, 10),
    2023: dt.date(2023, 9, 29),
    2024: dt.date(2024, 9, 17),
    2025: dt.date(2025, 10, 6),
    2026: dt.date(2026, 9, 25),
    2027: dt.date(2027, 9, 15),
    2028: dt.date(2028, 10, 3),
    2029: dt.date(2029, 9, 22),
    2030: dt.date(2030, 9, 12),
}

INTERACTIONS = (
    # (type, channel, direction, summaries, outcomes, weight)
    (
        "call",
        "phone",
        "out",
        ("新茶上市回访", "会员生日关怀电话", "礼盒预订确认", "沉睡客户唤醒回访"),
        ("已预订", "有兴趣,稍后再联系", "无人接听", "不需要"),
        30,
    ),
    (
        "enquiry",
        "phone",
        "in",
        ("咨询普洱存放方法", "询问茶艺课时间", "咨询企业团购价格", "询问会员积分"),
        ("已解答", "已转门店跟进", "已发送资料"),
        20,
    ),
    (
        "visit",
        "visit",
        "out",
        ("拜访企业客户商谈中秋礼盒", "上门送货并品鉴新茶", "年度合作回顾"),
        ("签订意向", "需再跟进", "已下单"),
        8,
    ),
    (
        "email",
        "email",
        "out",
        ("会员月刊", "新品推荐邮件", "品鉴会邀请"),
        ("已发送", "已打开", "已点击"),
        15,
    ),
    (
        "complaint",
        "phone",
        "in",
        ("快递延误", "茶叶受潮", "礼盒包装破损", "店员服务态度"),
        ("已补发", "已退款", "已道歉并赠送小礼品", "处理中"),
        7,
    ),
    (
        "service",
        "store",
        "in",
        ("茶叶仓储续期", "紫砂壶开壶养护", "会员卡升级"),
        ("已完成", "已预约"),
        10,
    ),
    (
        "sms",
        "sms",
        "out",
        ("双十一预售提醒", "中秋礼盒预订通知", "生日优惠券"),
        ("已送达",),
        10,
    ),
)


@dataclass(frozen=True)
class CatalogueItem:
    sku: str
    name: str
    category: str
    price: Decimal
    unit_cost: Decimal


def catalogue() -> list[CatalogueItem]:
    """The products with their unit cost worked out from the margin."""
    cent = Decimal("0.01")
    return [
        CatalogueItem(
            p.sku,
            p.name,
            p.category,
            Decimal(p.price),
            (Decimal(p.price) * Decimal(str(1 - p.margin))).quantize(cent),
        )
        for p in PRODUCTS
    ]
