//! Generalization: coarser values that keep analytic use (GB/T 37964 §5.3). Coordinates to a
//! grid or geohash, times to hour/day/month, birthdays to a year or 10-year band, IPs to /24
//! or /48, addresses to province + city, numbers to buckets, URLs to host + path class.
//!
//! A value that cannot be parsed is an error naming the row, never passed through unchanged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array, StringArray, StringBuilder, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::TransformError;

/// A time grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeGrain {
    Hour,
    Day,
    Month,
}

/// How a column is generalized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generalization {
    /// Coordinates (or "lat,lon" pairs) floored to a grid of `size` degrees (0.01 ≈ 1 km).
    Grid { size: f64 },
    /// "lat,lon" pairs to a geohash of `precision` characters.
    Geohash { precision: usize },
    /// Timestamps and dates truncated to a grain.
    Time { grain: TimeGrain },
    /// Birth dates to the year.
    BirthYear,
    /// Birth dates to a 10-year band, e.g. `1990-1999`.
    BirthDecade,
    /// IPv4 to its /24, IPv6 to its /48.
    IpPrefix,
    /// Addresses to province + city (`广东省深圳市`, `北京市`).
    Region,
    /// Addresses to the province (`广东省`, `北京市`).
    Province,
    /// Numbers floored to buckets of `width`.
    Bucket { width: f64 },
    /// URLs to scheme, host and path, with query, fragment and id-like path segments removed.
    UrlPath,
}

impl Generalization {
    /// Whether its output is only a rounded number, date or range of them (a grid cell, an
    /// hour, a birth year or decade, a bucket), in which no text and no precise value survives.
    pub fn yields_only_coarse_numbers(&self) -> bool {
        matches!(
            self,
            Generalization::Grid { .. }
                | Generalization::Time { .. }
                | Generalization::BirthYear
                | Generalization::BirthDecade
                | Generalization::Bucket { .. }
        )
    }

    /// Parses the text form used in SQL and pipelines: `grid:0.01`, `geohash:6`,
    /// `time:hour|day|month`, `birth_year`, `birth_decade`, `ip`, `region`, `bucket:100`, `url`.
    pub fn parse(spec: &str) -> Result<Generalization, TransformError> {
        let (kind, arg) = spec.split_once(':').map_or((spec, None), |(k, a)| (k, Some(a)));
        let number = |what: &str| -> Result<f64, TransformError> {
            arg.and_then(|a| a.trim().parse::<f64>().ok()).filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
                TransformError::Invalid(format!(
                    "`{kind}` needs a positive {what}, e.g. `{kind}:{}`",
                    if kind == "bucket" { "100" } else { "0.01" }
                ))
            })
        };
        Ok(match kind.trim() {
            "grid" => Generalization::Grid { size: number("cell size")? },
            "bucket" => Generalization::Bucket { width: number("width")? },
            "geohash" => Generalization::Geohash {
                precision: arg
                    .and_then(|a| a.trim().parse().ok())
                    .filter(|p| (1..=12).contains(p))
                    .ok_or_else(|| TransformError::Invalid("`geohash` needs a precision of 1 to 12, e.g. `geohash:6`".into()))?,
            },
            "time" => Generalization::Time {
                grain: match arg.map(str::trim) {
                    Some("hour") => TimeGrain::Hour,
                    Some("day") => TimeGrain::Day,
                    Some("month") => TimeGrain::Month,
                    _ => return Err(TransformError::Invalid("`time` needs a grain: `time:hour`, `time:day` or `time:month`".into())),
                },
            },
            "birth_year" => Generalization::BirthYear,
            "birth_decade" => Generalization::BirthDecade,
            "ip" => Generalization::IpPrefix,
            "region" => Generalization::Region,
            "province" => Generalization::Province,
            "url" => Generalization::UrlPath,
            other => {
                return Err(TransformError::Invalid(format!(
                    "unknown generalization `{other}` (expected grid, geohash, time, birth_year, birth_decade, ip, region, province, bucket or url)"
                )));
            }
        })
    }

    /// The type `generalize` returns for an input of type `input`.
    pub fn output_type(self, input: &DataType) -> DataType {
        let stringly = matches!(input, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        match self {
            Generalization::Grid { .. } | Generalization::Bucket { .. } if input.is_integer() => input.clone(),
            Generalization::Grid { .. } | Generalization::Bucket { .. } if input.is_numeric() => DataType::Float64,
            Generalization::Time { .. } if !stringly => input.clone(),
            Generalization::BirthYear => DataType::Int32,
            _ => DataType::Utf8,
        }
    }
}

