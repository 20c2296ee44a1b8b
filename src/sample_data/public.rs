//! The held-apart evaluation corpus: tables of the classic public sample databases (Chinook,
//! Sakila, Northwind, AdventureWorks, TPC-DS) and of Chinese open-source shop schemas and
//! government data-element standards, with their own column names, and values in the shapes
//! those databases hold. Each column is labeled by what it means, not by what a rule would
//! say; columns whose meaning is disputable (an artist's name, a composer) are left out.
//!
//! It is never used to choose a keyword or a threshold: the tuning corpus ([`super::corpus`])
//! is. Both are scored the same way and must meet the same floors.

use std::path::Path;

use chrono::{Duration, NaiveDate};

use super::corpus::{Column, CorpusLabels, Storage, write_table};
use super::{Rng, SampleDataError, id_card, with_luhn};
use crate::category::Category;
use crate::lake::FileFormat;

/// How a column's values are made.
#[derive(Clone, Copy)]
enum V {
    /// 1, 2, 3 …, stored as integers.
    Seq,
    /// A key into a table of `n` rows: 1 to n, repeated.
    Key(usize),
    /// An integer between the bounds.
    Int(i64, i64),
    /// An amount between the bounds, two decimals.
    Money(u32, u32),
    /// A time in the two years from January 1 of the year.
    Time(i32),
    /// A date in the years between the bounds.
    Date(i32, i32),
    /// One of the texts.
    Pick(&'static [&'static str]),
    /// One of the numeric codes, stored as integers.
    Code(&'static [&'static str]),
    /// Text made by a function of the row number.
    F(fn(&mut Rng, usize) -> String),
}

impl V {
    fn storage(self) -> Storage {
        match self {
            V::Seq | V::Key(_) | V::Int(..) | V::Code(_) => Storage::Int,
            V::Money(..) => Storage::Decimal,
            V::Time(_) => Storage::Time,
            V::Date(..) => Storage::Date,
            V::Pick(_) | V::F(_) => Storage::Text,
        }
    }

    fn value(self, r: &mut Rng, i: usize) -> String {
        match self {
            V::Seq => (i + 1).to_string(),
            V::Key(n) => (1 + r.below(n)).to_string(),
            V::Int(lo, hi) => (lo + r.below((hi - lo + 1) as usize) as i64).to_string(),
            V::Money(lo, hi) => format!("{:.2}", (lo * 100 + r.below(((hi - lo) * 100) as usize) as u32) as f64 / 100.0),
            V::Time(year) => {
                let day = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid") + Duration::days(r.below(730) as i64);
                let t = day.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(r.below(86_400) as i64);
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            }
            V::Date(from, to) => {
                let days = 365 * (to - from + 1) as usize;
                (NaiveDate::from_ymd_opt(from, 1, 1).expect("valid") + Duration::days(r.below(days) as i64)).format("%Y-%m-%d").to_string()
            }
            V::Pick(items) | V::Code(items) => r.pick(items).to_string(),
            V::F(f) => f(r, i),
        }
    }
}

