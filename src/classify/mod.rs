//! Column classification: combines column-name evidence with value evidence into a category,
//! a sensitivity, a confidence and a suggested action, and records why.
//!
//! Neither kind of evidence decides alone when the other disagrees strongly: a column named
//! `order_no` full of 18-digit numbers that fail the ID check is not an ID, and a column named
//! `c2` full of valid ID numbers is one.

pub mod context;
pub mod detectors;
pub mod models;
pub mod names;
pub mod rules;

use arrow::array::StringArray;
use serde::{Deserialize, Serialize};

use crate::category::{Action, Category, Sensitivity};
use crate::value_map::{ValueMap, value_map};
use names::NameMatcher;
pub use rules::{CategoryRule, Rules, RulesError};

/// Values checked before a category whose values clearly do not match stops being checked.
const ABANDON_AFTER: usize = 200;
/// Fewest values for a mismatch to overrule a column name.
const VETO_MIN_VALUES: usize = 20;
/// At most this share of matches counts as values contradicting a column name.
const VETO_MAX_SHARE: f64 = 0.05;
/// Share of checksummed PI (ID numbers, phones, cards…) that makes an unnamed column PI
/// although most of its values are something else; random digits pass a check far less often.
const MIXED_MIN_SHARE: f64 = 0.3;
/// Fewest distinct surnames among a column's names for it to be a column of people's names.
const NAME_MIN_SURNAMES: usize = 5;
/// Fewest distinct names among them.
const NAME_MIN_DISTINCT: usize = 20;
/// Below this share of values that fit the name models, a column named for people's names
/// holds something else (a genre's, a product's or a street's name).
const NAME_MODEL_MIN_SHARE: f64 = 0.3;
/// Share of a column's values that are login names for it to be a column of logins.
const LOGIN_MIN_SHARE: f64 = 0.5;
/// A coded column holds at most this many distinct values…
const CODED_MAX_DISTINCT: usize = 5;
/// …of at most this many characters (`1`/`2` for a gender, `0`-`8` for an age band): the
/// name says what the codes mean, and no detector can.
const CODED_MAX_CHARS: usize = 2;

/// Why a column was classified as it was. Never holds a value from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The keyword found in the column name, if any.
    pub name_keyword: Option<String>,
    /// Non-null values checked against the chosen category's detectors.
    pub values_checked: usize,
    /// How many of them matched.
    pub values_matched: usize,
    /// The detectors that matched at least one value of the chosen category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
    /// One sentence for the report.
    pub reason: String,
}

/// The classification of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnVerdict {
    /// The PI category, or `none`.
    pub category: Category,
    /// Sensitivity of that category under the loaded rules.
    pub sensitivity: Sensitivity,
    /// 0 to 1.
    pub confidence: f64,
    /// What the decision rests on.
    pub evidence: Evidence,
    /// The action the rules suggest for the category.
    pub suggested_action: Action,
}

/// What kind of values a column's type holds, as far as classification and the kernels care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Text,
    Number,
    Temporal,
    Boolean,
    /// Structs, lists, maps and binary: no kernel reads them.
    Opaque,
}

impl TypeKind {
    /// The kind of a type as the inventory reports it (`Utf8`, `Int64`, `Timestamp(µs)`, …).
    pub fn of(data_type: &str) -> TypeKind {
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| data_type.starts_with(p));
        if starts(&["Utf8", "LargeUtf8"]) {
            TypeKind::Text
        } else if starts(&["Int", "UInt", "Float", "Decimal"]) {
            TypeKind::Number
        } else if starts(&["Timestamp", "Date", "Time"]) {
            TypeKind::Temporal
        } else if data_type == "Boolean" || data_type == "Null" {
            TypeKind::Boolean
        } else {
            TypeKind::Opaque
        }
    }
}

/// Classifies columns with a set of rules.
#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Rules,
    matcher: NameMatcher,
    /// Name tokens that make an identifier-like column an account (`customer`, `会员`).
    subject_words: Vec<String>,
}

/// Running tally of one category's detectors over a column's values.
#[derive(Debug, Clone)]
struct Tally {
    rule: usize,
    checked: usize,
    matched: usize,
    strong_matched: usize,
    /// Matched by a detector that overrules a not-PI name.
    overruling_matched: usize,
    /// Had the form a checksum detector validates, whether or not the check passed.
    formed: usize,
    per_detector: Vec<usize>,
    alive: bool,
}

impl Tally {
    fn share(&self) -> f64 {
        if self.checked == 0 { 0.0 } else { self.matched as f64 / self.checked as f64 }
    }
    fn strong_share(&self) -> f64 {
        if self.checked == 0 { 0.0 } else { self.strong_matched as f64 / self.checked as f64 }
    }
    fn overruling_share(&self) -> f64 {
        if self.checked == 0 { 0.0 } else { self.overruling_matched as f64 / self.checked as f64 }
    }
}