impl std::fmt::Display for Generalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Generalization::Grid { size } => write!(f, "grid:{size}"),
            Generalization::Bucket { width } => write!(f, "bucket:{width}"),
            Generalization::Geohash { precision } => write!(f, "geohash:{precision}"),
            Generalization::Time { grain } => write!(
                f,
                "time:{}",
                match grain {
                    TimeGrain::Hour => "hour",
                    TimeGrain::Day => "day",
                    TimeGrain::Month => "month",
                }
            ),
            Generalization::BirthYear => f.write_str("birth_year"),
            Generalization::BirthDecade => f.write_str("birth_decade"),
            Generalization::IpPrefix => f.write_str("ip"),
            Generalization::Region => f.write_str("region"),
            Generalization::Province => f.write_str("province"),
            Generalization::UrlPath => f.write_str("url"),
        }
    }
}

fn unparseable(row: usize, expected: &'static str) -> TransformError {
    TransformError::Unparseable { row, expected }
}

fn floor_to(x: f64, size: f64) -> f64 {
    let decimals = (-size.log10()).ceil().max(0.0) as i32;
    let scale = 10f64.powi(decimals);
    (((x / size).floor() * size) * scale).round() / scale
}

fn strings(array: &ArrayRef) -> Result<StringArray, TransformError> {
    let utf8 = cast(array, &DataType::Utf8)?;
    Ok(utf8.as_string::<i32>().clone())
}

