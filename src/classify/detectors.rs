//! Value detectors: validators that say whether one value has the shape (and, where one
//! exists, the checksum) of a kind of personal information.
//!
//! Each detector is a pure function of one string. Strong detectors are specific enough
//! to classify a column on their own (a check digit, a structure no other data has); weak
//! ones only confirm what a column's name already suggests.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

/// One kind of value a column can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// 18-digit GB 11643 resident ID (mod 11-2 check digit, valid birth date) or 15-digit legacy ID.
    CnIdCard,
    /// PRC passport, Hong Kong/Macau travel permit and similar document numbers.
    Passport,
    /// A Hong Kong identity card number with its check digit (`A123456(3)`).
    HkId,
    /// A Macau resident identity card number (`1234567(8)`).
    MacauId,
    /// A Taiwan national identification number with its check digit (`A123456789`).
    TwId,
    /// A mainland vehicle plate: a province's character, a letter, five or six letters and digits (`京A12345`).
    CnPlate,
    /// 16 to 19 digit card number passing the Luhn check.
    BankCard,
    /// Mainland mobile number (1[3-9] + 9 digits) or a separated landline, `+86`/`0086` allowed.
    CnPhone,
    /// An e-mail address.
    Email,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A MAC address written as six hex pairs separated by `:` or `-`.
    Mac,
    /// A 15-digit IMEI passing the Luhn check.
    Imei,
    /// A 15-digit IMSI of a mainland operator (MCC 460).
    Imsi,
    /// A 16-hex-digit Android ID.
    AndroidId,
    /// An 8-4-4-4-12 UUID, the shape of IDFA, IDFV and most OAIDs.
    Uuid,
    /// An http(s) URL.
    Url,
    /// A latitude with at least three decimals.
    Latitude,
    /// A longitude with at least three decimals.
    Longitude,
    /// A coordinate pair in either order (`lat,lon` or `lon,lat`), both with four or more decimals.
    LatLonPair,
    /// A point as WKT (`POINT(lon lat)`) or GeoJSON (`{"type":"Point","coordinates":[lon,lat]}`).
    GeoPoint,
    /// A geohash of 7 to 12 characters (about 150 m or finer).
    Geohash,
    /// A Chinese personal name: a known surname and given-name characters (two to four Han characters).
    CnName,
    /// A Latin-script personal name from the given and family name lists (`Leonie Köhler`, `SMITH, MARY`).
    LatinName,
    /// A mainland postal address: an administrative division and a street-level part.
    CnAddress,
    /// An English (US/UK style) street address: a house number, a street name and a street type.
    StreetAddress,
    /// A login name made of a person's name (`jsmith`, `zhangwei88`, `corp\\ken0`).
    LoginName,
    /// A street line in other orders (`4, Rue Milton`, `Obere Str. 57`) or a unit line (`Apt. 12`).
    StreetLine,
    /// An international (`+44 20 …`) or North American (`(415) 555-0134`) phone number.
    IntlPhone,
    /// The path of a web request (`/item/123?ref=home`).
    UrlPath,
    /// An FCM push-notification token (`…:APA91b…`).
    PushToken,
    /// Free text that carries a phone, an e-mail, an ID number, an IP address or a street address.
    EmbeddedPi,
    /// A whole access-log line: nginx/Apache common or combined format, or a JSON log line
    /// with a client address and a request.
    AccessLogLine,
    /// A calendar date between 1900 and today.
    BirthDate,
    /// A gender value (男/女, M/F, male/female).
    Gender,
}

impl Detector {
    /// Every detector, in the order reports list them.
    pub const ALL: [Detector; 35] = [
        Detector::CnIdCard,
        Detector::Passport,
        Detector::HkId,
        Detector::MacauId,
        Detector::TwId,
        Detector::CnPlate,
        Detector::BankCard,
        Detector::CnPhone,
        Detector::Email,
        Detector::Ipv4,
        Detector::Ipv6,
        Detector::Mac,
        Detector::Imei,
        Detector::Imsi,
        Detector::AndroidId,
        Detector::Uuid,
        Detector::Url,
        Detector::Latitude,
        Detector::Longitude,
        Detector::LatLonPair,
        Detector::GeoPoint,
        Detector::Geohash,
        Detector::CnName,
        Detector::LatinName,
        Detector::LoginName,
        Detector::CnAddress,
        Detector::StreetAddress,
        Detector::StreetLine,
        Detector::IntlPhone,
        Detector::UrlPath,
        Detector::PushToken,
        Detector::EmbeddedPi,
        Detector::AccessLogLine,
        Detector::BirthDate,
        Detector::Gender,
    ];

    /// The name used in rule files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Detector::CnIdCard => "cn_id_card",
            Detector::Passport => "passport",
            Detector::HkId => "hk_id",
            Detector::MacauId => "macau_id",
            Detector::TwId => "tw_id",
            Detector::CnPlate => "cn_plate",
            Detector::BankCard => "bank_card",
            Detector::CnPhone => "cn_phone",
            Detector::Email => "email",
            Detector::Ipv4 => "ipv4",
            Detector::Ipv6 => "ipv6",
            Detector::Mac => "mac",
            Detector::Imei => "imei",
            Detector::Imsi => "imsi",
            Detector::AndroidId => "android_id",
            Detector::Uuid => "uuid",
            Detector::Url => "url",
            Detector::Latitude => "latitude",
            Detector::Longitude => "longitude",
            Detector::LatLonPair => "lat_lon_pair",
            Detector::GeoPoint => "geo_point",
            Detector::Geohash => "geohash",
            Detector::CnName => "cn_name",
            Detector::LatinName => "latin_name",
            Detector::LoginName => "login_name",
            Detector::CnAddress => "cn_address",
            Detector::StreetAddress => "street_address",
            Detector::StreetLine => "street_line",
            Detector::IntlPhone => "intl_phone",
            Detector::UrlPath => "url_path",
            Detector::PushToken => "push_token",
            Detector::EmbeddedPi => "embedded_pi",
            Detector::AccessLogLine => "access_log_line",
            Detector::BirthDate => "birth_date",
            Detector::Gender => "gender",
        }
    }

    /// Whether a match is specific enough to classify a column without name evidence,
    /// and a mismatch strong enough to overrule a column name.
    pub fn is_strong(self) -> bool {
        matches!(
            self,
            Detector::CnIdCard
                | Detector::HkId
                | Detector::MacauId
                | Detector::TwId
                | Detector::CnPlate
                | Detector::BankCard
                | Detector::CnPhone
                | Detector::Email
                | Detector::Ipv4
                | Detector::Ipv6
                | Detector::Mac
                | Detector::Imei
                | Detector::Imsi
                | Detector::LatLonPair
                | Detector::CnAddress
                | Detector::GeoPoint
                | Detector::Geohash
                | Detector::StreetAddress
                | Detector::IntlPhone
                | Detector::PushToken
                | Detector::Url
                | Detector::EmbeddedPi
                | Detector::AccessLogLine
        )
    }

    /// Whether matching values overrule a name that says "not PI": only checksums and
    /// structures nothing else has (`trace_id` full of ID numbers), not shapes that things
    /// share with people (a product's image URL, a store's address).
    pub fn overrules_not_pi(self) -> bool {
        self.is_strong()
            && !matches!(self, Detector::GeoPoint | Detector::Geohash | Detector::StreetAddress | Detector::Url | Detector::EmbeddedPi)
    }

    /// Whether a column whose name points to this detector's category, but whose values
    /// almost never match, is not of that category. Text that merely may carry PI does not.
    pub fn vetoes(self) -> bool {
        self.is_strong() && self != Detector::EmbeddedPi
    }

    /// Whether values of this kind are scored by a model of a population (names), whose
    /// share is meaningful but never certain.
    pub fn is_model(self) -> bool {
        matches!(self, Detector::CnName | Detector::LatinName)
    }

    /// Whether the detector matches the numbering form of a document (a passport, a plate),
    /// which names identifier-like values although no check digit proves them.
    pub fn is_document_form(self) -> bool {
        matches!(self, Detector::Passport | Detector::CnPlate)
    }

    /// Whether a column of a few short codes (`1`/`2`, `0`-`8`) under a name of this
    /// detector's category is of it: enumerations are coded, checked identifiers never.
    pub fn may_be_coded(self) -> bool {
        matches!(self, Detector::Gender | Detector::BirthDate)
    }

    /// The form this detector validates, whatever its check digit says, for detectors that
    /// have one apart from a match. A column named for IDs whose values have the form but
    /// fail the check holds other numbers (order numbers); one whose values have another
    /// form may hold IDs of another scheme.
    pub fn form(self) -> Option<fn(&str) -> bool> {
        fn id_card_form(v: &str) -> bool {
            let v = v.as_bytes();
            matches!(v.len(), 15 | 18) && v[..v.len() - 1].iter().all(u8::is_ascii_digit)
        }
        fn card_form(v: &str) -> bool {
            let digits = v.bytes().filter(|b| !matches!(b, b' ' | b'-'));
            digits.clone().all(|b| b.is_ascii_digit()) && (16..=19).contains(&digits.count())
        }
        match self {
            Detector::CnIdCard => Some(id_card_form),
            Detector::BankCard => Some(card_form),
            _ => None,
        }
    }

    /// Whether `value` (already trimmed) is of this kind.
    pub fn matches(self, value: &str) -> bool {
        match self {
            Detector::CnIdCard => is_cn_id_card(value),
            Detector::Passport => is_passport(value),
            Detector::HkId => is_hk_id(value),
            Detector::MacauId => is_macau_id(value),
            Detector::TwId => is_tw_id(value),
            Detector::CnPlate => is_cn_plate(value),
            Detector::BankCard => is_bank_card(value),
            Detector::CnPhone => is_cn_phone(value),
            Detector::Email => is_email(value),
            Detector::Ipv4 => value.parse::<Ipv4Addr>().is_ok(),
            Detector::Ipv6 => value.contains(':') && value.parse::<Ipv6Addr>().is_ok(),
            Detector::Mac => is_mac(value),
            Detector::Imei => is_imei(value),
            Detector::Imsi => is_imsi(value),
            Detector::AndroidId => is_android_id(value),
            Detector::Uuid => is_uuid(value),
            Detector::Url => is_url(value),
            Detector::Latitude => is_precise_coordinate(value, 90.0, 3),
            Detector::Longitude => is_precise_coordinate(value, 180.0, 3),
            Detector::LatLonPair => is_lat_lon_pair(value),
            Detector::GeoPoint => is_geo_point(value),
            Detector::Geohash => is_geohash(value),
            Detector::CnName => is_cn_name(value),
            Detector::LatinName => super::models::is_latin_name(value),
            Detector::LoginName => super::models::is_login_name(value),
            Detector::CnAddress => is_cn_address(value),
            Detector::StreetAddress => is_street_address(value),
            Detector::StreetLine => super::models::is_street_line(value),
            Detector::IntlPhone => is_intl_phone(value),
            Detector::UrlPath => is_url_path(value),
            Detector::PushToken => is_push_token(value),
            Detector::EmbeddedPi => has_embedded_pi(value),
            Detector::AccessLogLine => is_access_log_line(value),
            Detector::BirthDate => is_birth_date(value, today()),
            Detector::Gender => is_gender(value),
        }
    }
}