/// What one rule's detectors say of one value.
#[derive(Debug, Clone, Copy, Default)]
struct RuleOutcome {
    /// The detectors that matched, by their index in the rule.
    detectors: u64,
    strong: bool,
    overruling: bool,
    /// Had the form a checksum detector validates.
    formed: bool,
}

/// Most distinct values of a column whose per-value results are remembered: masked, coded and
/// generalized columns repeat a few values over thousands of rows, and detectors are the cost
/// of judging them. Results depend on the value alone, so remembering changes no verdict.
pub(crate) const REMEMBERED_VALUES: usize = 4096;

/// A per-value function's results for the distinct values of a column met so far (up to
/// [`REMEMBERED_VALUES`]; later ones are computed each time).
pub(crate) struct PerValue<'a, T> {
    known: ValueMap<&'a str, T>,
    /// The result for the value being looked at when it is not remembered.
    scratch: Option<T>,
}

impl<T> Default for PerValue<'_, T> {
    fn default() -> Self {
        PerValue { known: value_map(), scratch: None }
    }
}

impl<'a, T> PerValue<'a, T> {
    /// The result for `value`, computed by `compute` unless remembered.
    pub(crate) fn of(&mut self, value: &'a str, compute: impl FnOnce(&'a str) -> T) -> &T {
        use std::collections::hash_map::Entry;
        let room = self.known.len() < REMEMBERED_VALUES;
        // One lookup a value: this runs for every value the leak gate judges.
        match self.known.entry(value) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) if room => slot.insert(compute(value)),
            Entry::Vacant(_) => self.scratch.insert(compute(value)),
        }
    }
}

/// What classifying looks at in one value: its normalized form, whether that means "no value",
/// and what each live rule's detectors say of it.
struct ValueFacts<'a> {
    normalized: std::borrow::Cow<'a, str>,
    null: bool,
    /// By tally; computed for the rules live when the value was first met. A rule abandoned
    /// since is never read again, so facts computed earlier stay valid.
    outcomes: Vec<RuleOutcome>,
}

/// Strings that mean "no value" in exported data.
fn is_null_token(v: &str) -> bool {
    v.is_empty() || matches!(v, "-" | "\\N" | "null" | "NULL" | "Null" | "None" | "none" | "NaN" | "nan" | "N/A" | "n/a")
}

impl Classifier {
    /// A classifier over the given rules.
    pub fn new(rules: Rules) -> Self {
        let index = |c: Category| rules.categories.iter().position(|r| r.id == c);
        let generated = rules.generated_keywords().unwrap_or_default();
        let matcher = NameMatcher::new(
            rules
                .categories
                .iter()
                .enumerate()
                .flat_map(|(i, r)| r.keywords.iter().map(move |k| (i, k.clone())))
                .chain(generated.into_iter().filter_map(|(c, k)| index(c).map(|i| (i, k)))),
        );
        let subject_words = rules.subject_words();
        Classifier { rules, matcher, subject_words }
    }

    /// The rules in use.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The rule for a category, if loaded.
    pub fn rule(&self, category: Category) -> Option<&CategoryRule> {
        self.rules.categories.iter().find(|r| r.id == category)
    }

    /// Classifies a column of type `data_type` (as the inventory reports it) from its name and
    /// a sample of its values rendered as strings. Dates and timestamps are never a location,
    /// a phone or an id, whatever the column is called: of the categories only a birth date
    /// is one by its type.
    pub fn classify_typed(&self, column_name: &str, data_type: &str, values: &StringArray) -> ColumnVerdict {
        let v = self.classify(column_name, values);
        if matches!(v.category, Category::None | Category::Birthday) {
            return v;
        }
        let kind = match TypeKind::of(data_type) {
            TypeKind::Temporal => data_type.to_string(),
            TypeKind::Text if mostly_temporal(values) => "dates or times written as text".to_string(),
            _ => return v,
        };
        let reason = format!("its values are {kind}, which cannot be {}", v.category);
        self.none_verdict(0.9, v.evidence.name_keyword, v.evidence.values_checked, reason)
    }

    /// Classifies a column from its name and a sample of its values rendered as strings.
    pub fn classify(&self, column_name: &str, values: &StringArray) -> ColumnVerdict {
        let mut v = self.classify_by_rules(column_name, values);
        // Links to images and scripts (an avatar, an icon) are no pages a person visited.
        if v.category == Category::BrowsingHistory && v.evidence.name_keyword.is_none() && mostly_static_files(values) {
            return self.none_verdict(
                0.8,
                None,
                v.evidence.values_checked,
                "its values link to files (images, scripts, media), not pages a person visited".into(),
            );
        }
        // Whole access-log lines make a browsing log, but generalizing them as URLs would
        // keep the client addresses and ids inside: they are redacted.
        if v.category == Category::BrowsingHistory && v.evidence.detectors.iter().any(|d| d == detectors::Detector::AccessLogLine.name()) {
            v.suggested_action = Action::Redact;
            v.evidence.reason.push_str("; whole access-log lines, so the addresses and ids inside them are redacted");
        }
        v
    }