fn map_strings(
    array: &ArrayRef,
    mut f: impl FnMut(usize, &str) -> Result<Option<String>, TransformError>,
) -> Result<ArrayRef, TransformError> {
    let input = strings(array)?;
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    for (row, v) in input.iter().enumerate() {
        match v {
            Some(v) => out.append_option(f(row, v.trim())?),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Applies `g` to a whole array. Nulls stay null.
pub fn generalize(array: &ArrayRef, g: Generalization) -> Result<ArrayRef, TransformError> {
    match g {
        Generalization::Grid { size } | Generalization::Bucket { width: size } if size <= 0.0 => {
            Err(TransformError::Invalid("grid and bucket sizes must be positive".into()))
        }
        Generalization::Grid { size } | Generalization::Bucket { width: size } if array.data_type().is_numeric() => {
            let floats = cast(array, &DataType::Float64)?;
            let floats = floats.as_primitive::<Float64Type>();
            let out: Float64Array = floats.unary(|x| floor_to(x, size));
            if array.data_type().is_integer() { Ok(cast(&(Arc::new(out) as ArrayRef), array.data_type())?) } else { Ok(Arc::new(out)) }
        }
        Generalization::Grid { size } => map_strings(array, |row, v| {
            if is_geohash(v) {
                // A geohash cell of about 5 km: coarser than any grid size piguard suggests.
                return Ok(Some(v[..GEOHASH_GRID_CHARS].to_string()));
            }
            let parts: Vec<&str> = coordinates_text(v).split([',', ' ', ';']).filter(|p| !p.is_empty()).collect();
            let cells: Option<Vec<String>> =
                parts.iter().map(|p| p.parse::<f64>().ok().map(|x| format_grid(floor_to(x, size), size))).collect();
            match cells {
                Some(c) if !c.is_empty() && c.len() <= 2 => Ok(Some(c.join(","))),
                _ => Err(unparseable(row, "a number, a coordinate pair, a WKT or GeoJSON point, or a geohash")),
            }
        }),
        Generalization::Bucket { .. } => {
            Err(TransformError::Unsupported { transform: "generalize bucket", data_type: array.data_type().clone() })
        }
        Generalization::Geohash { precision } => {
            if !(1..=12).contains(&precision) {
                return Err(TransformError::Invalid("geohash precision must be 1 to 12".into()));
            }
            map_strings(array, |row, v| {
                let mut parts = v.split([',', ' ']).filter(|p| !p.is_empty());
                match (parts.next().map(str::parse::<f64>), parts.next().map(str::parse::<f64>), parts.next()) {
                    (Some(Ok(lat)), Some(Ok(lon)), None) if lat.abs() <= 90.0 && lon.abs() <= 180.0 => {
                        Ok(Some(geohash(lat, lon, precision)))
                    }
                    _ => Err(unparseable(row, "a 'lat,lon' pair")),
                }
            })
        }
        Generalization::Time { grain } => truncate_time(array, grain),
        Generalization::BirthYear => {
            let micros = as_micros(array)?;
            let years: Int32Array = micros.unary(|t| from_micros(t).year());
            Ok(Arc::new(years))
        }
        Generalization::BirthDecade => {
            let micros = as_micros(array)?;
            let mut out = StringBuilder::new();
            for t in micros.iter() {
                out.append_option(t.map(|t| {
                    let start = from_micros(t).year().div_euclid(10) * 10;
                    format!("{start}-{}", start + 9)
                }));
            }
            Ok(Arc::new(out.finish()))
        }
        Generalization::IpPrefix => {
            map_strings(array, |row, v| match v.parse::<IpAddr>().map_err(|_| unparseable(row, "an IPv4 or IPv6 address"))? {
                IpAddr::V4(ip) => {
                    let o = ip.octets();
                    Ok(Some(format!("{}/24", Ipv4Addr::new(o[0], o[1], o[2], 0))))
                }
                IpAddr::V6(ip) => {
                    let s = ip.segments();
                    Ok(Some(format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))))
                }
            })
        }
        Generalization::Region => map_strings(array, |_, v| Ok(region(v))),
        Generalization::Province => map_strings(array, |_, v| Ok(province(v))),
        Generalization::UrlPath => {
            map_strings(array, |row, v| url_path(v).map(Some).ok_or_else(|| unparseable(row, "an http(s) URL or a request path")))
        }
    }
}

/// Geohash characters a grid keeps.
const GEOHASH_GRID_CHARS: usize = 5;

fn is_geohash(v: &str) -> bool {
    crate::classify::detectors::is_geohash(v)
}

/// The coordinates of a WKT (`POINT(lon lat)`) or GeoJSON point, in their order; other
/// text as it is.
fn coordinates_text(v: &str) -> &str {
    let t = v.trim();
    if t.starts_with('{') {
        if let Some((_, rest)) = t.split_once('[') {
            return rest.split_once(']').map_or(t, |(inner, _)| inner);
        }
    } else if let Some(open) = t.find('(').filter(|_| t.to_ascii_uppercase().contains("POINT")) {
        return t[open + 1..].trim_end().strip_suffix(')').unwrap_or(&t[open + 1..]);
    }
    t
}

fn format_grid(x: f64, size: f64) -> String {
    let decimals = (-size.log10()).ceil().max(0.0) as usize;
    format!("{x:.decimals$}")
}

fn as_micros(array: &ArrayRef) -> Result<TimestampMicrosecondArray, TransformError> {
    let target = DataType::Timestamp(TimeUnit::Microsecond, None);
    let source = match array.data_type() {
        DataType::Timestamp(_, Some(_)) => cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
        _ => array.clone(),
    };
    let micros = cast(&source, &target)?;
    if micros.null_count() > array.null_count() {
        let row = (0..array.len()).find(|i| micros.is_null(*i) && !array.is_null(*i)).unwrap_or(0);
        return Err(unparseable(row, "a date or timestamp"));
    }
    Ok(micros.as_primitive::<TimestampMicrosecondType>().clone())
}

fn from_micros(t: i64) -> chrono::NaiveDateTime {
    DateTime::from_timestamp_micros(t).map_or_else(|| NaiveDate::MIN.and_hms_opt(0, 0, 0).expect("midnight"), |d| d.naive_utc())
}

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

fn truncate_time(array: &ArrayRef, grain: TimeGrain) -> Result<ArrayRef, TransformError> {
    let micros = as_micros(array)?;
    let truncated: TimestampMicrosecondArray = micros.unary(|t| match grain {
        TimeGrain::Hour => t.div_euclid(HOUR) * HOUR,
        TimeGrain::Day => t.div_euclid(DAY) * DAY,
        TimeGrain::Month => {
            let d = from_micros(t).date();
            let first = d.with_day(1).expect("day 1 exists");
            first.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros()
        }
    });
    let truncated: ArrayRef = Arc::new(truncated);
    // Keep the column's type; strings come back as ISO timestamps.
    match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(cast(&truncated, &DataType::Utf8)?),
        t => Ok(cast(&truncated, t)?),
    }
}

