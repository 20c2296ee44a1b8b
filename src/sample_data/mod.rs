//! The synthetic demo lake: realistic, entirely made-up personal information under
//! `DIR/raw/`, with look-alike columns that are not PI. The same options always produce the
//! same rows (a fixed PRNG, a fixed date range), so tests and benchmarks can rely on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::classify::detectors::{id_card_check_char, luhn_valid};
use crate::lake::{self, Lake, Zone, files};

pub mod corpus;
pub mod public;

/// Options for the generator.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Number of users; the other datasets scale with it.
    pub users: usize,
    /// PRNG seed.
    pub seed: u64,
    /// Last day covered; the lake spans the 14 months before it.
    pub end_date: NaiveDate,
}

/// Default last day of the demo lake.
pub fn default_end_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 31).expect("valid date")
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions { users: 2_000, seed: 42, end_date: default_end_date() }
    }
}

/// Why the demo lake could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SampleDataError {
    #[error("{path} already exists; remove it or choose another directory")]
    Exists { path: PathBuf },
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{path}: {cause}")]
    Parquet { path: PathBuf, cause: parquet::errors::ParquetError },
}

/// SplitMix64: tiny, fast, and stable across crate versions, unlike general-purpose RNGs.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b"0123456789abcdef"[self.below(16)])).collect()
    }
}

const SURNAMES: [&str; 30] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁",
    "谢", "宋", "唐", "许", "韩", "冯", "欧阳", "司马",
];
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌浩宇轩子涵梓欣雨婷佳怡思博俊凯鑫";

struct Region {
    province: &'static str,
    city: &'static str,
    district: &'static str,
    area_code: &'static str,
}

const REGIONS: [Region; 8] = [
    Region { province: "北京市", city: "", district: "朝阳区", area_code: "110105" },
    Region { province: "上海市", city: "", district: "徐汇区", area_code: "310104" },
    Region { province: "广东省", city: "深圳市", district: "南山区", area_code: "440305" },
    Region { province: "浙江省", city: "杭州市", district: "西湖区", area_code: "330106" },
    Region { province: "四川省", city: "成都市", district: "武侯区", area_code: "510107" },
    Region { province: "湖北省", city: "武汉市", district: "武昌区", area_code: "420106" },
    Region { province: "江苏省", city: "南京市", district: "玄武区", area_code: "320102" },
    Region { province: "陕西省", city: "西安市", district: "雁塔区", area_code: "610113" },
];
/// Approximate centre of each region, for check-ins.
const CENTRES: [(f64, f64); 8] = [
    (39.9219, 116.4436),
    (31.1886, 121.4365),
    (22.5333, 113.9304),
    (30.2592, 120.1300),
    (30.6422, 104.0431),
    (30.5468, 114.3163),
    (32.0487, 118.7976),
    (34.2137, 108.9594),
];
const ROADS: [&str; 10] = ["建国路", "中山路", "人民路", "科技园路", "解放大道", "文三路", "长江路", "天府大道", "小寨东路", "淮海中路"];
const MOBILE_PREFIXES: [&str; 16] =
    ["130", "131", "135", "136", "138", "139", "150", "152", "158", "159", "176", "177", "180", "186", "188", "199"];
const MAIL_DOMAINS: [&str; 6] = ["qq.com", "163.com", "126.com", "sina.com", "outlook.com", "gmail.com"];
const PINYIN: [&str; 12] = ["zhang", "wang", "li", "liu", "chen", "yang", "xiaoyu", "mingming", "lele", "tiantian", "star", "sunny"];

struct User {
    id: i64,
    name: String,
    region: usize,
    birth: NaiveDate,
    male: bool,
    id_card: String,
    phone: String,
    address: String,
}

fn person_name(rng: &mut Rng) -> String {
    let given_chars: Vec<char> = GIVEN.chars().collect();
    let mut name = rng.pick(&SURNAMES).to_string();
    for _ in 0..1 + rng.below(2) {
        name.push(*rng.pick(&given_chars));
    }
    name
}