const FIRST: &[&str] = &[
    "Luís",
    "Leonie",
    "François",
    "Bjørn",
    "František",
    "Helena",
    "Astrid",
    "Daan",
    "Kara",
    "Eduardo",
    "Alexandre",
    "Roberto",
    "Fernanda",
    "Mark",
    "Jennifer",
    "Frank",
    "Jack",
    "Michelle",
    "Tim",
    "Dan",
    "Kathy",
    "Heather",
    "John",
    "Victor",
    "Richard",
    "Patrick",
    "Julia",
    "Robert",
    "Edward",
    "Martha",
    "Aaron",
    "Ellie",
    "João",
    "Madalena",
    "Hannah",
    "Fynn",
    "Niklas",
    "Camille",
    "Dominique",
    "Marc",
    "Wyatt",
    "Isabelle",
    "Terhi",
    "Ladislav",
    "Hugh",
    "Lucas",
    "Johannes",
    "Stanisław",
    "Enrique",
    "Joakim",
    "Emma",
    "Phil",
    "Steve",
    "Diego",
    "Luis",
    "Manoj",
    "Puja",
    "Nancy",
    "Andrew",
    "Janet",
    "Margaret",
    "Laura",
    "Anne",
    "Maria",
    "Ana",
    "Antonio",
    "Thomas",
    "Christina",
    "Hanna",
    "Frédérique",
    "Martín",
    "Laurence",
    "Elizabeth",
    "Victoria",
    "Patricio",
    "Yang",
    "Pedro",
    "Ken",
    "Terri",
    "Gail",
    "Jossef",
    "Dylan",
    "Diane",
    "Gigi",
    "Michael",
    "Ovidiu",
    "Janice",
    "Kim",
    "Sean",
];
const LAST: &[&str] = &[
    "Gonçalves",
    "Köhler",
    "Tremblay",
    "Hansen",
    "Wichterlová",
    "Holý",
    "Gruber",
    "Peeters",
    "Nielsen",
    "Martins",
    "Rocha",
    "Almeida",
    "Ramos",
    "Philips",
    "Peterson",
    "Harris",
    "Smith",
    "Brooks",
    "Goyer",
    "Miller",
    "Chase",
    "Leacock",
    "Gordon",
    "Ralston",
    "Stevens",
    "Cunningham",
    "Gray",
    "Barnett",
    "Brown",
    "Francis",
    "Silk",
    "Mitchell",
    "Sullivan",
    "Fernandes",
    "Sampaio",
    "Schneider",
    "Zimmermann",
    "Schröder",
    "Bernard",
    "Lefebvre",
    "Dubois",
    "Girard",
    "Mercier",
    "Hämäläinen",
    "Kovács",
    "O'Reilly",
    "Mancini",
    "Van der Berg",
    "Wójcik",
    "Muñoz",
    "Johansson",
    "Jones",
    "Hughes",
    "Murray",
    "Taylor",
    "Gutiérrez",
    "Rojas",
    "Pareek",
    "Srivastava",
    "Davolio",
    "Fuller",
    "Leverling",
    "Peacock",
    "Buchanan",
    "Suyama",
    "King",
    "Callahan",
    "Dodsworth",
    "Anders",
    "Trujillo",
    "Moreno",
    "Berglund",
    "Moos",
    "Citeaux",
    "Sommer",
    "Lebihan",
    "Ashworth",
    "Simpson",
    "Chang",
    "Sánchez",
    "Duffy",
    "Tamburello",
    "Walters",
    "Erickson",
    "Goldberg",
    "Margheim",
    "Matthew",
    "Raheem",
];
fn one(r: &mut Rng, items: &[&'static str]) -> &'static str {
    items[r.below(items.len())]
}
/// Sakila writes names in capitals.
fn upper_first(r: &mut Rng, _: usize) -> String {
    one(r, FIRST).to_uppercase()
}
fn upper_last(r: &mut Rng, _: usize) -> String {
    one(r, LAST).to_uppercase()
}
fn full_name(r: &mut Rng, _: usize) -> String {
    format!("{} {}", one(r, FIRST), one(r, LAST))
}
fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'à' | 'â' | 'ã' => Some('a'),
            'é' | 'è' | 'ê' => Some('e'),
            'í' => Some('i'),
            'ó' | 'ô' | 'ö' | 'ø' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ç' => Some('c'),
            'ñ' => Some('n'),
            'ł' => Some('l'),
            'ý' => Some('y'),
            'Š' | 'š' => Some('s'),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
fn chinook_email(r: &mut Rng, _: usize) -> String {
    let (f, l) = (ascii_lower(one(r, FIRST)), ascii_lower(one(r, LAST)));
    let domain =
        r.pick(&["gmail.com", "yahoo.com", "embraer.com.br", "apple.com", "microsoft.com", "hotmail.com", "yahoo.de", "jetbrains.com"]);
    format!("{}{}@{domain}", f, &l[..1])
}
fn sakila_email(r: &mut Rng, _: usize) -> String {
    format!("{}.{}@sakilacustomer.org", one(r, FIRST).to_uppercase(), one(r, LAST).to_uppercase())
}
fn aw_email(r: &mut Rng, i: usize) -> String {
    format!("{}{}@adventure-works.com", ascii_lower(one(r, FIRST)), i % 7)
}
fn tpcds_email(r: &mut Rng, _: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let junk: String = (0..11).map(|_| char::from(A[r.below(A.len())])).collect();
    format!("{}.{}@{junk}.{}", one(r, FIRST), one(r, LAST), r.pick(&["com", "org", "edu"]))
}
fn intl_phone(r: &mut Rng, _: usize) -> String {
    match r.below(6) {
        0 => format!("+55 (12) {}-{}", r.digits(4), r.digits(4)),
        1 => format!("+49 0711 {}", r.digits(7)),
        2 => format!("+1 (514) {}-{}", r.digits(3), r.digits(4)),
        3 => format!("+47 22 {} {} {}", r.digits(2), r.digits(2), r.digits(2)),
        4 => format!("+420 2 {} {}", r.digits(4), r.digits(4)),
        _ => format!("+33 01 {} {} {} {}", r.digits(2), r.digits(2), r.digits(2), r.digits(2)),
    }
}
fn us_phone(r: &mut Rng, _: usize) -> String {
    match r.below(3) {
        0 => format!("({}) 555-{}", 200 + r.below(700), r.digits(4)),
        1 => format!("{}-555-{}", 200 + r.below(700), r.digits(4)),
        _ => format!("1 (11) 500 555-{}", r.digits(4)),
    }
}
fn northwind_phone(r: &mut Rng, _: usize) -> String {
    match r.below(4) {
        0 => format!("030-{}", r.digits(7)),
        1 => format!("({}) {}-{}", r.digits(1), r.digits(3), r.digits(4)),
        2 => format!("0621-{}", r.digits(5)),
        _ => format!("({}) 555-{}", 100 + r.below(800), r.digits(4)),
    }
}
/// Sakila's phones are bare digits.
fn digits_phone(r: &mut Rng, _: usize) -> String {
    let n = 10 + r.below(3);
    format!("{}{}", 1 + r.below(9), r.digits(n - 1))
}
const PLACES: &[&str] = &[
    "Hanoi",
    "Loja",
    "Joliet",
    "Inegl",
    "Idfu",
    "Santiago de Compostela",
    "Korolev",
    "Tarlac",
    "Bhopal",
    "Amroha",
    "Bydgoszcz",
    "Iligan",
    "Toulouse",
    "Toulon",
    "Brest",
    "Lancaster",
    "Okara",
    "Charlotte Amalie",
    "Hino",
    "Tafuna",
    "Duisburg",
    "Botshabelo",
    "Shikarpur",
    "Aurora",
    "Gorontalo",
    "Mandaluyong",
    "Tama",
    "Callao",
    "Rizhao",
    "Varanasi",
];
fn sakila_address(r: &mut Rng, _: usize) -> String {
    let kind = r.pick(&["Way", "Avenue", "Street", "Drive", "Parkway", "Manor", "Lane", "Boulevard", "Place", "Loop", "Ridge", "Square"]);
    format!("{} {} {kind}", 1 + r.below(1999), r.pick(PLACES))
}
fn intl_street(r: &mut Rng, _: usize) -> String {
    match r.below(10) {
        0 => format!("Av. Brigadeiro Faria Lima, {}", 100 + r.below(3000)),
        1 => format!("Theodor-Heuss-Straße {}", 1 + r.below(90)),
        2 => format!("{}, Rue Milton", 1 + r.below(40)),
        3 => format!("Klanova {}/{}", 1 + r.below(20), 100 + r.below(900)),
        4 => format!("{} {} Ave NW", 1000 + r.below(9000), 100 + r.below(50)),
        5 => format!("Rua Dr. Falcão Filho, {}", 1 + r.below(300)),
        6 => format!("Calle Lagasca, {}", 1 + r.below(120)),
        7 => format!("{} Broadway", 100 + r.below(2000)),
        8 => format!("Obere Str. {}", 1 + r.below(90)),
        _ => format!("{} - {}th Ave. E.", 100 + r.below(900), 10 + r.below(30)),
    }
}
fn aw_street(r: &mut Rng, _: usize) -> String {
    let street = r.pick(&[
        "Napa Ct.",
        "Napa Ct",
        "Glen Wood Drive",
        "Orange Street",
        "Edwards Ave.",
        "Bellows Ct",
        "Hillview Dr.",
        "Mt. Hood Circle",
        "Tiburon Blvd.",
        "Delta Fair",
        "Viento Verde Drive",
        "Nulty Road",
    ]);
    format!("{} {street}", 1 + r.below(9999))
}
fn aw_suite(r: &mut Rng, _: usize) -> String {
    r.pick(&["# 6", "Apt. 12", "Suite 2400", "# 14", "Unit B-105"]).to_string()
}
fn aw_login(r: &mut Rng, i: usize) -> String {
    format!("adventure-works\\{}{}", ascii_lower(one(r, FIRST)), i % 3)
}
fn national_id(r: &mut Rng, _: usize) -> String {
    format!("{}{}", 1 + r.below(9), r.digits(8))
}
fn aw_card(r: &mut Rng, _: usize) -> String {
    format!("{}{}", r.pick(&["3333", "5555", "1111", "7777"]), r.digits(10))
}
fn aw_account(r: &mut Rng, i: usize) -> String {
    format!("10-4020-{:06}", 1 + (i * 7 + r.below(7)) % 30_000)
}
fn sales_order_number(_: &mut Rng, i: usize) -> String {
    format!("SO{}", 43_659 + i)
}
fn purchase_order_number(r: &mut Rng, _: usize) -> String {
    format!("PO{}", r.digits(11))
}
fn rowguid(r: &mut Rng, _: usize) -> String {
    super::uuid(r).to_uppercase()
}
fn sha1(r: &mut Rng, _: usize) -> String {
    r.hex(40)
}
fn tpcds_business_id(r: &mut Rng, _: usize) -> String {
    let s: String = (0..16).map(|_| char::from(b'A' + r.below(16) as u8)).collect();
    s
}
fn postal(r: &mut Rng, _: usize) -> String {
    match r.below(4) {
        0 => r.digits(5),
        1 => format!("{}-{}", r.digits(5), r.digits(3)),
        2 => format!("H{}C {}G{}", r.digits(1), r.digits(1), r.digits(1)),
        _ => format!("{} {}", r.digits(3), r.digits(2)),
    }
}
fn northwind_customer(r: &mut Rng, _: usize) -> String {
    const CODES: &[&str] = &[
        "ALFKI", "ANATR", "ANTON", "AROUT", "BERGS", "BLAUS", "BLONP", "BOLID", "BONAP", "BOTTM", "BSBEV", "CACTU", "CENTC", "CHOPS",
        "COMMI", "CONSH", "DRACD", "DUMON", "EASTC", "ERNSH", "FAMIA", "FISSA", "FOLIG", "FOLKO", "FRANK", "FRANR", "FRANS", "FURIB",
        "GALED", "GODOS",
    ];
    r.pick(CODES).to_string()
}

const CN_SURNAMES: &[&str] = &[
    "张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗", "梁", "宋",
    "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹", "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡",
    "贾", "丁", "魏", "薛", "叶", "阎", "欧阳", "诸葛", "上官", "司徒",
];
const CN_GIVEN: &[&str] = &[
    "子豪", "浩然", "欣怡", "梓涵", "雨桐", "思远", "嘉怡", "俊杰", "晓梅", "建华", "玉兰", "秋菊", "德胜", "桂香", "海涛", "春燕", "志强",
    "丽华", "鹏飞", "婉清", "一诺", "若曦", "宇航", "天佑", "诗琪", "凤英", "金宝", "伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳",
    "军", "霞", "刚", "强", "慧", "颖", "晨", "琳", "立新", "淑珍", "永红", "国庆", "红梅", "文博", "家乐", "语嫣",
];
fn cn_name(r: &mut Rng, _: usize) -> String {
    format!("{}{}", r.pick(CN_SURNAMES), r.pick(CN_GIVEN))
}
fn cn_mobile(r: &mut Rng, _: usize) -> String {
    format!("1{}{}", r.pick(&["35", "36", "37", "38", "39", "50", "51", "58", "59", "82", "86", "87", "88", "89", "77", "99"]), r.digits(8))
}
const CN_PLACES: &[(&str, &str, &str)] = &[
    ("广东省", "广州市", "天河区"),
    ("广东省", "深圳市", "福田区"),
    ("浙江省", "宁波市", "鄞州区"),
    ("江苏省", "苏州市", "工业园区"),
    ("山东省", "青岛市", "市南区"),
    ("河南省", "郑州市", "金水区"),
    ("福建省", "厦门市", "思明区"),
    ("湖南省", "长沙市", "岳麓区"),
    ("辽宁省", "大连市", "沙河口区"),
    ("北京市", "北京市", "海淀区"),
    ("上海市", "上海市", "浦东新区"),
    ("重庆市", "重庆市", "渝中区"),
];
fn cn_street(r: &mut Rng, _: usize) -> String {
    let road = r.pick(&[
        "体育西路",
        "深南大道",
        "钱湖北路",
        "星湖街",
        "香港中路",
        "花园路",
        "湖滨南路",
        "麓山南路",
        "中关村大街",
        "张江路",
        "解放碑步行街",
    ]);
    match r.below(3) {
        0 => format!("{road}{}号{}栋{}室", 1 + r.below(300), 1 + r.below(30), 101 + r.below(20) * 100),
        1 => format!("{road}{}号{}小区{}单元", 1 + r.below(300), r.pick(&["阳光", "幸福", "锦绣", "翠苑"]), 1 + r.below(6)),
        _ => format!("{road}{}弄{}号", 1 + r.below(500), 1 + r.below(60)),
    }
}
fn cn_full_address(r: &mut Rng, i: usize) -> String {
    let (p, c, d) = *r.pick(CN_PLACES);
    let city = if p == c { "" } else { c };
    format!("{p}{city}{d}{}", cn_street(r, i))
}
fn cn_province(r: &mut Rng, _: usize) -> String {
    r.pick(CN_PLACES).0.to_string()
}
fn cn_city(r: &mut Rng, _: usize) -> String {
    r.pick(CN_PLACES).1.to_string()
}
fn cn_district(r: &mut Rng, _: usize) -> String {
    r.pick(CN_PLACES).2.to_string()
}
fn cn_id(r: &mut Rng, _: usize) -> String {
    let region = &super::REGIONS[r.below(super::REGIONS.len())];
    let birth = NaiveDate::from_ymd_opt(1950, 1, 1).expect("valid") + Duration::days(r.below(365 * 55) as i64);
    let male = r.chance(0.5);
    id_card(r, region, birth, male)
}
fn bcrypt(r: &mut Rng, _: usize) -> String {
    const A: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let s: String = (0..53).map(|_| char::from(A[r.below(A.len())])).collect();
    format!("$2a$10${s}")
}
fn order_sn(r: &mut Rng, _: usize) -> String {
    format!("2026{:02}{:02}{}", 1 + r.below(12), 1 + r.below(28), r.digits(6))
}
fn wx_openid(r: &mut Rng, _: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let s: String = (0..27).map(|_| char::from(A[r.below(A.len())])).collect();
    format!("o{s}")
}
fn session_key(r: &mut Rng, _: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s: String = (0..22).map(|_| char::from(A[r.below(A.len())])).collect();
    format!("{s}==")
}
fn avatar(r: &mut Rng, _: usize) -> String {
    format!("https://yanxuan.nosdn.127.net/{}.png", r.hex(32))
}
fn last_ip(r: &mut Rng, _: usize) -> String {
    if r.chance(0.2) {
        "0:0:0:0:0:0:0:1".into()
    } else {
        format!("{}.{}.{}.{}", 1 + r.below(222), r.below(256), r.below(256), 1 + r.below(254))
    }
}
fn nickname(r: &mut Rng, _: usize) -> String {
    let width = 2 + r.below(4);
    format!("{}{}", r.pick(&["用户", "小", "快乐的", "momo", "Lucky", "追风少年", "糖糖"]), r.digits(width))
}
fn cn_username(r: &mut Rng, _: usize) -> String {
    let width = 1 + r.below(3);
    format!("{}{}", r.pick(&["test", "admin", "user", "windy", "lisi", "zhangsan", "qq", "member"]), r.digits(width))
}
fn goods_sn(_: &mut Rng, i: usize) -> String {
    format!("{}", 1_006_000 + i * 7)
}
fn express_sn(r: &mut Rng, _: usize) -> String {
    format!("{}{}", r.pick(&["SF", "YT", "ZTO", "JD"]), r.digits(12))
}
fn cn_postal(r: &mut Rng, _: usize) -> String {
    format!("{}{}0", 1 + r.below(8), r.digits(4))
}
fn area_code(r: &mut Rng, _: usize) -> String {
    super::REGIONS[r.below(super::REGIONS.len())].area_code.to_string()
}
fn credit_code(r: &mut Rng, _: usize) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let s: String = (0..10).map(|_| char::from(A[r.below(A.len())])).collect();
    format!("91{}{s}", area_code(r, 0))
}
fn company_cn(r: &mut Rng, _: usize) -> String {
    format!(
        "{}{}{}有限公司",
        r.pick(&["深圳市", "杭州", "广州市", "苏州"]),
        r.pick(&["腾达", "华信", "云帆", "瑞丰", "德润"]),
        r.pick(&["科技", "贸易", "物流", "餐饮管理"])
    )
}
/// A card swipes many times a day.
fn transit_card(r: &mut Rng, i: usize) -> String {
    format!("{}", 292_000_000 + r.below(i / 3 + 20) * 37)
}
fn bus_no(r: &mut Rng, _: usize) -> String {
    format!("{:05}{}", r.below(3000), r.pick(&["D", "B", ""]))
}
/// A gate or a bus reader records many swipes.
fn equipment(r: &mut Rng, _: usize) -> String {
    format!("2{:08}", 26_000_000 + r.below(60) * 101)
}
fn cn_bank_card(r: &mut Rng, _: usize) -> String {
    with_luhn(&format!("{}{}", r.pick(&["622848", "621226", "622700"]), r.digits(12)))
}
fn visit_no(_: &mut Rng, i: usize) -> String {
    format!("MZ{:010}", 2_026_000_000 + i)
}
/// Patients come back: a visit's patient is one of fewer patients than visits.
fn patient_id(r: &mut Rng, i: usize) -> String {
    format!("{:08}", 10_000_000 + r.below(i / 2 + 20))
}
fn icd10(r: &mut Rng, _: usize) -> String {
    r.pick(&["I10.x00", "E11.900", "J06.900", "K29.700", "M51.202", "J45.900"]).to_string()
}
fn mall_icon(r: &mut Rng, _: usize) -> String {
    format!("https://macro-oss.oss-cn-shenzhen.aliyuncs.com/mall/icon/{}.jpg", r.hex(16))
}

/// One table of the corpus: a name, where its schema comes from, and labeled columns.
struct Table {
    name: &'static str,
    format: FileFormat,
    columns: &'static [(&'static str, Category, V)],
}

