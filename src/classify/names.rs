//! Column-name evidence: names are split into tokens (snake_case, camelCase, digits,
//! Chinese runs) and matched against every category's keywords with aho-corasick.

use aho_corasick::{AhoCorasick, MatchKind};

/// Splits a column or keyword name into lower-case tokens.
///
/// `receiverPhoneNo` → `receiver phone no`, `IMEI2` → `imei 2`, `收货人mobile` → `收货人 mobile`.
pub fn tokenize(name: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Lower,
        Upper,
        Digit,
        Cjk,
        Sep,
    }
    let kind = |c: char| match c {
        'a'..='z' => Kind::Lower,
        'A'..='Z' => Kind::Upper,
        '0'..='9' => Kind::Digit,
        c if c.is_alphanumeric() => Kind::Cjk,
        _ => Kind::Sep,
    };
    let chars: Vec<char> = name.chars().collect();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let k = kind(c);
        if k == Kind::Sep {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            continue;
        }
        if let Some(&p) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let pk = kind(p);
            let next_lower = chars.get(i + 1).is_some_and(|n| kind(*n) == Kind::Lower);
            let boundary = match (pk, k) {
                (Kind::Sep, _) => false,
                (Kind::Lower, Kind::Upper) => true,
                // "IMEINo": the last capital of a run starts the next word.
                (Kind::Upper, Kind::Upper) => next_lower,
                (Kind::Upper | Kind::Lower, Kind::Lower) => false,
                (a, b) => a != b,
            };
            if boundary && !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn is_ascii_token(t: &str) -> bool {
    t.is_ascii()
}

/// The text a column name is matched in: tokens joined and fenced by `_`.
fn haystack(name: &str) -> String {
    format!("_{}_", tokenize(name).join("_"))
}

/// The pattern a keyword is matched with: ASCII ends are fenced by `_` so that `ip` matches
/// `client_ip` but not `zip`; Chinese ends are not, because Chinese has no separators.
fn pattern(keyword: &str) -> Option<String> {
    let tokens = tokenize(keyword);
    let first = tokens.first()?;
    let last = tokens.last()?;
    let mut p = String::new();
    if is_ascii_token(first) {
        p.push('_');
    }
    p.push_str(&tokens.join("_"));
    if is_ascii_token(last) {
        p.push('_');
    }
    Some(p)
}

/// A keyword found in a column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameHit {
    /// Index of the category (in the order the matcher was built with).
    pub category: usize,
    /// The keyword as written in the rule file.
    pub keyword: String,
}

/// Finds the category a column name points to.
#[derive(Debug, Clone)]
pub struct NameMatcher {
    automaton: AhoCorasick,
    /// (category index, keyword as written) per pattern.
    keywords: Vec<(usize, String)>,
}

impl NameMatcher {
    /// Builds a matcher over `(category index, keyword)` pairs. Keywords that normalize to
    /// nothing are ignored.
    pub fn new(keywords: impl IntoIterator<Item = (usize, String)>) -> Self {
        let mut patterns = Vec::new();
        let mut entries = Vec::new();
        for (category, keyword) in keywords {
            if let Some(p) = pattern(&keyword) {
                patterns.push(p);
                entries.push((category, keyword));
            }
        }
        let automaton =
            AhoCorasick::builder().match_kind(MatchKind::Standard).build(&patterns).expect("keyword patterns are plain strings");
        NameMatcher { automaton, keywords: entries }
    }

    /// The best keyword in `column_name`: the one ending last (the head of a compound name
    /// is its last word: `receiver_phone` is a phone, `phone_model` is not), then the longest,
    /// then the first declared.
    pub fn best(&self, column_name: &str) -> Option<NameHit> {
        let hay = haystack(column_name);
        self.automaton.find_overlapping_iter(&hay).max_by_key(|m| (m.end(), m.len(), std::cmp::Reverse(m.pattern().as_usize()))).map(|m| {
            let (category, keyword) = &self.keywords[m.pattern().as_usize()];
            NameHit { category: *category, keyword: keyword.clone() }
        })
    }

    /// The normalized form used for a keyword, for duplicate checks.
    pub fn normalized(keyword: &str) -> Option<String> {
        pattern(keyword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_every_naming_style() {
        assert_eq!(tokenize("receiverPhoneNo"), ["receiver", "phone", "no"]);
        assert_eq!(tokenize("IMEINo"), ["imei", "no"]);
        assert_eq!(tokenize("userID"), ["user", "id"]);
        assert_eq!(tokenize("phone2"), ["phone", "2"]);
        assert_eq!(tokenize("Buyer-UID"), ["buyer", "uid"]);
        assert_eq!(tokenize("收货人mobile"), ["收货人", "mobile"]);
        assert_eq!(tokenize("用户ID_2"), ["用户", "id", "2"]);
        assert_eq!(tokenize("  "), Vec::<String>::new());
    }

    fn matcher() -> NameMatcher {
        NameMatcher::new([
            (0, "phone".to_string()),
            (1, "name".to_string()),
            (1, "收货人".to_string()),
            (2, "phone_model".to_string()),
            (3, "ip".to_string()),
            (4, "user_name".to_string()),
            (0, "手机".to_string()),
        ])
    }

    #[test]
    fn head_word_then_longest_keyword_wins() {
        let m = matcher();
        let cat = |n: &str| m.best(n).map(|h| h.category);
        assert_eq!(cat("receiver_phone"), Some(0));
        assert_eq!(cat("phoneModel"), Some(2));
        assert_eq!(cat("user_name"), Some(4));
        assert_eq!(cat("buyer_name"), Some(1));
        assert_eq!(cat("收货人手机"), Some(0));
        assert_eq!(cat("收货人"), Some(1));
        assert_eq!(cat("client_ip"), Some(3));
        assert_eq!(cat("zip"), None);
        assert_eq!(cat("shipping"), None);
        assert_eq!(m.best("PHONE").unwrap().keyword, "phone");
    }
}
