//! Classifier rule files (`classifiers/*.toml`): per category its sensitivity, default
//! action, name keywords, value detectors and thresholds. The builtin files are embedded in
//! the binary; a directory of overrides replaces categories by id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::detectors::Detector;
use super::names::NameMatcher;
use crate::category::{Action, Category, Sensitivity};

/// The builtin rule files, embedded at compile time.
const BUILTIN: [(&str, &str); 8] = [
    ("identity.toml", include_str!("../../classifiers/identity.toml")),
    ("contact.toml", include_str!("../../classifiers/contact.toml")),
    ("financial.toml", include_str!("../../classifiers/financial.toml")),
    ("device.toml", include_str!("../../classifiers/device.toml")),
    ("location.toml", include_str!("../../classifiers/location.toml")),
    ("behaviour.toml", include_str!("../../classifiers/behaviour.toml")),
    ("special.toml", include_str!("../../classifiers/special.toml")),
    ("not_pi.toml", include_str!("../../classifiers/not_pi.toml")),
];

/// Why rule files could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read classifier rules {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("classifier rule file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("classifier rule file {path}: category `{category}`, key `{key}`: {message}")]
    Invalid { path: String, category: Category, key: &'static str, message: String },
}

fn default_min_share() -> f64 {
    0.8
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    category: Vec<CategoryRule>,
    #[serde(default)]
    compound: Vec<CompoundRule>,
}

/// Compound column names: a modifier word followed by a head word names what the head says
/// of the modifier (`passenger_id`, `会员编号` an account; `merchant_name` not a person).
/// Every modifier × head pair becomes a keyword of the head's category (`passenger_id`, and
/// `hybh` for two pinyin initials); a keyword written in a category wins over a generated one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompoundRule {
    /// The words that come first.
    pub modifiers: Vec<String>,
    /// Per category, the head words that make a modifier a name of that category.
    pub heads: BTreeMap<Category, Vec<String>>,
}

/// The rule for one category.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    /// Which category this rule describes.
    pub id: Category,
    /// The category's Chinese label, for reports.
    pub label_zh: String,
    /// Sensitivity reported for columns of this category.
    pub sensitivity: Sensitivity,
    /// The action suggested for columns of this category.
    pub action: Action,
    /// Column-name keywords: English, Chinese and pinyin abbreviations.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Value detectors; a value belongs to the category when any of them matches.
    #[serde(default)]
    pub detectors: Vec<Detector>,
    /// Share of sampled non-null values that must match for the values to confirm the category.
    #[serde(default = "default_min_share")]
    pub min_share: f64,
}

/// A loaded, validated set of category rules.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The rules, in the order they were declared (builtin first).
    pub categories: Vec<CategoryRule>,
    /// Where each rule came from (`builtin:identity.toml` or a path).
    pub origins: Vec<String>,
    /// The override files that were loaded, if any.
    pub override_files: Vec<PathBuf>,
    /// Each override file's name and text, from which another process rebuilds these rules.
    pub override_texts: Vec<(String, String)>,
    /// Compound-name rules, builtin first, with the file each came from.
    pub compounds: Vec<(CompoundRule, String)>,
}

impl Rules {
    /// The rules embedded in the binary.
    pub fn builtin() -> Rules {
        Self::load(None).expect("builtin classifier rules are valid (checked by tests)")
    }