/// Whether a value starts with a `YYYY-MM-DD` or `YYYY/MM/DD` date (a date or a date-time).
pub fn starts_with_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(b[4], b'-' | b'/')
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b[4]
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Schemes that decorate a value in exports (`tel:138…`, `mailto:a@b.cn`).
const VALUE_SCHEMES: [&str; 4] = ["tel:", "mailto:", "sms:", "callto:"];

/// Characters that render as nothing: zero-width spaces and joiners, word joiners, the byte
/// order mark and the soft hyphen. Inserted into a value, they hide it from a validator.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{00ad}' | '\u{180e}')
}

/// Whether `value` needs more than trimming to be seen as detectors see it.
fn is_decorated(value: &str) -> bool {
    value.chars().any(|c| c.is_control() || is_invisible(c) || ('\u{ff01}'..='\u{ff5e}').contains(&c) || c == '\u{3000}')
}

/// A value as detectors see it: control characters (NULs of fixed-width exports) and
/// invisible characters removed wherever they are, full-width letters, digits and signs
/// (`１３８…`, `（＋８６）`) read as their ASCII forms, surrounding whitespace and quotes
/// removed, and a `tel:`/`mailto:` scheme dropped. Decorated values are validated as what
/// they show, so decoration hides nothing.
pub fn normalize_value(value: &str) -> Cow<'_, str> {
    match is_plain(value) {
        true => Cow::Borrowed(value),
        false => normalized(value),
    }
}

/// Whether `value` is as [`normalize_value`] would leave it, told from its bytes alone: no
/// byte is a control, nor the first byte of a character that may be whitespace, control,
/// invisible or full-width (U+0080–U+00BF, U+1000–U+3FFF, U+F000–U+FFFF); neither end is a
/// space or a quote; and it does not open with a scheme. Identifiers, e-mails, numbers,
/// masks, Chinese names, URLs and most free text are: they skip decoding every character (a
/// masked ID number or e-mail, judged at every row, spent most of its normalization there).
pub fn is_plain(value: &str) -> bool {
    let bytes = value.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else { return true };
    // Every byte looked up, without a branch a byte: most values are plain.
    let inner = bytes.iter().fold(true, |plain, &b| plain & PLAIN_BYTES[usize::from(b)]);
    let trimmed = |b: u8| matches!(b, b' ' | b'"' | b'\'');
    let scheme = bytes.contains(&b':') && scheme_of(value).is_some();
    inner && !trimmed(first) && !trimmed(last) && !scheme
}

/// The bytes [`is_plain`] lets through anywhere in a value: printable ASCII, and the bytes of
/// characters outside the ranges that hold whitespace, controls, invisible or full-width ones.
const PLAIN_BYTES: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0x20;
    while b < 0x100 {
        plain[b] = b != 0x7f && !matches!(b, 0xc2 | 0xe1 | 0xe2 | 0xe3 | 0xef);
        b += 1;
    }
    plain
};

/// The one of the [`VALUE_SCHEMES`] `value` opens with, in any case.
fn scheme_of(value: &str) -> Option<&'static str> {
    VALUE_SCHEMES.into_iter().find(|s| value.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
}

/// [`normalize_value`] character by character.
fn normalized(value: &str) -> Cow<'_, str> {
    if !is_decorated(value) {
        return Cow::Borrowed(trim_value(value));
    }
    let plain: String = value
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    Cow::Owned(trim_value(&plain).to_string())
}

/// Surrounding whitespace and quotes removed, and a `tel:`/`mailto:` scheme dropped.
fn trim_value(value: &str) -> &str {
    let junk = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'');
    let v = value.trim_matches(junk);
    scheme_of(v).map_or(v, |s| v[s.len()..].trim_matches(junk))
}

/// Reporting bodies that issue IMEI type allocation codes to most handsets (01 PTCRB, 35 BABT,
/// 86 TAF China, 99 GHA): with the Luhn check, what tells an IMEI from any 15-digit number.
const IMEI_REPORTING_BODIES: [&str; 4] = ["01", "35", "86", "99"];

/// The digits (and an ID number's check `X`) of a value made only of them and of grouping:
/// spaces, dots, dashes, parentheses and a `+` (`138-1234-5678`, `+86 138 1234 5678`).
pub fn grouped_digits(value: &str) -> Option<String> {
    let mut digits = String::new();
    grouped_digits_into(value, &mut digits).then_some(digits)
}

/// [`grouped_digits`] written into `out` (cleared first), so that a loop over values
/// allocates once; false when `value` is not made only of digits and grouping.
pub fn grouped_digits_into(value: &str, out: &mut String) -> bool {
    out.clear();
    let grouped = value.bytes().all(|c| c.is_ascii_digit() || b" .-+()xX".contains(&c));
    if grouped {
        out.extend(value.chars().filter(|c| c.is_ascii_digit() || matches!(c, 'x' | 'X')));
    }
    grouped
}

/// A cell with the shape of an identifier of a person: an 18-character ID number, a 15-digit
/// number with an IMEI reporting body's prefix, a 16 to 19 digit number with a card issuer's
/// prefix, or an 11-digit number starting with `1` (digits may be grouped by spaces, dots or
/// dashes, a phone may carry `+86`). `valid`: it also passes the check of its kind (GB 11643
/// check digit, region and birth date; Luhn; a mobile operator's prefix). `value` is
/// normalized ([`normalize_value`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentifierCell {
    pub category: crate::category::Category,
    pub valid: bool,
}

impl IdentifierCell {
    /// The cell `value` is, if it has an identifier's shape.
    pub fn of(value: &str) -> Option<IdentifierCell> {
        use crate::category::Category;
        if !(11..=24).contains(&value.len()) {
            return None;
        }
        let compact = grouped_digits(value)?;
        let cell = |category, valid| Some(IdentifierCell { category, valid });
        match compact.len() {
            18 => cell(Category::IdCard, is_cn_id_card(&compact)),
            15 if IMEI_REPORTING_BODIES.iter().any(|p| compact.starts_with(p)) => cell(Category::DeviceId, is_imei(&compact)),
            16..=19 if has_issuer_prefix(&compact) => cell(Category::BankCard, is_bank_card(&compact)),
            _ => {
                let national = canonical_phone(value).filter(|n| n.len() == 11 && n.starts_with('1'))?;
                cell(Category::Phone, is_mobile(&national))
            }
        }
    }