use Category as C;
use FileFormat::{Csv, Json, Parquet};
use V::*;

const GENRES: &[&str] = &[
    "Rock",
    "Jazz",
    "Metal",
    "Alternative & Punk",
    "Rock And Roll",
    "Blues",
    "Latin",
    "Reggae",
    "Pop",
    "Soundtrack",
    "Bossa Nova",
    "Easy Listening",
    "Heavy Metal",
    "R&B/Soul",
    "Electronica/Dance",
    "World",
    "Hip Hop/Rap",
    "Science Fiction",
    "TV Shows",
    "Sci Fi & Fantasy",
    "Drama",
    "Comedy",
    "Alternative",
    "Classical",
    "Opera",
];
const COUNTRIES: &[&str] = &[
    "Brazil",
    "Germany",
    "Canada",
    "Norway",
    "Czech Republic",
    "Austria",
    "Belgium",
    "Denmark",
    "USA",
    "Portugal",
    "France",
    "Finland",
    "Hungary",
    "Ireland",
    "Italy",
    "Netherlands",
    "Poland",
    "Spain",
    "Sweden",
    "United Kingdom",
    "Argentina",
    "Chile",
    "India",
    "Australia",
];
const CITIES: &[&str] = &[
    "São José dos Campos",
    "Stuttgart",
    "Montréal",
    "Oslo",
    "Prague",
    "Vienne",
    "Brussels",
    "Copenhagen",
    "São Paulo",
    "Rio de Janeiro",
    "Brasília",
    "Edmonton",
    "Vancouver",
    "Mountain View",
    "Redmond",
    "New York",
    "Cupertino",
    "Reno",
    "Orlando",
    "Boston",
    "Chicago",
    "Fort Worth",
    "Tucson",
    "Salt Lake City",
    "Lisbon",
    "Porto",
    "Berlin",
    "Frankfurt",
    "Paris",
    "Lyon",
    "Bordeaux",
    "Dijon",
];
const STATES: &[&str] = &["SP", "RJ", "DF", "AB", "BC", "CA", "WA", "NY", "NV", "FL", "MA", "IL", "TX", "AZ", "UT", "ON", "QC", "NS"];
const TRACKS: &[&str] = &[
    "For Those About To Rock (We Salute You)",
    "Balls to the Wall",
    "Fast As a Shark",
    "Restless and Wild",
    "Princess of the Dawn",
    "Put The Finger On You",
    "Let's Get It Up",
    "Inject The Venom",
    "Snowballed",
    "Evil Walks",
    "Breaking The Rules",
    "Night Of The Long Knives",
    "Spellbound",
    "Go Down",
    "Dog Eat Dog",
    "Let There Be Rock",
    "Bad Boy Boogie",
    "Problem Child",
    "Overdose",
    "Hell Ain't A Bad Place To Be",
];
const ALBUMS: &[&str] = &[
    "For Those About To Rock We Salute You",
    "Balls to the Wall",
    "Restless and Wild",
    "Let There Be Rock",
    "Big Ones",
    "Jagged Little Pill",
    "Facelift",
    "Warner 25 Anos",
    "Plays Metallica By Four Cellos",
    "Audioslave",
    "Out Of Exile",
    "BackBeat Soundtrack",
];
const FILMS: &[&str] = &[
    "ACADEMY DINOSAUR",
    "ACE GOLDFINGER",
    "ADAPTATION HOLES",
    "AFFAIR PREJUDICE",
    "AFRICAN EGG",
    "AGENT TRUMAN",
    "AIRPLANE SIERRA",
    "AIRPORT POLLOCK",
    "ALABAMA DEVIL",
    "ALADDIN CALENDAR",
    "ALAMO VIDEOTAPE",
    "ALASKA PHANTOM",
    "ALI FOREVER",
    "ALICE FANTASIA",
];
const FILM_DESCRIPTIONS: &[&str] = &[
    "A Epic Drama of a Feminist And a Mad Scientist who must Battle a Teacher in The Canadian Rockies",
    "A Astounding Epistle of a Database Administrator And a Explorer who must Find a Car in Ancient China",
    "A Astounding Reflection of a Lumberjack And a Car who must Sink a Lumberjack in A Baloon Factory",
    "A Fanciful Documentary of a Frisbee And a Lumberjack who must Chase a Monkey in A Shark Tank",
    "A Fast-Paced Documentary of a Pastry Chef And a Dentist who must Pursue a Forensic Psychologist in The Gulf of Mexico",
];
const TITLES: &[&str] = &[
    "Sales Representative",
    "Sales Manager",
    "Vice President, Sales",
    "Inside Sales Coordinator",
    "Sales Support Agent",
    "IT Staff",
    "General Manager",
    "Owner",
    "Marketing Manager",
    "Accounting Manager",
    "Order Administrator",
    "Purchasing Manager",
];
const COMPANIES: &[&str] = &[
    "Embraer - Empresa Brasileira de Aeronáutica S.A.",
    "JetBrains s.r.o.",
    "Woodstock Discos",
    "Banco do Brasil S.A.",
    "Riotur",
    "Telus",
    "Rogers Canada",
    "Google Inc.",
    "Microsoft Corporation",
    "Apple Inc.",
    "Alfreds Futterkiste",
    "Ana Trujillo Emparedados y helados",
    "Antonio Moreno Taquería",
    "Around the Horn",
    "Berglunds snabbköp",
    "Blauer See Delikatessen",
    "Exotic Liquids",
    "Tokyo Traders",
];
const PRODUCTS: &[&str] = &[
    "Chai",
    "Chang",
    "Aniseed Syrup",
    "Chef Anton's Cajun Seasoning",
    "Grandma's Boysenberry Spread",
    "Uncle Bob's Organic Dried Pears",
    "Northwoods Cranberry Sauce",
    "Mishi Kobe Niku",
    "Ikura",
    "Queso Cabrales",
    "Konbu",
    "Tofu",
    "Genen Shouyu",
    "Pavlova",
    "Alice Mutton",
];
const NW_CATEGORIES: &[&str] =
    &["Beverages", "Condiments", "Confections", "Dairy Products", "Grains/Cereals", "Meat/Poultry", "Produce", "Seafood"];
