//! Masking: keep the first n and last m characters (Unicode characters, not bytes) and
//! replace every character between with `*`, so a masked value keeps its length.

use serde::{Deserialize, Serialize};

use crate::category::Category;
use crate::classify::detectors::COMPOUND_SURNAMES;

/// The mask character.
pub const MASK: char = '*';

/// How many characters a mask keeps at each end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskSpec {
    /// Characters kept at the start.
    pub keep_first: usize,
    /// Characters kept at the end.
    pub keep_last: usize,
}

impl MaskSpec {
    /// The display mask GB/T 35273 practice uses for each category: phone `138****5678`,
    /// ID `110101********123X`, bank card `622202*********0128`; names and e-mails are
    /// handled by [`mask_for`] (surname kept; first letter and domain kept).
    pub fn preset(category: Category) -> MaskSpec {
        let (keep_first, keep_last) = match category {
            Category::Phone => (3, 4),
            Category::IdCard | Category::BankCard => (6, 4),
            Category::Passport => (1, 3),
            Category::DeviceId | Category::AccountId => (4, 4),
            Category::IpAddress => (0, 0),
            _ => (1, 0),
        };
        MaskSpec { keep_first, keep_last }
    }
}

/// Masks `value`, keeping `spec`'s characters at each end. When that would hide nothing
/// (a 5-character "phone" under the 3+4 preset), at most half is kept, from the start.
pub fn mask(value: &str, spec: MaskSpec) -> String {
    let mut out = String::with_capacity(value.len());
    push_mask(value, spec, &mut out);
    out
}

/// Appends [`mask`]`(value, spec)` to `out`.
pub fn push_mask(value: &str, spec: MaskSpec, out: &mut String) {
    // Most values are ASCII, where characters are bytes and nothing needs decoding.
    let ascii = value.is_ascii();
    let n = if ascii { value.len() } else { value.chars().count() };
    let (first, last) =
        if spec.keep_first + spec.keep_last < n { (spec.keep_first, spec.keep_last) } else { (spec.keep_first.min(n / 2), 0) };
    let byte_at = |chars: usize| {
        if ascii { chars } else { value.char_indices().nth(chars).map_or(value.len(), |(i, _)| i) }
    };
    out.push_str(&value[..byte_at(first)]);
    let mut hidden = n - first - last;
    while hidden > 0 {
        let run = hidden.min(STARS.len());
        out.push_str(&STARS[..run]);
        hidden -= run;
    }
    out.push_str(&value[byte_at(n - last)..]);
}

/// A run of mask characters, appended in slices rather than one character at a time.
const STARS: &str = match std::str::from_utf8(&[MASK as u8; 64]) {
    Ok(s) => s,
    Err(_) => panic!("the mask character is ASCII"),
};

/// The mask of a value of `category`: names keep the surname (`张*`, `欧阳**`), e-mails keep
/// the first letter and the domain (`z*******@example.com`), everything else uses `spec` or
/// the category's preset.
pub fn mask_for(category: Category, value: &str, spec: Option<MaskSpec>) -> String {
    let mut out = String::with_capacity(value.len());
    push_mask_for(category, value, spec, &mut out);
    out
}

/// Appends [`mask_for`]`(category, value, spec)` to `out`.
pub fn push_mask_for(category: Category, value: &str, spec: Option<MaskSpec>, out: &mut String) {
    if let Some(spec) = spec {
        return push_mask(value, spec, out);
    }
    match category {
        Category::Name if value.chars().count() >= 3 && COMPOUND_SURNAMES.iter().any(|s| value.starts_with(s)) => {
            push_mask(value, MaskSpec { keep_first: 2, keep_last: 0 }, out)
        }
        Category::Email => match value.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() => {
                push_mask(local, MaskSpec { keep_first: 1, keep_last: 0 }, out);
                out.push('@');
                out.push_str(domain);
            }
            _ => push_mask(value, MaskSpec::preset(category), out),
        },
        _ => push_mask(value, MaskSpec::preset(category), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn presets_match_the_design() {
        assert_eq!(mask_for(Category::Phone, "13812345678", None), "138****5678");
        assert_eq!(mask_for(Category::IdCard, "11010119900307123X", None), "110101********123X");
        assert_eq!(mask_for(Category::Name, "张三", None), "张*");
        assert_eq!(mask_for(Category::Name, "欧阳娜娜", None), "欧阳**");
        assert_eq!(mask_for(Category::Name, "王小明", None), "王**");
        assert_eq!(mask_for(Category::Email, "zhangsan@example.com", None), "z*******@example.com");
        let two = MaskSpec { keep_first: 2, keep_last: 1 };
        assert_eq!(mask_for(Category::Name, "买买提·艾力", Some(two)), "买买***力");
    }

    #[test]
    fn short_values_are_still_hidden() {
        let phone = MaskSpec::preset(Category::Phone);
        assert_eq!(mask("12345", phone), "12***");
        assert_eq!(mask("1", phone), "*");
        assert_eq!(mask("", phone), "");
    }

    proptest! {
        #[test]
        fn masked_values_keep_length_and_hide_every_middle_character(
            value in "\\PC{0,40}",
            keep_first in 0usize..8,
            keep_last in 0usize..8,
        ) {
            let out = mask(&value, MaskSpec { keep_first, keep_last });
            let chars: Vec<char> = value.chars().collect();
            let masked: Vec<char> = out.chars().collect();
            prop_assert_eq!(masked.len(), chars.len());
            let hidden = masked.iter().filter(|c| **c == MASK).count();
            prop_assert!(chars.is_empty() || hidden >= 1, "something is hidden: {:?}", out);
            for (i, (m, c)) in masked.iter().zip(&chars).enumerate() {
                prop_assert!(*m == MASK || m == c, "position {} changed", i);
                let kept_here = i < keep_first || i >= chars.len().saturating_sub(keep_last);
                if !kept_here {
                    prop_assert_eq!(*m, MASK);
                }
            }
        }

        #[test]
        fn masked_phones_never_show_the_hidden_digits(second in 3u8..10, third in 0u8..10, middle in "[0-9]{4}", last in "[0-9]{4}") {
            let phone = format!("1{second}{third}{middle}{last}");
            let out = mask_for(Category::Phone, &phone, None);
            prop_assert_eq!(out, format!("1{second}{third}****{last}"));
        }
    }
}