fn mobile(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(&MOBILE_PREFIXES), rng.digits(8))
}

/// A valid 18-digit ID: area code, birth date, sequence (odd for men), check digit.
fn id_card(rng: &mut Rng, region: &Region, birth: NaiveDate, male: bool) -> String {
    let seq = rng.below(500) * 2 + usize::from(male);
    let first17 = format!("{}{}{seq:03}", region.area_code, birth.format("%Y%m%d"));
    let check = id_card_check_char(first17.as_bytes()).expect("17 digits");
    format!("{first17}{}", char::from(check))
}

fn address(rng: &mut Rng, region: &Region) -> String {
    format!(
        "{}{}{}{}{}号{}栋{}室",
        region.province,
        region.city,
        region.district,
        rng.pick(&ROADS),
        1 + rng.below(300),
        1 + rng.below(20),
        101 + rng.below(30) * 100 + rng.below(4)
    )
}

/// Appends the Luhn check digit to `body`.
fn with_luhn(body: &str) -> String {
    let check = (0..10u8).find(|c| luhn_valid(&format!("{body}{c}"))).expect("one digit always completes a Luhn number");
    format!("{body}{check}")
}

/// Like [`with_luhn`] but with a digit that fails the check.
fn without_luhn(body: &str) -> String {
    let ok = with_luhn(body);
    let last = ok.as_bytes()[ok.len() - 1] - b'0';
    format!("{body}{}", (last + 1) % 10)
}

fn uuid(rng: &mut Rng) -> String {
    let h = rng.hex(32);
    format!("{}-{}-4{}-{}{}-{}", &h[..8], &h[8..12], &h[13..16], ["8", "9", "a", "b"][rng.below(4)], &h[17..20], &h[20..])
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// A time on a random day of the `days` days from `start`.
fn any_time(rng: &mut Rng, start: NaiveDate, days: usize) -> NaiveDateTime {
    let day = start + Duration::days(rng.below(days) as i64);
    random_time(rng, day)
}

fn email(rng: &mut Rng) -> String {
    let local = rng.pick(&PINYIN).to_string();
    let width = 1 + rng.below(4);
    let digits = rng.digits(width);
    format!("{local}{digits}@{}", rng.pick(&MAIL_DOMAINS))
}

fn random_time(rng: &mut Rng, day: NaiveDate) -> NaiveDateTime {
    day.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(rng.below(86_400) as i64)
}

fn strings(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn all(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).expect("generated columns have equal lengths")
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), SampleDataError> {
    let io = |cause| SampleDataError::Io { path: path.to_path_buf(), cause };
    std::fs::create_dir_all(path.parent().expect("files live in a dataset directory")).map_err(io)?;
    let file = std::fs::File::create(path).map_err(io)?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let pq = |cause| SampleDataError::Parquet { path: path.to_path_buf(), cause };
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(pq)?;
    writer.write(batch).map_err(pq)?;
    writer.close().map_err(pq)?;
    Ok(())
}

/// Writes rows into `dir/dt=<key>/part-00000.parquet`, one file per distinct key, in key order.
fn write_partitioned(dir: &Path, keys: &[String], make: impl Fn(&[usize]) -> RecordBatch) -> Result<usize, SampleDataError> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|a, b| keys[*a].cmp(&keys[*b]).then(a.cmp(b)));
    let mut written = 0;
    let mut start = 0;
    while start < order.len() {
        let key = &keys[order[start]];
        let end = start + order[start..].iter().take_while(|i| &keys[**i] == key).count();
        let rows = &order[start..end];
        write_parquet(&dir.join(format!("dt={key}")).join("part-00000.parquet"), &make(rows))?;
        written += 1;
        start = end;
    }
    Ok(written)
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSummary {
    /// (dataset, rows, files)
    pub datasets: Vec<(String, usize, usize)>,
}