    /// The share of cells of this shape that pass the check by chance: Luhn passes one in
    /// ten, seven in ten 11-digit numbers starting with `1` have a mobile prefix, and an ID
    /// number's region, date and check digit together almost never hold by chance.
    pub fn chance(category: crate::category::Category) -> f64 {
        match category {
            crate::category::Category::IdCard => 1e-5,
            crate::category::Category::Phone => 0.7,
            _ => 0.1,
        }
    }
}

/// An 11-digit mainland mobile number: `1`, then `3` to `9`, then nine digits.
fn is_mobile(national: &str) -> bool {
    let b = national.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit)
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Province-level prefixes of GB/T 2260 administrative codes (71/81/82/83: Taiwan, Hong
/// Kong, Macau residence permits).
const PROVINCE_PREFIXES: [u8; 35] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
    83,
];

/// The GB 11643 check character for the first 17 digits of an ID number.
pub fn id_card_check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(ID_CHECK_CHARS[(sum % 11) as usize])
}

fn has_province_prefix(digits: &[u8]) -> bool {
    let prefix = (digits[0] - b'0') * 10 + (digits[1] - b'0');
    PROVINCE_PREFIXES.contains(&prefix)
}

fn parse_ymd(digits: &[u8]) -> Option<NaiveDate> {
    let num = |r: std::ops::Range<usize>| -> u32 { digits[r].iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')) };
    NaiveDate::from_ymd_opt(num(0..4) as i32, num(4..6), num(6..8))
}

/// 18-digit GB 11643 number with a valid check digit and birth date, or a 15-digit legacy
/// number (area code + YYMMDD + sequence) with a valid date.
pub fn is_cn_id_card(value: &str) -> bool {
    let b = value.as_bytes();
    match b.len() {
        18 => {
            let Some(check) = id_card_check_char(&b[..17]) else {
                return false;
            };
            if b[17].to_ascii_uppercase() != check || !has_province_prefix(b) {
                return false;
            }
            parse_ymd(&b[6..14]).is_some_and(plausible_birth_date)
        }
        15 => {
            if !b.iter().all(u8::is_ascii_digit) || !has_province_prefix(b) {
                return false;
            }
            let mut ymd = *b"19000000";
            ymd[2..].copy_from_slice(&b[6..12]);
            parse_ymd(&ymd).is_some()
        }
        _ => false,
    }
}

/// Today's date, read once per process: detectors run millions of times a second.
fn today() -> NaiveDate {
    static TODAY: std::sync::OnceLock<NaiveDate> = std::sync::OnceLock::new();
    *TODAY.get_or_init(|| chrono::Utc::now().date_naive())
}

fn plausible_birth_date(date: NaiveDate) -> bool {
    date.year() >= 1900 && date <= today()
}

/// The Luhn sum of ASCII digits, ignoring the bytes in `skip`; `None` on any other byte.
fn luhn_sum(value: &[u8], skip: &[u8]) -> Option<(u32, usize)> {
    let mut sum = 0;
    let mut count = 0;
    for &b in value.iter().rev() {
        if skip.contains(&b) {
            continue;
        }
        if !b.is_ascii_digit() {
            return None;
        }
        let d = u32::from(b - b'0');
        sum += if count % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d };
        count += 1;
    }
    Some((sum, count))
}

/// The Luhn (mod 10) check over a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    luhn_sum(digits.as_bytes(), &[]).is_some_and(|(sum, n)| n > 0 && sum.is_multiple_of(10))
}

/// Whether a card number starts with an issuer prefix: major industry identifier 3 to 6
/// (UnionPay 62, Visa 4, Mastercard 51-55, JCB 35, ...) or Mastercard's 2221-2720 range.
/// Order numbers that start with a year (2026...) are not cards.
fn has_issuer_prefix(value: &str) -> bool {
    let mut digits = value.bytes().filter(u8::is_ascii_digit);
    match digits.next() {
        Some(b'3'..=b'6') => true,
        Some(b'2') => {
            let rest: u32 = digits.take(3).fold(2, |acc, d| acc * 10 + u32::from(d - b'0'));
            (2221..=2720).contains(&rest)
        }
        _ => false,
    }
}

/// A card number of 16 to 19 digits (spaces or dashes between groups allowed) with an
/// issuer prefix, passing Luhn.
pub fn is_bank_card(value: &str) -> bool {
    has_issuer_prefix(value) && luhn_sum(value.as_bytes(), b" -").is_some_and(|(sum, n)| (16..=19).contains(&n) && sum.is_multiple_of(10))
}

/// A 15-digit IMEI (14 digits + Luhn check digit).
pub fn is_imei(value: &str) -> bool {
    value.len() == 15 && luhn_valid(value)
}

const CN_MNC: [&str; 13] = ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "11", "15", "20"];

/// A 15-digit IMSI of a mainland operator: MCC 460 and a known MNC.
pub fn is_imsi(value: &str) -> bool {
    value.len() == 15 && value.bytes().all(|b| b.is_ascii_digit()) && value.starts_with("460") && CN_MNC.contains(&&value[3..5])
}

/// A phone number reduced to its digits: separators (spaces, dashes, parentheses, and dots
/// between three or more groups) and a `+86`/`0086`/`(+86)` country prefix removed. Returns
/// `None` when anything but digits, separators and a leading `+` remains.
pub fn canonical_phone(value: &str) -> Option<String> {
    let mut national = String::new();
    canonical_phone_into(value, &mut national).then_some(national)
}

/// [`canonical_phone`] written into `out` (cleared first), so that a loop over values
/// allocates once; false when `value` is not a phone number's shape.
pub fn canonical_phone_into(value: &str, out: &mut String) -> bool {
    out.clear();
    let trimmed = value.trim();
    let dotted = trimmed.matches('.').count() >= 2;
    let mut seen_digit = false;
    for c in trimmed.chars() {
        match c {
            '0'..='9' => {
                out.push(c);
                seen_digit = true;
            }
            ' ' | '-' | '(' | ')' => {}
            '.' if dotted && seen_digit => {}
            '+' if !seen_digit && out.is_empty() => {}
            _ => return false,
        }
    }
    if out.starts_with("0086") {
        out.drain(..4);
    } else if out.len() == 13 && out.starts_with("86") {
        out.drain(..2);
    }
    true
}

/// A mainland mobile number, or a landline written with its area code separated.
pub fn is_cn_phone(value: &str) -> bool {
    let Some(national) = canonical_phone(value) else {
        return false;
    };
    if is_mobile(&national) {
        return true;
    }
    let b = national.as_bytes();
    // Landlines only count when written with a separator: bare 10-12 digit numbers are
    // far more often order or account numbers.
    let separated = value.contains('-') || value.contains(' ') || value.contains('(');
    separated && b.first() == Some(&b'0') && (10..=12).contains(&b.len()) && b[1] != b'0'
}

/// A plain-syntax e-mail address (`local@domain.tld`).
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.len() > 253 {
        return false;
    }
    // Internationalized addresses (RFC 6531): letters and digits of any script.
    let local_ok = local.chars().all(|c| c.is_alphanumeric() || "._%+-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    local_ok
        && labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic) || tld.starts_with("xn--"))
}

/// Six hex pairs separated consistently by `:` or `-`, Cisco's three dotted quads, or twelve
/// bare hex digits.
pub fn is_mac(value: &str) -> bool {
    let b = value.as_bytes();
    // Bare: twelve hex digits, letters and digits both (all digits is a number).
    if b.len() == 12 {
        return b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit) && b.iter().any(u8::is_ascii_alphabetic);
    }
    // Cisco's notation: three groups of four hex digits separated by dots (`0011.2233.4455`).
    if b.len() == 14 {
        return b.iter().enumerate().all(|(i, c)| if i % 5 == 4 { *c == b'.' } else { c.is_ascii_hexdigit() });
    }
    if b.len() != 17 {
        return false;
    }
    let sep = b[2];
    if sep != b':' && sep != b'-' {
        return false;
    }
    b.iter().enumerate().all(|(i, c)| if i % 3 == 2 { *c == sep } else { c.is_ascii_hexdigit() })
}

/// Sixteen hex digits with at least one letter (all-digit strings are more likely numbers).
pub fn is_android_id(value: &str) -> bool {
    value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit()) && value.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The 8-4-4-4-12 hex shape.
pub fn is_uuid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 36 && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// An `http://` or `https://` URL with a host.
pub fn is_url(value: &str) -> bool {
    let lower = value.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !host.contains(char::is_whitespace)
}

fn decimals(value: &str) -> usize {
    value.split_once('.').map_or(0, |(_, frac)| frac.bytes().take_while(u8::is_ascii_digit).count())
}

