//! The labeled evaluation corpus: 45 tables modelled on schemas real lakes have (Chinese
//! warehouse layers with pinyin and Chinese names, e-commerce, payments, ride-hailing and
//! delivery, app and SDK telemetry, CRM and English SaaS exports, logs), each with decoys,
//! and the true category of every column in `labels.json`. Values come from a seeded
//! generator with real check digits, nulls and messy formatting.
//!
//! [`evaluate`] scores an inventory of the corpus against its labels: column accuracy, PI
//! recall, non-PI columns flagged, and a confusion table.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::{
    CENTRES, REGIONS, Rng, SampleDataError, address, email, id_card, mobile, person_name, uuid, with_luhn, without_luhn, write_parquet,
    write_raw_zone,
};
use crate::category::{Category, Sensitivity};
use crate::classify::Rules;
use crate::inventory::Inventory;
use crate::lake::{self, FileFormat};
use crate::transform::generalize::geohash;

/// The file that holds the corpus's labels, at the lake root.
pub const LABELS_FILE: &str = "labels.json";

/// What kind of values a generated column holds; its label follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    IdCard,
    Passport,
    BankCard,
    PhoneCn,
    PhoneUs,
    PhoneUk,
    Email,
    NameCn,
    NameEn,
    FirstNameEn,
    LastNameEn,
    Nickname,
    AddressCn,
    AddressUs,
    AddressUk,
    Lat,
    Lon,
    LatLon,
    LonLat,
    WktPoint,
    GeoJson,
    Geohash,
    Ipv4,
    Ipv6,
    Mac,
    Imei,
    Imsi,
    AndroidId,
    Idfa,
    Oaid,
    PushToken,
    Url,
    UrlPath,
    SearchTerm,
    ChatCn,
    ChatEn,
    Password,
    Otp,
    Diagnosis,
    FaceFeature,
    BirthDate,
    Gender,
    Amount,
    Quantity,
    UserIdNum,
    MemberCode,
    OpenId,
    CustomerKey,
    UnknownToken,
    // Not PI from here on.
    SeqId,
    OrderNo,
    TradeNo,
    OrderRef,
    ChargeId,
    SkuCode,
    RequestId,
    TraceId,
    SessionId,
    ProductName,
    ShopName,
    CityName,
    Province,
    CityCode,
    Status,
    Channel,
    AppVersion,
    OsVersion,
    DeviceModel,
    OsName,
    CategoryName,
    EventName,
    HttpStatus,
    Bytes,
    Seconds,
    Currency,
    TimeZone,
    BoolFlag,
    Score,
    Count,
    EventTime,
    EventDate,
    ImageUrl,
    FileSha256,
    CouponCode,
    Temperature,
    Weight,
    Company,
    BankName,
    ReasonText,
    Relation,
    Provider,
    CoordType,
    AccuracyM,
    Speed,
    Education,
    Plan,
    Priority,
    DeptName,
    Brand,
    MerchantCode,
    CreditCode,
    GridId,
    ElementId,
}

/// How a generated column is stored in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Storage {
    /// Money as SQL schemas store it: a decimal of two places.
    Decimal,
    Text,
    Int,
    Float,
    Time,
    Date,
}

impl Gen {
    /// The true category of a column of these values.
    fn label(self) -> Category {
        use Category as C;
        use Gen::*;
        match self {
            IdCard => C::IdCard,
            Passport => C::Passport,
            BankCard => C::BankCard,
            PhoneCn | PhoneUs | PhoneUk => C::Phone,
            Email => C::Email,
            NameCn | NameEn | FirstNameEn | LastNameEn => C::Name,
            Nickname => C::Nickname,
            AddressCn | AddressUs | AddressUk => C::Address,
            Lat | Lon | LatLon | LonLat | WktPoint | GeoJson | Geohash => C::PreciseLocation,
            Ipv4 | Ipv6 => C::IpAddress,
            Mac | Imei | Imsi | AndroidId | Idfa | Oaid | PushToken => C::DeviceId,
            Url | UrlPath | SearchTerm => C::BrowsingHistory,
            ChatCn | ChatEn => C::Communication,
            Password | Otp => C::Credential,
            Diagnosis => C::Health,
            FaceFeature => C::Biometric,
            BirthDate => C::Birthday,
            Gender => C::Gender,
            Amount | Quantity => C::Transaction,
            UserIdNum | MemberCode | OpenId | CustomerKey => C::AccountId,
            UnknownToken => C::UnknownIdentifier,
            _ => C::None,
        }
    }

    fn storage(self) -> Storage {
        use Gen::*;
        match self {
            UserIdNum | SeqId | HttpStatus | Bytes | Score | Count | Quantity => Storage::Int,
            Amount | Seconds | Temperature | AccuracyM | Speed => Storage::Float,
            EventTime => Storage::Time,
            EventDate => Storage::Date,
            _ => Storage::Text,
        }
    }

    /// Key-like columns are never null.
    fn nullable(self) -> bool {
        !matches!(self, Gen::SeqId | Gen::OrderNo | Gen::UserIdNum | Gen::MemberCode | Gen::RequestId)
    }
}