/// Generates the demo lake under `dir/raw/`. The zone is built under a temporary name and
/// renamed into place when complete; an existing `dir/raw` is never touched.
pub fn generate(dir: &Path, options: &SampleOptions) -> Result<SampleSummary, SampleDataError> {
    write_raw_zone(dir, |raw| write_all(raw, options))
}

/// Builds `dir/raw/` with `write` under a temporary name and renames it into place when
/// complete; refuses when `dir/raw` exists. On an object store, which has no rename, the
/// zone is built in a local temporary directory and then uploaded file by file.
fn write_raw_zone<T>(dir: &Path, write: impl FnOnce(&Path) -> Result<T, SampleDataError>) -> Result<T, SampleDataError> {
    let raw = Lake::at(dir).zone(Zone::Raw);
    if files::exists(&raw) {
        return Err(SampleDataError::Exists { path: raw });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| SampleDataError::Io { path, cause }
    };
    if !lake::store::is_local(dir) {
        let staging = tempfile::tempdir().map_err(io(dir))?;
        let written = write(staging.path())?;
        files::upload_dir(staging.path(), &raw).map_err(io(&raw))?;
        return Ok(written);
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let staging = tempfile::Builder::new().prefix(".tmp-sample-").tempdir_in(dir).map_err(io(dir))?;
    let written = write(staging.path())?;
    files::publish(staging.path(), &raw).map_err(io(&raw))?;
    Ok(written)
}

fn write_all(raw: &Path, o: &SampleOptions) -> Result<SampleSummary, SampleDataError> {
    let mut rng = Rng(o.seed);
    let n = o.users.max(1);
    let start = (o.end_date - Duration::days(30 * 14 + 6)).with_day(1).expect("day 1 exists");
    let days = (o.end_date - start).num_days() as usize + 1;
    let day = |i: usize| start + Duration::days(i as i64);
    let mut summary = Vec::new();

    // users
    let users: Vec<User> = (0..n)
        .map(|i| {
            let region = rng.below(REGIONS.len());
            let birth = NaiveDate::from_ymd_opt(1960, 1, 1).expect("valid") + Duration::days(rng.below(365 * 45) as i64);
            let male = rng.chance(0.5);
            User {
                id: 100_000_001 + i as i64,
                name: person_name(&mut rng),
                region,
                birth,
                male,
                id_card: id_card(&mut rng, &REGIONS[region], birth, male),
                phone: mobile(&mut rng),
                address: address(&mut rng, &REGIONS[region]),
            }
        })
        .collect();
    let user_ids = |rows: &[usize], pick: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(rows.iter().map(|r| pick(*r)).collect::<Vec<_>>()))
    };
    {
        let mut r = Rng(o.seed ^ 0x05e5);
        let b = batch(vec![
            ("user_id", Arc::new(Int64Array::from(users.iter().map(|u| u.id).collect::<Vec<_>>())) as ArrayRef),
            ("xm", all(users.iter().map(|u| u.name.clone()).collect())),
            ("sfzh", all(users.iter().map(|u| u.id_card.clone()).collect())),
            (
                "sjhm",
                all(users
                    .iter()
                    .map(|u| {
                        if r.chance(0.05) { format!("+86 {} {} {}", &u.phone[..3], &u.phone[3..7], &u.phone[7..]) } else { u.phone.clone() }
                    })
                    .collect()),
            ),
            ("email", strings(users.iter().map(|_| r.chance(0.9).then(|| email(&mut r))).collect())),
            (
                "csrq",
                Arc::new(Date32Array::from(
                    users
                        .iter()
                        .map(|u| (u.birth - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32)
                        .collect::<Vec<_>>(),
                )),
            ),
            ("xb", all(users.iter().map(|u| if u.male { "男" } else { "女" }.to_string()).collect())),
            ("jtzz", all(users.iter().map(|u| u.address.clone()).collect())),
            ("nickname", all(users.iter().map(|_| format!("{}{}", r.pick(&PINYIN), r.digits(3))).collect())),
            ("password_hash", all(users.iter().map(|_| r.hex(64)).collect())),
            ("vip_level", Arc::new(Int32Array::from(users.iter().map(|_| r.below(6) as i32).collect::<Vec<_>>()))),
            (
                "register_time",
                Arc::new(TimestampMicrosecondArray::from(users.iter().map(|_| micros(any_time(&mut r, start, days))).collect::<Vec<_>>())),
            ),
        ]);
        write_parquet(&raw.join("users/part-00000.parquet"), &b)?;
        summary.push(("users".to_string(), n, 1));
    }

    // orders, partitioned by month
    let orders = (n * 3).max(days);
    let order_day: Vec<NaiveDate> = (0..orders).map(|i| day(if i < days { i } else { rng.below(days) })).collect();
    let order_user: Vec<usize> = (0..orders).map(|_| rng.below(n)).collect();
    let order_no: Vec<String> = order_day.iter().map(|d| format!("{}{}", d.format("%Y%m%d"), rng.digits(10))).collect();
    let amounts: Vec<f64> = (0..orders).map(|_| (rng.below(200_000) as f64 + 990.0) / 100.0).collect();
    {
        let month_keys: Vec<String> = order_day.iter().map(|d| d.format("%Y-%m-01").to_string()).collect();
        let files = write_partitioned(&raw.join("orders"), &month_keys, |rows| {
            let mut r = Rng(o.seed ^ rows[0] as u64 ^ 0x0bde);
            let receiver = |r: &mut Rng, i: usize| r.chance(0.7).then_some(i);
            let self_or_other: Vec<Option<usize>> = rows.iter().map(|i| receiver(&mut r, *i)).collect();
            batch(vec![
                ("order_no", all(rows.iter().map(|i| order_no[*i].clone()).collect())),
                ("user_id", user_ids(rows, &|i| users[order_user[i]].id)),
                ("sku_code", all(rows.iter().map(|_| without_luhn(&format!("9{}", r.digits(13)))).collect())),
                ("pay_amount", Arc::new(Float64Array::from(rows.iter().map(|i| amounts[*i]).collect::<Vec<_>>()))),
                ("coupon_code", strings(rows.iter().map(|_| r.chance(0.3).then(|| format!("CP{}", r.hex(8).to_uppercase()))).collect())),
                (
                    "收货人",
                    all(rows
                        .iter()
                        .zip(&self_or_other)
                        .map(|(i, s)| match s {
                            Some(_) => users[order_user[*i]].name.clone(),
                            None => person_name(&mut r),
                        })
                        .collect()),
                ),
                (
                    "收货人手机",
                    all(rows
                        .iter()
                        .zip(&self_or_other)
                        .map(|(i, s)| match s {
                            Some(_) => users[order_user[*i]].phone.clone(),
                            None => mobile(&mut r),
                        })
                        .collect()),
                ),
                ("收货地址", all(rows.iter().map(|i| users[order_user[*i]].address.clone()).collect())),
                ("province", all(rows.iter().map(|i| REGIONS[users[order_user[*i]].region].province.to_string()).collect())),
                (
                    "order_time",
                    Arc::new(TimestampMicrosecondArray::from(
                        rows.iter().map(|i| micros(random_time(&mut r, order_day[*i]))).collect::<Vec<_>>(),
                    )),
                ),
            ])
        })?;
        summary.push(("orders".to_string(), orders, files));
    }

    // payments, one per order
    {
        const BINS: [&str; 4] = ["622202", "621700", "436742", "622848"];
        let cards: Vec<String> = (0..n)
            .map(|_| {
                let bin = *rng.pick(&BINS);
                let len = if bin.starts_with('4') { 16 } else { 19 };
                with_luhn(&format!("{bin}{}", rng.digits(len - 7)))
            })
            .collect();
        let mut r = Rng(o.seed ^ 0xba4e);
        let b = batch(vec![
            ("payment_id", all((0..orders).map(|i| format!("P{:012}", 500_000 + i)).collect())),
            ("order_no", all(order_no.clone())),
            ("user_id", user_ids(&(0..orders).collect::<Vec<_>>(), &|i| users[order_user[i]].id)),
            ("bank_card_no", all((0..orders).map(|i| cards[order_user[i]].clone()).collect())),
            ("card_holder", all((0..orders).map(|i| users[order_user[i]].name.clone()).collect())),
            ("bank_name", all((0..orders).map(|_| r.pick(&["工商银行", "招商银行", "建设银行", "农业银行"]).to_string()).collect())),
            ("amount", Arc::new(Float64Array::from(amounts.clone()))),
            // 18 digits that look like an ID (province code, a date) but fail the check digit.
            (
                "serial_no",
                all((0..orders)
                    .map(|i| {
                        let first17 = format!("{}{}{}", REGIONS[i % REGIONS.len()].area_code, order_day[i].format("%Y%m%d"), r.digits(3));
                        let good = id_card_check_char(first17.as_bytes()).expect("17 digits");
                        let wrong = b"10X98765432".iter().find(|c| **c != good).copied().expect("11 choices");
                        format!("{first17}{}", char::from(wrong))
                    })
                    .collect()),
            ),
            // A legacy extension field that holds the payer's ID number under a meaningless name.
            ("ext_field1", all((0..orders).map(|i| users[order_user[i]].id_card.clone()).collect())),
            (
                "pay_time",
                Arc::new(TimestampMicrosecondArray::from(
                    (0..orders).map(|i| micros(random_time(&mut r, order_day[i]))).collect::<Vec<_>>(),
                )),
            ),
        ]);
        write_parquet(&raw.join("payments/part-00000.parquet"), &b)?;
        summary.push(("payments".to_string(), orders, 1));
    }

    // device_info, one device per user
    {
        let mut r = Rng(o.seed ^ 0xde71);
        let ios: Vec<bool> = (0..n).map(|_| r.chance(0.3)).collect();
        let b = batch(vec![
            ("user_id", user_ids(&(0..n).collect::<Vec<_>>(), &|i| users[i].id)),
            ("imei", all((0..n).map(|_| with_luhn(&format!("86{}", r.digits(12)))).collect())),
            (
                "mac",
                all((0..n)
                    .map(|_| {
                        let h = r.hex(12);
                        (0..6).map(|k| &h[k * 2..k * 2 + 2]).collect::<Vec<_>>().join(":")
                    })
                    .collect()),
            ),
            ("android_id", strings(ios.iter().map(|ios| (!ios).then(|| r.hex(16))).collect())),
            ("idfa", strings(ios.iter().map(|ios| ios.then(|| uuid(&mut r).to_uppercase())).collect())),
            ("oaid", strings(ios.iter().map(|ios| (!ios).then(|| uuid(&mut r))).collect())),
            ("imsi", all((0..n).map(|_| format!("460{}{}", r.pick(&["00", "01", "02", "11"]), r.digits(10))).collect())),
            (
                "client_ip",
                all((0..n)
                    .map(|_| {
                        if r.chance(0.1) {
                            format!("2408:8207:{}:{}::{}", r.hex(4), r.hex(4), r.below(255))
                        } else {
                            format!("{}.{}.{}.{}", 36 + r.below(180), r.below(256), r.below(256), 1 + r.below(254))
                        }
                    })
                    .collect()),
            ),
            (
                "device_model",
                all(ios
                    .iter()
                    .map(|ios| {
                        if *ios {
                            r.pick(&["iPhone 14", "iPhone 15 Pro", "iPad Air"]).to_string()
                        } else {
                            r.pick(&["HUAWEI Mate 60", "Xiaomi 14", "OPPO Find X7", "vivo X100"]).to_string()
                        }
                    })
                    .collect()),
            ),
            (
                "os_version",
                all(ios
                    .iter()
                    .map(|ios| if *ios { format!("iOS 17.{}", r.below(6)) } else { format!("Android {}", 12 + r.below(3)) })
                    .collect()),
            ),
            ("app_version", all((0..n).map(|_| format!("5.{}.{}", r.below(20), r.below(10))).collect())),
        ]);
        write_parquet(&raw.join("device_info/part-00000.parquet"), &b)?;
        summary.push(("device_info".to_string(), n, 1));
    }

    // locations: check-ins near each user's city
    {
        let rows = n * 5;
        let mut r = Rng(o.seed ^ 0x10c4);
        let who: Vec<usize> = (0..rows).map(|_| r.below(n)).collect();
        let coords: Vec<(f64, f64)> = who
            .iter()
            .map(|u| {
                let (lat, lon) = CENTRES[users[*u].region];
                let jitter = |r: &mut Rng| (r.below(200_000) as f64 - 100_000.0) / 1_000_000.0;
                let round6 = |x: f64| (x * 1e6).round() / 1e6;
                (round6(lat + jitter(&mut r)), round6(lon + jitter(&mut r)))
            })
            .collect();
        let b = batch(vec![
            ("user_id", user_ids(&who, &|u| users[u].id)),
            ("lat", Arc::new(Float64Array::from(coords.iter().map(|c| c.0).collect::<Vec<_>>()))),
            ("lng", Arc::new(Float64Array::from(coords.iter().map(|c| c.1).collect::<Vec<_>>()))),
            ("geo", all(coords.iter().map(|(a, b)| format!("{a:.6},{b:.6}")).collect())),
            ("accuracy_m", Arc::new(Int32Array::from(who.iter().map(|_| 5 + r.below(60) as i32).collect::<Vec<_>>()))),
            (
                "poi_name",
                all(who
                    .iter()
                    .map(|_| r.pick(&["星巴克(国贸店)", "万达广场", "首都机场T3", "西湖景区", "春熙路地铁站", "深圳湾公园"]).to_string())
                    .collect()),
            ),
            (
                "checkin_time",
                Arc::new(TimestampMicrosecondArray::from(who.iter().map(|_| micros(any_time(&mut r, start, days))).collect::<Vec<_>>())),
            ),
        ]);
        write_parquet(&raw.join("locations/part-00000.parquet"), &b)?;
        summary.push(("locations".to_string(), rows, 1));
    }

    // browsing_logs, partitioned by day over the whole span
    {
        let rows = (n * 10).max(days);
        let mut r = Rng(o.seed ^ 0xb10c);
        let log_day: Vec<NaiveDate> = (0..rows).map(|i| day(if i < days { i } else { r.below(days) })).collect();
        let keys: Vec<String> = log_day.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect();
        let files = write_partitioned(&raw.join("browsing_logs"), &keys, |rows| {
            let mut r = Rng(o.seed ^ (rows[0] as u64).rotate_left(17) ^ 0x1095);
            let page = |r: &mut Rng| match r.below(4) {
                0 => format!("https://m.shop.example.cn/item/{}?spm=a{}.{}", r.digits(8), r.digits(4), r.digits(3)),
                1 => format!("https://m.shop.example.cn/search?q={}", r.pick(&["连衣裙", "手机壳", "婴儿奶粉", "降压药"])),
                2 => "https://m.shop.example.cn/cart".to_string(),
                _ => format!("https://news.example.com/a/{}.html", r.digits(6)),
            };
            batch(vec![
                ("user_id", Arc::new(Int64Array::from(rows.iter().map(|_| users[r.below(n)].id).collect::<Vec<_>>())) as ArrayRef),
                ("url", all(rows.iter().map(|_| page(&mut r)).collect())),
                ("referer", strings(rows.iter().map(|_| r.chance(0.6).then(|| page(&mut r))).collect())),
                (
                    "search_keyword",
                    strings(
                        rows.iter()
                            .map(|_| r.chance(0.2).then(|| r.pick(&["连衣裙", "手机壳", "婴儿奶粉", "降压药", "跑步鞋"]).to_string()))
                            .collect(),
                    ),
                ),
                (
                    "client_ip",
                    all(rows
                        .iter()
                        .map(|_| format!("{}.{}.{}.{}", 36 + r.below(180), r.below(256), r.below(256), 1 + r.below(254)))
                        .collect()),
                ),
                ("request_id", all(rows.iter().map(|_| uuid(&mut r)).collect())),
                (
                    "event_time",
                    Arc::new(TimestampMicrosecondArray::from(
                        rows.iter().map(|i| micros(random_time(&mut r, log_day[*i]))).collect::<Vec<_>>(),
                    )),
                ),
            ])
        })?;
        summary.push(("browsing_logs".to_string(), rows, files));
    }

    // chat_messages: free text that sometimes carries a phone or an ID number
    {
        let rows = n * 3;
        let mut r = Rng(o.seed ^ 0xc4a7);
        let from: Vec<usize> = (0..rows).map(|_| r.below(n)).collect();
        let b = batch(vec![
            ("msg_id", all((0..rows).map(|i| format!("m{:010}", 7_000_000 + i)).collect())),
            ("from_user_id", user_ids(&from, &|u| users[u].id)),
            ("to_user_id", user_ids(&from, &|u| users[(u + 1) % n].id)),
            (
                "content",
                all(from
                    .iter()
                    .map(|u| {
                        let u = &users[*u];
                        match r.below(8) {
                            0 => format!("你好，我的手机号是{}，到了请打电话", u.phone),
                            1 => format!("实名认证用的身份证号 {}，麻烦核对一下", u.id_card),
                            2 => format!("地址改成{}，谢谢", u.address),
                            3 => "好的，谢谢！".to_string(),
                            4 => "明天下午三点见".to_string(),
                            5 => "这个订单什么时候发货？".to_string(),
                            6 => format!("联系邮箱 {}{}@163.com", r.pick(&PINYIN), r.digits(3)),
                            _ => "收到，已经处理了".to_string(),
                        }
                    })
                    .collect()),
            ),
            (
                "send_time",
                Arc::new(TimestampMicrosecondArray::from(from.iter().map(|_| micros(any_time(&mut r, start, days))).collect::<Vec<_>>())),
            ),
        ]);
        write_parquet(&raw.join("chat_messages/part-00000.parquet"), &b)?;
        summary.push(("chat_messages".to_string(), rows, 1));
    }

    // consents: ad-use opt-outs
    {
        let mut r = Rng(o.seed ^ 0xc025);
        let b = batch(vec![
            ("user_id", user_ids(&(0..n).collect::<Vec<_>>(), &|i| users[i].id)),
            ("ad_opt_out", Arc::new(BooleanArray::from((0..n).map(|_| r.chance(0.08)).collect::<Vec<_>>()))),
            (
                "updated_at",
                Arc::new(TimestampMicrosecondArray::from((0..n).map(|_| micros(any_time(&mut r, start, days))).collect::<Vec<_>>())),
            ),
        ]);
        write_parquet(&raw.join("consents/part-00000.parquet"), &b)?;
        summary.push(("consents".to_string(), n, 1));
    }

    Ok(SampleSummary { datasets: summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_refuses_to_overwrite() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let o = SampleOptions { users: 20, ..Default::default() };
        let sa = generate(a.path(), &o).unwrap();
        let sb = generate(b.path(), &o).unwrap();
        assert_eq!(sa, sb);
        let f = "raw/users/part-00000.parquet";
        assert_eq!(std::fs::read(a.path().join(f)).unwrap(), std::fs::read(b.path().join(f)).unwrap());
        let logs = sa.datasets.iter().find(|d| d.0 == "browsing_logs").unwrap();
        assert!(logs.2 >= 14 * 30, "daily partitions over 14 months, got {}", logs.2);
        assert!(matches!(generate(a.path(), &o), Err(SampleDataError::Exists { .. })));
        let leftovers: Vec<_> = std::fs::read_dir(a.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only raw/ remains");
    }

    #[test]
    fn decoys_fail_their_validators() {
        assert!(!luhn_valid(&without_luhn("91234567890123")));
        assert!(luhn_valid(&with_luhn("91234567890123")));
    }
}