/// A number within `±limit` written with at least `min_decimals` decimals.
pub fn is_precise_coordinate(value: &str, limit: f64, min_decimals: usize) -> bool {
    decimals(value) >= min_decimals && value.parse::<f64>().is_ok_and(|x| x.is_finite() && x.abs() <= limit)
}

/// Two coordinates in either order (comma, semicolon or space separated), both within range
/// and with four or more decimals: `39.9042,116.4074` and `116.4074,39.9042` alike.
pub fn is_lat_lon_pair(value: &str) -> bool {
    let mut parts = value.split([',', ' ', ';']).filter(|p| !p.is_empty());
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let lat = |v| is_precise_coordinate(v, 90.0, 4);
    let lon = |v| is_precise_coordinate(v, 180.0, 4);
    (lat(a) && lon(b)) || (lon(a) && lat(b))
}

/// A WKT point (`POINT(lon lat)`, `SRID=4326;POINT (lon lat)`) or a GeoJSON point
/// (`{"type":"Point","coordinates":[lon,lat]}`), three or more decimals.
pub fn is_geo_point(value: &str) -> bool {
    let upper = value.get(..value.len().min(40)).unwrap_or("").to_ascii_uppercase();
    let inner = if value.trim_start().starts_with('{') && value.contains("\"coordinates\"") {
        value.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(inner, _)| inner)
    } else if let Some(at) = upper.find("POINT") {
        value[at + 5..].trim_start().strip_prefix('(').and_then(|r| r.strip_suffix(')'))
    } else {
        None
    };
    let Some(inner) = inner else { return false };
    let mut parts = inner.split([',', ' ']).filter(|p| !p.is_empty());
    let (Some(lon), Some(lat), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    is_precise_coordinate(lon, 180.0, 3) && is_precise_coordinate(lat, 90.0, 3)
}

/// 7 to 12 characters of the geohash alphabet, mixing letters and digits.
pub fn is_geohash(value: &str) -> bool {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    (7..=12).contains(&value.len())
        && value.bytes().all(|b| ALPHABET.contains(&b))
        && value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().any(|b| b.is_ascii_lowercase())
}

/// Mainland passports (E/G + 8 digits, E + letter + 7 digits), diplomatic and service
/// passports, and Hong Kong/Macau travel permits (C/H/M + 8 to 10 digits).
pub fn is_passport(value: &str) -> bool {
    let b = value.as_bytes();
    let digits_from = |i: usize| b[i..].iter().all(u8::is_ascii_digit);
    match b.first().map(u8::to_ascii_uppercase) {
        Some(b'E') if b.len() == 9 => digits_from(1) || (b[1].is_ascii_alphabetic() && digits_from(2)),
        Some(b'G') if b.len() == 9 => digits_from(1),
        Some(b'P' | b'S' | b'D') if b.len() == 8 => digits_from(1),
        Some(b'C' | b'H' | b'M') if (9..=11).contains(&b.len()) => digits_from(1),
        _ => false,
    }
}

/// A Hong Kong identity card number: one or two letters, six digits and a check digit (0-9
/// or A, in parentheses or not) with weights 9 to 2 and letters valued A=10 … Z=35 (a space
/// for the missing first letter valued 36), the sum with the check a multiple of 11.
pub fn is_hk_id(value: &str) -> bool {
    let compact: Vec<u8> = value.bytes().filter(|b| !matches!(b, b'(' | b')' | b' ')).map(|b| b.to_ascii_uppercase()).collect();
    let letters = compact.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) || compact.len() != letters + 7 || !compact[letters..letters + 6].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let check = match compact[letters + 6] {
        b'A' => 10,
        d @ b'0'..=b'9' => u32::from(d - b'0'),
        _ => return false,
    };
    let letter = |b: u8| u32::from(b - b'A') + 10;
    let mut values: Vec<u32> = if letters == 1 { vec![36, letter(compact[0])] } else { vec![letter(compact[0]), letter(compact[1])] };
    values.extend(compact[letters..letters + 6].iter().map(|d| u32::from(d - b'0')));
    let sum: u32 = values.iter().zip((2..=9).rev()).map(|(v, w)| v * w).sum();
    (sum + check).is_multiple_of(11)
}

/// A Macau resident identity card number: 1, 5 or 7, six digits and a check digit in
/// parentheses (`1234567(8)`); the check's rule is not public, so the shape decides.
pub fn is_macau_id(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 10
        && matches!(b[0], b'1' | b'5' | b'7')
        && b[1..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'('
        && b[8].is_ascii_digit()
        && b[9] == b')'
}

/// The values of the letters that begin a Taiwan identification number, A to Z.
const TW_LETTERS: [u32; 26] = [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33];

/// A Taiwan national identification number: a letter, 1 or 2 (8 or 9 for residents), seven
/// digits and a check digit, the weighted sum a multiple of 10.
pub fn is_tw_id(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 10 || !b[0].is_ascii_alphabetic() || !matches!(b[1], b'1' | b'2' | b'8' | b'9') || !b[1..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let letter = TW_LETTERS[usize::from(b[0].to_ascii_uppercase() - b'A')];
    let digits = b[1..].iter().map(|d| u32::from(d - b'0'));
    let sum = letter / 10 + (letter % 10) * 9 + digits.zip([8, 7, 6, 5, 4, 3, 2, 1, 1]).map(|(d, w)| d * w).sum::<u32>();
    sum.is_multiple_of(10)
}

/// The one-character abbreviations of mainland provinces on vehicle plates.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// A mainland vehicle plate: a province's character, a letter, then five (six for new-energy
/// vehicles) letters and digits, a `·` or space after the letter allowed (`京A12345`,
/// `粤B·D12345`); at least one digit.
pub fn is_cn_plate(value: &str) -> bool {
    let mut chars = value.chars().filter(|c| !matches!(c, '·' | ' ' | '-'));
    let (Some(province), Some(letter)) = (chars.next(), chars.next()) else { return false };
    let rest: Vec<char> = chars.collect();
    PLATE_PROVINCES.contains(province)
        && letter.is_ascii_uppercase()
        && (5..=6).contains(&rest.len())
        && rest.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && rest.iter().any(char::is_ascii_digit)
}

/// What an encoded value says, for validating it as what it hides: hex or base64 that decodes
/// to printable text, or a number of an identifier's length read backwards. `None` for any
/// other value (a pseudonym's 64 hex digits decode to bytes, not text).
pub fn decoded(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let printable = |bytes: Vec<u8>| {
        String::from_utf8(bytes).ok().filter(|t| t.chars().count() >= 6 && t.chars().all(|c| !c.is_control() && !is_invisible(c)))
    };
    if b.len() >= 12 && b.len().is_multiple_of(2) && b.iter().all(u8::is_ascii_hexdigit) {
        let hex = |c: u8| (c as char).to_digit(16).expect("a hex digit") as u8;
        if let Some(text) = printable(b.chunks(2).map(|p| hex(p[0]) << 4 | hex(p[1])).collect()) {
            return Some(text);
        }
    }
    if b.len() >= 12
        && b.len().is_multiple_of(4)
        && let Some(text) = base64_decode(value).and_then(printable)
    {
        return Some(text);
    }
    let digits = b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'x' | b'X'));
    (digits && matches!(b.len(), 11 | 15 | 18)).then(|| value.chars().rev().collect())
}