    /// The builtin rules, with every category defined in `overrides/*.toml` replaced by the
    /// override's definition.
    pub fn load(overrides: Option<&Path>) -> Result<Rules, RulesError> {
        let mut texts = Vec::new();
        if let Some(dir) = overrides {
            let io = |cause| RulesError::Io { path: dir.to_path_buf(), cause };
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(RulesError::Parse {
                    path: dir.display().to_string(),
                    message: "the directory holds no .toml rule files".into(),
                });
            }
            for path in files {
                let text = std::fs::read_to_string(&path).map_err(|cause| RulesError::Io { path: path.clone(), cause })?;
                texts.push((path.display().to_string(), text));
            }
        }
        Self::with_overrides(texts)
    }

    /// The builtin rules with the override files `texts` (name, text) applied, in order.
    pub fn with_overrides(texts: Vec<(String, String)>) -> Result<Rules, RulesError> {
        let mut rules = Rules {
            categories: Vec::new(),
            origins: Vec::new(),
            override_files: Vec::new(),
            override_texts: Vec::new(),
            compounds: Vec::new(),
        };
        for (name, text) in BUILTIN {
            let origin = format!("builtin:{name}");
            let file = parse_file(&origin, text)?;
            for rule in file.category {
                rules.put(rule, origin.clone(), false)?;
            }
            rules.compounds.extend(file.compound.into_iter().map(|c| (c, origin.clone())));
        }
        for (origin, text) in texts {
            let file = parse_file(&origin, &text)?;
            for rule in file.category {
                rules.put(rule, origin.clone(), true)?;
            }
            rules.compounds.extend(file.compound.into_iter().map(|c| (c, origin.clone())));
            rules.override_files.push(PathBuf::from(&origin));
            rules.override_texts.push((origin, text));
        }
        rules.check_keywords()?;
        rules.generated_keywords()?;
        Ok(rules)
    }

    fn put(&mut self, rule: CategoryRule, origin: String, is_override: bool) -> Result<(), RulesError> {
        match self.categories.iter().position(|r| r.id == rule.id) {
            Some(i) if is_override && !self.origins[i].starts_with("builtin:") => Err(RulesError::Invalid {
                path: origin,
                category: rule.id,
                key: "id",
                message: format!("already defined in {}", self.origins[i]),
            }),
            Some(i) if is_override => {
                self.categories[i] = rule;
                self.origins[i] = origin;
                Ok(())
            }
            Some(i) => Err(RulesError::Invalid {
                path: origin,
                category: rule.id,
                key: "id",
                message: format!("already defined in {}", self.origins[i]),
            }),
            None => {
                self.categories.push(rule);
                self.origins.push(origin);
                Ok(())
            }
        }
    }

    /// A keyword may point to one category only, or name evidence would be ambiguous.
    fn check_keywords(&self) -> Result<(), RulesError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, rule) in self.categories.iter().enumerate() {
            for keyword in &rule.keywords {
                let invalid =
                    |message: String| RulesError::Invalid { path: self.origins[i].clone(), category: rule.id, key: "keywords", message };
                let Some(normalized) = NameMatcher::normalized(keyword) else {
                    return Err(invalid(format!("keyword {keyword:?} has no letters or digits")));
                };
                if let Some(&j) = seen.get(&normalized)
                    && j != i
                {
                    return Err(invalid(format!(
                        "keyword {keyword:?} is also a keyword of `{}` ({})",
                        self.categories[j].id, self.origins[j]
                    )));
                }
                seen.insert(normalized, i);
            }
        }
        Ok(())
    }

    /// The keywords compound rules generate, as (category, keyword), without those that
    /// normalize to a keyword written in a category. Two compounds that give one keyword to
    /// two categories are an error naming both files. Then the pinyin of Chinese terms (see
    /// [`pinyin_keywords`]), which give way to every other keyword and are left out where
    /// two categories would share one.
    pub fn generated_keywords(&self) -> Result<Vec<(Category, String)>, RulesError> {
        let written: std::collections::HashSet<String> =
            self.categories.iter().flat_map(|r| r.keywords.iter().filter_map(|k| NameMatcher::normalized(k))).collect();
        let mut seen: HashMap<String, (Category, &str)> = HashMap::new();
        let mut out = Vec::new();
        for (compound, origin) in &self.compounds {
            for (&category, heads) in &compound.heads {
                if self.overridden_by_another(category, origin) {
                    continue;
                }
                if !self.categories.iter().any(|r| r.id == category) {
                    return Err(RulesError::Invalid {
                        path: origin.clone(),
                        category,
                        key: "heads",
                        message: "no rule defines this category".into(),
                    });
                }
                for keyword in compound_keywords(&compound.modifiers, heads) {
                    let Some(normalized) = NameMatcher::normalized(&keyword) else { continue };
                    if written.contains(&normalized) {
                        continue;
                    }
                    match seen.get(&normalized) {
                        Some((other, other_origin)) if *other != category => {
                            return Err(RulesError::Invalid {
                                path: origin.clone(),
                                category,
                                key: "compound",
                                message: format!("{keyword:?} is also generated for `{other}` ({other_origin})"),
                            });
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(normalized, (category, origin));
                            out.push((category, keyword));
                        }
                    }
                }
            }
        }
        let mut pinyin: BTreeMap<String, (Category, String, bool)> = BTreeMap::new();
        for (category, keyword) in self.pinyin_keywords() {
            let Some(normalized) = NameMatcher::normalized(&keyword) else { continue };
            if written.contains(&normalized) || seen.contains_key(&normalized) {
                continue;
            }
            let entry = pinyin.entry(normalized).or_insert((category, keyword, true));
            entry.2 &= entry.0 == category;
        }
        out.extend(pinyin.into_values().filter(|(_, _, unambiguous)| *unambiguous).map(|(c, k, _)| (c, k)));
        Ok(out)
    }

    /// The pinyin of every Chinese term of the rules, as schemas abbreviate them: of each
    /// category's Chinese keyword, its full pinyin (`xingbie`) and, for three characters or
    /// more, its initials (`gmsfhm` 公民身份号码), also with a code or name suffix (`xbdm`
    /// 性别代码, `zdmc` 诊断名称); of each compound, the initials of its Chinese modifiers
    /// with its short heads (`hzid`, `hzxm` 患者姓名).
    fn pinyin_keywords(&self) -> Vec<(Category, String)> {
        let mut out = Vec::new();
        for rule in &self.categories {
            for term in rule.keywords.iter().filter(|k| is_chinese_term(k)) {
                out.extend(full_pinyin(term).map(|p| (rule.id, p)));
                if term.chars().count() >= 3 {
                    out.extend(initials(term).map(|p| (rule.id, p)));
                }
                // A person's name has no code; 名字代码 would only shadow 民族代码 (`mzdm`).
                if rule.id == Category::Name {
                    continue;
                }
                for suffix in ["代码", "编码", "名称"] {
                    out.extend(initials(&format!("{term}{suffix}")).map(|p| (rule.id, p)));
                }
            }
        }
        for (compound, origin) in &self.compounds {
            let modifiers: Vec<String> = compound.modifiers.iter().filter(|m| is_chinese_term(m)).filter_map(|m| initials(m)).collect();
            for (&category, heads) in &compound.heads {
                if self.overridden_by_another(category, origin) {
                    continue;
                }
                let heads: Vec<String> =
                    heads.iter().filter_map(|h| if is_chinese_term(h) { initials(h) } else { Some(h.clone()) }).collect();
                out.extend(compound_keywords(&modifiers, &heads).into_iter().map(|k| (category, k)));
            }
        }
        out
    }

    /// Whether `category` is defined by an override and `origin` is a builtin file: an
    /// override replaces a category whole, with what builtin compounds gave it.
    fn overridden_by_another(&self, category: Category, origin: &str) -> bool {
        origin.starts_with("builtin:")
            && self.categories.iter().zip(&self.origins).any(|(r, o)| r.id == category && !o.starts_with("builtin:"))
    }

    /// The modifiers that make an identifier-like column an account: those of compounds
    /// with `account_id` heads, as name tokens.
    pub fn subject_words(&self) -> Vec<String> {
        self.compounds
            .iter()
            .filter(|(c, origin)| c.heads.contains_key(&Category::AccountId) && !self.overridden_by_another(Category::AccountId, origin))
            .flat_map(|(c, _)| c.modifiers.iter().map(|m| m.to_lowercase()))
            .collect()
    }

    /// A short version string recorded in inventories and manifests.
    pub fn version(&self) -> String {
        let base = env!("CARGO_PKG_VERSION");
        if self.override_files.is_empty() {
            format!("builtin-{base}")
        } else {
            format!("builtin-{base}+{}-override-files", self.override_files.len())
        }
    }
}

