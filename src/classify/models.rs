//! Value models where no checksum exists: people's names from maintained name lists, and
//! street addresses by their grammar. A model says whether one value fits; the classifier
//! scores the share of a column's values that do and records it as evidence.
//!
//! The lists are generated from data packages by `classifiers/data/make_name_lists.py`:
//! given and family names of the Latin-script locales of Faker, and the characters of
//! Chinese given names down to 98 % of their occurrences in ngender's counts over real names.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::detectors::{COMPOUND_SURNAMES, has_cn_surname};

const LATIN_GIVEN: &str = include_str!("../../classifiers/data/latin_given_names.txt");
const LATIN_FAMILY: &str = include_str!("../../classifiers/data/latin_family_names.txt");
const CN_GIVEN_CHARS: &str = include_str!("../../classifiers/data/cn_given_chars.txt");

/// The lines of a generated list that are entries (not its `#` header), lower case.
fn entries(text: &'static str) -> HashSet<String> {
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split(' ').next().unwrap_or(l).to_lowercase()).collect()
}

fn given() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| entries(LATIN_GIVEN))
}

fn family() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| entries(LATIN_FAMILY))
}

fn cn_given_chars() -> &'static HashSet<char> {
    static SET: OnceLock<HashSet<char>> = OnceLock::new();
    SET.get_or_init(|| entries(CN_GIVEN_CHARS).iter().filter_map(|e| e.chars().next()).collect())
}

/// Whether a word is a letter word of a name (`O'Reilly`, `Jean-Luc`, `J.`).
fn name_word(w: &str) -> bool {
    let w = w.trim_end_matches('.');
    !w.is_empty() && w.chars().all(|c| c.is_alphabetic() || matches!(c, '\'' | '-')) && w.chars().next().is_some_and(char::is_alphabetic)
}

/// A Latin-script personal name: one word that is a given or a family name, or two to four
/// words (`First Last`, `LAST, First`, `First M. Last`) whose first is a given name and
/// whose last is a family name (or the reverse, after a comma). Case is ignored.
pub fn is_latin_name(value: &str) -> bool {
    if !value.trim_start().chars().next().is_some_and(char::is_alphabetic) || value.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let (value, reversed) = match value.split_once(',') {
        Some((last, first)) => (format!("{} {}", first.trim(), last.trim()), true),
        None => (value.trim().to_string(), false),
    };
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || words.len() > 4 || !words.iter().all(|w| name_word(w)) {
        return false;
    }
    let lower = |w: &str| w.trim_end_matches('.').to_lowercase();
    let (first, last) = (lower(words[0]), lower(words[words.len() - 1]));
    if words.len() == 1 {
        return !reversed && (given().contains(&first) || family().contains(&first));
    }
    given().contains(&first) && family().contains(&last)
}

/// A Latin-script full name: [`is_latin_name`] with at least two words.
pub fn is_latin_full_name(value: &str) -> bool {
    value.split([' ', ',']).filter(|w| !w.is_empty()).count() >= 2 && is_latin_name(value)
}

/// Pinyin of the Chinese surnames of three letters or more (`zhang`, `wang`, `chen`), as
/// login names spell them.
fn pinyin_surnames() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        use pinyin::ToPinyin;
        super::detectors::SURNAMES.to_pinyin().flatten().map(|p| p.plain().to_string()).filter(|p| p.len() >= 3).collect()
    })
}

/// Every pinyin syllable, toneless (`zhang`, `wei`).
fn pinyin_syllables() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        use pinyin::ToPinyin;
        ('\u{4e00}'..='\u{9fa5}').filter_map(|c| c.to_pinyin()).map(|p| p.plain().to_string()).collect()
    })
}

/// Whether `run` is pinyin syllables throughout (`wei`, `xiaoming`).
fn all_syllables(run: &str) -> bool {
    run.is_empty() || (1..=run.len().min(6)).any(|k| pinyin_syllables().contains(&run[..k]) && all_syllables(&run[k..]))
}