/// Standard base64 (`+`, `/`, `=` padding) decoded; `None` when it is not that.
fn base64_decode(value: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let body = value.trim_end_matches('=');
    if value.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in body.bytes() {
        acc = acc << 6 | u32::from(sextet(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Common Chinese surnames (single characters), covering the vast majority of the population.
pub(crate) const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由";

/// Compound surnames (复姓).
pub const COMPOUND_SURNAMES: [&str; 20] = [
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐", "端木", "独孤", "南宫",
    "西门", "轩辕", "呼延",
];

/// Whether a character is a CJK unified ideograph.
pub(crate) fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Whether a name starts with a known Chinese surname.
pub fn has_cn_surname(name: &str) -> bool {
    COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s)) || name.chars().next().is_some_and(|c| SURNAMES.contains(c))
}

/// Two to four Han characters: a known surname, then characters Chinese given names are
/// made of; or a transliterated minority name joined with `·`.
pub fn is_cn_name(value: &str) -> bool {
    let count = value.chars().count();
    if value.contains('·') {
        return (3..=15).contains(&count) && value.chars().all(|c| c == '·' || is_han(c));
    }
    (2..=4).contains(&count) && value.chars().all(is_han) && super::models::is_cn_given_name(value)
}

const ADMIN_MARKERS: [&str; 9] = ["省", "市", "自治区", "自治州", "区", "县", "旗", "镇", "乡"];
const STREET_MARKERS: [&str; 15] = ["路", "街", "道", "巷", "弄", "号", "村", "小区", "栋", "幢", "单元", "室", "大厦", "花园", "苑"];

/// A mainland address: at least six characters with an administrative division and a
/// street-level marker, or a street-level part that is most of the value.
pub fn is_cn_address(value: &str) -> bool {
    let count = value.chars().count();
    let with_division = count >= 6 && ADMIN_MARKERS.iter().any(|m| value.contains(m)) && STREET_MARKERS.iter().any(|m| value.contains(m));
    // The street-level part alone (`体育西路12号3栋101室`), as an address's detail column holds it.
    with_division || (count <= 40 && street_level_span(value).is_some_and(|(s, e)| (e - s) * 2 >= value.len()))
}

/// Street types of English addresses, lower case.
const STREET_TYPES: [&str; 46] = [
    "street",
    "loop",
    "alley",
    "expressway",
    "freeway",
    "turnpike",
    "pike",
    "crossing",
    "ridge",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "av",
    "boulevard",
    "blvd",
    "drive",
    "dr",
    "lane",
    "ln",
    "way",
    "court",
    "ct",
    "place",
    "pl",
    "terrace",
    "close",
    "crescent",
    "highway",
    "hwy",
    "parkway",
    "pkwy",
    "square",
    "sq",
    "circle",
    "cir",
    "trail",
    "row",
    "walk",
    "grove",
    "gardens",
    "mews",
    "hill",
    "park",
    "plaza",
];

/// Whether `word` (lower case, without punctuation) is an English street type (`st`, `avenue`).
pub fn is_street_type(word: &str) -> bool {
    STREET_TYPES.contains(&word)
}

/// A house number (`12`, `221B`, `12-14`) followed within four words by a street type that
/// ends the street part (`1200 Oak St, Springfield, IL`, `221B Baker Street, London NW1 6XE`).
pub fn is_street_address(value: &str) -> bool {
    street_address_span(value).is_some()
}

/// The byte range of the first English street address in `text`: from the house number
/// to the street type, and a unit after it (`Apt 4`).
pub fn street_address_span(text: &str) -> Option<(usize, usize)> {
    let mut words: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    let bare: Vec<&str> = words.iter().map(|w| w.1).collect();
    (0..words.len()).find_map(|first| {
        let k = first + street_at(&bare[first..])?;
        let unit =
            |w: &str| matches!(w.trim_end_matches([',', '.']).to_ascii_lowercase().as_str(), "apt" | "suite" | "ste" | "unit" | "flat");
        let last = match bare.get(k + 1..k + 3) {
            Some([u, n]) if unit(u) => k + 2,
            _ => k,
        };
        let (s, w) = words[last];
        Some((words[first].0, s + w.trim_end_matches([',', '.']).len()))
    })
}

/// The index of the street type when `words` start with a street address.
fn street_at(words: &[&str]) -> Option<usize> {
    let number = words.first()?;
    let digits = number.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &number[digits..];
    let number_ok = (1..=5).contains(&digits)
        && (rest.is_empty()
            || (rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_alphabetic()))
            || rest.strip_prefix('-').is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())));
    if !number_ok {
        return None;
    }
    for (k, word) in words.iter().enumerate().skip(2).take(4) {
        let ends_part = word.ends_with(',') || k + 1 == words.len();
        // `3 Pack Road Bike`: a street type must end the street part.
        let bare = word.trim_end_matches([',', '.']).to_ascii_lowercase();
        let named = words[1..k].iter().all(|w| w.chars().next().is_some_and(char::is_alphabetic));
        let unit_follows = words.get(k + 1).is_some_and(|next| {
            let next = next.trim_end_matches([',', '.']).to_ascii_lowercase();
            matches!(
                next.as_str(),
                "apt" | "suite" | "ste" | "unit" | "flat" | "floor" | "fl" | "n" | "s" | "e" | "w" | "ne" | "nw" | "se" | "sw"
            ) || next.starts_with('#')
        });
        if named && STREET_TYPES.contains(&bare.as_str()) && (ends_part || unit_follows) {
            return Some(k);
        }
    }
    None
}

/// `+` and a country code with 8 to 15 digits in all, or a North American number written
/// `(415) 555-0134`, `415-555-0134` or `415.555.0134`.
pub fn is_intl_phone(value: &str) -> bool {
    let v = value.trim();
    let separators = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')');
    if let Some(rest) = v.strip_prefix('+') {
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        return rest.chars().all(|c| c.is_ascii_digit() || separators(c)) && (8..=15).contains(&digits.len()) && !digits.starts_with('0');
    }
    let v = v.strip_prefix("1 ").or_else(|| v.strip_prefix("1-")).unwrap_or(v);
    let b = v.as_bytes();
    let shape = match b.len() {
        14 => b[0] == b'(' && b[4] == b')' && b[5] == b' ' && b[9] == b'-',
        12 => (b[3] == b'-' && b[7] == b'-') || (b[3] == b'.' && b[7] == b'.'),
        _ => false,
    };
    let digits: Vec<u8> = b.iter().copied().filter(u8::is_ascii_digit).collect();
    shape && digits.len() == 10 && digits[0] >= b'2' && digits[3] >= b'2'
}

/// A request path: `/`, then a word character, no whitespace.
pub fn is_url_path(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 2 && b[0] == b'/' && b[1].is_ascii_alphanumeric() && !value.contains(char::is_whitespace)
}

/// An FCM registration token (`<instance id>:APA91b<payload>`). APNs tokens are 64 hex
/// digits like any SHA-256 digest, so only a name tells them apart.
pub fn is_push_token(value: &str) -> bool {
    let token = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    value
        .split_once(":APA91b")
        .is_some_and(|(instance, payload)| instance.len() >= 11 && payload.len() >= 20 && token(instance) && token(payload))
}

/// Free text (it has spaces or Chinese) that carries a mobile number, an ID number, an
/// e-mail address, a house-numbered street address or an international phone number.
pub fn has_embedded_pi(value: &str) -> bool {
    if value.chars().count() < 8 || !(value.contains(' ') || value.chars().any(is_han)) {
        return false;
    }
    let digit_runs = value.split(|c: char| !c.is_ascii_digit() && c != 'X' && c != 'x').filter(|r| r.len() >= 11);
    for run in digit_runs {
        let b = run.as_bytes();
        if (b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])) || is_cn_id_card(run) {
            return true;
        }
    }
    let words = value.split(|c: char| c.is_whitespace() || matches!(c, '，' | '。' | '：' | ',' | ';' | '；'));
    let has_email = words.map(|w| w.trim_matches(|c: char| !c.is_alphanumeric())).any(is_email);
    has_email || !ip_spans(value).is_empty() || is_street_address(value) || has_cn_street_address(value)
}

/// Where a token may begin or end an IP address in text: not inside a word, a number, a
/// version (`Chrome/120.0.0.0`) or a path.
fn ip_boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '.' | '/' | '_' | '-' | ':')))
}

/// The IPv4 and IPv6 addresses inside `text`, as byte ranges, in order: dotted quads of
/// octets to 255, and tokens that parse as IPv6 with at least three groups.
pub fn ip_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_hexdigit() || b[i] == b':';
        if !starts || !ip_boundary(text[..i].chars().next_back()) {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let end = i + b[i..].iter().take_while(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':')).count();
        let mut token = &text[i..end];
        // A sentence may end right after the address.
        while token.ends_with('.') || token.ends_with(':') {
            token = &token[..token.len() - 1];
        }
        let after = text[i + token.len()..].chars().next();
        let v4 = token.split('.').count() == 4 && token.parse::<Ipv4Addr>().is_ok();
        // Three groups at least: `a::b` is an address, but more often something else.
        let v6 = token.split(':').filter(|g| !g.is_empty()).count() >= 3 && token.parse::<Ipv6Addr>().is_ok();
        if (v4 || v6) && (ip_boundary(after) || after == Some('.') || after == Some(':')) {
            spans.push((i, i + token.len()));
        }
        i = end.max(i + 1);
    }
    spans
}

/// Methods that open the request of an access-log line.
const HTTP_METHODS: [&str; 9] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"];

/// A whole access-log line: the common or combined format of nginx and Apache (a client
/// address first, a bracketed time, a quoted request), or a JSON object with a client
/// address and a request, path or URL field.
pub fn is_access_log_line(value: &str) -> bool {
    let v = value.trim();
    if v.starts_with('{') {
        let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(v) else { return false };
        let has_ip = fields.values().filter_map(|f| f.as_str()).any(|f| f.parse::<std::net::IpAddr>().is_ok());
        let has_request = fields.keys().any(|k| {
            let k = k.to_ascii_lowercase();
            ["request", "uri", "url", "path"].iter().any(|w| k.contains(w))
        });
        return has_ip && has_request;
    }
    let first = v.split_whitespace().next().unwrap_or_default();
    let request = v.split('"').nth(1).unwrap_or_default();
    let method = request.split_whitespace().next().unwrap_or_default();
    first.parse::<std::net::IpAddr>().is_ok() && v.contains(" [") && HTTP_METHODS.contains(&method)
}

