//! The shared vocabulary of DESIGN.md: PI categories, sensitivity levels and actions.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of personal information (GB/T 35273 Appendix A/B), or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    IdCard,
    Passport,
    BankCard,
    PreciseLocation,
    Transaction,
    DeviceId,
    Credential,
    BrowsingHistory,
    Communication,
    Biometric,
    Health,
    Name,
    Phone,
    Email,
    Address,
    Birthday,
    Gender,
    IpAddress,
    AccountId,
    Nickname,
    /// Identifier-like values no rule claims: a decision is needed.
    UnknownIdentifier,
    None,
}

impl Category {
    /// The id used in rule files, pipelines and reports.
    pub fn id(self) -> &'static str {
        match self {
            Category::IdCard => "id_card",
            Category::Passport => "passport",
            Category::BankCard => "bank_card",
            Category::PreciseLocation => "precise_location",
            Category::Transaction => "transaction",
            Category::DeviceId => "device_id",
            Category::Credential => "credential",
            Category::BrowsingHistory => "browsing_history",
            Category::Communication => "communication",
            Category::Biometric => "biometric",
            Category::Health => "health",
            Category::Name => "name",
            Category::Phone => "phone",
            Category::Email => "email",
            Category::Address => "address",
            Category::Birthday => "birthday",
            Category::Gender => "gender",
            Category::IpAddress => "ip_address",
            Category::AccountId => "account_id",
            Category::Nickname => "nickname",
            Category::UnknownIdentifier => "unknown_identifier",
            Category::None => "none",
        }
    }
}

impl Category {
    /// Whether one value of this category points to one person (an ID, a phone, an account,
    /// a name, an address), unlike a gender, a birthday, an amount or a coarse region.
    pub fn pinpoints_a_person(self) -> bool {
        matches!(
            self,
            Category::IdCard
                | Category::Passport
                | Category::BankCard
                | Category::Phone
                | Category::Email
                | Category::DeviceId
                | Category::AccountId
                | Category::Nickname
                | Category::UnknownIdentifier
                | Category::Name
                | Category::Address
                | Category::IpAddress
                | Category::Credential
                | Category::Biometric
        )
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// How sensitive a category is under PIPL Art. 28 / GB/T 35273 Appendix B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Sensitive,
    General,
    None,
}

impl Sensitivity {
    /// The id used in rule files and reports.
    pub fn id(self) -> &'static str {
        match self {
            Sensitivity::Sensitive => "sensitive",
            Sensitivity::General => "general",
            Sensitivity::None => "none",
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A de-identification action, as suggested by the inventory or chosen in a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Hash,
    Mask,
    Generalize,
    Redact,
    Drop,
    Keep,
}

impl Action {
    /// The id used in rule files, pipelines and reports.
    pub fn id(self) -> &'static str {
        match self {
            Action::Hash => "hash",
            Action::Mask => "mask",
            Action::Generalize => "generalize",
            Action::Redact => "redact",
            Action::Drop => "drop",
            Action::Keep => "keep",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}
