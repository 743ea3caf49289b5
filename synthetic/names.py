"""Pools of realistic Chinese names, addresses and phone numbers, sampled with numpy (no per-row Faker calls)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from faker.providers.person.zh_CN import Provider as _FakerPerson

# Characters common in given names, by gender. Every character here is GBK-encodable.
MALE_CHARS = list("伟强磊洋勇军杰涛超明刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建文志国东海峰亮成兵斌"
                  "博毅晨昊轩然泽瑞浩天博磊振家庆祥福贵荣生利德义永红喜春")
FEMALE_CHARS = list("芳娜敏静丽艳娟霞燕玲丹萍红英梅莉兰琳雪婷慧颖倩洁琴云凤华玉秀佳欣怡悦涵萱瑶璐妍晶蓉"
                    "琪薇月珍秋桂春花")
# One-character variants of the same pronunciation (同音字), used for dirty duplicates.
HOMOPHONES = {
    "伟": "玮", "强": "墙", "磊": "垒", "洋": "阳", "勇": "永", "军": "君", "杰": "洁", "涛": "滔", "超": "潮",
    "明": "鸣", "刚": "钢", "平": "萍", "辉": "晖", "鹏": "朋", "华": "骅", "飞": "菲", "波": "博", "斌": "彬",
    "宇": "雨", "浩": "昊", "凯": "恺", "健": "建", "俊": "骏", "帆": "凡", "旭": "序", "宁": "凝", "龙": "隆",
    "林": "琳", "欢": "环", "阳": "扬", "建": "健", "文": "雯", "志": "智", "国": "帼", "东": "冬", "海": "亥",
    "峰": "锋", "亮": "靓", "成": "诚", "兵": "冰", "芳": "方", "娜": "纳", "敏": "民", "静": "婧", "丽": "莉",
    "艳": "燕", "娟": "鹃", "霞": "侠", "燕": "艳", "玲": "铃", "丹": "单", "萍": "平", "红": "宏", "英": "瑛",
    "梅": "玫", "莉": "丽", "兰": "岚", "琳": "林", "雪": "学", "婷": "亭", "慧": "惠", "颖": "莹", "倩": "茜",
    "洁": "杰", "琴": "勤", "云": "芸", "凤": "峰", "玉": "钰", "秀": "绣", "佳": "嘉", "欣": "馨", "怡": "宜",
    "悦": "月", "涵": "晗", "萱": "宣", "瑶": "遥", "璐": "露", "妍": "研", "晶": "京", "蓉": "荣", "琪": "琦",
    "薇": "微", "月": "悦", "珍": "真", "秋": "丘", "桂": "贵", "春": "纯", "花": "华", "王": "汪", "李": "黎",
    "张": "章", "刘": "柳", "陈": "程", "杨": "阳", "黄": "皇", "吴": "武", "赵": "照", "周": "舟", "徐": "许",
    "孙": "荪", "马": "麻", "朱": "诸", "胡": "扈", "郭": "国", "何": "贺", "高": "郜", "林": "琳", "罗": "骆",
}
TOWN_STEMS = list("东西南北新永安和平兴隆庆丰太白龙凤城关红星光明长乐河滨秦汉渭阳曲江高新")
VILLAGE_STEMS = list("王李张刘陈杨赵周吴孙马胡郭何高罗梁宋郑谢韩唐冯董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
ROAD_STEMS = ["人民", "解放", "建设", "文化", "和平", "友谊", "长安", "太白", "朱雀", "含光", "西影", "未央",
              "凤城", "雁塔", "丈八", "科技", "团结", "胜利", "中山", "新华", "光明", "幸福", "迎宾", "滨河"]
STREET_SUFFIX = ["路", "街", "大道", "巷"]
MOBILE_PREFIX = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                 "155", "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183", "185",
                 "186", "187", "188", "189", "191", "199"]


def _gbk_ok(s: str) -> bool:
    try:
        s.encode("gbk")
        return True
    except UnicodeEncodeError:
        return False


@lru_cache(maxsize=1)
def surnames() -> tuple[np.ndarray, np.ndarray]:
    items = [(k, v) for k, v in _FakerPerson.last_names.items() if _gbk_ok(k)]
    names = np.array([k for k, _ in items], dtype=object)
    w = np.array([v for _, v in items], dtype=float)
    return names, w / w.sum()


def sample_names(rng: np.random.Generator, gend: np.ndarray) -> np.ndarray:
    """Names for persons of gender 1 (male) / 2 (female): weighted surname + 1–2 given characters."""
    n = len(gend)
    sn, sw = surnames()
    surname = rng.choice(sn, size=n, p=sw)
    male = np.array(MALE_CHARS, dtype=object)
    female = np.array(FEMALE_CHARS, dtype=object)
    is_f = np.asarray(gend) == "2"
    g1 = np.where(is_f, rng.choice(female, n), rng.choice(male, n))
    g2 = np.where(is_f, rng.choice(female, n), rng.choice(male, n))
    two = rng.random(n) < 0.72
    given = np.where(two, g1 + g2, g1)
    return surname + given


def homophone_variant(names: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace one character (the last given one, else the surname) by a same-sounding character."""
    out = []
    for s in names:
        chars = list(s)
        for pos in (len(chars) - 1, 0, 1):
            if 0 <= pos < len(chars) and chars[pos] in HOMOPHONES:
                chars[pos] = HOMOPHONES[chars[pos]]
                break
        else:
            chars[-1] = "伟" if chars[-1] != "伟" else "玮"
        out.append("".join(chars))
    return np.array(out, dtype=object)


def sample_addresses(rng: np.random.Generator, province: np.ndarray, city: np.ndarray, county: np.ndarray,
                     urban: np.ndarray) -> np.ndarray:
    """陕西省 + city + county + town/street + village/road + number."""
    n = len(county)
    town = rng.choice(np.array(TOWN_STEMS, dtype=object), n) + rng.choice(np.array(TOWN_STEMS, dtype=object), n)
    town = town + np.where(urban, "街道", "镇")
    road = rng.choice(np.array(ROAD_STEMS, dtype=object), n) + rng.choice(np.array(STREET_SUFFIX, dtype=object), n)
    num = rng.integers(1, 400, n).astype(str).astype(object)
    bld = rng.integers(1, 30, n).astype(str).astype(object)
    room = (rng.integers(1, 30, n) * 100 + rng.integers(1, 6, n)).astype(str).astype(object)
    village = rng.choice(np.array(VILLAGE_STEMS, dtype=object), n) + np.where(rng.random(n) < 0.5, "家村", "庄村")
    grp = rng.integers(1, 12, n).astype(str).astype(object)
    urban_addr = town + road + num + "号" + bld + "号楼" + room + "室"
    rural_addr = town + village + grp + "组" + num + "号"
    tail = np.where(urban, urban_addr, rural_addr)
    return province + city + county + tail


def sample_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    pre = rng.choice(np.array(MOBILE_PREFIX, dtype=object), n)
    rest = np.char.zfill(rng.integers(0, 10**8, n).astype("U8"), 8).astype(object)
    return pre + rest