const CN_GOODS: &[&str] = &[
    "母亲节礼物-舒适安睡组合",
    "澳洲羊羔毛披肩",
    "日式和风懒人沙发",
    "魔兽世界 部落 挂钩",
    "清新条纹 纯棉毛巾",
    "小米8 全面屏游戏智能手机",
    "华为 HUAWEI P20",
    "三只松鼠 坚果大礼包",
    "海澜之家 男士休闲裤",
    "银色星芒刺绣网纱底裤",
];
const CN_CATEGORIES: &[&str] = &["居家", "餐厨", "配件", "服装", "洗护", "婴童", "杂货", "饮食", "志趣", "手机数码", "家用电器", "母婴"];
const CN_BRANDS: &[&str] = &["小米", "华为", "苹果", "三星", "海澜之家", "万和", "方太", "七匹狼", "OPPO", "格力"];
const CN_STATUS: &[&str] = &["101", "102", "103", "201", "202", "203", "301", "401", "402"];
const CN_JOBS: &[&str] = &["学生", "医生", "教师", "工程师", "销售", "自由职业", "公务员", "程序员"];
const CN_SIGNATURES: &[&str] = &["生活不止眼前的苟且", "做自己", "努力工作，快乐生活", "今天也要加油鸭", "Stay hungry, stay foolish"];
const CN_STATIONS: &[&str] = &["福田口岸", "深大", "车公庙", "大剧院", "科学馆", "华强北", "岗厦北", "会展中心", "少年宫", "世界之窗"];
const CN_LINES: &[&str] = &["地铁一号线", "地铁二号线", "地铁三号线", "地铁五号线", "巴士集团", "东部公交", "西部公汽"];
const CN_DEPTS: &[&str] = &["心血管内科", "内分泌科", "呼吸内科", "消化内科", "骨科", "儿科", "急诊科"];
const CN_DIAGNOSES: &[&str] = &["原发性高血压", "2型糖尿病", "急性上呼吸道感染", "慢性胃炎", "腰椎间盘突出", "支气管哮喘"];
const CN_ETHNICITIES: &[&str] = &["01", "01", "01", "02", "03", "05", "08"];
const CN_EDUCATION: &[&str] = &["10", "20", "30", "60", "70", "80"];
const CN_MARITAL: &[&str] = &["10", "20", "21", "22", "30", "40"];
const CN_OCCUPATIONS: &[&str] = &["11", "13", "17", "21", "24", "27", "31", "41", "51", "61", "80", "90"];
const CN_ENTERPRISE_STATUS: &[&str] = &["存续", "在业", "注销", "吊销"];
const CN_ENTERPRISE_TYPES: &[&str] = &["有限责任公司(自然人投资或控股)", "股份有限公司", "个人独资企业", "有限责任公司(法人独资)"];
const CN_SCOPES: &[&str] = &["计算机软硬件技术开发；技术咨询", "国内贸易；货物及技术进出口", "餐饮服务；食品销售", "普通货运；仓储服务"];
const CN_AUTHORITIES: &[&str] = &["深圳市市场监督管理局", "杭州市西湖区市场监督管理局", "广州市天河区市场监督管理局"];
const CN_CAPITAL: &[&str] = &["100万元人民币", "500万元人民币", "1000万元人民币", "50万元人民币", "3000万元人民币"];