const FIRST_EN: [&str; 24] = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Emma",
    "Oliver",
    "Sophia",
    "Liam",
    "Olivia",
    "Noah",
];
const LAST_EN: [&str; 20] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
];
const US_STREETS: [&str; 10] = ["Oak", "Maple", "Main", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine"];
const US_SUFFIXES: [&str; 8] = ["St", "Street", "Ave", "Avenue", "Rd", "Blvd", "Dr", "Ln"];
const US_CITIES: [(&str, &str); 6] =
    [("Springfield", "IL"), ("Austin", "TX"), ("Portland", "OR"), ("Columbus", "OH"), ("Denver", "CO"), ("Madison", "WI")];
const UK_STREETS: [&str; 6] = ["Baker Street", "High Street", "Station Road", "Church Lane", "Mill Road", "Victoria Close"];
const UK_TOWNS: [(&str, &str); 4] = [("London", "NW1 6XE"), ("Leeds", "LS1 4AP"), ("Bristol", "BS8 1TH"), ("York", "YO1 7HH")];
const PRODUCTS: [&str; 8] = [
    "蓝牙耳机 降噪版",
    "iPhone 15 手机壳",
    "有机牛奶 250ml*12",
    "儿童运动鞋",
    "Wireless Mouse M330",
    "咖啡豆 500g",
    "扫地机器人 T8",
    "保温杯 500ml",
];
const SHOPS: [&str; 6] = ["朝阳大悦城店", "徐家汇旗舰店", "南山科技园店", "西湖银泰店", "春熙路店", "光谷步行街店"];
const CITIES: [&str; 8] = ["北京市", "上海市", "深圳市", "杭州市", "成都市", "武汉市", "南京市", "西安市"];
const CHATS_CN: [&str; 6] =
    ["你好，请问什么时候发货？", "我的新号码是{phone}，有事打这个", "收到了，谢谢", "地址改成{address}", "麻烦开一下发票", "好的，明天见"];
const CHATS_EN: [&str; 5] = [
    "Customer cannot log in after the update",
    "Please call me back at {phone}",
    "Refund processed, thanks",
    "Ship to {address} instead",
    "Thanks for the quick help",
];
const DIAGNOSES: [&str; 6] = ["高血压", "2型糖尿病", "J45.909 Asthma", "急性上呼吸道感染", "腰椎间盘突出", "过敏性鼻炎"];

fn b64(r: &mut Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..n).map(|_| char::from(A[r.below(A.len())])).collect()
}

fn alnum_upper(r: &mut Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..n).map(|_| char::from(A[r.below(A.len())])).collect()
}

fn point(r: &mut Rng) -> (f64, f64) {
    let (lat, lon) = CENTRES[r.below(CENTRES.len())];
    (lat + (r.below(20_000) as f64 - 10_000.0) / 200_000.0, lon + (r.below(20_000) as f64 - 10_000.0) / 200_000.0)
}

fn phone_cn(r: &mut Rng) -> String {
    let n = mobile(r);
    match r.below(5) {
        0 => format!("+86 {} {} {}", &n[..3], &n[3..7], &n[7..]),
        1 => format!("{}-{}-{}", &n[..3], &n[3..7], &n[7..]),
        _ => n,
    }
}

fn phone_us(r: &mut Rng) -> String {
    let (a, b, c) = (200 + r.below(700), 200 + r.below(700), r.digits(4));
    match r.below(3) {
        0 => format!("({a}) {b}-{c}"),
        1 => format!("+1 {a}-{b}-{c}"),
        _ => format!("{a}-{b}-{c}"),
    }
}

fn name_en(r: &mut Rng) -> String {
    let (f, l) = (*r.pick(&FIRST_EN), *r.pick(&LAST_EN));
    match r.below(4) {
        0 => format!("{}, {}", l.to_uppercase(), f.to_uppercase()),
        1 => format!("{} {}", f.to_lowercase(), l.to_lowercase()),
        _ => format!("{f} {l}"),
    }
}

fn address_us(r: &mut Rng) -> String {
    let (city, state) = *r.pick(&US_CITIES);
    let unit = if r.chance(0.3) { format!(", Apt {}", 1 + r.below(40)) } else { String::new() };
    format!("{} {} {}{unit}, {city}, {state} {}", 10 + r.below(9000), r.pick(&US_STREETS), r.pick(&US_SUFFIXES), r.digits(5))
}

fn timestamp(r: &mut Rng) -> NaiveDateTime {
    let day = NaiveDate::from_ymd_opt(2025, 6, 1).expect("valid") + Duration::days(r.below(500) as i64);
    day.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(r.below(86_400) as i64)
}

fn fill(template: &str, r: &mut Rng) -> String {
    let region = &REGIONS[r.below(REGIONS.len())];
    let with_phone = template.replace("{phone}", &mobile(r));
    if template.contains("{address}") && template.is_ascii() {
        with_phone.replace("{address}", &address_us(r))
    } else {
        with_phone.replace("{address}", &address(r, region))
    }
}

