//! Redaction: find PI inside free text (mobile numbers, ID numbers, bank cards, e-mails, IP
//! addresses)
//! with the same validators `scan` uses, and replace each span with its mask or a tag.
//! Text without such a span is returned unchanged.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::mask::push_mask_for;
use crate::category::Category;
use crate::classify::detectors::{
    canonical_phone, cn_address_span, ip_spans, is_bank_card, is_cn_id_card, is_cn_phone, is_email, street_address_span,
};

/// What a found span is replaced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactStyle {
    /// The category's display mask (`138****5678`).
    #[default]
    Mask,
    /// A tag naming the category (`[PHONE]`).
    Tag,
}

/// A span of PI found in a text: byte range and category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub category: Category,
}

fn tag(category: Category) -> &'static str {
    match category {
        Category::Phone => "[PHONE]",
        Category::IdCard => "[ID_CARD]",
        Category::BankCard => "[BANK_CARD]",
        Category::Email => "[EMAIL]",
        Category::Address => "[ADDRESS]",
        Category::IpAddress => "[IP]",
        _ => "[PI]",
    }
}

/// Classifies a run of digits (separators already removed) found in text.
fn number_category(digits: &str) -> Option<Category> {
    if is_cn_id_card(digits) {
        Some(Category::IdCard)
    } else if is_cn_phone(digits) {
        Some(Category::Phone)
    } else if is_bank_card(digits) {
        Some(Category::BankCard)
    } else {
        None
    }
}

/// Letters and digits of any script: internationalized addresses (RFC 6531) too.
fn is_email_local(c: char) -> bool {
    c.is_alphanumeric() || "._%+-".contains(c)
}