const TABLES: &[Table] = &[
    // Chinook (a digital media store).
    Table {
        name: "chinook_customer",
        format: Csv,
        columns: &[
            ("CustomerId", C::AccountId, Seq),
            ("FirstName", C::Name, Pick(FIRST)),
            ("LastName", C::Name, Pick(LAST)),
            ("Company", C::None, Pick(COMPANIES)),
            ("Address", C::Address, F(intl_street)),
            ("City", C::None, Pick(CITIES)),
            ("State", C::None, Pick(STATES)),
            ("Country", C::None, Pick(COUNTRIES)),
            ("PostalCode", C::None, F(postal)),
            ("Phone", C::Phone, F(intl_phone)),
            ("Fax", C::Phone, F(intl_phone)),
            ("Email", C::Email, F(chinook_email)),
            ("SupportRepId", C::AccountId, Key(8)),
        ],
    },
    Table {
        name: "chinook_employee",
        format: Csv,
        columns: &[
            ("EmployeeId", C::AccountId, Seq),
            ("LastName", C::Name, Pick(LAST)),
            ("FirstName", C::Name, Pick(FIRST)),
            ("Title", C::None, Pick(TITLES)),
            ("ReportsTo", C::AccountId, Key(8)),
            ("BirthDate", C::Birthday, Date(1947, 1973)),
            ("HireDate", C::None, Date(2002, 2004)),
            ("Address", C::Address, F(intl_street)),
            ("City", C::None, Pick(CITIES)),
            ("State", C::None, Pick(STATES)),
            ("Country", C::None, Pick(COUNTRIES)),
            ("PostalCode", C::None, F(postal)),
            ("Phone", C::Phone, F(intl_phone)),
            ("Fax", C::Phone, F(intl_phone)),
            ("Email", C::Email, F(chinook_email)),
        ],
    },
    Table {
        name: "chinook_invoice",
        format: Parquet,
        columns: &[
            ("InvoiceId", C::None, Seq),
            ("CustomerId", C::AccountId, Key(59)),
            ("InvoiceDate", C::None, Time(2021)),
            ("BillingAddress", C::Address, F(intl_street)),
            ("BillingCity", C::None, Pick(CITIES)),
            ("BillingState", C::None, Pick(STATES)),
            ("BillingCountry", C::None, Pick(COUNTRIES)),
            ("BillingPostalCode", C::None, F(postal)),
            ("Total", C::Transaction, Money(1, 26)),
        ],
    },
    Table {
        name: "chinook_invoice_line",
        format: Parquet,
        columns: &[
            ("InvoiceLineId", C::None, Seq),
            ("InvoiceId", C::None, Key(412)),
            ("TrackId", C::None, Key(3503)),
            ("UnitPrice", C::None, Pick(&["0.99", "1.99"])),
            ("Quantity", C::None, Int(1, 1)),
        ],
    },
    Table {
        name: "chinook_track",
        format: Json,
        columns: &[
            ("TrackId", C::None, Seq),
            ("Name", C::None, Pick(TRACKS)),
            ("AlbumId", C::None, Key(347)),
            ("MediaTypeId", C::None, Key(5)),
            ("GenreId", C::None, Key(25)),
            ("Milliseconds", C::None, Int(60_000, 600_000)),
            ("Bytes", C::None, Int(1_000_000, 12_000_000)),
            ("UnitPrice", C::None, Pick(&["0.99", "1.99"])),
        ],
    },
    Table { name: "chinook_genre", format: Csv, columns: &[("GenreId", C::None, Seq), ("Name", C::None, Pick(GENRES))] },
    Table {
        name: "chinook_album",
        format: Csv,
        columns: &[("AlbumId", C::None, Seq), ("Title", C::None, Pick(ALBUMS)), ("ArtistId", C::None, Key(275))],
    },
    // Sakila (a DVD rental store).
    Table {
        name: "sakila_actor",
        format: Parquet,
        columns: &[
            ("actor_id", C::AccountId, Seq),
            ("first_name", C::Name, F(upper_first)),
            ("last_name", C::Name, F(upper_last)),
            ("last_update", C::None, Time(2006)),
        ],
    },
    Table {
        name: "sakila_customer",
        format: Parquet,
        columns: &[
            ("customer_id", C::AccountId, Seq),
            ("store_id", C::None, Key(2)),
            ("first_name", C::Name, F(upper_first)),
            ("last_name", C::Name, F(upper_last)),
            ("email", C::Email, F(sakila_email)),
            ("address_id", C::None, Key(603)),
            ("active", C::None, Int(0, 1)),
            ("create_date", C::None, Time(2006)),
            ("last_update", C::None, Time(2006)),
        ],
    },
    Table {
        name: "sakila_address",
        format: Csv,
        columns: &[
            ("address_id", C::None, Seq),
            ("address", C::Address, F(sakila_address)),
            (
                "district",
                C::None,
                Pick(&["Alberta", "QLD", "Nagasaki", "California", "Attika", "Mandalay", "Texas", "Buenos Aires", "Hamilton"]),
            ),
            ("city_id", C::None, Key(600)),
            ("postal_code", C::None, F(postal)),
            ("phone", C::Phone, F(digits_phone)),
            ("last_update", C::None, Time(2006)),
        ],
    },
    Table {
        name: "sakila_payment",
        format: Parquet,
        columns: &[
            ("payment_id", C::None, Seq),
            ("customer_id", C::AccountId, Key(599)),
            ("staff_id", C::AccountId, Key(2)),
            ("rental_id", C::None, Key(16_049)),
            ("amount", C::Transaction, Pick(&["0.99", "2.99", "4.99", "5.99", "1.99", "3.99", "6.99", "7.99", "8.99", "9.99", "10.99"])),
            ("payment_date", C::None, Time(2005)),
        ],
    },
    Table {
        name: "sakila_staff",
        format: Json,
        columns: &[
            ("staff_id", C::AccountId, Seq),
            ("first_name", C::Name, Pick(FIRST)),
            ("last_name", C::Name, Pick(LAST)),
            ("address_id", C::None, Key(603)),
            ("email", C::Email, F(chinook_email)),
            ("store_id", C::None, Key(2)),
            ("active", C::None, Int(0, 1)),
            ("username", C::Nickname, F(cn_username)),
            ("password", C::Credential, F(sha1)),
            ("last_update", C::None, Time(2006)),
        ],
    },
    Table {
        name: "sakila_film",
        format: Parquet,
        columns: &[
            ("film_id", C::None, Seq),
            ("title", C::None, Pick(FILMS)),
            ("description", C::None, Pick(FILM_DESCRIPTIONS)),
            ("release_year", C::None, Int(2006, 2006)),
            ("language_id", C::None, Key(6)),
            ("rental_duration", C::None, Int(3, 7)),
            ("rental_rate", C::None, Pick(&["0.99", "2.99", "4.99"])),
            ("length", C::None, Int(46, 185)),
            ("replacement_cost", C::None, Money(9, 30)),
            ("rating", C::None, Pick(&["G", "PG", "PG-13", "R", "NC-17"])),
            (
                "special_features",
                C::None,
                Pick(&["Trailers", "Commentaries", "Deleted Scenes", "Behind the Scenes", "Trailers,Deleted Scenes"]),
            ),
        ],
    },
    // Northwind (a food importer).
    Table {
        name: "northwind_customers",
        format: Csv,
        columns: &[
            ("CustomerID", C::AccountId, F(northwind_customer)),
            ("CompanyName", C::None, Pick(COMPANIES)),
            ("ContactName", C::Name, F(full_name)),
            ("ContactTitle", C::None, Pick(TITLES)),
            ("Address", C::Address, F(intl_street)),
            ("City", C::None, Pick(CITIES)),
            ("Region", C::None, Pick(STATES)),
            ("PostalCode", C::None, F(postal)),
            ("Country", C::None, Pick(COUNTRIES)),
            ("Phone", C::Phone, F(northwind_phone)),
            ("Fax", C::Phone, F(northwind_phone)),
        ],
    },
    Table {
        name: "northwind_employees",
        format: Json,
        columns: &[
            ("EmployeeID", C::AccountId, Seq),
            ("LastName", C::Name, Pick(LAST)),
            ("FirstName", C::Name, Pick(FIRST)),
            ("Title", C::None, Pick(TITLES)),
            ("TitleOfCourtesy", C::None, Pick(&["Ms.", "Dr.", "Mrs.", "Mr."])),
            ("BirthDate", C::Birthday, Date(1937, 1968)),
            ("HireDate", C::None, Date(1992, 1994)),
            ("Address", C::Address, F(intl_street)),
            ("City", C::None, Pick(CITIES)),
            ("Region", C::None, Pick(STATES)),
            ("PostalCode", C::None, F(postal)),
            ("Country", C::None, Pick(&["USA", "UK"])),
            ("HomePhone", C::Phone, F(northwind_phone)),
            ("Extension", C::None, Int(100, 9999)),
            ("ReportsTo", C::AccountId, Key(9)),
        ],
    },
    Table {
        name: "northwind_orders",
        format: Parquet,
        columns: &[
            ("OrderID", C::None, F(|_, i| (10_248 + i).to_string())),
            ("CustomerID", C::AccountId, F(northwind_customer)),
            ("EmployeeID", C::AccountId, Key(9)),
            ("OrderDate", C::None, Time(1996)),
            ("RequiredDate", C::None, Time(1996)),
            ("ShippedDate", C::None, Time(1996)),
            ("ShipVia", C::None, Key(3)),
            ("Freight", C::Transaction, Money(0, 1000)),
            ("ShipName", C::None, Pick(COMPANIES)),
            ("ShipAddress", C::Address, F(intl_street)),
            ("ShipCity", C::None, Pick(CITIES)),
            ("ShipRegion", C::None, Pick(STATES)),
            ("ShipPostalCode", C::None, F(postal)),
            ("ShipCountry", C::None, Pick(COUNTRIES)),
        ],
    },
    Table {
        name: "northwind_order_details",
        format: Csv,
        columns: &[
            ("OrderID", C::None, F(|r, _| (10_248 + r.below(830)).to_string())),
            ("ProductID", C::None, Key(77)),
            ("UnitPrice", C::None, Money(2, 264)),
            ("Quantity", C::None, Int(1, 130)),
            ("Discount", C::None, Pick(&["0", "0.05", "0.1", "0.15", "0.2", "0.25"])),
        ],
    },
    Table {
        name: "northwind_products",
        format: Csv,
        columns: &[
            ("ProductID", C::None, Seq),
            ("ProductName", C::None, Pick(PRODUCTS)),
            ("SupplierID", C::None, Key(29)),
            ("CategoryID", C::None, Key(8)),
            (
                "QuantityPerUnit",
                C::None,
                Pick(&["10 boxes x 20 bags", "24 - 12 oz bottles", "12 - 550 ml bottles", "48 - 6 oz jars", "36 boxes"]),
            ),
            ("UnitPrice", C::None, Money(2, 264)),
            ("UnitsInStock", C::None, Int(0, 125)),
            ("UnitsOnOrder", C::None, Int(0, 100)),
            ("ReorderLevel", C::None, Pick(&["0", "5", "10", "15", "20", "25", "30"])),
            ("Discontinued", C::None, Int(0, 1)),
        ],
    },
    Table {
        name: "northwind_suppliers",
        format: Json,
        columns: &[
            ("SupplierID", C::None, Seq),
            ("CompanyName", C::None, Pick(COMPANIES)),
            ("ContactName", C::Name, F(full_name)),
            ("ContactTitle", C::None, Pick(TITLES)),
            ("Address", C::Address, F(intl_street)),
            ("City", C::None, Pick(CITIES)),
            ("PostalCode", C::None, F(postal)),
            ("Country", C::None, Pick(COUNTRIES)),
            ("Phone", C::Phone, F(northwind_phone)),
        ],
    },
    Table {
        name: "northwind_categories",
        format: Csv,
        columns: &[
            ("CategoryID", C::None, Seq),
            ("CategoryName", C::None, Pick(NW_CATEGORIES)),
            (
                "Description",
                C::None,
                Pick(&[
                    "Soft drinks, coffees, teas, beers, and ales",
                    "Sweet and savory sauces, relishes, spreads, and seasonings",
                    "Desserts, candies, and sweet breads",
                    "Cheeses",
                ]),
            ),
        ],
    },
    // AdventureWorks (a bicycle maker).
    Table {
        name: "aw_person_phone",
        format: Csv,
        columns: &[
            ("BusinessEntityID", C::AccountId, Key(20_777)),
            ("PhoneNumber", C::Phone, F(us_phone)),
            ("PhoneNumberTypeID", C::None, Key(3)),
            ("ModifiedDate", C::None, Time(2011)),
        ],
    },
    Table {
        name: "aw_person",
        format: Parquet,
        columns: &[
            ("BusinessEntityID", C::AccountId, Seq),
            ("PersonType", C::None, Pick(&["EM", "IN", "SC", "VC", "GC", "SP"])),
            ("NameStyle", C::None, Int(0, 0)),
            ("Title", C::None, Pick(&["Mr.", "Ms.", "Sr.", "Mrs."])),
            ("FirstName", C::Name, Pick(FIRST)),
            ("MiddleName", C::Name, Pick(&["J", "Lee", "A", "B", "M", "E", "L"])),
            ("LastName", C::Name, Pick(LAST)),
            ("Suffix", C::None, Pick(&["Jr.", "Sr.", "II", "III", "IV", "PhD"])),
            ("EmailPromotion", C::None, Int(0, 2)),
            ("rowguid", C::UnknownIdentifier, F(rowguid)),
            ("ModifiedDate", C::None, Time(2011)),
        ],
    },
    Table {
        name: "aw_email_address",
        format: Csv,
        columns: &[
            ("BusinessEntityID", C::AccountId, Seq),
            ("EmailAddressID", C::None, Seq),
            ("EmailAddress", C::Email, F(aw_email)),
            ("rowguid", C::UnknownIdentifier, F(rowguid)),
            ("ModifiedDate", C::None, Time(2011)),
        ],
    },
    Table {
        name: "aw_address",
        format: Csv,
        columns: &[
            ("AddressID", C::None, Seq),
            ("AddressLine1", C::Address, F(aw_street)),
            ("AddressLine2", C::Address, F(aw_suite)),
            ("City", C::None, Pick(CITIES)),
            ("StateProvinceID", C::None, Key(181)),
            ("PostalCode", C::None, F(postal)),
            ("rowguid", C::None, F(rowguid)),
            ("ModifiedDate", C::None, Time(2011)),
        ],
    },
    Table {
        name: "aw_employee",
        format: Parquet,
        columns: &[
            ("BusinessEntityID", C::AccountId, Seq),
            ("NationalIDNumber", C::IdCard, F(national_id)),
            ("LoginID", C::Nickname, F(aw_login)),
            (
                "JobTitle",
                C::None,
                Pick(&[
                    "Chief Executive Officer",
                    "Vice President of Engineering",
                    "Engineering Manager",
                    "Senior Tool Designer",
                    "Design Engineer",
                    "Research and Development Manager",
                    "Production Technician - WC60",
                ]),
            ),
            ("BirthDate", C::Birthday, Date(1951, 1991)),
            ("Gender", C::Gender, Pick(&["M", "F"])),
            ("HireDate", C::None, Date(2006, 2013)),
            ("SalariedFlag", C::None, Int(0, 1)),
            ("VacationHours", C::None, Int(0, 99)),
            ("SickLeaveHours", C::None, Int(20, 69)),
            ("rowguid", C::UnknownIdentifier, F(rowguid)),
            ("ModifiedDate", C::None, Time(2014)),
        ],
    },
    Table {
        name: "aw_sales_order_header",
        format: Parquet,
        columns: &[
            ("SalesOrderID", C::None, F(|_, i| (43_659 + i).to_string())),
            ("OrderDate", C::None, Time(2011)),
            ("DueDate", C::None, Time(2011)),
            ("Status", C::None, Int(5, 5)),
            ("OnlineOrderFlag", C::None, Int(0, 1)),
            ("SalesOrderNumber", C::None, F(sales_order_number)),
            ("PurchaseOrderNumber", C::None, F(purchase_order_number)),
            ("AccountNumber", C::AccountId, F(aw_account)),
            ("CustomerID", C::AccountId, Int(11_000, 30_118)),
            ("SalesPersonID", C::AccountId, Int(274, 290)),
            ("TerritoryID", C::None, Key(10)),
            ("SubTotal", C::Transaction, Money(1, 20_000)),
            ("TaxAmt", C::Transaction, Money(0, 1_600)),
            ("Freight", C::Transaction, Money(0, 500)),
            ("TotalDue", C::Transaction, Money(2, 22_000)),
        ],
    },
    Table {
        name: "aw_credit_card",
        format: Csv,
        columns: &[
            ("CreditCardID", C::None, Seq),
            ("CardType", C::None, Pick(&["SuperiorCard", "Distinguish", "ColonialVoice", "Vista"])),
            ("CardNumber", C::BankCard, F(aw_card)),
            ("ExpMonth", C::None, Int(1, 12)),
            ("ExpYear", C::None, Int(2005, 2008)),
            ("ModifiedDate", C::None, Time(2013)),
        ],
    },
    // TPC-DS (a retailer's warehouse).
    Table {
        name: "tpcds_customer",
        format: Parquet,
        columns: &[
            ("c_customer_sk", C::AccountId, Seq),
            ("c_customer_id", C::AccountId, F(tpcds_business_id)),
            ("c_current_cdemo_sk", C::None, Key(1_920_800)),
            ("c_current_hdemo_sk", C::None, Key(7_200)),
            ("c_current_addr_sk", C::None, Key(50_000)),
            ("c_first_shipto_date_sk", C::None, Int(2_449_028, 2_452_678)),
            ("c_first_sales_date_sk", C::None, Int(2_448_998, 2_452_648)),
            ("c_salutation", C::None, Pick(&["Mr.", "Mrs.", "Ms.", "Dr.", "Miss", "Sir"])),
            ("c_first_name", C::Name, Pick(FIRST)),
            ("c_last_name", C::Name, Pick(LAST)),
            ("c_preferred_cust_flag", C::None, Pick(&["Y", "N"])),
            ("c_birth_day", C::Birthday, Int(1, 31)),
            ("c_birth_month", C::Birthday, Int(1, 12)),
            ("c_birth_year", C::Birthday, Int(1924, 1992)),
            ("c_birth_country", C::None, Pick(&["CHILE", "TOGO", "FIJI", "ICELAND", "UNITED STATES", "BRAZIL", "NORWAY", "KIRIBATI"])),
            ("c_email_address", C::Email, F(tpcds_email)),
            ("c_last_review_date_sk", C::None, Int(2_452_283, 2_452_648)),
        ],
    },
    Table {
        name: "tpcds_customer_address",
        format: Csv,
        columns: &[
            ("ca_address_sk", C::None, Seq),
            ("ca_address_id", C::None, F(tpcds_business_id)),
            ("ca_street_number", C::Address, Int(1, 999)),
            (
                "ca_street_name",
                C::Address,
                Pick(&[
                    "Jackson", "Main", "Oak", "Cedar", "Lake", "Hill", "Park", "Spring", "Elm", "View", "Sunset", "Willow", "Third",
                    "Fifth",
                ]),
            ),
            (
                "ca_street_type",
                C::None,
                Pick(&["Parkway", "Street", "Ave", "Blvd", "Circle", "Court", "Dr.", "Lane", "Ln", "RD", "Way", "Wy"]),
            ),
            ("ca_city", C::None, Pick(CITIES)),
            (
                "ca_county",
                C::None,
                Pick(&["Williamson County", "Walker County", "Ziebach County", "Franklin Parish", "Barrow County", "Luce County"]),
            ),
            ("ca_state", C::None, Pick(STATES)),
            ("ca_zip", C::None, F(|r, _| r.digits(5))),
            ("ca_country", C::None, Pick(&["United States"])),
            ("ca_gmt_offset", C::None, Pick(&["-5.00", "-6.00", "-7.00", "-8.00"])),
            ("ca_location_type", C::None, Pick(&["single family", "condo", "apartment"])),
        ],
    },
    Table {
        name: "tpcds_customer_demographics",
        format: Parquet,
        columns: &[
            ("cd_demo_sk", C::None, Seq),
            ("cd_gender", C::Gender, Pick(&["M", "F"])),
            ("cd_marital_status", C::None, Pick(&["M", "S", "D", "W", "U"])),
            (
                "cd_education_status",
                C::None,
                Pick(&["Primary", "Secondary", "College", "2 yr Degree", "4 yr Degree", "Advanced Degree", "Unknown"]),
            ),
            ("cd_purchase_estimate", C::None, Pick(&["500", "1000", "1500", "2000", "2500", "10000"])),
            ("cd_credit_rating", C::None, Pick(&["Good", "Low Risk", "High Risk", "Unknown"])),
            ("cd_dep_count", C::None, Int(0, 6)),
            ("cd_dep_employed_count", C::None, Int(0, 6)),
            ("cd_dep_college_count", C::None, Int(0, 6)),
        ],
    },
    Table {
        name: "tpcds_store_sales",
        format: Parquet,
        columns: &[
            ("ss_sold_date_sk", C::None, Int(2_450_816, 2_452_642)),
            ("ss_sold_time_sk", C::None, Int(28_800, 75_599)),
            ("ss_item_sk", C::None, Key(18_000)),
            ("ss_customer_sk", C::AccountId, Key(100_000)),
            ("ss_cdemo_sk", C::None, Key(1_920_800)),
            ("ss_addr_sk", C::None, Key(50_000)),
            ("ss_store_sk", C::None, Key(12)),
            ("ss_ticket_number", C::None, Int(1, 240_000)),
            ("ss_quantity", C::Transaction, Int(1, 100)),
            ("ss_sales_price", C::Transaction, Money(0, 200)),
            ("ss_ext_sales_price", C::Transaction, Money(0, 19_000)),
            ("ss_net_paid", C::Transaction, Money(0, 19_000)),
        ],
    },
    Table {
        name: "tpcds_item",
        format: Csv,
        columns: &[
            ("i_item_sk", C::None, Seq),
            ("i_item_id", C::None, F(tpcds_business_id)),
            (
                "i_item_desc",
                C::None,
                Pick(&[
                    "Powers will not get influences. Electoral ports should show low, annual chains.",
                    "Rather than reliable children may",
                    "Political, private police must buy",
                ]),
            ),
            ("i_current_price", C::None, Money(0, 100)),
            ("i_brand", C::None, Pick(&["importoamalg #1", "amalgamalg #2", "edu packscholar #1", "exportiunivamalg #9"])),
            (
                "i_category",
                C::None,
                Pick(&["Music", "Books", "Home", "Sports", "Jewelry", "Shoes", "Men", "Women", "Children", "Electronics"]),
            ),
            ("i_color", C::None, Pick(&["powder", "navy", "sienna", "khaki", "peach", "lime", "white", "orchid"])),
            ("i_units", C::None, Pick(&["Each", "Dozen", "Ounce", "Pound", "Box", "Case", "Gross"])),
        ],
    },
    // litemall (an open-source Chinese shop).
    Table {
        name: "litemall_user",
        format: Parquet,
        columns: &[
            ("id", C::AccountId, Seq),
            ("username", C::Nickname, F(cn_username)),
            ("password", C::Credential, F(bcrypt)),
            ("gender", C::Gender, Code(&["0", "1", "2"])),
            ("birthday", C::Birthday, Date(1960, 2005)),
            ("last_login_time", C::None, Time(2025)),
            ("last_login_ip", C::IpAddress, F(last_ip)),
            ("user_level", C::None, Int(0, 2)),
            ("nickname", C::Nickname, F(nickname)),
            ("mobile", C::Phone, F(cn_mobile)),
            ("avatar", C::None, F(avatar)),
            ("weixin_openid", C::AccountId, F(wx_openid)),
            ("session_key", C::Credential, F(session_key)),
            ("status", C::None, Int(0, 2)),
            ("add_time", C::None, Time(2024)),
            ("deleted", C::None, Int(0, 1)),
        ],
    },
    Table {
        name: "litemall_order",
        format: Parquet,
        columns: &[
            ("id", C::None, Seq),
            ("user_id", C::AccountId, Key(2_000)),
            ("order_sn", C::None, F(order_sn)),
            ("order_status", C::None, Code(CN_STATUS)),
            ("consignee", C::Name, F(cn_name)),
            ("mobile", C::Phone, F(cn_mobile)),
            ("address", C::Address, F(cn_full_address)),
            ("message", C::Communication, Pick(&["", "请尽快发货", "不要放快递柜", "周末送货"])),
            ("goods_price", C::Transaction, Money(10, 3000)),
            ("freight_price", C::Transaction, Pick(&["0.00", "8.00", "10.00"])),
            ("coupon_price", C::Transaction, Pick(&["0.00", "5.00", "10.00", "20.00"])),
            ("actual_price", C::Transaction, Money(10, 3000)),
            ("pay_id", C::None, F(|r, _| format!("4200001{}", r.digits(21)))),
            ("pay_time", C::None, Time(2025)),
            ("ship_sn", C::None, F(express_sn)),
            ("ship_channel", C::None, Pick(&["顺丰速运", "圆通速递", "中通快递", "京东物流"])),
            ("add_time", C::None, Time(2025)),
        ],
    },
    Table {
        name: "litemall_address",
        format: Csv,
        columns: &[
            ("id", C::None, Seq),
            ("name", C::Name, F(cn_name)),
            ("user_id", C::AccountId, Key(2_000)),
            ("province", C::None, F(cn_province)),
            ("city", C::None, F(cn_city)),
            ("county", C::None, F(cn_district)),
            ("address_detail", C::Address, F(cn_street)),
            ("area_code", C::None, F(area_code)),
            ("postal_code", C::None, F(cn_postal)),
            ("tel", C::Phone, F(cn_mobile)),
            ("is_default", C::None, Int(0, 1)),
        ],
    },
    Table {
        name: "litemall_goods",
        format: Json,
        columns: &[
            ("id", C::None, Seq),
            ("goods_sn", C::None, F(goods_sn)),
            ("name", C::None, Pick(CN_GOODS)),
            ("category_id", C::None, Int(1_008_001, 1_008_030)),
            ("brand_id", C::None, Int(1_001_000, 1_001_050)),
            ("keywords", C::None, Pick(&["", "新品", "爆款", "限时"])),
            ("brief", C::None, Pick(&["柔软舒适，亲肤透气", "精选优质原料", "高颜值，好收纳"])),
            ("is_on_sale", C::None, Int(0, 1)),
            ("pic_url", C::None, F(avatar)),
            ("counter_price", C::None, Money(10, 3000)),
            ("retail_price", C::None, Money(10, 3000)),
            ("unit", C::None, Pick(&["件", "个", "盒", "套"])),
        ],
    },
    Table {
        name: "litemall_brand",
        format: Csv,
        columns: &[
            ("id", C::None, Seq),
            ("name", C::None, Pick(CN_BRANDS)),
            ("desc", C::None, Pick(&["严选精选品牌", "国货之光", "匠心制造"])),
            ("pic_url", C::None, F(avatar)),
            ("floor_price", C::None, Money(9, 300)),
        ],
    },
    Table {
        name: "litemall_category",
        format: Csv,
        columns: &[
            ("id", C::None, Seq),
            ("name", C::None, Pick(CN_CATEGORIES)),
            ("keywords", C::None, Pick(&["", "居家", "好物"])),
            ("desc", C::None, Pick(&["回家，放松身心", "厨房用品", "周边好物"])),
            ("pid", C::None, Int(0, 10)),
            ("level", C::None, Pick(&["L1", "L2"])),
        ],
    },
    // mall (macrozheng's open-source shop).
    Table {
        name: "mall_ums_member",
        format: Json,
        columns: &[
            ("id", C::AccountId, Seq),
            ("member_level_id", C::None, Int(1, 4)),
            ("username", C::Nickname, F(cn_username)),
            ("password", C::Credential, F(bcrypt)),
            ("nickname", C::Nickname, F(nickname)),
            ("phone", C::Phone, F(cn_mobile)),
            ("status", C::None, Int(0, 1)),
            ("create_time", C::None, Time(2024)),
            ("icon", C::None, F(mall_icon)),
            ("gender", C::Gender, Code(&["0", "1", "2"])),
            ("birthday", C::Birthday, Date(1960, 2005)),
            ("city", C::None, F(cn_city)),
            ("job", C::None, Pick(CN_JOBS)),
            ("personalized_signature", C::None, Pick(CN_SIGNATURES)),
            ("source_type", C::None, Int(0, 3)),
            ("integration", C::Transaction, Int(0, 5000)),
            ("growth", C::None, Int(0, 2000)),
        ],
    },
    Table {
        name: "mall_oms_order",
        format: Parquet,
        columns: &[
            ("id", C::None, Seq),
            ("member_id", C::AccountId, Key(2_000)),
            ("coupon_id", C::None, Int(1, 30)),
            ("order_sn", C::None, F(order_sn)),
            ("create_time", C::None, Time(2025)),
            ("member_username", C::Nickname, F(cn_username)),
            ("total_amount", C::Transaction, Money(10, 20_000)),
            ("pay_amount", C::Transaction, Money(10, 20_000)),
            ("freight_amount", C::Transaction, Pick(&["0.00", "10.00", "20.00"])),
            ("pay_type", C::None, Int(0, 2)),
            ("status", C::None, Int(0, 5)),
            ("delivery_company", C::None, Pick(&["顺丰快递", "圆通快递", "中通快递", "韵达快递"])),
            ("delivery_sn", C::None, F(express_sn)),
            ("receiver_name", C::Name, F(cn_name)),
            ("receiver_phone", C::Phone, F(cn_mobile)),
            ("receiver_post_code", C::None, F(cn_postal)),
            ("receiver_province", C::None, F(cn_province)),
            ("receiver_city", C::None, F(cn_city)),
            ("receiver_region", C::None, F(cn_district)),
            ("receiver_detail_address", C::Address, F(cn_street)),
            ("note", C::None, Pick(&["", "请尽快发货", "放门口"])),
            ("payment_time", C::None, Time(2025)),
        ],
    },
    // Tianchi's public Taobao datasets.
    Table {
        name: "taobao_user_behavior",
        format: Csv,
        columns: &[
            ("user_id", C::AccountId, Int(1, 1_018_011)),
            ("item_id", C::None, Int(1, 5_163_070)),
            ("category_id", C::None, Int(2_171, 5_162_429)),
            ("behavior_type", C::None, Pick(&["pv", "pv", "pv", "cart", "fav", "buy"])),
            ("timestamp", C::None, Int(1_511_544_070, 1_512_316_799)),
        ],
    },
    Table {
        name: "tmall_user_info",
        format: Csv,
        columns: &[
            ("user_id", C::AccountId, Seq),
            ("age_range", C::Birthday, Code(&["0", "1", "2", "3", "4", "5", "6", "7", "8"])),
            ("gender", C::Gender, Code(&["0", "1", "2"])),
        ],
    },
    Table {
        name: "tmall_user_log",
        format: Csv,
        columns: &[
            ("user_id", C::AccountId, Int(1, 424_170)),
            ("item_id", C::None, Int(1, 1_113_166)),
            ("cat_id", C::None, Int(1, 1_671)),
            ("seller_id", C::None, Int(1, 4_995)),
            ("brand_id", C::None, Int(1, 8_477)),
            ("time_stamp", C::None, Pick(&["0511", "0618", "0829", "1011", "1111"])),
            ("action_type", C::None, Code(&["0", "0", "0", "1", "2", "3"])),
        ],
    },
    // Government open data and data-element standards.
    Table {
        name: "gov_enterprise_registration",
        format: Csv,
        columns: &[
            ("统一社会信用代码", C::None, F(credit_code)),
            ("企业名称", C::None, F(company_cn)),
            ("法定代表人", C::Name, F(cn_name)),
            ("企业类型", C::None, Pick(CN_ENTERPRISE_TYPES)),
            ("注册资本", C::None, Pick(CN_CAPITAL)),
            ("成立日期", C::None, Date(1995, 2024)),
            ("经营范围", C::None, Pick(CN_SCOPES)),
            ("登记机关", C::None, Pick(CN_AUTHORITIES)),
            ("登记状态", C::None, Pick(CN_ENTERPRISE_STATUS)),
        ],
    },
    Table {
        name: "gov_szt_card_swipe",
        format: Csv,
        columns: &[
            ("card_no", C::AccountId, F(transit_card)),
            ("deal_date", C::None, Time(2018)),
            ("deal_value", C::Transaction, Pick(&["0", "200", "250", "300", "350", "400", "500"])),
            ("deal_type", C::None, Pick(&["地铁入站", "地铁出站", "巴士"])),
            ("company_name", C::None, Pick(CN_LINES)),
            ("car_no", C::None, F(bus_no)),
            ("station", C::None, Pick(CN_STATIONS)),
            ("conn_mark", C::None, Int(0, 1)),
            ("deal_money", C::Transaction, Pick(&["0", "190", "240", "285", "380", "475"])),
            ("equ_no", C::None, F(equipment)),
        ],
    },
    Table {
        name: "gov_resident_population",
        format: Parquet,
        columns: &[
            ("GMSFHM", C::IdCard, F(cn_id)),
            ("XM", C::Name, F(cn_name)),
            ("XBDM", C::Gender, Code(&["1", "2"])),
            ("MZDM", C::None, Code(CN_ETHNICITIES)),
            ("CSRQ", C::Birthday, Date(1940, 2020)),
            ("HJDZ", C::Address, F(cn_full_address)),
            ("WHCDDM", C::None, Code(CN_EDUCATION)),
            ("HYZKDM", C::None, Code(CN_MARITAL)),
            ("ZYDM", C::None, Code(CN_OCCUPATIONS)),
            ("LXDH", C::Phone, F(cn_mobile)),
            ("DJRQ", C::None, Date(2015, 2025)),
        ],
    },
    Table {
        name: "gov_outpatient_record",
        format: Parquet,
        columns: &[
            ("JZLSH", C::None, F(visit_no)),
            ("HZID", C::AccountId, F(patient_id)),
            ("HZXM", C::Name, F(cn_name)),
            ("SFZJHM", C::IdCard, F(cn_id)),
            ("XBDM", C::Gender, Code(&["1", "2"])),
            ("CSNY", C::Birthday, F(|r, _| format!("{}{:02}", 1940 + r.below(80), 1 + r.below(12)))),
            ("JZRQ", C::None, Time(2025)),
            ("KSMC", C::None, Pick(CN_DEPTS)),
            ("ZDDM", C::Health, F(icd10)),
            ("ZDMC", C::Health, Pick(CN_DIAGNOSES)),
            ("YLFYZE", C::Transaction, Money(20, 3000)),
            ("YBKH", C::BankCard, F(cn_bank_card)),
        ],
    },
];