/// One value of a column; `i` is the row, for unique keys.
fn value(g: Gen, r: &mut Rng, i: usize) -> String {
    use Gen::*;
    match g {
        IdCard => {
            let region = &REGIONS[r.below(REGIONS.len())];
            let birth = NaiveDate::from_ymd_opt(1955, 1, 1).expect("valid") + Duration::days(r.below(365 * 50) as i64);
            let male = r.chance(0.5);
            let id = id_card(r, region, birth, male);
            if r.chance(0.2) { id.to_lowercase() } else { id }
        }
        Passport => {
            let prefix = *r.pick(&["E", "G", "EA"]);
            format!("{prefix}{}", r.digits(9 - prefix.len()))
        }
        BankCard => {
            let card = with_luhn(&format!("{}{}", r.pick(&["622202", "621700", "436742"]), r.digits(12)));
            if r.chance(0.25) {
                card.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).expect("ascii")).collect::<Vec<_>>().join(" ")
            } else {
                card
            }
        }
        PhoneCn => phone_cn(r),
        PhoneUs => phone_us(r),
        PhoneUk => format!("+44 7{} {}", r.digits(3), r.digits(6)),
        Email => {
            let e = email(r);
            if r.chance(0.2) { e.to_uppercase() } else { e }
        }
        NameCn => person_name(r),
        NameEn => name_en(r),
        FirstNameEn => r.pick(&FIRST_EN).to_string(),
        LastNameEn => r.pick(&LAST_EN).to_string(),
        Nickname => format!("{}_{}", r.pick(&["sunny", "小鱼儿", "momo", "阿杰", "coco", "tiger"]), r.digits(3)),
        AddressCn => {
            let region = &REGIONS[r.below(REGIONS.len())];
            address(r, region)
        }
        AddressUs => address_us(r),
        AddressUk => {
            let (town, post) = *r.pick(&UK_TOWNS);
            format!("{} {}, {town} {post}", 1 + r.below(200), r.pick(&UK_STREETS))
        }
        Lat => format!("{:.6}", point(r).0),
        Lon => format!("{:.6}", point(r).1),
        LatLon => {
            let (lat, lon) = point(r);
            format!("{lat:.6},{lon:.6}")
        }
        LonLat => {
            let (lat, lon) = point(r);
            format!("{lon:.6},{lat:.6}")
        }
        WktPoint => {
            let (lat, lon) = point(r);
            format!("POINT({lon:.6} {lat:.6})")
        }
        GeoJson => {
            let (lat, lon) = point(r);
            format!(r#"{{"type":"Point","coordinates":[{lon:.6},{lat:.6}]}}"#)
        }
        Geohash => {
            let (lat, lon) = point(r);
            geohash(lat, lon, 7 + r.below(3))
        }
        Ipv4 => format!("{}.{}.{}.{}", 36 + r.below(180), r.below(256), r.below(256), 1 + r.below(254)),
        Ipv6 => format!("2408:8207:{}:{}::{}", r.hex(4), r.hex(4), r.hex(2)),
        Mac => {
            let h = r.hex(12);
            let sep = if r.chance(0.3) { "-" } else { ":" };
            (0..6).map(|k| &h[k * 2..k * 2 + 2]).collect::<Vec<_>>().join(sep)
        }
        Imei => with_luhn(&format!("86{}", r.digits(12))),
        Imsi => format!("460{}{}", r.pick(&["00", "01", "02", "11"]), r.digits(10)),
        AndroidId => format!("{}{}", r.pick(&["a", "b", "c", "d", "e", "f"]), r.hex(15)),
        Idfa => uuid(r).to_uppercase(),
        Oaid => uuid(r),
        PushToken => format!("{}:APA91b{}", b64(r, 22), b64(r, 134)),
        Url => format!("https://m.shop-example.cn/item/{}?from={}&spm=a{}", r.digits(8), r.pick(&["push", "home", "search"]), r.digits(4)),
        UrlPath => format!("/{}/{}?ref={}", r.pick(&["item", "cart", "api/v2/order", "search"]), r.digits(6), r.pick(&["home", "push"])),
        SearchTerm => r.pick(&["蓝牙耳机", "孕妇装 夏季", "降压药", "iphone 15 pro max", "租房 南山", "婚纱摄影"]).to_string(),
        ChatCn => {
            let t = *r.pick(&CHATS_CN);
            fill(t, r)
        }
        ChatEn => {
            let t = *r.pick(&CHATS_EN);
            fill(t, r)
        }
        Password => format!("$2b$12${}", b64(r, 53)),
        Otp => r.digits(6),
        Diagnosis => r.pick(&DIAGNOSES).to_string(),
        FaceFeature => b64(r, 88),
        BirthDate => {
            let d = NaiveDate::from_ymd_opt(1955, 1, 1).expect("valid") + Duration::days(r.below(365 * 50) as i64);
            let format = *r.pick(&["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"]);
            d.format(format).to_string()
        }
        Gender => r.pick(&["男", "女", "M", "F", "male", "Female"]).to_string(),
        Amount => format!("{:.2}", (r.below(200_000) + 100) as f64 / 100.0),
        Quantity => (1 + r.below(9)).to_string(),
        UserIdNum => (100_000_000 + i * 37 + r.below(30)).to_string(),
        MemberCode => format!("{}{:010}", r.pick(&["M", "VIP", "HY"]), 3_000_000 + i * 13 + r.below(10)),
        OpenId => format!("o{}{}", b64(r, 5), b64(r, 22)),
        CustomerKey => format!("{}{}", r.pick(&["CUST-", "cus_"]), alnum_upper(r, 10)),
        UnknownToken => alnum_upper(r, 12),
        SeqId => (i + 1).to_string(),
        OrderNo => format!("{}{}", timestamp(r).format("%Y%m%d"), r.digits(10)),
        TradeNo => format!("T{}{}", timestamp(r).format("%Y%m%d%H%M%S"), r.digits(6)),
        OrderRef => format!("ORD-2026-{:06}", i + 1),
        ChargeId => format!("ch_{}", b64(r, 24)),
        SkuCode => without_luhn(&format!("69{}", r.digits(11))),
        RequestId => uuid(r),
        TraceId => r.hex(32),
        SessionId => b64(r, 26),
        ProductName => r.pick(&PRODUCTS).to_string(),
        ShopName => r.pick(&SHOPS).to_string(),
        CityName => r.pick(&CITIES).to_string(),
        Province => REGIONS[r.below(REGIONS.len())].province.to_string(),
        CityCode => REGIONS[r.below(REGIONS.len())].area_code.to_string(),
        Status => r.pick(&["PAID", "SHIPPED", "DONE", "CANCELLED", "待付款", "已完成"]).to_string(),
        Channel => r.pick(&["app", "mini_program", "web", "h5", "offline"]).to_string(),
        AppVersion => format!("{}.{}.{}", 5 + r.below(3), r.below(20), r.below(10)),
        OsVersion => format!("{} {}", r.pick(&["Android", "iOS"]), 12 + r.below(6)),
        DeviceModel => r.pick(&["HUAWEI Mate 60", "Xiaomi 14", "iPhone 15 Pro", "vivo X100"]).to_string(),
        OsName => r.pick(&["Android", "iOS", "HarmonyOS"]).to_string(),
        CategoryName => r.pick(&["数码", "母婴", "食品", "服饰", "家居"]).to_string(),
        EventName => r.pick(&["app_start", "page_view", "add_cart", "pay_success"]).to_string(),
        HttpStatus => r.pick(&["200", "200", "304", "404", "500"]).to_string(),
        Bytes => (200 + r.below(90_000)).to_string(),
        Seconds => format!("{:.3}", r.below(3000) as f64 / 1000.0),
        Currency => r.pick(&["CNY", "USD", "GBP"]).to_string(),
        TimeZone => r.pick(&["Asia/Shanghai", "+08:00", "America/Chicago", "UTC"]).to_string(),
        BoolFlag => r.pick(&["true", "false", "0", "1"]).to_string(),
        Score => (1 + r.below(5)).to_string(),
        Count => r.below(500).to_string(),
        EventTime => timestamp(r).format("%Y-%m-%d %H:%M:%S").to_string(),
        EventDate => timestamp(r).format("%Y-%m-%d").to_string(),
        ImageUrl => format!("https://img.shop-example.cn/sku/{}.jpg", r.digits(8)),
        FileSha256 => r.hex(64),
        CouponCode => format!("CP{}", r.hex(8).to_uppercase()),
        Temperature => format!("{:.3}", 30.0 + r.below(12_000) as f64 / 1000.0),
        Weight => format!("{:.3}", r.below(20_000) as f64 / 1000.0),
        Company => r.pick(&["Acme Corp", "Globex Ltd", "Initech", "Umbrella Inc"]).to_string(),
        BankName => r.pick(&["工商银行", "招商银行", "建设银行", "Chase"]).to_string(),
        ReasonText => r.pick(&["商品质量问题", "不想要了", "发错货", "尺码不合适"]).to_string(),
        Relation => r.pick(&["父亲", "母亲", "配偶", "子女", "朋友"]).to_string(),
        Provider => r.pick(&["gps", "network", "wifi"]).to_string(),
        CoordType => r.pick(&["gcj02", "wgs84", "bd09"]).to_string(),
        AccuracyM => format!("{:.1}", 5.0 + r.below(500) as f64 / 10.0),
        Speed => format!("{:.2}", r.below(12_000) as f64 / 100.0),
        Education => r.pick(&["本科", "硕士", "大专", "博士"]).to_string(),
        Plan => r.pick(&["free", "pro", "enterprise"]).to_string(),
        Priority => r.pick(&["low", "normal", "high", "urgent"]).to_string(),
        DeptName => r.pick(&["内科", "外科", "儿科", "眼科"]).to_string(),
        Brand => r.pick(&["华为", "小米", "Apple", "安踏"]).to_string(),
        MerchantCode => format!("MCH{:09}", 10_000 + i * 7),
        CreditCode => format!("91{}{}", r.digits(6), alnum_upper(r, 10)),
        GridId => format!("G{:05}", r.below(99_999)),
        ElementId => r.pick(&["btn_buy", "banner_1", "tab_home", "icon_cart"]).to_string(),
    }
}