fn is_email_domain(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

/// Finds the PI spans in `text`, in order, without overlaps: street addresses (Chinese and
/// English) cover the numbers inside them.
pub fn find_spans(text: &str) -> Vec<Span> {
    let mut spans = identifier_spans(text);
    for (start, end) in ip_spans(text) {
        if spans.iter().all(|x| x.end <= start || x.start >= end) {
            spans.push(Span { start, end, category: Category::IpAddress });
        }
    }
    let mut from = 0;
    while from < text.len() {
        let rest = &text[from..];
        let found = [cn_address_span(rest), street_address_span(rest)].into_iter().flatten().min();
        let Some((s, e)) = found else { break };
        let (start, end) = (from + s, from + e);
        spans.retain(|x| x.end <= start || x.start >= end);
        spans.push(Span { start, end, category: Category::Address });
        from = end;
    }
    spans.sort_by_key(|s| s.start);
    spans
}

/// The numbers and e-mails in `text`, in order, without overlaps.
fn identifier_spans(text: &str) -> Vec<Span> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // E-mail: expand around an '@'.
        if b[i] == b'@' {
            let start = text[..i].char_indices().rev().take_while(|(_, c)| is_email_local(*c)).last().map_or(i, |(k, _)| k);
            let mut end = i + 1 + text[i + 1..].chars().take_while(|c| is_email_domain(*c)).map(char::len_utf8).sum::<usize>();
            while end > i + 1 && b[end - 1] == b'.' {
                end -= 1;
            }
            // An e-mail may start where a number span just ended ("138...@qq.com").
            let start = spans.last().map_or(start, |s: &Span| start.max(s.end));
            if start < i && is_email(&text[start..end]) {
                if spans.last().is_some_and(|s: &Span| s.end > start) {
                    spans.pop();
                }
                spans.push(Span { start, end, category: Category::Email });
                i = end;
                continue;
            }
        }
        // Numbers: a run of digits, optionally grouped by single spaces or dashes, optionally
        // led by '+' (+86) and ending in X (ID numbers). Letters around the run do not save
        // it ("tel13812345678" is still a phone): only the validators decide.
        let starts_number = b[i].is_ascii_digit() || (b[i] == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts_number {
            let mut end = i + 1;
            while end < b.len() {
                let c = b[end];
                let grouped = (c == b' ' || c == b'-') && b[end - 1].is_ascii_digit() && b.get(end + 1).is_some_and(u8::is_ascii_digit);
                if c.is_ascii_digit() || grouped {
                    end += 1;
                } else {
                    break;
                }
            }
            if end < b.len() && (b[end] == b'X' || b[end] == b'x') {
                end += 1;
            }
            if let Some(span) = number_span(text, i, end) {
                spans.push(span);
            }
            i = end;
            continue;
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
    spans
}

/// The PI span within a number run: the whole run, or else one of its ungrouped parts.
fn number_span(text: &str, start: usize, end: usize) -> Option<Span> {
    let run = &text[start..end];
    let digits: String = run.chars().filter(|c| !matches!(c, ' ' | '-' | '+')).collect();
    let whole = if run.starts_with('+') || run.contains(' ') || run.contains('-') {
        canonical_phone(run).filter(|p| is_cn_phone(p)).map(|_| Category::Phone)
    } else {
        None
    };
    if let Some(category) = whole.or_else(|| number_category(&digits)) {
        return Some(Span { start, end, category });
    }
    // "电话13812345678 2份": the grouped run failed; try its parts.
    let mut offset = start;
    for part in run.split([' ', '-']) {
        let part_start = offset;
        offset += part.len() + 1;
        let part = part.trim_start_matches('+');
        if let Some(category) = number_category(part) {
            let s = part_start + (text[part_start..].len() - text[part_start..].trim_start_matches('+').len());
            return Some(Span { start: s, end: s + part.len(), category });
        }
    }
    None
}

/// `text` with every PI span replaced; borrowed when nothing was found.
pub fn redact(text: &str, style: RedactStyle) -> Cow<'_, str> {
    let spans = find_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for s in spans {
        out.push_str(&text[last..s.start]);
        match style {
            RedactStyle::Mask => push_mask_for(s.category, &text[s.start..s.end], None, &mut out),
            RedactStyle::Tag => out.push_str(tag(s.category)),
        }
        last = s.end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_pi_inside_chinese_text() {
        assert_eq!(redact("你好，我的手机号是13812345678，到了请打电话", RedactStyle::Mask), "你好，我的手机号是138****5678，到了请打电话");
        assert_eq!(redact("身份证号 11010519491231002X，麻烦核对", RedactStyle::Tag), "身份证号 [ID_CARD]，麻烦核对");
        assert_eq!(redact("联系邮箱 zhang.san@163.com。", RedactStyle::Tag), "联系邮箱 [EMAIL]。");
        assert_eq!(redact("电话 +86 138-1234-5678 找我", RedactStyle::Tag), "电话 [PHONE] 找我");
        assert_eq!(redact("卡号6222021234567890128", RedactStyle::Tag), "卡号[BANK_CARD]");
        assert_eq!(redact("电话13812345678 2份", RedactStyle::Tag), "电话[PHONE] 2份");
        assert_eq!(redact("a:13812345678,b:13987654321", RedactStyle::Tag), "a:[PHONE],b:[PHONE]");
        assert_eq!(redact("tel13812345678", RedactStyle::Tag), "tel[PHONE]");
    }

    #[test]
    fn redacts_street_addresses_inside_text() {
        assert_eq!(redact("地址改成广东省深圳市南山区科技园路18号3栋1001室，谢谢", RedactStyle::Tag), "地址改成[ADDRESS]，谢谢");
        assert_eq!(redact("寄到北京市朝阳区建国路88号 电话13812345678", RedactStyle::Tag), "寄到[ADDRESS] 电话[PHONE]");
        assert_eq!(
            redact("Ship to 1200 Oak St, Apt 4, Springfield, IL 62704 instead", RedactStyle::Tag),
            "Ship to [ADDRESS], Springfield, IL 62704 instead"
        );
        let masked = redact("改到上海市徐汇区淮海中路1号", RedactStyle::Mask).into_owned();
        assert!(!masked.contains("淮海中路1号"), "{masked}");
        assert!(!crate::classify::detectors::has_embedded_pi(&masked), "{masked}");
        assert_eq!(redact("今天去市中心的路上堵车了", RedactStyle::Tag), "今天去市中心的路上堵车了");
    }

    #[test]
    fn leaves_look_alikes_alone() {
        for text in [
            "订单号 202606151234567890 已发货",
            "SKU 912345678901234",
            "明天下午三点见",
            "价格 1380 元，共 2 件",
            "版本 5.12.3",
            "邮件 @someone 你好",
        ] {
            assert_eq!(redact(text, RedactStyle::Tag), text);
        }
    }

    proptest! {
        #[test]
        fn text_without_pi_is_unchanged(text in "[a-zA-Z\u{4e00}-\u{4e50}，。 !?:-]{0,30}([0-9]{1,10}[a-z\u{4e00}-\u{4e50}]{1,5}){0,4}") {
            prop_assert_eq!(redact(&text, RedactStyle::Mask), text.as_str());
        }

        #[test]
        fn embedded_phones_are_always_found(prefix in "[\u{4e00}-\u{4e50}a-z ]{0,10}", second in 3u8..10, rest in "[0-9]{9}", suffix in "[\u{4e00}-\u{4e50}，。]{0,10}") {
            let phone = format!("1{second}{rest}");
            let text = format!("{prefix} {phone}{suffix}");
            let out = redact(&text, RedactStyle::Mask).into_owned();
            prop_assert!(!out.contains(&phone));
            let masked = format!("1{second}{}****{}", &rest[..1], &rest[5..]);
            prop_assert!(out.contains(&masked), "{} lacks {}", out, masked);
        }
    }
}