/// The keywords a compound's modifiers and heads make: `modifier_head`, and `modifierhead`
/// when both are short lower-case initials (`hybh`).
fn compound_keywords(modifiers: &[String], heads: &[String]) -> Vec<String> {
    let initials = |w: &str| w.len() <= 3 && w.bytes().all(|b| b.is_ascii_lowercase());
    let mut out = Vec::new();
    for modifier in modifiers {
        for head in heads {
            out.push(format!("{modifier}_{head}"));
            if initials(modifier) && initials(head) {
                out.push(format!("{modifier}{head}"));
            }
        }
    }
    out
}

/// Whether a keyword is a Chinese term of two characters or more.
fn is_chinese_term(keyword: &str) -> bool {
    keyword.chars().count() >= 2 && keyword.chars().all(super::detectors::is_han)
}

/// The first letters of a Chinese term's syllables (`出生年月` → `csny`).
fn initials(term: &str) -> Option<String> {
    use pinyin::ToPinyin;
    term.to_pinyin().map(|p| p.map(|p| p.first_letter())).collect::<Option<String>>()
}

/// A Chinese term's syllables written together (`性别` → `xingbie`).
fn full_pinyin(term: &str) -> Option<String> {
    use pinyin::ToPinyin;
    term.to_pinyin().map(|p| p.map(|p| p.plain())).collect::<Option<String>>()
}