/// One table of the corpus.
struct Table {
    name: &'static str,
    format: FileFormat,
    columns: &'static [(&'static str, Gen)],
}

use FileFormat::{Csv, Json, Parquet};
use Gen::*;

const fn t(name: &'static str, format: FileFormat, columns: &'static [(&'static str, Gen)]) -> Table {
    Table { name, format, columns }
}

const TABLES: [Table; 45] = [
    t(
        "ods_user_info",
        Parquet,
        &[
            ("user_id", UserIdNum),
            ("xm", NameCn),
            ("sfzh", IdCard),
            ("sjhm", PhoneCn),
            ("dzyx", Email),
            ("csrq", BirthDate),
            ("xb", Gender),
            ("jtzz", AddressCn),
            ("zcsj", EventTime),
            ("etl_time", EventTime),
        ],
    ),
    t(
        "dwd_trade_order_di",
        Parquet,
        &[
            ("order_no", OrderNo),
            ("buyer_no", UserIdNum),
            ("收货人姓名", NameCn),
            ("收货人电话", PhoneCn),
            ("收货地址", AddressCn),
            ("pay_amt", Amount),
            ("goods_qty", Quantity),
            ("sku_code", SkuCode),
            ("order_status", Status),
            ("create_time", EventTime),
        ],
    ),
    t(
        "dwd_pay_flow",
        Csv,
        &[
            ("trade_no", TradeNo),
            ("cust_no", UserIdNum),
            ("yhkh", BankCard),
            ("持卡人", NameCn),
            ("支付金额", Amount),
            ("bank_name", BankName),
            ("pay_channel", Channel),
            ("pay_time", EventTime),
        ],
    ),
    t(
        "ads_user_profile_df",
        Parquet,
        &[
            ("member_code", MemberCode),
            ("gender", Gender),
            ("city_name", CityName),
            ("total_gmv", Amount),
            ("order_cnt", Count),
            ("last_login_ip", Ipv4),
            ("prefer_category", CategoryName),
            ("dt", EventDate),
        ],
    ),
    t(
        "ods_app_event_log",
        Json,
        &[
            ("event_id", SeqId),
            ("device_id", AndroidId),
            ("oaid", Oaid),
            ("app_ver", AppVersion),
            ("event_name", EventName),
            ("page_url", Url),
            ("client_ip", Ipv4),
            ("event_time", EventTime),
        ],
    ),
    t(
        "ods_sdk_device",
        Parquet,
        &[
            ("imei", Imei),
            ("imsi", Imsi),
            ("mac_addr", Mac),
            ("idfa", Idfa),
            ("push_token", PushToken),
            ("device_model", DeviceModel),
            ("os_name", OsName),
            ("first_seen", EventTime),
        ],
    ),
    t(
        "dwd_ride_order",
        Parquet,
        &[
            ("order_id", OrderNo),
            ("passenger_id", UserIdNum),
            ("driver_id", MemberCode),
            ("start_lng", Lon),
            ("start_lat", Lat),
            ("end_point", LonLat),
            ("pickup_time", EventTime),
            ("fare_amt", Amount),
            ("city_code", CityCode),
        ],
    ),
    t(
        "dwd_delivery_waybill",
        Csv,
        &[
            ("waybill_no", TradeNo),
            ("rider_phone", PhoneCn),
            ("receiver_addr", AddressCn),
            ("receiver_name", NameCn),
            ("geo_point", WktPoint),
            ("courier_code", MemberCode),
            ("delivered_at", EventTime),
            ("weight_kg", Weight),
        ],
    ),
    t(
        "crm_customer_export",
        Csv,
        &[
            ("Customer ID", CustomerKey),
            ("First Name", FirstNameEn),
            ("Last Name", LastNameEn),
            ("Email", Email),
            ("Phone", PhoneUs),
            ("Mailing Street", AddressUs),
            ("Company", Company),
            ("Lead Source", Channel),
            ("Created Date", EventDate),
        ],
    ),
    t(
        "hubspot_contacts",
        Json,
        &[
            ("contactId", CustomerKey),
            ("firstName", FirstNameEn),
            ("lastName", LastNameEn),
            ("emailAddress", Email),
            ("mobilePhone", PhoneUs),
            ("homeAddress", AddressUs),
            ("lifecycleStage", Status),
            ("createdAt", EventTime),
        ],
    ),
    t(
        "stripe_charges",
        Csv,
        &[
            ("charge_id", ChargeId),
            ("customer", CustomerKey),
            ("amount", Amount),
            ("currency", Currency),
            ("billing_email", Email),
            ("billing_address", AddressUs),
            ("created", EventTime),
        ],
    ),
    t(
        "zendesk_tickets",
        Json,
        &[
            ("ticket_id", SeqId),
            ("requester_email", Email),
            ("requester_name", NameEn),
            ("description", ChatEn),
            ("status", Status),
            ("priority", Priority),
            ("created_at", EventTime),
        ],
    ),
    t(
        "uk_orders",
        Csv,
        &[
            ("order_ref", OrderRef),
            ("customer_name", NameEn),
            ("delivery_address", AddressUk),
            ("phone", PhoneUk),
            ("total", Amount),
            ("dispatched_at", EventTime),
        ],
    ),
    t(
        "ods_wechat_user",
        Parquet,
        &[
            ("openid", OpenId),
            ("unionid", OpenId),
            ("nickname", Nickname),
            ("subscribe_time", EventTime),
            ("city", CityName),
            ("sex", Gender),
        ],
    ),
    t(
        "ods_member_card",
        Parquet,
        &[
            ("hybh", MemberCode),
            ("会员姓名", NameCn),
            ("手机号码", PhoneCn),
            ("证件号码", IdCard),
            ("积分余额", Amount),
            ("开卡门店", ShopName),
            ("开卡时间", EventTime),
        ],
    ),
    t(
        "dwd_checkin_di",
        Parquet,
        &[
            ("user_id", UserIdNum),
            ("checkin_location_time", EventTime),
            ("checkin_location", LatLon),
            ("poi_name", ShopName),
            ("time_zone", TimeZone),
            ("checkin_date", EventDate),
        ],
    ),
    t(
        "ods_nginx_access_log",
        Csv,
        &[
            ("remote_addr", Ipv4),
            ("request_path", UrlPath),
            ("http_referer", Url),
            ("status", HttpStatus),
            ("body_bytes_sent", Bytes),
            ("request_time", Seconds),
            ("time_local", EventTime),
        ],
    ),
    t(
        "dwd_click_log",
        Json,
        &[
            ("uid", UserIdNum),
            ("page", UrlPath),
            ("element_id", ElementId),
            ("click_time", EventTime),
            ("gaid", Oaid),
            ("session_id", SessionId),
        ],
    ),
    t(
        "ods_search_log",
        Csv,
        &[("user_key", CustomerKey), ("search_kw", SearchTerm), ("result_cnt", Count), ("search_time", EventTime), ("client_ipv6", Ipv6)],
    ),
    t(
        "ods_im_message",
        Parquet,
        &[("msg_id", RequestId), ("from_uid", UserIdNum), ("to_uid", UserIdNum), ("msg_content", ChatCn), ("send_time", EventTime)],
    ),
    t(
        "dwd_kyc_verify",
        Parquet,
        &[
            ("apply_no", TradeNo),
            ("zjhm", IdCard),
            ("hzhm", Passport),
            ("real_name", NameCn),
            ("face_feature", FaceFeature),
            ("verify_result", Status),
            ("verify_time", EventTime),
        ],
    ),
    t(
        "ods_hospital_visit",
        Csv,
        &[
            ("patient_no", MemberCode),
            ("patient_name", NameCn),
            ("diagnosis", Diagnosis),
            ("dept_name", DeptName),
            ("visit_date", EventDate),
            ("fee", Amount),
        ],
    ),
    t(
        "ods_login_log",
        Json,
        &[
            ("login_name", Nickname),
            ("login_ip", Ipv4),
            ("login_result", Status),
            ("otp_code", Otp),
            ("pwd_hash", Password),
            ("login_time", EventTime),
        ],
    ),
    t(
        "dim_sku",
        Parquet,
        &[
            ("id", SeqId),
            ("sku_code", SkuCode),
            ("sku_name", ProductName),
            ("category_name", CategoryName),
            ("image_url", ImageUrl),
            ("brand", Brand),
            ("created_at", EventTime),
        ],
    ),
    t(
        "dim_store",
        Csv,
        &[
            ("store_code", GridId),
            ("store_name", ShopName),
            ("city_name", CityName),
            ("province_name", Province),
            ("manager_phone", PhoneCn),
            ("open_date", EventDate),
        ],
    ),
    t(
        "ods_coupon_issue",
        Json,
        &[
            ("coupon_code", CouponCode),
            ("member_id", MemberCode),
            ("face_value", Amount),
            ("issue_time", EventTime),
            ("expire_date", EventDate),
            ("channel", Channel),
        ],
    ),
    t(
        "dwd_refund",
        Parquet,
        &[
            ("refund_no", TradeNo),
            ("order_no", OrderNo),
            ("refund_amt", Amount),
            ("refund_reason", ReasonText),
            ("buyer_tel", PhoneCn),
            ("audit_time", EventTime),
        ],
    ),
    t("ads_geo_heatmap", Csv, &[("grid_id", GridId), ("region_name", CityName), ("pv", Count), ("uv", Count), ("stat_date", EventDate)]),
    t(
        "ods_telemetry_crash",
        Json,
        &[
            ("crash_id", RequestId),
            ("android_id", AndroidId),
            ("app_version", AppVersion),
            ("os_version", OsVersion),
            ("stack_hash", FileSha256),
            ("occurred_at", EventTime),
            ("battery_temp", Temperature),
        ],
    ),
    t(
        "ods_iot_tracker",
        Parquet,
        &[
            ("imei", Imei),
            ("position", GeoJson),
            ("speed_kmh", Speed),
            ("gps_time", EventTime),
            ("geohash", Geohash),
            ("coord_type", CoordType),
        ],
    ),
    t(
        "ods_driver_profile",
        Csv,
        &[
            ("driver_no", MemberCode),
            ("driver_name", NameCn),
            ("license_no", IdCard),
            ("phone", PhoneCn),
            ("join_date", EventDate),
            ("rating", Score),
        ],
    ),
    t(
        "support_calls",
        Csv,
        &[
            ("call_id", RequestId),
            ("caller_number", PhoneUs),
            ("agent_name", NameEn),
            ("duration_sec", Count),
            ("notes", ChatEn),
            ("started_at", EventTime),
        ],
    ),
    t(
        "saas_users_export",
        Json,
        &[("userId", UserIdNum), ("username", Nickname), ("email", Email), ("lastLoginIp", Ipv4), ("plan", Plan), ("signupTs", EventTime)],
    ),
    t(
        "ods_address_book",
        Parquet,
        &[
            ("owner_uid", UserIdNum),
            ("contact_name", NameCn),
            ("contact_mobile", PhoneCn),
            ("relation", Relation),
            ("sync_time", EventTime),
        ],
    ),
    t(
        "dwd_lbs_trace",
        Parquet,
        &[
            ("uid", UserIdNum),
            ("loc", LonLat),
            ("accuracy_m", AccuracyM),
            ("provider", Provider),
            ("locate_time", EventTime),
            ("coord_type", CoordType),
        ],
    ),
    t(
        "legacy_export_2019",
        Csv,
        &[("c1", SeqId), ("c2", IdCard), ("c3", PhoneCn), ("c4", EventTime), ("c5", UnknownToken), ("c6", Status), ("c7", Email)],
    ),
    t(
        "ext_fields_tbl",
        Json,
        &[("ext1", AddressCn), ("ext2", BankCard), ("ext3", Mac), ("ext4", Url), ("ext5", ProductName), ("ext6", Imei)],
    ),
    t(
        "ods_merchant",
        Parquet,
        &[
            ("merchant_id", MerchantCode),
            ("merchant_name", ShopName),
            ("credit_code", CreditCode),
            ("contact_phone", PhoneCn),
            ("create_time", EventTime),
        ],
    ),
    t(
        "ods_invoice",
        Csv,
        &[("invoice_no", TradeNo), ("invoice_amt", Amount), ("tax_amt", Amount), ("issue_date", EventDate), ("buyer_email", Email)],
    ),
    t(
        "dwd_ad_impression",
        Json,
        &[("imp_id", RequestId), ("idfa", Idfa), ("adgroup_id", GridId), ("ip", Ipv4), ("imp_time", EventTime), ("trace_id", TraceId)],
    ),
    t(
        "ods_family_member",
        Parquet,
        &[("holder_id", UserIdNum), ("member_name", NameCn), ("成员身份证", IdCard), ("relation", Relation), ("birthday", BirthDate)],
    ),
    t(
        "dwd_user_tag_wide",
        Parquet,
        &[
            ("user_id", UserIdNum),
            ("prefer_category", CategoryName),
            ("rfm_level", Status),
            ("last_order_time", EventTime),
            ("total_spend", Amount),
            ("is_vip", BoolFlag),
            ("lbs_city", CityName),
        ],
    ),
    t(
        "ods_bike_trip",
        Csv,
        &[
            ("trip_id", SeqId),
            ("rider_id", UserIdNum),
            ("start_geohash", Geohash),
            ("end_geohash", Geohash),
            ("start_time", EventTime),
            ("end_time", EventTime),
            ("cost", Amount),
        ],
    ),
    t(
        "ods_job_applicant",
        Json,
        &[
            ("applicant_no", MemberCode),
            ("name", NameCn),
            ("gender", Gender),
            ("birth_date", BirthDate),
            ("edu", Education),
            ("expected_salary", Amount),
            ("apply_time", EventTime),
        ],
    ),
    t(
        "saas_billing_invoices",
        Csv,
        &[
            ("invoice_id", ChargeId),
            ("account_holder", NameEn),
            ("amount_due", Amount),
            ("billing_phone", PhoneUs),
            ("street_address", AddressUs),
            ("due_date", EventDate),
        ],
    ),
];

/// The true category of each column, by table and column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorpusLabels {
    /// table → column → category.
    pub tables: BTreeMap<String, BTreeMap<String, Category>>,
}

impl CorpusLabels {
    /// Reads `labels.json`.
    pub fn read(path: &Path) -> Result<CorpusLabels, SampleDataError> {
        let text = std::fs::read_to_string(path).map_err(|cause| SampleDataError::Io { path: path.to_path_buf(), cause })?;
        serde_json::from_str(&text)
            .map_err(|e| SampleDataError::Io { path: path.to_path_buf(), cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e) })
    }

    /// The number of labeled columns.
    pub fn columns(&self) -> usize {
        self.tables.values().map(BTreeMap::len).sum()
    }
}