    /// The outcome of each live tally's rule on `value` (hex, base64 and reversed digits are
    /// validated as what they hide); nothing for abandoned ones.
    fn outcomes(&self, value: &str, tallies: &[Tally]) -> Vec<RuleOutcome> {
        let hidden = detectors::decoded(value);
        let outcome = |t: &Tally| {
            let rule = &self.rules.categories[t.rule];
            let mut o =
                RuleOutcome { formed: rule.detectors.iter().any(|d| d.form().is_some_and(|form| form(value))), ..Default::default() };
            for (k, d) in rule.detectors.iter().enumerate() {
                if d.matches(value) || hidden.as_deref().is_some_and(|h| d.matches(h)) {
                    o.detectors |= 1 << k;
                    o.strong |= d.is_strong();
                    o.overruling |= d.overrules_not_pi();
                }
            }
            o
        };
        tallies.iter().map(|t| if t.alive { outcome(t) } else { RuleOutcome::default() }).collect()
    }

    fn classify_by_rules(&self, column_name: &str, values: &StringArray) -> ColumnVerdict {
        let hit = self.matcher.best(column_name);
        let name_rule = hit.as_ref().map(|h| h.category);
        let mut tallies: Vec<Tally> = self
            .rules
            .categories
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.detectors.is_empty())
            .map(|(i, r)| Tally {
                rule: i,
                checked: 0,
                matched: 0,
                strong_matched: 0,
                overruling_matched: 0,
                formed: 0,
                per_detector: vec![0; r.detectors.len()],
                alive: true,
            })
            .collect();

        let mut non_null = 0;
        let mut codes: ValueMap<String, ()> = value_map();
        let mut longest = 0;
        let mut seen = PerValue::default();
        for raw in values.iter().flatten() {
            let facts = seen.of(raw, |raw| {
                let normalized = detectors::normalize_value(raw);
                let null = is_null_token(&normalized);
                let outcomes = if null { Vec::new() } else { self.outcomes(&normalized, &tallies) };
                ValueFacts { normalized, null, outcomes }
            });
            if facts.null {
                continue;
            }
            let value = facts.normalized.as_ref();
            non_null += 1;
            // Tracked only while the column may still be coded: both only grow.
            if codes.len() <= CODED_MAX_DISTINCT && longest <= CODED_MAX_CHARS {
                longest = longest.max(value.chars().count());
                if !codes.contains_key(value) {
                    codes.insert(value.to_string(), ());
                }
            }
            let outcomes = &facts.outcomes;
            for (t, o) in tallies.iter_mut().zip(outcomes.iter()).filter(|(t, _)| t.alive) {
                let rule = &self.rules.categories[t.rule];
                t.checked += 1;
                t.formed += usize::from(o.formed);
                for (k, count) in t.per_detector.iter_mut().enumerate() {
                    *count += usize::from(o.detectors & (1 << k) != 0);
                }
                t.matched += usize::from(o.detectors != 0);
                t.strong_matched += usize::from(o.strong);
                t.overruling_matched += usize::from(o.overruling);
                // A category far below its threshold cannot reach it; stop paying for it
                // unless the column's name points to it (its share is reported).
                if t.checked == ABANDON_AFTER && Some(t.rule) != name_rule && t.share() < (rule.min_share * 0.5).min(MIXED_MIN_SHARE * 0.5)
                {
                    t.alive = false;
                }
            }
        }

        let keyword = hit.as_ref().map(|h| h.keyword.clone());
        let coded = non_null >= VETO_MIN_VALUES && codes.len() <= CODED_MAX_DISTINCT && longest <= CODED_MAX_CHARS;
        // The best category by strong value evidence alone, other than `exclude`; against a
        // not-PI name, only by detectors that overrule one.
        let winner_by = |exclude: Option<usize>, share: fn(&Tally) -> f64, floor: Option<f64>| {
            tallies
                .iter()
                .filter(|t| t.alive && Some(t.rule) != exclude)
                .filter(|t| share(t) > 0.0 && share(t) >= floor.unwrap_or(self.rules.categories[t.rule].min_share))
                .max_by(|a, b| share(a).total_cmp(&share(b)).then(b.rule.cmp(&a.rule)))
        };
        let value_winner = |exclude: Option<usize>| winner_by(exclude, Tally::strong_share, None);