/// A mainland address inside text: an administrative division, then a street-level marker,
/// then a house number (`…市…路18号`).
fn has_cn_street_address(value: &str) -> bool {
    cn_address_span(value).is_some()
}

/// Markers that can end a mainland address (`18号`, `3栋`, `1001室`).
const UNIT_MARKERS: [char; 6] = ['号', '栋', '幢', '室', '楼', '层'];

/// The byte range of the first mainland address in `text`: from two characters before its
/// first administrative marker (the place name) to its last house or room marker, within one
/// unbroken run of Chinese, digits and letters that holds a street marker and a house number.
pub fn cn_address_span(text: &str) -> Option<(usize, usize)> {
    let Some(admin) = ADMIN_MARKERS.iter().filter_map(|m| text.find(m)).min() else { return street_level_span(text) };
    let in_run = |c: char| is_han(c) || c.is_ascii_alphanumeric() || matches!(c, '-' | '#');
    let run_end = text[admin..].char_indices().find(|(_, c)| !in_run(*c)).map_or(text.len(), |(i, _)| admin + i);
    let run = &text[admin..run_end];
    let mut end = None;
    let mut prev = ' ';
    for (i, c) in run.char_indices() {
        if UNIT_MARKERS.contains(&c) && prev.is_ascii_digit() {
            end = Some(admin + i + c.len_utf8());
        }
        prev = c;
    }
    let Some(end) = end else { return street_level_span(text) };
    let street = STREET_MARKERS.iter().any(|m| text[admin..end].contains(m));
    let start = text[..admin].char_indices().rev().take(2).take_while(|(_, c)| is_han(*c)).last().map_or(admin, |(i, _)| i);
    if street { Some((start, end)) } else { street_level_span(text) }
}

/// Places an address below the district level names (`阳光小区`, `朝阳门外大街`).
const PLACE_MARKERS: [&str; 12] = ["小区", "花园", "大厦", "公寓", "家园", "苑", "大街", "胡同", "路", "街", "巷", "弄"];
/// How many characters of a place's name before its marker are taken with it.
const PLACE_NAME_CHARS: usize = 4;

/// An address said without its city (`住在阳光小区3单元502`, `朝阳门外大街甲6号`): a place
/// marker, then within the same run a number with a house, building, unit or room marker,
/// and a room number after a unit or building. From up to [`PLACE_NAME_CHARS`] characters
/// before the marker to the last number.
fn street_level_span(text: &str) -> Option<(usize, usize)> {
    let in_run = |c: char| is_han(c) || c.is_ascii_alphanumeric() || matches!(c, '-' | '#');
    let mut places: Vec<usize> = PLACE_MARKERS.iter().flat_map(|m| text.match_indices(m).map(|(i, _)| i)).collect();
    places.sort_unstable();
    for place in places {
        let run_end = text[place..].char_indices().find(|(_, c)| !in_run(*c)).map_or(text.len(), |(i, _)| place + i);
        let run: Vec<(usize, char)> = text[place..run_end].char_indices().map(|(i, c)| (place + i, c)).collect();
        let mut end = None;
        for (k, &(_, c)) in run.iter().enumerate().skip(1) {
            let after_digit = run[k - 1].1.is_ascii_digit();
            let unit = UNIT_MARKERS.contains(&c) || (c == '单' && run.get(k + 1).is_some_and(|n| n.1 == '元'));
            if !(after_digit && unit) {
                continue;
            }
            let marker_end = if c == '单' { k + 2 } else { k + 1 };
            // A room number may follow a unit or a building (`3单元502`, `5栋1201`).
            let room = run[marker_end.min(run.len())..].iter().take_while(|(_, c)| c.is_ascii_digit()).count();
            let last = marker_end + room;
            end = Some(run.get(last).map_or(run_end, |(i, _)| *i));
        }
        if let Some(end) = end {
            let start =
                text[..place].char_indices().rev().take(PLACE_NAME_CHARS).take_while(|(_, c)| is_han(*c)).last().map_or(place, |(i, _)| i);
            return Some((start, end));
        }
    }
    None
}

/// A date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD, optionally followed by a time) or a month
/// (YYYYMM, YYYY-MM) between 1900 and `today`.
pub fn is_birth_date(value: &str, today: NaiveDate) -> bool {
    let b = value.as_bytes();
    let mut digits = [0u8; 8];
    // A month of birth (`198703`, `1987-03`), as data-element standards record 出生年月.
    let month = match b.len() {
        6 => Some([&b[..4], &b[4..6]]),
        7 if matches!(b[4], b'-' | b'/') => Some([&b[..4], &b[5..7]]),
        _ => None,
    };
    if let Some([y, m]) = month {
        digits[..4].copy_from_slice(y);
        digits[4..6].copy_from_slice(m);
        digits[6..].copy_from_slice(b"01");
    } else if b.len() == 8 {
        digits.copy_from_slice(b);
    } else {
        let Some(d) = b.get(..10) else { return false };
        if !(d[4] == b'-' || d[4] == b'/') || d[7] != d[4] {
            return false;
        }
        digits[..4].copy_from_slice(&d[..4]);
        digits[4..6].copy_from_slice(&d[5..7]);
        digits[6..].copy_from_slice(&d[8..10]);
    }
    digits.iter().all(u8::is_ascii_digit) && parse_ymd(&digits).is_some_and(|d| d.year() >= 1900 && d <= today)
}