/// A generated column's values and how they are stored.
pub(super) struct Column {
    pub(super) name: &'static str,
    pub(super) storage: Storage,
    pub(super) values: Vec<Option<String>>,
}

fn arrow_column(c: &Column) -> ArrayRef {
    let parse_time = |v: &str| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").expect("generated format");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    match c.storage {
        Storage::Text => Arc::new(StringArray::from(c.values.clone())),
        Storage::Decimal => Arc::new(
            Decimal128Array::from_iter(
                c.values.iter().map(|v| v.as_deref().map(|v| (v.parse::<f64>().expect("generated amount") * 100.0).round() as i128)),
            )
            .with_precision_and_scale(12, 2)
            .expect("a valid decimal type"),
        ),
        Storage::Int => {
            Arc::new(Int64Array::from_iter(c.values.iter().map(|v| v.as_deref().map(|v| v.parse::<i64>().expect("generated integer")))))
        }
        Storage::Float => {
            Arc::new(Float64Array::from_iter(c.values.iter().map(|v| v.as_deref().map(|v| v.parse::<f64>().expect("generated number")))))
        }
        Storage::Time => Arc::new(TimestampMicrosecondArray::from_iter(
            c.values.iter().map(|v| v.as_deref().map(|v| parse_time(v).and_utc().timestamp_micros())),
        )),
        Storage::Date => {
            Arc::new(Date32Array::from_iter(c.values.iter().map(|v| {
                v.as_deref().map(|v| (NaiveDate::parse_from_str(v, "%Y-%m-%d").expect("generated date") - epoch).num_days() as i32)
            })))
        }
    }
}