/// Whether a run of letters is, starts with or ends with a person's name (`smith`,
/// `jsmith`), or is a pinyin surname followed by a given name's syllables (`zhangwei`).
fn holds_a_name(run: &str) -> bool {
    let known = |w: &str| w.len() >= 3 && (given().contains(w) || family().contains(w));
    let pinyin_name =
        || pinyin_surnames().iter().any(|s| run.len() > s.len() && run.starts_with(s.as_str()) && all_syllables(&run[s.len()..]));
    if known(run) || pinyin_name() {
        return true;
    }
    (4..run.len()).any(|k| {
        (run.is_char_boundary(k) && known(&run[..k]) && run.len() - k <= 2)
            || (run.is_char_boundary(run.len() - k) && known(&run[run.len() - k..]) && run.len() - k <= 2)
    })
}

/// A login name: a lower-case token of letters, digits and `._-` (after a `DOMAIN\\`
/// prefix) with a person's name in it (`jsmith`, `mary.jones`, `zhangwei88`, `corp\\ken0`).
pub fn is_login_name(value: &str) -> bool {
    let login = value.rsplit('\\').next().unwrap_or(value);
    let ok = (3..=32).contains(&login.len())
        && login.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    ok && login.split(|c: char| !c.is_ascii_alphabetic()).any(|run| run.len() >= 3 && holds_a_name(run))
}

/// A Chinese personal name: a known surname, then one to three characters that Chinese
/// given names are made of (`王秀英`, `欧阳娜娜`), not a word that happens to start with a
/// surname's character (`高端`, `白色`, `母婴`).
pub fn is_cn_given_name(value: &str) -> bool {
    let surname = COMPOUND_SURNAMES.iter().find(|s| value.starts_with(*s)).map_or(1, |s| s.chars().count());
    let given: Vec<char> = value.chars().skip(surname).collect();
    has_cn_surname(value) && (1..=3).contains(&given.len()) && given.iter().all(|c| cn_given_chars().contains(c))
}

/// Words that come before a street's name (`Rue Milton`, `Calle Lagasca`), lower case.
const LEADING_STREET_WORDS: [&str; 16] = [
    "rue",
    "rua",
    "av",
    "avda",
    "avenida",
    "calle",
    "carrera",
    "via",
    "viale",
    "piazza",
    "praça",
    "plaza",
    "paseo",
    "ulica",
    "ul",
    "boulevard",
];
/// Endings of a street's name in the Germanic and Nordic orders (`Obere Str.`, `Theodor-Heuss-Straße`).
const TRAILING_STREET_ENDINGS: [&str; 11] = ["straße", "strasse", "str", "gasse", "weg", "allee", "platz", "vej", "gatan", "gade", "laan"];
/// Words that name a unit of a building (`Apt. 12`, `Suite 2400`, `# 6`).
const UNIT_WORDS: [&str; 8] = ["apt", "apartment", "suite", "ste", "unit", "flat", "floor", "room"];
/// Compass points that may follow a street type (`111 ST NW`).
const DIRECTIONS: [&str; 8] = ["n", "s", "e", "w", "ne", "nw", "se", "sw"];

fn is_house_number(w: &str) -> bool {
    let w = w.trim_matches([',', '.']);
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &w[digits..];
    (1..=5).contains(&digits)
        && (rest.is_empty()
            || (rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_alphabetic()))
            || rest.strip_prefix(['/', '-']).is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())))
}

fn bare(w: &str) -> String {
    w.trim_matches([',', '.']).to_lowercase()
}

fn ends_a_street(w: &str) -> bool {
    let b = bare(w);
    super::detectors::is_street_type(&b)
        || b == "broadway"
        || TRAILING_STREET_ENDINGS.iter().any(|e| b == *e || (b.len() > e.len() + 2 && b.ends_with(e)))
}