        match name_rule {
            Some(n) if self.rules.categories[n].id != Category::None => {
                let rule = &self.rules.categories[n];
                let kw = keyword.clone().unwrap_or_default();
                let Some(t) = tallies.iter().find(|t| t.rule == n) else {
                    if let Some(v) = value_winner(None) {
                        return self.verdict_from_values(v, keyword, &format!("values contradict name keyword '{kw}'"));
                    }
                    return self.verdict(
                        n,
                        0.8,
                        keyword,
                        0,
                        0,
                        Vec::new(),
                        format!("name keyword '{kw}'; {} has no value detector", rule.id),
                    );
                };
                let share = t.share();
                if t.checked == 0 {
                    return self.verdict(n, 0.7, keyword, 0, 0, Vec::new(), format!("name keyword '{kw}'; no non-null values sampled"));
                }
                if share >= rule.min_share {
                    return self.verdict(
                        n,
                        0.9 + 0.09 * share,
                        keyword,
                        t.checked,
                        t.matched,
                        self.matched_detectors(t),
                        format!("name keyword '{kw}' and {} of values match", percent(share)),
                    );
                }
                if let Some(v) = value_winner(Some(n)) {
                    return self.verdict_from_values(v, keyword, &format!("values contradict name keyword '{kw}'"));
                }
                // Values of another form than a checksum's (nine-digit national numbers under
                // `national_id_number`) may be IDs of another scheme: only values of the form
                // that fail the check (order numbers under `id_no`) veto the name.
                let has_form = rule.detectors.iter().any(|d| d.form().is_some());
                let formed = t.formed as f64 / t.checked as f64;
                let all_veto = rule.detectors.iter().all(|d| d.vetoes()) && (!has_form || formed >= 0.5);
                if coded && rule.detectors.iter().any(|d| d.may_be_coded()) {
                    let reason = format!("name keyword '{kw}'; {} distinct codes, which the name explains", codes.len());
                    return self.verdict(n, 0.7, keyword, t.checked, t.matched, self.matched_detectors(t), reason);
                }
                // Integers under a name that ends in a key's word (`address_id`, `ca_address_sk`)
                // point to another table's rows; they are not the thing itself.
                if t.checked >= VETO_MIN_VALUES && share < VETO_MAX_SHARE && refers_to_rows(column_name, values) {
                    return self.none_verdict(
                        0.7,
                        keyword,
                        t.checked,
                        format!("name keyword '{kw}', but its values are integer keys of {} rows, not {} itself", rule.id, rule.id),
                    );
                }
                if rule.detectors.iter().all(|d| d.is_model()) && t.checked >= VETO_MIN_VALUES {
                    let distinct = distinct_matches(values, |v| rule.detectors.iter().any(|d| d.matches(v)));
                    if share < NAME_MODEL_MIN_SHARE || distinct < NAME_MIN_DISTINCT.min(t.checked / 2) {
                        let detectors: Vec<&str> = rule.detectors.iter().map(|d| d.name()).collect();
                        let reason = format!(
                            "name keyword '{kw}' suggests {}, but only {} of {} values ({distinct} distinct) fit the {} models",
                            rule.id,
                            percent(share),
                            t.checked,
                            detectors.join("/")
                        );
                        return self.none_verdict(0.7, keyword, t.checked, reason);
                    }
                }
                if all_veto && t.checked >= VETO_MIN_VALUES && share < VETO_MAX_SHARE {
                    return self.none_verdict(
                        0.6,
                        keyword,
                        t.checked,
                        format!("name keyword '{kw}' suggests {}, but only {} of {} values match it", rule.id, percent(share), t.checked),
                    );
                }
                let detectors: Vec<&str> = rule.detectors.iter().map(|d| d.name()).collect();
                self.verdict(
                    n,
                    0.6 + 0.3 * share,
                    keyword,
                    t.checked,
                    t.matched,
                    self.matched_detectors(t),
                    format!("name keyword '{kw}'; values do not confirm it ({} match {})", percent(share), detectors.join("/")),
                )
            }
            Some(_) => {
                if let Some(v) = winner_by(None, Tally::overruling_share, None) {
                    let kw = keyword.clone().unwrap_or_default();
                    return self.verdict_from_values(v, keyword, &format!("values overrule the non-PI name keyword '{kw}'"));
                }
                let kw = keyword.clone().unwrap_or_default();
                self.none_verdict(0.9, keyword, non_null, format!("name keyword '{kw}' marks a look-alike that is not PI"))
            }
            None => {
                if let Some(v) = value_winner(None) {
                    return self.verdict_from_values(v, None, "no name keyword");
                }
                // Mixed columns: checksummed PI in a meaningful share of the values, not a majority.
                if let Some(v) = winner_by(None, Tally::overruling_share, Some(MIXED_MIN_SHARE)).filter(|t| t.checked >= VETO_MIN_VALUES) {
                    return self.verdict_from_values(v, None, "no name keyword; a mixed column");
                }
                if let Some(v) = self.names_by_value(&tallies, values) {
                    return v;
                }
                if let Some(v) = self.logins_by_value(&tallies, values) {
                    return v;
                }
                if let Some(v) = self.by_person_word(column_name, &tallies, values) {
                    return v;
                }
                if let Some(shape) = identifier_shape(values) {
                    // Identifiers of a document's form, though no checksum proves it (passport
                    // numbers, plates): the form names them.
                    let formed = winner_by(None, Tally::share, None).filter(|t| {
                        let rule = &self.rules.categories[t.rule];
                        rule.detectors.iter().zip(&t.per_detector).filter(|(_, n)| **n > 0).all(|(d, _)| d.is_document_form())
                    });
                    if let Some(t) = formed {
                        return self.verdict_from_values(t, None, &format!("no name keyword; {shape}"));
                    }
                    return self.unknown_identifier(column_name, non_null, &shape);
                }
                let confidence = if non_null >= VETO_MIN_VALUES { 0.8 } else { 0.6 };
                self.none_verdict(confidence, None, non_null, "no name keyword and no detector matched enough values".into())
            }
        }
    }

    /// A column of personal names by its values alone, under a name that says nothing
    /// (`c1`, `remark`, `contact_person`): a meaningful share of its cells
    /// ([`MIXED_MIN_SHARE`]) are Chinese names or Latin-script full names, and they look like
    /// a population of people rather than a short list of words that fit a name model:
    /// [`NAME_MIN_DISTINCT`] distinct (or half of them, when fewer), led by
    /// [`NAME_MIN_SURNAMES`] surnames or more. Names repeat (a customer's orders), so a
    /// share of distinct values is not asked for.
    fn names_by_value(&self, tallies: &[Tally], values: &StringArray) -> Option<ColumnVerdict> {
        let t = tallies.iter().find(|t| self.rules.categories[t.rule].id == Category::Name && t.alive)?;
        if t.checked < VETO_MIN_VALUES {
            return None;
        }
        let mut matched = 0;
        let mut names = std::collections::HashSet::new();
        let mut surnames = std::collections::HashSet::new();
        for v in values.iter().flatten() {
            let v = detectors::normalize_value(v);
            let surname = if detectors::is_cn_name(&v) {
                v.chars().next().map(String::from)
            } else if models::is_latin_full_name(&v) {
                v.split([' ', ',']).rfind(|w| !w.is_empty()).map(str::to_lowercase)
            } else {
                continue;
            };
            matched += 1;
            surnames.extend(surname);
            names.insert(v.into_owned());
        }
        let share = matched as f64 / t.checked as f64;
        if share < MIXED_MIN_SHARE || names.len() < NAME_MIN_DISTINCT.min(matched / 2) || surnames.len() < NAME_MIN_SURNAMES {
            return None;
        }
        let reason = format!(
            "no name keyword; {} of values are personal names ({} distinct, {} surnames)",
            percent(share),
            names.len(),
            surnames.len()
        );
        Some(self.verdict(t.rule, 0.6 + 0.3 * share, None, t.checked, matched, self.matched_detectors(t), reason))
    }

    /// A column of login names by its values alone: most values are logins made of people's
    /// names, and they are many ([`NAME_MIN_DISTINCT`] distinct, or half of them).
    fn logins_by_value(&self, tallies: &[Tally], values: &StringArray) -> Option<ColumnVerdict> {
        let t = tallies.iter().find(|t| self.rules.categories[t.rule].id == Category::Nickname && t.alive)?;
        if t.checked < VETO_MIN_VALUES || t.share() < LOGIN_MIN_SHARE {
            return None;
        }
        let distinct = distinct_matches(values, models::is_login_name);
        if distinct < NAME_MIN_DISTINCT.min(t.matched / 2) {
            return None;
        }
        let reason =
            format!("no name keyword; {} of values are login names made of people's names ({distinct} distinct)", percent(t.share()));
        Some(self.verdict(t.rule, 0.5 + 0.3 * t.share(), None, t.checked, t.matched, self.matched_detectors(t), reason))
    }

    /// A column named by a word for a person alone (`payer`, `recipient`, `owner`): a name
    /// when most of its values fit the name models, an account when they are integers.
    fn by_person_word(&self, column_name: &str, tallies: &[Tally], values: &StringArray) -> Option<ColumnVerdict> {
        let word = self.person_word(column_name)?;
        let values_seen: Vec<&str> = values.iter().flatten().map(str::trim).filter(|v| !is_null_token(v)).collect();
        if values_seen.len() < VETO_MIN_VALUES {
            return None;
        }
        let names = tallies.iter().find(|t| self.rules.categories[t.rule].id == Category::Name && t.alive);
        if let Some(t) = names.filter(|t| t.share() >= 0.5) {
            let reason = format!("the person word '{word}', and {} of values fit the name models", percent(t.share()));
            return Some(self.verdict(t.rule, 0.6 + 0.3 * t.share(), None, t.checked, t.matched, self.matched_detectors(t), reason));
        }
        if values_seen.iter().all(|v| v.len() <= 20 && is_integer_text(v)) {
            let rule = self.rules.categories.iter().position(|r| r.id == Category::AccountId)?;
            return Some(self.verdict(
                rule,
                0.7,
                None,
                values_seen.len(),
                0,
                Vec::new(),
                format!("integers under the person word '{word}'"),
            ));
        }
        None
    }

    /// An identifier-like column that no rule claims: an account when a word of its name is
    /// a person's (`customer`), otherwise an identifier that must be decided.
    fn unknown_identifier(&self, column_name: &str, checked: usize, shape: &str) -> ColumnVerdict {
        let (category, reason) = match self.person_word(column_name) {
            Some(word) => (Category::AccountId, format!("{shape}, under the person word '{word}'")),
            None => (Category::UnknownIdentifier, format!("{shape}; no rule claims it: decide it in the pipeline")),
        };
        let Some(rule) = self.rules.categories.iter().position(|r| r.id == category) else {
            return self.none_verdict(0.5, None, checked, reason);
        };
        self.verdict(rule, 0.7, None, checked, 0, Vec::new(), reason)
    }

    /// The word of a column's name that names a person (`customer`, `payer`), if any.
    fn person_word(&self, column_name: &str) -> Option<String> {
        names::tokenize(column_name).into_iter().find(|t| self.subject_words.iter().any(|w| w == t))
    }

    fn matched_detectors(&self, t: &Tally) -> Vec<String> {
        self.rules.categories[t.rule]
            .detectors
            .iter()
            .zip(&t.per_detector)
            .filter(|(_, n)| **n > 0)
            .map(|(d, _)| d.name().to_string())
            .collect()
    }

    fn verdict_from_values(&self, t: &Tally, keyword: Option<String>, why: &str) -> ColumnVerdict {
        let share = t.strong_share();
        self.verdict(
            t.rule,
            0.5 + 0.45 * share,
            keyword,
            t.checked,
            t.matched,
            self.matched_detectors(t),
            format!("{why}; {} of values pass {} validation", percent(share), self.rules.categories[t.rule].id),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn verdict(
        &self,
        rule: usize,
        confidence: f64,
        name_keyword: Option<String>,
        values_checked: usize,
        values_matched: usize,
        detectors: Vec<String>,
        reason: String,
    ) -> ColumnVerdict {
        let rule = &self.rules.categories[rule];
        ColumnVerdict {
            category: rule.id,
            sensitivity: rule.sensitivity,
            confidence: round2(confidence),
            evidence: Evidence { name_keyword, values_checked, values_matched, detectors, reason },
            suggested_action: rule.action,
        }
    }

    fn none_verdict(&self, confidence: f64, name_keyword: Option<String>, checked: usize, reason: String) -> ColumnVerdict {
        let action = self.rule(Category::None).map_or(Action::Keep, |r| r.action);
        ColumnVerdict {
            category: Category::None,
            sensitivity: Sensitivity::None,
            confidence: round2(confidence),
            evidence: Evidence { name_keyword, values_checked: checked, values_matched: 0, detectors: Vec::new(), reason },
            suggested_action: action,
        }
    }
}

/// Fewest values to call a column identifier-like.
const IDENTIFIER_MIN_VALUES: usize = 20;
/// Least share of distinct values among them, unless they are many and none dominates.
const IDENTIFIER_MIN_DISTINCT: f64 = 0.9;
/// Largest share of the values one identifier-like value may take in a column of repeated ids.
const IDENTIFIER_MAX_REPEAT: f64 = 0.1;

/// Describes the values when they look like identifiers: near-unique (or many, each repeated
/// a little) tokens of 6 to 64 characters without spaces, either of one width or mixing letters and digits, and not
/// numbers with decimals, dates or words. `None` otherwise.
pub(crate) fn identifier_shape(values: &StringArray) -> Option<String> {
    let sample: Vec<&str> = values.iter().flatten().map(str::trim).filter(|v| !is_null_token(v)).collect();
    if sample.len() < IDENTIFIER_MIN_VALUES {
        return None;
    }
    let token = |v: &&str| (6..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'));
    let with_digits = sample.iter().filter(|v| v.bytes().any(|b| b.is_ascii_digit())).count();
    if !sample.iter().all(token) || with_digits * 2 < sample.len() {
        return None;
    }
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for v in &sample {
        *counts.entry(v).or_default() += 1;
    }
    let distinct = counts.len();
    let distinct_share = distinct as f64 / sample.len() as f64;
    // Identifiers repeat where they are foreign keys (each value ten times): many distinct
    // values with none dominating are as much an identifier as near-unique ones.
    let most = counts.values().copied().max().unwrap_or(0);
    let repeated_ids = distinct >= IDENTIFIER_MIN_VALUES && most as f64 <= IDENTIFIER_MAX_REPEAT * sample.len() as f64;
    if distinct_share < IDENTIFIER_MIN_DISTINCT && !repeated_ids {
        return None;
    }
    let (min, max) = sample.iter().fold((usize::MAX, 0), |(lo, hi), v| (lo.min(v.len()), hi.max(v.len())));
    let mixed = sample.iter().all(|v| v.bytes().any(|b| b.is_ascii_alphabetic()));
    let fixed_width = max - min <= 1;
    (fixed_width || mixed).then(|| {
        format!(
            "{} of {} sampled values distinct, {}",
            distinct,
            sample.len(),
            if fixed_width {
                format!("identifier-like tokens of {min} to {max} characters")
            } else {
                "identifier-like letter-digit tokens".into()
            }
        )
    })
}

/// Last words of a name that make its column a key into other rows.
const ROW_KEY_HEADS: [&str; 5] = ["id", "sk", "key", "pk", "fk"];

/// Whether a column is integer keys under a key's name (`address_id`).
fn refers_to_rows(column_name: &str, values: &StringArray) -> bool {
    ends_with_word(column_name, &ROW_KEY_HEADS) && values.iter().flatten().map(str::trim).filter(|v| !is_null_token(v)).all(is_integer_text)
}

/// Whether the last word of a column's name is one of `words`.
fn ends_with_word(column_name: &str, words: &[&str]) -> bool {
    names::tokenize(column_name).last().is_some_and(|t| words.contains(&t.as_str()))
}

/// Whether a value is written as a non-negative integer.
fn is_integer_text(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// How many distinct values match: each distinct value is normalized and matched once (a
/// masked column repeats a few values over a whole chunk).
fn distinct_matches(values: &StringArray, matches: impl Fn(&str) -> bool) -> usize {
    let mut raw: ValueMap<&str, ()> = value_map();
    raw.extend(values.iter().flatten().map(|v| (v, ())));
    let mut normalized: ValueMap<std::borrow::Cow<'_, str>, ()> = value_map();
    normalized.extend(raw.into_keys().map(|v| (detectors::normalize_value(v), ())));
    normalized.into_keys().filter(|v| matches(v)).count()
}

/// File types of a site's static content.
const STATIC_FILE_TYPES: [&str; 12] = ["png", "jpg", "jpeg", "gif", "webp", "svg", "ico", "css", "js", "mp4", "mp3", "pdf"];

/// Whether most values are URLs of static files (`https://cdn…/a.png`).
fn mostly_static_files(values: &StringArray) -> bool {
    let (mut n, mut hits) = (0usize, 0usize);
    for v in values.iter().flatten().map(str::trim).filter(|v| !is_null_token(v)) {
        n += 1;
        let path = v.split(['?', '#']).next().unwrap_or(v);
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        hits += usize::from(ext.is_some_and(|e| STATIC_FILE_TYPES.contains(&e.as_str())));
    }
    n > 0 && hits * 10 >= n * 8
}

/// Whether most values are dates or date-times written as text (`2026-05-01 12:00:00`).
fn mostly_temporal(values: &StringArray) -> bool {
    let (mut n, mut hits) = (0usize, 0usize);
    for v in values.iter().flatten().map(str::trim).filter(|v| !is_null_token(v)) {
        n += 1;
        hits += usize::from(detectors::starts_with_date(v));
    }
    n > 0 && hits * 10 >= n * 9
}

fn round2(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(name: &str, values: &[&str]) -> ColumnVerdict {
        let c = Classifier::new(Rules::builtin());
        c.classify(name, &StringArray::from(values.to_vec()))
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let first17 = format!("110105{}{:03}", 19800101 + (i % 28) as u32, i % 1000);
                let c = detectors::id_card_check_char(first17.as_bytes()).unwrap();
                format!("{first17}{}", c as char)
            })
            .collect()
    }

    #[test]
    fn value_evidence_alone_finds_an_unnamed_id_column() {
        let ids = ids(50);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let v = classify("c2", &refs);
        assert_eq!(v.category, Category::IdCard);
        assert_eq!(v.sensitivity, Sensitivity::Sensitive);
        assert_eq!(v.evidence.values_matched, 50);
        assert!(v.evidence.name_keyword.is_none());
    }

    #[test]
    fn remembered_outcomes_count_every_value() {
        // Ids met before and after the column's distinct values outgrow what is remembered:
        // each occurrence counts, remembered or not.
        let ids = ids(50);
        let fillers: Vec<String> = (0..REMEMBERED_VALUES + 100).map(|i| format!("note {i}")).collect();
        let mut values: Vec<&str> = ids.iter().chain(&ids).map(String::as_str).collect();
        values.extend(fillers.iter().map(String::as_str));
        values.extend(ids.iter().chain(&ids).chain(&ids).map(String::as_str));
        let v = classify("id_card", &values);
        assert_eq!((v.evidence.values_checked, v.evidence.values_matched), (values.len(), 250));
        let mut remembered = PerValue::default();
        let mut computed = 0;
        for value in fillers.iter().chain(&fillers) {
            remembered.of(value, |v| {
                computed += 1;
                v.len()
            });
        }
        assert_eq!(computed, fillers.len() + 100, "only the values beyond the first {REMEMBERED_VALUES} are computed again");
    }

    #[test]
    fn failing_values_overrule_an_ambiguous_name() {
        // 18-digit numbers with a year prefix: no province code, so never an ID.
        let nums: Vec<String> = (0..50).map(|i| format!("2026061512{i:08}")).collect();
        let refs: Vec<&str> = nums.iter().map(String::as_str).collect();
        assert_eq!(classify("id_no", &refs).category, Category::None);
        assert_eq!(classify("order_no", &refs).category, Category::None);
    }

    #[test]
    fn name_and_values_agreeing_gives_high_confidence() {
        let v = classify("sjhm", &["13812345678", "13987654321", "15011112222"]);
        assert_eq!(v.category, Category::Phone);
        assert!(v.confidence >= 0.95, "{v:?}");
        assert_eq!(v.evidence.name_keyword.as_deref(), Some("sjhm"));
        assert_eq!((v.evidence.values_checked, v.evidence.values_matched), (3, 3));
    }

    #[test]
    fn weak_value_evidence_does_not_veto_a_name() {
        let v = classify("xm", &["Zhang Wei", "Li Na", "王芳"]);
        assert_eq!(v.category, Category::Name);
        assert!(v.confidence < 0.9);
    }

    #[test]
    fn non_pi_keywords_yield_unless_values_are_strong() {
        assert_eq!(classify("bank_name", &["招商银行", "工商银行"]).category, Category::None);
        let ids = ids(30);
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(classify("trace_id", &refs).category, Category::IdCard);
    }

    #[test]
    fn decorated_and_mixed_columns_are_found() {
        let decorated: Vec<String> = (0..30).map(|i| format!("tel:1381234{i:04}\0")).collect();
        let refs: Vec<&str> = decorated.iter().map(String::as_str).collect();
        assert_eq!(classify("c9", &refs).category, Category::Phone);
        let mixed: Vec<String> = (0..40).map(|i| if i % 2 == 0 { format!("1391234{i:04}") } else { format!("n/a-{i}") }).collect();
        let refs: Vec<&str> = mixed.iter().map(String::as_str).collect();
        let v = classify("misc", &refs);
        assert_eq!(v.category, Category::Phone, "{}", v.evidence.reason);
        assert!(v.evidence.reason.contains("mixed"), "{}", v.evidence.reason);
        let few: Vec<String> = (0..40).map(|i| if i % 5 == 0 { format!("1391234{i:04}") } else { format!("code-{i}") }).collect();
        let refs: Vec<&str> = few.iter().map(String::as_str).collect();
        assert_eq!(classify("misc", &refs).category, Category::None, "a fifth is not a meaningful share");
    }

    #[test]
    fn null_tokens_are_not_values() {
        let v = classify("email", &["", "NULL", "-", "a@example.com"]);
        assert_eq!(v.category, Category::Email);
        assert_eq!(v.evidence.values_checked, 1);
    }

    #[test]
    fn name_only_categories_and_empty_columns() {
        let v = classify("pay_amount", &["12.50", "8.00"]);
        assert_eq!(v.category, Category::Transaction);
        assert_eq!(v.suggested_action, Action::Keep);
        assert_eq!(classify("remark_2", &[]).category, Category::None);
    }

    #[test]
    fn dates_and_timestamps_are_never_locations_phones_or_ids() {
        let classifier = Classifier::new(Rules::builtin());
        let times = StringArray::from(vec!["2026-01-05 08:00:00", "2026-01-06 09:30:00"]);
        for name in ["checkin_location", "phone", "user_id", "device_id", "lat"] {
            let v = classifier.classify_typed(name, "Timestamp(µs)", &times);
            assert_eq!(v.category, Category::None, "{name}: {}", v.evidence.reason);
            assert!(v.evidence.reason.contains("Timestamp"), "{}", v.evidence.reason);
        }
        let born = StringArray::from(vec!["1990-01-05", "1985-07-30"]);
        assert_eq!(classifier.classify_typed("csrq", "Date32", &born).category, Category::Birthday);
        assert_eq!(classifier.classify_typed("phone", "Utf8", &StringArray::from(vec!["13812345678"])).category, Category::Phone);
        assert_eq!(TypeKind::of("Utf8View"), TypeKind::Text);
        assert_eq!(TypeKind::of("Struct(a Utf8)"), TypeKind::Opaque);
    }
}