/// Writes one table of generated columns as `dir/name/part-00000.<format>`.
pub(super) fn write_table(dir: &Path, name: &str, format: FileFormat, columns: &[Column]) -> Result<(), SampleDataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| SampleDataError::Io { path, cause }
    };
    let rows = columns.first().map_or(0, |c| c.values.len());
    let path = dir.join(name).join(format!("part-00000.{}", format.id()));
    match format {
        FileFormat::Parquet => {
            let batch = RecordBatch::try_from_iter(columns.iter().map(|c| (c.name, arrow_column(c))))
                .expect("generated columns have equal lengths");
            write_parquet(&path, &batch)
        }
        FileFormat::Csv => {
            std::fs::create_dir_all(path.parent().expect("in a table directory")).map_err(io(&path))?;
            let mut w = csv::Writer::from_path(&path).map_err(|e| SampleDataError::Io { path: path.clone(), cause: e.into() })?;
            let csv_err = |e: csv::Error| SampleDataError::Io { path: path.clone(), cause: e.into() };
            w.write_record(columns.iter().map(|c| c.name)).map_err(csv_err)?;
            for i in 0..rows {
                w.write_record(columns.iter().map(|c| c.values[i].as_deref().unwrap_or(""))).map_err(csv_err)?;
            }
            w.flush().map_err(io(&path))
        }
        FileFormat::Json => {
            std::fs::create_dir_all(path.parent().expect("in a table directory")).map_err(io(&path))?;
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
            for i in 0..rows {
                let record: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .map(|c| {
                        let v = match (&c.values[i], c.storage) {
                            (None, _) => serde_json::Value::Null,
                            (Some(v), Storage::Int) => serde_json::Value::from(v.parse::<i64>().expect("generated integer")),
                            (Some(v), _) => serde_json::Value::from(v.as_str()),
                        };
                        (c.name.to_string(), v)
                    })
                    .collect();
                serde_json::to_writer(&mut out, &record).map_err(|e| SampleDataError::Io { path: path.clone(), cause: e.into() })?;
                out.write_all(b"\n").map_err(io(&path))?;
            }
            out.flush().map_err(io(&path))
        }
    }
}