/// A street address in the orders the English grammar does not cover: a house number, then
/// a street word first (`4, Rue Milton`) or a street type last (`8210 111 ST NW`,
/// `507 - 20th Ave. E.`); or a street word first or a Germanic street ending, then a house
/// number (`Av. Brasil, 442`, `Theodor-Heuss-Straße 34`, `Obere Str. 57`); or a unit line
/// (`Apt. 12`, `# 6`, `Suite 2400`).
pub fn is_street_line(value: &str) -> bool {
    let words: Vec<&str> = value.split_whitespace().filter(|w| *w != "-").collect();
    if words.len() < 2 || words.len() > 10 {
        return false;
    }
    let leading = |w: &str| LEADING_STREET_WORDS.contains(&bare(w).as_str());
    let unit = |w: &str| UNIT_WORDS.contains(&bare(w).as_str()) || w == "#";
    if words.len() <= 3 && unit(words[0]) && words[1..].iter().any(|w| w.bytes().any(|b| b.is_ascii_digit())) {
        return true;
    }
    if is_house_number(words[0]) {
        let rest = &words[1..];
        let last = rest.iter().rposition(|w| !DIRECTIONS.contains(&bare(w).as_str())).map_or(rest[0], |i| rest[i]);
        return leading(rest[0]) || ends_a_street(last);
    }
    if is_house_number(words[words.len() - 1]) {
        let rest = &words[..words.len() - 1];
        return leading(rest[0]) || rest.iter().any(|w| TRAILING_STREET_ENDINGS.iter().any(|e| bare(w).ends_with(e)));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_names_are_told_from_categories() {
        for n in ["Leonie Köhler", "François Tremblay", "SMITH, MARY", "Mary J. Smith", "PENELOPE", "Nielsen", "hugh o'reilly"] {
            assert!(is_latin_name(n), "{n}");
        }
        for n in ["Rock And Roll", "Heavy Metal", "Beverages", "Sci Fi & Fantasy", "Chai", "12 Main", "Grains/Cereals"] {
            assert!(!is_latin_name(n), "{n}");
        }
        assert!(is_latin_full_name("Luís Gonçalves") && !is_latin_full_name("Luís"));
    }

    #[test]
    fn login_names_are_made_of_names() {
        for l in ["jsmith", "mary.jones", "zhangwei88", "adventure-works\\ken0", "olivia_okafor3", "wangfang"] {
            assert!(is_login_name(l), "{l}");
        }
        for l in ["btn_buy", "mini_program", "pay_success", "tab_home", "admin", "ORD-2026", "x9", "Leonie Köhler"] {
            assert!(!is_login_name(l), "{l}");
        }
    }

    #[test]
    fn chinese_given_names_are_made_of_name_characters() {
        for n in ["王秀英", "李娜", "欧阳娜娜", "张子豪", "诸葛亮"] {
            assert!(is_cn_given_name(n), "{n}");
        }
        for n in ["白色", "母婴", "高端大气", "王者荣耀", "苹果"] {
            assert!(!is_cn_given_name(n), "{n}");
        }
    }

    #[test]
    fn street_lines_of_many_countries() {
        for a in [
            "Av. Brigadeiro Faria Lima, 2170",
            "4, Rue Milton",
            "Theodor-Heuss-Straße 34",
            "Obere Str. 57",
            "Calle Lagasca, 88",
            "8210 111 ST NW",
            "507 - 20th Ave. E.",
            "Apt. 12",
            "# 6",
            "Suite 2400",
            "1600 Broadway",
        ] {
            assert!(is_street_line(a), "{a}");
        }
        for a in ["iPhone 15 Pro", "Windows 11", "Plan 3", "3 Pack Road Bike Tires", "Sales Representative", "12.5", "Suite"] {
            assert!(!is_street_line(a), "{a}");
        }
    }
}