/// A gender value in Chinese or English.
pub fn is_gender(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "男" | "女" | "男性" | "女性" | "未知" | "m" | "f" | "male" | "female" | "unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Completes 17 digits into a valid 18-digit ID number.
    fn with_check(first17: &str) -> String {
        let c = id_card_check_char(first17.as_bytes()).unwrap();
        format!("{first17}{}", c as char)
    }

    #[test]
    fn id_card_known_vectors() {
        // The worked example of GB 11643-1999.
        assert!(is_cn_id_card("11010519491231002X"));
        assert!(is_cn_id_card("11010519491231002x"));
        // Wrong check digit.
        assert!(!is_cn_id_card("110105194912310021"));
        // Impossible dates: 31 February, month 13, in the future, before 1900.
        assert!(!is_cn_id_card(&with_check("11010519900231123")));
        assert!(!is_cn_id_card(&with_check("11010519901301123")));
        assert!(!is_cn_id_card(&with_check("11010521990101123")));
        assert!(!is_cn_id_card(&with_check("11010518991231123")));
        // Invalid province prefix (order numbers often start with a year).
        assert!(!is_cn_id_card(&with_check("20240615123456789")));
        // Legacy 15-digit numbers.
        assert!(is_cn_id_card("110105491231002"));
        assert!(!is_cn_id_card("110105491331002"));
        assert!(!is_cn_id_card("910105491231002"));
        // Wrong lengths and characters.
        assert!(!is_cn_id_card("11010519491231002"));
        assert!(!is_cn_id_card("1101051949123100XX"));
        assert!(!is_cn_id_card(""));
    }

    #[test]
    fn luhn_known_vectors() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(is_bank_card("4111111111111111"));
        assert!(is_bank_card("4111 1111 1111 1111"));
        assert!(!is_bank_card("4111111111111112"));
        assert!(!is_bank_card("411111111111111")); // 15 digits
        assert!(is_bank_card("2221000000000009")); // Mastercard 2-series
        assert!(!is_bank_card("2026061512345678901")); // a date-prefixed order number, Luhn-valid
        assert!(luhn_valid("2026061512345678901"));
        assert!(is_imei("490154203237518"));
        assert!(!is_imei("490154203237517"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("12a4"));
    }

    #[test]
    fn phones() {
        for ok in
            ["13812345678", "+86 138 1234 5678", "0086-13812345678", "8613812345678", "138-1234-5678", "010-12345678", "(0755) 8888 1234"]
        {
            assert!(is_cn_phone(ok), "{ok}");
        }
        for bad in ["12812345678", "1381234567", "138123456789", "01012345678", "13812345678a", ""] {
            assert!(!is_cn_phone(bad), "{bad}");
        }
        assert_eq!(canonical_phone("+86 138-1234-5678").unwrap(), "13812345678");
    }

    #[test]
    fn emails_and_network() {
        assert!(is_email("zhang.san+ad@example.com.cn"));
        assert!(!is_email("zhang@localhost"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("a@b@example.com"));
        assert!(!is_email("a@example.c0m"));
        assert!(Detector::Ipv4.matches("192.168.1.20"));
        assert!(!Detector::Ipv4.matches("192.168.1.256"));
        assert!(!Detector::Ipv4.matches("1.2.3"));
        assert!(Detector::Ipv6.matches("2408:8207:24a6:5651::1"));
        assert!(!Detector::Ipv6.matches("12345"));
        assert!(is_mac("3c:22:fb:0a:1b:2c"));
        assert!(is_mac("3C-22-FB-0A-1B-2C"));
        assert!(!is_mac("3c:22-fb:0a:1b:2c"));
        assert!(!is_mac("3c:22:fb:0a:1b:2g"));
        assert!(is_imsi("460011234567890"));
        assert!(!is_imsi("460991234567890"));
        assert!(!is_imsi("310011234567890"));
        assert!(is_android_id("9774d56d682e549c"));
        assert!(!is_android_id("1234567890123456"));
        assert!(is_uuid("6D92078A-8246-4BA4-AE5B-76104861E7DC"));
        assert!(!is_uuid("6D92078A-8246-4BA4-AE5B-76104861E7D"));
        assert!(is_url("https://m.example.cn/item?id=1"));
        assert!(!is_url("ftp://example.cn"));
        assert!(!is_url("https://"));
    }

    #[test]
    fn locations() {
        assert!(is_precise_coordinate("39.904200", 90.0, 3));
        assert!(!is_precise_coordinate("39.9", 90.0, 3));
        assert!(!is_precise_coordinate("99.123", 90.0, 3));
        assert!(is_lat_lon_pair("39.904211,116.407395"));
        assert!(is_lat_lon_pair("39.9042 116.4074"));
        assert!(is_lat_lon_pair("116.4074,39.9042"));
        assert!(is_lat_lon_pair("-87.6298;41.8781"));
        assert!(!is_lat_lon_pair("116.4074,139.9042"));
        assert!(!is_lat_lon_pair("39.90,116.40"));
        assert!(is_geo_point("POINT(116.407395 39.904211)"));
        assert!(is_geo_point("SRID=4326;POINT (-87.629800 41.878100)"));
        assert!(is_geo_point(r#"{"type": "Point", "coordinates": [116.407395, 39.904211]}"#));
        assert!(!is_geo_point("POINT(116.4 39.9)"));
        assert!(!is_geo_point(r#"{"type":"Point","coordinates":[216.4074,39.9042]}"#));
        assert!(is_geohash("wx4g0ec1"));
        assert!(!is_geohash("wx4g0eai")); // 'a' and 'i' are not in the alphabet
        assert!(!is_geohash("wx4g0"), "five characters are a few kilometres, not a precise location");
    }

    #[test]
    fn english_addresses_and_international_phones() {
        for ok in [
            "1200 Oak St, Springfield, IL 62704",
            "221B Baker Street, London NW1 6XE",
            "12-14 High Street",
            "350 Fifth Avenue, Apt 4, New York, NY 10118",
            "Ship to 77 Mill Road, Leeds LS1 4AP instead",
        ] {
            assert!(is_street_address(ok), "{ok}");
        }
        for bad in ["3 Pack Road Bike", "Street 12", "2026 Annual Report", "Oak St"] {
            assert!(!is_street_address(bad), "{bad}");
        }
        for ok in ["+44 7700 900123", "+1 415-555-0134", "(415) 555-0134", "415-555-0134", "415.555.0134", "+86 138 1234 5678"] {
            assert!(is_intl_phone(ok), "{ok}");
        }
        for bad in ["+08:00", "2026-05-01", "415-055-0134", "+0 123 4567", "12-34-5678", "+44 12"] {
            assert!(!is_intl_phone(bad), "{bad}");
        }
    }

    #[test]
    fn decorated_values_are_normalized_before_validation() {
        assert_eq!(normalize_value(" tel:138-1234-5678\0\0"), "138-1234-5678");
        assert_eq!(normalize_value("MAILTO:zhang@example.cn"), "zhang@example.cn");
        assert_eq!(normalize_value("\"11010519491231002X\""), "11010519491231002X");
        assert_eq!(normalize_value("\u{feff}13812345678"), "13812345678");
        assert!(is_cn_phone(&normalize_value("tel:+86 138 1234 5678")));
    }

    #[test]
    fn invisible_and_full_width_decoration_hides_nothing() {
        use crate::category::Category;
        let phone = "13812345678";
        let id = "11010519491231002X";
        for decorated in [
            "138\u{0}1234\u{200b}5678",
            "１３８１２３４５６７８",
            "(+86)138-1234-5678",
            "（＋８６）１３８ １２３４ ５６７８",
            "138.1234.5678",
            "+86 138.1234.5678",
            "\u{2060}13812345678\u{feff}",
        ] {
            let v = normalize_value(decorated);
            assert!(is_cn_phone(&v), "{decorated:?} -> {v:?}");
            assert_eq!(canonical_phone(&v).as_deref(), Some(phone), "{decorated:?}");
            assert_eq!(IdentifierCell::of(&v), Some(IdentifierCell { category: Category::Phone, valid: true }), "{decorated:?}");
        }
        for decorated in
            ["１１０１０５１９４９１２３１００２Ｘ", "110105\u{200c}19491231002X", "110105 19491231 002X", "110105.19491231.002X"]
        {
            let v = normalize_value(decorated);
            assert_eq!(IdentifierCell::of(&v), Some(IdentifierCell { category: Category::IdCard, valid: true }), "{decorated:?}");
        }
        assert!(is_cn_id_card(id));
        for plain in ["2026.11.23", "116.39712345", "20261123123456", "6.5", "0.138", "10000000000000000", "23456789012"] {
            assert!(IdentifierCell::of(&normalize_value(plain)).is_none_or(|c| !c.valid), "{plain}");
        }
        let valid = |v: &str| IdentifierCell::of(v).map(|c| (c.category, c.valid));
        assert_eq!(valid("12345678901"), Some((Category::Phone, false)), "the shape of a phone, no mobile prefix");
        assert_eq!(valid("4111 1111 1111 1111"), Some((Category::BankCard, true)));
        assert_eq!(valid("4111 1111 1111 1112"), Some((Category::BankCard, false)), "Luhn fails");
        assert_eq!(valid("356938035643809"), Some((Category::DeviceId, true)));
    }

    #[test]
    fn addresses_said_in_a_chat() {
        for (text, address) in [
            ("我住在阳光小区3单元502，来玩", "住在阳光小区3单元502"),
            ("我家在朝阳门外大街甲6号", "朝阳门外大街甲6号"),
            ("送到幸福家园5栋1201就行", "送到幸福家园5栋1201"),
        ] {
            let (s, e) = cn_address_span(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(&text[s..e], address);
            assert!(has_embedded_pi(text), "{text}");
        }
        for text in ["今天路上堵车", "三号线很挤", "花园很漂亮，有3个"] {
            assert_eq!(cn_address_span(text), None, "{text}");
        }
        let (s, e) = street_address_span("Meet me at 1 Infinite Loop, Cupertino, CA").unwrap();
        assert_eq!(&"Meet me at 1 Infinite Loop, Cupertino, CA"[s..e], "1 Infinite Loop");
    }

    #[test]
    fn regional_ids_plates_and_encoded_values() {
        for hk in ["A123456(3)", "a1234563", "AB987654(3)", "G123456(A)"] {
            assert!(is_hk_id(hk), "{hk}");
        }
        assert!(!is_hk_id("A123456(4)") && !is_hk_id("AB987654(2)"), "the check digit decides");
        assert!(is_tw_id("A123456789") && !is_tw_id("A123456788") && !is_tw_id("A323456789"));
        assert!(is_macau_id("1234567(8)") && !is_macau_id("2234567(8)"));
        for plate in ["京A12345", "粤B·D12345", "沪C 8X888"] {
            assert!(is_cn_plate(plate), "{plate}");
        }
        for bad in ["京AABCDE", "A12345", "北A12345"] {
            assert!(!is_cn_plate(bad), "{bad}");
        }
        let hex: String = "13812345678".bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(decoded(&hex).as_deref(), Some("13812345678"));
        assert_eq!(decoded("MTM4MTIzNDU2Nzg=").as_deref(), Some("13812345678"));
        assert_eq!(decoded("87654321831").as_deref(), Some("13812345678"));
        assert_eq!(decoded("X20013219491501011").as_deref(), Some("11010519491231002X"));
        assert_eq!(decoded(&"ab12".repeat(16)), None, "a pseudonym decodes to bytes, not text");
        assert_eq!(decoded("order shipped"), None);
        assert!(is_mac("00a0c9144e2f") && !is_mac("001122334455") && !is_mac("abcdefabcdef"));
    }

    #[test]
    fn log_lines_ips_in_text_idn_emails_and_cisco_macs() {
        let nginx =
            r#"203.0.113.9 - - [30/Nov/2026:10:00:01 +0800] "GET /item/42?uid=7 HTTP/1.1" 200 512 "-" "Mozilla/5.0 Chrome/120.0.0.0""#;
        assert!(is_access_log_line(nginx) && has_embedded_pi(nginx));
        assert_eq!(ip_spans(nginx), vec![(0, 11)], "the client, not the browser's version");
        assert!(is_access_log_line(r#"{"ts":"2026-11-30T10:00:01Z","remote_addr":"2001:db8::7","request_uri":"/cart"}"#));
        assert!(!is_access_log_line("GET /item/42 HTTP/1.1") && !is_access_log_line(r#"{"path":"/a"}"#));
        for text in ["登录IP 10.2.3.4，请确认", "from 2001:db8:85a3::8a2e:370:7334.", "ip=192.168.0.1"] {
            assert_eq!(ip_spans(text).len(), 1, "{text}");
        }
        for text in ["version 1.2.3 at 12:00:00", "Chrome/120.0.6099.109", "price 3.5.2024", "1.2.3.4.5", "300.1.1.1", "a::b"] {
            assert!(ip_spans(text).is_empty(), "{text}");
        }
        assert!(is_email("用户@例子.广告") && is_email("müller@bücher.de") && is_email("a@xn--fiqs8s.xn--fiqz9s"));
        assert!(!is_email("a@b") && !is_email("@x.cn"));
        assert!(is_mac("0011.22aa.bbcc") && !is_mac("0011.22aa.bbc") && !is_mac("2026.1130.1000z"));
    }

    #[test]
    fn tokens_paths_and_pi_inside_text() {
        assert!(is_push_token("dGhpc2lzYXRva2Vu:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"));
        assert!(!is_push_token(&"ab12".repeat(16)), "a SHA-256 digest is not a token by its value");
        assert!(!is_push_token("not a token"));
        assert!(is_url_path("/item/123?ref=home"));
        assert!(!is_url_path("/ item"));
        assert!(!is_url_path("item/123"));
        assert!(has_embedded_pi("我的新号码是13812345678，有事打这个"));
        assert!(has_embedded_pi("地址改成广东省深圳市南山区科技园路18号3栋1001室"));
        assert!(has_embedded_pi("Please mail Zhang.Wei@example.com today"));
        assert!(has_embedded_pi("Ship to 1200 Oak St, Springfield, IL 62704 instead"));
        assert!(!has_embedded_pi("订单号 2026061512345678901 已发货"));
        assert!(!has_embedded_pi("适用于城市道路的自行车"));
        assert!(!has_embedded_pi("13812345678"), "a bare phone is a phone, not text");
    }

    #[test]
    fn names_addresses_dates() {
        assert!(is_cn_name("张伟"));
        assert!(is_cn_name("欧阳娜娜"));
        assert!(is_cn_name("买买提·艾力"));
        assert!(!is_cn_name("张"));
        assert!(!is_cn_name("张*"));
        assert!(!is_cn_name("Zhang Wei"));
        assert!(!is_cn_name("哈哈哈哈哈"));
        assert!(is_cn_address("广东省深圳市南山区科技园路1号"));
        assert!(is_cn_address("北京市朝阳区建国路88号"));
        assert!(!is_cn_address("北京市"));
        assert!(!is_cn_address("今天天气很好我们去公园"));
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert!(is_birth_date("1990-05-17", today));
        assert!(is_birth_date("1990/05/17", today));
        assert!(is_birth_date("19900517", today));
        assert!(!is_birth_date("1990-02-30", today));
        assert!(!is_birth_date("2027-01-01", today));
        assert!(!is_birth_date("1899-12-31", today));
        assert!(!is_birth_date("1990-05/17", today));
        assert!(is_gender("男"));
        assert!(is_gender("Female"));
        assert!(!is_gender("x"));
        assert!(is_passport("E12345678"));
        assert!(is_passport("EA1234567"));
        assert!(is_passport("C12345678"));
        assert!(!is_passport("E1234567"));
        assert!(!is_passport("X12345678"));
    }

    #[test]
    fn strength_is_declared_for_every_detector() {
        let strong: Vec<_> = Detector::ALL.iter().filter(|d| d.is_strong()).collect();
        assert_eq!(strong.len(), 23);
        assert!(Detector::ALL.iter().all(|d| !d.overrules_not_pi() || d.is_strong()));
        assert!(!Detector::Uuid.is_strong(), "request ids are UUIDs too");
    }

    proptest! {
        // The byte check that lets most values skip normalization never skips one that
        // normalization would change.
        #[test]
        fn plain_values_are_as_normalization_leaves_them(
            v in "[ '\"]?(tel:|mailto:|TEL:|Sms:|callto:|https://)?[0-9０-９ .+()xX@a-zA-Z*/?=&张伟é\u{200b}\u{200c}\u{2060}\u{3000}\u{a0}\u{ad}\u{180e}\u{feff}\u{2028}\u{85}\u{1680}\u{7f}\u{0}\t\r\n:'\"-]{0,20}|.{0,12}",
        ) {
            prop_assert_eq!(normalize_value(&v), normalized(&v), "{:?}", v);
        }

        // The same, with one character of any kind (most often one normalization changes)
        // among plain ones, wherever it falls.
        #[test]
        fn one_odd_character_among_plain_ones_is_normalized(
            before in "[0-9a-zA-Z@./?=&张伟 :'\"-]{0,8}",
            odd in prop_oneof![
                prop::sample::select(vec!['\u{0}', '\t', '\u{7f}', '\u{85}', '\u{a0}', '\u{ad}', '\u{1680}', '\u{180e}', '\u{2003}', '\u{200b}', '\u{2028}', '\u{2060}', '\u{3000}', '\u{feff}', '\u{ff11}', '\u{ff0b}']),
                any::<char>(),
            ],
            after in "[0-9a-zA-Z@./?=&张伟 :'\"-]{0,8}",
        ) {
            let v = format!("{before}{odd}{after}");
            prop_assert_eq!(normalize_value(&v), normalized(&v), "{:?}", v);
        }

        #[test]
        fn any_valid_id_number_passes_and_any_other_check_digit_fails(
            area in prop::sample::select(PROVINCE_PREFIXES.to_vec()),
            rest in 0u32..10_000,
            days in 0i64..40_000,
            seq in 0u32..1000,
            wrong in 0usize..11,
        ) {
            let birth = NaiveDate::from_ymd_opt(1920, 1, 1).unwrap() + chrono::Duration::days(days);
            prop_assume!(birth <= chrono::Utc::now().date_naive());
            let first17 = format!("{area:02}{rest:04}{}{seq:03}", birth.format("%Y%m%d"));
            let check = id_card_check_char(first17.as_bytes()).unwrap();
            let valid = format!("{first17}{}", check as char);
            prop_assert!(is_cn_id_card(&valid));
            let other = ID_CHECK_CHARS[wrong];
            prop_assume!(other != check);
            let invalid = format!("{first17}{}", other as char);
            prop_assert!(!is_cn_id_card(&invalid));
        }

        #[test]
        fn luhn_detects_every_single_digit_error(digits in "[0-9]{15,18}", pos in 0usize..15, delta in 1u8..10) {
            let body = digits.as_bytes();
            let check = (0..10u8)
                .find(|c| luhn_valid(&format!("{digits}{c}")))
                .unwrap();
            let valid = format!("{digits}{check}");
            prop_assert!(luhn_valid(&valid));
            let mut changed = valid.clone().into_bytes();
            changed[pos] = b'0' + (body[pos] - b'0' + delta) % 10;
            prop_assert!(!luhn_valid(std::str::from_utf8(&changed).unwrap()));
        }

        #[test]
        fn bank_card_is_luhn_over_16_to_19_grouped_digits(s in "[0-9][0-9 -]{10,24}") {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let prefix_ok = matches!(digits.as_bytes()[0], b'3'..=b'6')
                || digits.get(..4).and_then(|p| p.parse::<u32>().ok()).is_some_and(|p| (2221..=2720).contains(&p));
            let expected = (16..=19).contains(&digits.len()) && prefix_ok && luhn_valid(&digits);
            prop_assert_eq!(is_bank_card(&s), expected);
        }

        #[test]
        fn mobile_numbers_survive_formatting(second in 3u8..10, rest in "[0-9]{9}", style in 0usize..4) {
            let n = format!("1{second}{rest}");
            let formatted = match style {
                0 => n.clone(),
                1 => format!("+86 {} {} {}", &n[..3], &n[3..7], &n[7..]),
                2 => format!("0086{n}"),
                _ => format!("{}-{}-{}", &n[..3], &n[3..7], &n[7..]),
            };
            prop_assert!(is_cn_phone(&formatted));
            prop_assert_eq!(canonical_phone(&formatted).unwrap(), n);
        }

        #[test]
        fn detectors_never_panic(s in "\\PC{0,40}") {
            for d in Detector::ALL {
                let _ = d.matches(&s);
            }
        }
    }
}