/// A geohash of `precision` characters.
pub fn geohash(lat: f64, lon: f64, precision: usize) -> String {
    const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (mut lat_r, mut lon_r) = ((-90.0, 90.0), (-180.0, 180.0));
    let mut out = String::with_capacity(precision);
    let (mut bit, mut ch, mut even) = (0, 0usize, true);
    while out.len() < precision {
        let (range, v): (&mut (f64, f64), f64) = if even { (&mut lon_r, lon) } else { (&mut lat_r, lat) };
        let mid = (range.0 + range.1) / 2.0;
        ch <<= 1;
        if v >= mid {
            ch |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
        even = !even;
        bit += 1;
        if bit == 5 {
            out.push(char::from(BASE32[ch]));
            bit = 0;
            ch = 0;
        }
    }
    out
}

const MUNICIPALITIES: [&str; 4] = ["北京市", "上海市", "天津市", "重庆市"];
const CITY_MARKERS: [&str; 4] = ["自治州", "地区", "市", "盟"];

/// Province + city of a mainland address, or `None` when it names neither.
pub fn region(address: &str) -> Option<String> {
    if let Some(m) = MUNICIPALITIES.iter().find(|m| address.starts_with(**m)) {
        return Some((*m).to_string());
    }
    let province_end = ["省", "自治区"].iter().filter_map(|m| address.find(m).map(|i| i + m.len())).min();
    let rest_start = province_end.unwrap_or(0);
    let rest = &address[rest_start..];
    let city_end =
        CITY_MARKERS.iter().filter_map(|m| rest.find(m).map(|i| i + m.len())).filter(|end| rest[..*end].chars().count() <= 10).min();
    match (province_end, city_end) {
        (_, Some(end)) => Some(address[..rest_start + end].to_string()),
        (Some(end), None) => Some(address[..end].to_string()),
        (None, None) => None,
    }
}

/// The province (or municipality) an address starts with.
pub fn province(address: &str) -> Option<String> {
    if let Some(m) = MUNICIPALITIES.iter().find(|m| address.starts_with(**m)) {
        return Some((*m).to_string());
    }
    let end = ["省", "自治区"].iter().filter_map(|m| address.find(m).map(|i| i + m.len())).min()?;
    Some(address[..end].to_string())
}

/// Scheme, host and path of a URL (or a request path `/…`); query and fragment removed, and
/// path segments holding digits (item ids, user ids) replaced by `:id`.
pub fn url_path(url: &str) -> Option<String> {
    if url.starts_with('/') && !url.starts_with("//") {
        let path = url.split(['?', '#']).next().unwrap_or("");
        return Some(format!("/{}", id_segments(path)));
    }
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.rsplit('@').next().unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some(format!("{}://{}/{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), id_segments(path)))
}

/// The segments of a path with those holding digits replaced by `:id`.
fn id_segments(path: &str) -> String {
    let segments: Vec<&str> =
        path.split('/').filter(|s| !s.is_empty()).map(|s| if s.bytes().any(|b| b.is_ascii_digit()) { ":id" } else { s }).collect();
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array};
    use proptest::prelude::*;

    fn utf8(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn coordinates_to_grid() {
        let lat: ArrayRef = Arc::new(Float64Array::from(vec![Some(39.904211), None, Some(-33.8688)]));
        let out = generalize(&lat, Generalization::Grid { size: 0.01 }).unwrap();
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(out.value(0), 39.90);
        assert!(out.is_null(1));
        assert_eq!(out.value(2), -33.87);
        let pairs = generalize(&utf8(&[Some("39.904211,116.407395")]), Generalization::Grid { size: 0.01 }).unwrap();
        assert_eq!(pairs.as_string::<i32>().value(0), "39.90,116.40");
        let gh = generalize(&utf8(&[Some("39.904211,116.407395")]), Generalization::Geohash { precision: 6 }).unwrap();
        assert_eq!(gh.as_string::<i32>().value(0), "wx4g0b");
        let err = generalize(&utf8(&[Some("ok"), Some("13812345678x")]), Generalization::Grid { size: 0.01 }).unwrap_err();
        assert!(err.to_string().contains("row 0") && !err.to_string().contains("1381"), "{err}");
    }

    #[test]
    fn times_birthdays_and_numbers() {
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_123_456_789), None]));
        let hour = generalize(&ts, Generalization::Time { grain: TimeGrain::Hour }).unwrap();
        assert_eq!(hour.as_primitive::<TimestampMicrosecondType>().value(0), 1_699_999_200_000_000);
        assert!(hour.is_null(1));
        let month = generalize(&ts, Generalization::Time { grain: TimeGrain::Month }).unwrap();
        assert_eq!(from_micros(month.as_primitive::<TimestampMicrosecondType>().value(0)).to_string(), "2023-11-01 00:00:00");
        let born: ArrayRef = Arc::new(Date32Array::from(vec![Some(7_440), None])); // 1990-05-18
        let year = generalize(&born, Generalization::BirthYear).unwrap();
        assert_eq!(year.as_primitive::<arrow::datatypes::Int32Type>().value(0), 1990);
        let band = generalize(&born, Generalization::BirthDecade).unwrap();
        assert_eq!(band.as_string::<i32>().value(0), "1990-1999");
        let text = generalize(&utf8(&[Some("1990-05-18")]), Generalization::BirthYear).unwrap();
        assert_eq!(text.as_primitive::<arrow::datatypes::Int32Type>().value(0), 1990);
        let amounts: ArrayRef = Arc::new(Int64Array::from(vec![Some(1234), Some(-1)]));
        let b = generalize(&amounts, Generalization::Bucket { width: 100.0 }).unwrap();
        assert_eq!(b.as_primitive::<arrow::datatypes::Int64Type>().values(), &[1200, -100]);
    }

    #[test]
    fn ips_addresses_and_urls() {
        let ips = generalize(&utf8(&[Some("36.112.8.77"), Some("2408:8207:24a6:5651::1"), None]), Generalization::IpPrefix).unwrap();
        let ips = ips.as_string::<i32>();
        assert_eq!(ips.value(0), "36.112.8.0/24");
        assert_eq!(ips.value(1), "2408:8207:24a6::/48");
        assert!(ips.is_null(2));
        assert_eq!(region("广东省深圳市南山区科技园路1号").as_deref(), Some("广东省深圳市"));
        assert_eq!(region("北京市朝阳区建国路88号").as_deref(), Some("北京市"));
        assert_eq!(region("新疆维吾尔自治区乌鲁木齐市天山区").as_deref(), Some("新疆维吾尔自治区乌鲁木齐市"));
        assert_eq!(region("四川省阿坝藏族羌族自治州马尔康市").as_deref(), Some("四川省阿坝藏族羌族自治州"));
        assert_eq!(region("放门口"), None);
        assert_eq!(province("广东省深圳市南山区科技园路1号").as_deref(), Some("广东省"));
        assert_eq!(province("北京市朝阳区建国路88号").as_deref(), Some("北京市"));
        assert_eq!(province("新疆维吾尔自治区乌鲁木齐市天山区").as_deref(), Some("新疆维吾尔自治区"));
        assert_eq!(province("深圳市南山区"), None);
        assert_eq!(url_path("https://m.shop.example.cn/item/12345678?spm=a1.2#top").as_deref(), Some("https://m.shop.example.cn/item/:id"));
        assert_eq!(url_path("HTTP://user@News.example.com/a/123.html").as_deref(), Some("http://news.example.com/a/:id"));
        assert_eq!(url_path("not a url"), None);
        assert_eq!(url_path("/api/v2/order/123456?ref=home").as_deref(), Some("/api/:id/order/:id"));
        assert_eq!(url_path("//evil.example.com/x"), None);
    }

    #[test]
    fn points_in_every_encoding_go_to_the_grid() {
        let points = utf8(&[
            Some("116.407395,39.904211"),
            Some("POINT(116.407395 39.904211)"),
            Some(r#"{"type":"Point","coordinates":[116.407395,39.904211]}"#),
            Some("wx4g0bm9"),
        ]);
        let out = generalize(&points, Generalization::Grid { size: 0.01 }).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "116.40,39.90");
        assert_eq!(out.value(1), "116.40,39.90");
        assert_eq!(out.value(2), "116.40,39.90");
        assert_eq!(out.value(3), "wx4g0");
        assert!(generalize(&utf8(&[Some("蓝牙耳机")]), Generalization::Grid { size: 0.01 }).is_err());
    }

    #[test]
    fn text_forms_round_trip_and_output_types_match_the_kernels() {
        for spec in ["grid:0.01", "geohash:6", "time:hour", "birth_year", "birth_decade", "ip", "region", "bucket:100", "url"] {
            assert_eq!(Generalization::parse(spec).unwrap().to_string(), spec);
        }
        assert!(Generalization::parse("grid").unwrap_err().to_string().contains("grid:0.01"));
        assert!(Generalization::parse("time:week").is_err());
        let cases: Vec<(ArrayRef, &str)> = vec![
            (Arc::new(Float64Array::from(vec![39.9])), "grid:0.01"),
            (Arc::new(Int64Array::from(vec![1234])), "bucket:100"),
            (utf8(&[Some("39.9,116.4")]), "grid:0.1"),
            (Arc::new(TimestampMicrosecondArray::from(vec![0])), "time:day"),
            (utf8(&[Some("2026-01-01 10:11:12")]), "time:hour"),
            (Arc::new(Date32Array::from(vec![0])), "birth_year"),
            (utf8(&[Some("1.2.3.4")]), "ip"),
        ];
        for (array, spec) in cases {
            let g = Generalization::parse(spec).unwrap();
            let out = generalize(&array, g).unwrap();
            assert_eq!(out.data_type(), &g.output_type(array.data_type()), "{spec} on {}", array.data_type());
        }
    }

    proptest! {
        #[test]
        fn grid_cells_contain_their_points(lat in -90.0f64..90.0, lon in -180.0f64..180.0, size in prop::sample::select(vec![0.1, 0.01, 0.001])) {
            for x in [lat, lon] {
                let cell = floor_to(x, size);
                prop_assert!(cell <= x + 1e-9 && x < cell + size + 1e-9, "{} not in [{}, {})", x, cell, cell + size);
            }
        }

        #[test]
        fn ipv4_prefix_keeps_the_first_three_octets(a: u8, b: u8, c: u8, d: u8) {
            let ip = format!("{a}.{b}.{c}.{d}");
            let out = generalize(&utf8(&[Some(&ip)]), Generalization::IpPrefix).unwrap();
            prop_assert_eq!(out.as_string::<i32>().value(0), format!("{a}.{b}.{c}.0/24"));
        }
    }
}