/// Writes the corpus under `dir/raw/` (one dataset per table, `rows` rows each) and its
/// labels to `dir/labels.json`. Like the demo lake, an existing `dir/raw` is never touched.
pub fn generate_corpus(dir: &Path, rows: usize, seed: u64) -> Result<CorpusLabels, SampleDataError> {
    write_corpus(dir, |raw| {
        let mut labels = CorpusLabels::default();
        for (k, table) in TABLES.iter().enumerate() {
            let mut r = Rng(seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
            let columns: Vec<Column> = table
                .columns
                .iter()
                .map(|&(name, g)| Column {
                    name,
                    storage: g.storage(),
                    values: (0..rows).map(|i| (!g.nullable() || !r.chance(0.04)).then(|| value(g, &mut r, i))).collect(),
                })
                .collect();
            write_table(raw, table.name, table.format, &columns)?;
            labels.tables.insert(table.name.to_string(), table.columns.iter().map(|(c, g)| (c.to_string(), g.label())).collect());
        }
        Ok(labels)
    })
}

/// The tuning corpus's table names.
#[cfg(test)]
pub(super) fn table_names() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|t| t.name)
}

/// Writes a labeled corpus: `write` fills the raw zone and returns the labels, which go to
/// `dir/labels.json` once the zone is in place.
pub(super) fn write_corpus(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<CorpusLabels, SampleDataError>,
) -> Result<CorpusLabels, SampleDataError> {
    let labels = write_raw_zone(dir, write)?;
    let path = dir.join(LABELS_FILE);
    let json = serde_json::to_vec_pretty(&labels).expect("labels serialize");
    lake::files::write_atomic(&path, &json).map_err(|cause| SampleDataError::Io { path, cause })?;
    Ok(labels)
}