fn parse_file(origin: &str, text: &str) -> Result<RuleFile, RulesError> {
    let file: RuleFile =
        toml::from_str(text).map_err(|e| RulesError::Parse { path: origin.to_string(), message: e.to_string().trim_end().to_string() })?;
    for rule in &file.category {
        if !(rule.min_share > 0.0 && rule.min_share <= 1.0) {
            return Err(RulesError::Invalid {
                path: origin.to_string(),
                category: rule.id,
                key: "min_share",
                message: format!("must be in (0, 1], got {}", rule.min_share),
            });
        }
        // Each detector once: a value's matches are kept as one bit per detector of its rule.
        if let Some(twice) = rule.detectors.iter().enumerate().find(|(i, d)| rule.detectors[..*i].contains(d)).map(|(_, d)| d) {
            return Err(RulesError::Invalid {
                path: origin.to_string(),
                category: rule.id,
                key: "detectors",
                message: format!("lists `{}` twice", twice.name()),
            });
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn builtin_rules_cover_every_category_once() {
        let rules = Rules::builtin();
        let mut ids: Vec<Category> = rules.categories.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rules.categories.len());
        assert_eq!(ids.len(), 22, "every DESIGN.md category, and unknown_identifier, has a rule");
    }

    #[test]
    fn override_replaces_a_category_by_id() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "mine.toml",
            "[[category]]\nid = \"gender\"\nlabel_zh = \"性别\"\nsensitivity = \"sensitive\"\naction = \"drop\"\nkeywords = [\"gender\", \"xingbie\"]\n",
        );
        let rules = Rules::load(Some(dir.path())).unwrap();
        let gender = rules.categories.iter().find(|r| r.id == Category::Gender).unwrap();
        assert_eq!(gender.sensitivity, Sensitivity::Sensitive);
        assert_eq!(gender.action, Action::Drop);
        assert!(rules.version().contains("override"));
    }

    #[test]
    fn malformed_files_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let gender = "[[category]]\nid = \"gender\"\nlabel_zh = \"性别\"\nsensitivity = \"general\"\naction = \"keep\"\n";
        let cases: [(&str, &[&str]); 5] = [
            ("keywordz = [\"x\"]", &["bad.toml", "keywordz"]),
            ("detectors = [\"horoscope\"]", &["bad.toml", "horoscope"]),
            ("min_share = 1.5", &["bad.toml", "min_share"]),
            ("detectors = [\"gender\", \"gender\"]", &["bad.toml", "`gender` twice"]),
            ("keywords = [\"phone\"]", &["keywords", "`phone`"]),
        ];
        for (line, expected) in cases {
            write(dir.path(), "bad.toml", &format!("{gender}{line}\n"));
            let err = Rules::load(Some(dir.path())).unwrap_err().to_string();
            assert!(expected.iter().all(|e| err.contains(e)), "{expected:?} in {err}");
        }
    }

    #[test]
    fn pinyin_abbreviations_of_chinese_terms_are_generated() {
        let generated = Rules::builtin().generated_keywords().unwrap();
        let category = |k: &str| generated.iter().find(|(_, g)| g == k).map(|(c, _)| *c);
        assert_eq!(category("csny"), Some(Category::Birthday), "出生年月");
        assert_eq!(category("xbdm"), Some(Category::Gender), "性别代码");
        assert_eq!(category("gmsfhm"), Some(Category::IdCard), "公民身份号码");
        assert_eq!(category("hzxm"), Some(Category::Name), "患者姓名");
        assert_eq!(category("hzid"), Some(Category::AccountId), "患者 id");
        assert_eq!(category("xingbie"), None, "written in the rules, so not generated again");
        assert_eq!(category("chushengriqi"), Some(Category::Birthday));
        assert_eq!(category("xm"), None, "two-character initials are too short to generate");
    }

    #[test]
    fn an_empty_override_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Rules::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("no .toml"), "{err}");
    }
}