/// Writes the held-apart corpus under `dir/raw/` (`rows` rows a table) and its labels to
/// `dir/labels.json`.
pub fn generate_public_corpus(dir: &Path, rows: usize, seed: u64) -> Result<CorpusLabels, SampleDataError> {
    super::corpus::write_corpus(dir, |raw| {
        let mut labels = CorpusLabels::default();
        for (k, table) in TABLES.iter().enumerate() {
            let mut r = Rng(seed ^ (k as u64 + 1000).wrapping_mul(0x9E37_79B9));
            let columns: Vec<Column> = table
                .columns
                .iter()
                .map(|&(name, _, v)| Column {
                    name,
                    storage: v.storage(),
                    values: (0..rows).map(|i| (matches!(v, Seq) || !r.chance(0.04)).then(|| v.value(&mut r, i))).collect(),
                })
                .collect();
            write_table(raw, table.name, table.format, &columns)?;
            labels.tables.insert(table.name.to_string(), table.columns.iter().map(|(c, l, _)| (c.to_string(), *l)).collect());
        }
        Ok(labels)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_corpus_is_labeled_and_apart_from_the_tuning_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let labels = generate_public_corpus(dir.path(), 20, 3).unwrap();
        assert!(labels.tables.len() >= 40 && labels.columns() >= 400, "{} tables, {} columns", labels.tables.len(), labels.columns());
        let tuning: std::collections::HashSet<&str> = super::super::corpus::table_names().collect();
        assert!(labels.tables.keys().all(|t| !tuning.contains(t.as_str())));
    }
}