/// One column the classifier got wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    pub table: String,
    pub column: String,
    pub label: Category,
    pub predicted: Category,
    /// The classifier's reason.
    pub reason: String,
}

/// How well an inventory matches the corpus's labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accuracy {
    /// Labeled columns found in the inventory.
    pub columns: usize,
    /// Of them, classified as labeled.
    pub correct: usize,
    /// Columns labeled as PI.
    pub pi: usize,
    /// Of them, classified as some PI category (so they are not kept by default).
    pub pi_found: usize,
    /// Columns labeled as sensitive PI (GB/T 35273 Appendix B).
    pub sensitive: usize,
    /// Of them, classified as some PI category.
    pub sensitive_found: usize,
    /// Columns labeled not PI.
    pub non_pi: usize,
    /// Of them, classified as PI.
    pub non_pi_flagged: usize,
    /// Labeled columns the inventory does not have (a table that failed to read).
    pub missing: usize,
    /// (label, predicted) → columns.
    pub confusion: BTreeMap<(Category, Category), usize>,
    /// Every wrong column.
    pub misses: Vec<Miss>,
}

impl Accuracy {
    /// Share of columns classified as labeled.
    pub fn column_accuracy(&self) -> f64 {
        ratio(self.correct, self.columns + self.missing)
    }
    /// Share of PI columns classified as some PI.
    pub fn pi_recall(&self) -> f64 {
        ratio(self.pi_found, self.pi)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores `inventory` against `labels`.
pub fn evaluate(inventory: &Inventory, labels: &CorpusLabels) -> Accuracy {
    let rules = Rules::builtin();
    let sensitive = |c: Category| rules.categories.iter().any(|r| r.id == c && r.sensitivity == Sensitivity::Sensitive);
    let mut acc = Accuracy::default();
    for (table, columns) in &labels.tables {
        let found = inventory.datasets.iter().find(|d| &d.name == table);
        for (column, &label) in columns {
            let Some(col) = found.and_then(|d| d.columns.iter().find(|c| &c.name == column)) else {
                acc.missing += 1;
                continue;
            };
            let predicted = col.category;
            acc.columns += 1;
            *acc.confusion.entry((label, predicted)).or_default() += 1;
            if label == Category::None {
                acc.non_pi += 1;
                acc.non_pi_flagged += usize::from(predicted != Category::None);
            } else {
                acc.pi += 1;
                acc.pi_found += usize::from(predicted != Category::None);
                if sensitive(label) {
                    acc.sensitive += 1;
                    acc.sensitive_found += usize::from(predicted != Category::None);
                }
            }
            if predicted == label {
                acc.correct += 1;
            } else {
                acc.misses.push(Miss {
                    table: table.clone(),
                    column: column.clone(),
                    label,
                    predicted,
                    reason: col.evidence.reason.clone(),
                });
            }
        }
    }
    acc
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "columns:          {} ({} missing)", self.columns, self.missing)?;
        writeln!(f, "column accuracy:  {:.3} ({} of {})", self.column_accuracy(), self.correct, self.columns + self.missing)?;
        writeln!(f, "PI recall:        {:.3} ({} of {})", self.pi_recall(), self.pi_found, self.pi)?;
        writeln!(f, "sensitive found:  {} of {}", self.sensitive_found, self.sensitive)?;
        writeln!(f, "non-PI flagged:   {} of {}", self.non_pi_flagged, self.non_pi)?;
        writeln!(f, "confusion (label → predicted: columns):")?;
        for ((label, predicted), n) in &self.confusion {
            let mark = if label == predicted { "" } else { "  ✗" };
            writeln!(f, "  {label:>20} → {predicted:<20} {n:>4}{mark}")?;
        }
        for m in &self.misses {
            writeln!(f, "miss: {}.{}: {} classified {} ({})", m.table, m.column, m.label, m.predicted, m.reason)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_large_deterministic_and_labeled() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let la = generate_corpus(a.path(), 20, 7).unwrap();
        let lb = generate_corpus(b.path(), 20, 7).unwrap();
        assert_eq!(la, lb);
        assert!(la.tables.len() >= 40 && la.columns() >= 300, "{} tables, {} columns", la.tables.len(), la.columns());
        assert_eq!(CorpusLabels::read(&a.path().join(LABELS_FILE)).unwrap(), la);
        let f = "raw/dwd_pay_flow/part-00000.csv";
        assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap());
        assert!(matches!(generate_corpus(a.path(), 20, 7), Err(SampleDataError::Exists { .. })));
    }
}
