//! Keyed pseudonyms: `lower_hex(HMAC-SHA256(key, domain || 0x1F || canonical(value)))`.
//!
//! An unkeyed hash of a phone number is reversible by enumerating 10^10 candidates, so
//! there is no unkeyed mode: no key, no pseudonyms. The key comes from `PIGUARD_KEY` (its
//! UTF-8 bytes) or `PIGUARD_KEY_FILE` (raw bytes), is at least 32 bytes, and is never
//! printed; reports carry only its id.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::category::Category;
use crate::classify::detectors::{canonical_phone, is_mac};

/// Environment variable holding the key itself.
pub const KEY_ENV: &str = "PIGUARD_KEY";
/// Environment variable naming a file that holds the key.
pub const KEY_FILE_ENV: &str = "PIGUARD_KEY_FILE";
/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Separates the domain from the value in the HMAC input.
const SEPARATOR: u8 = 0x1F;

/// Why no key could be had. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no pseudonymization key: set {KEY_ENV} (at least {MIN_KEY_BYTES} bytes) or {KEY_FILE_ENV}; an unkeyed hash of a phone number can be reversed by enumeration"
    )]
    Missing,
    #[error("set only one of {KEY_ENV} and {KEY_FILE_ENV}")]
    Ambiguous,
    #[error("the pseudonymization key from {source_name} is {len} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort { source_name: String, len: usize },
    #[error("cannot read the key file {path} named by {KEY_FILE_ENV}: {cause}")]
    File {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// The secret key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PseudonymKey(id {})", self.id())
    }
}

impl PseudonymKey {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(bytes: Vec<u8>, source_name: &str) -> Result<Self, KeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                source_name: source_name.to_string(),
                len: bytes.len(),
            });
        }
        Ok(PseudonymKey(bytes))
    }

    /// The key from `PIGUARD_KEY` or `PIGUARD_KEY_FILE`.
    pub fn from_env() -> Result<Self, KeyError> {
        let inline = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty());
        let file = std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty());
        match (inline, file) {
            (Some(_), Some(_)) => Err(KeyError::Ambiguous),
            (Some(v), None) => {
                Self::from_bytes(v.to_string_lossy().into_owned().into_bytes(), KEY_ENV)
            }
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let bytes = std::fs::read(&path).map_err(|cause| KeyError::File {
                    path: path.clone(),
                    cause,
                })?;
                Self::from_bytes(bytes, &path.display().to_string())
            }
            (None, None) => Err(KeyError::Missing),
        }
    }

    /// The key's public id: the first 16 hex digits of SHA-256(key).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(&self.0);
        lower_hex(&digest[..8])
    }
}

fn lower_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_lower_hex(bytes, &mut s);
    s
}

fn push_lower_hex(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // One pass into a stack buffer and one append: pushing chars one by one re-checks
    // capacity and encodes UTF-8 per character, a large share of a pseudonym's cost.
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xF)];
        }
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).expect("hex digits are ASCII"));
    }
}

/// The canonical form a value is pseudonymized in, so that formatting differences do not
/// split one person into two pseudonyms: trimmed; phones without separators and `+86`/`0086`;
/// ID, passport and bank card numbers upper-cased without spaces or dashes; e-mails and MACs
/// lower-cased.
pub fn canonical(category: Category, value: &str) -> Cow<'_, str> {
    let v = value.trim();
    match category {
        // Most phones are stored as 11 plain digits already; only reformat the others.
        Category::Phone if v.len() == 11 && v.bytes().all(|b| b.is_ascii_digit()) => Cow::Borrowed(v),
        Category::Phone => canonical_phone(v).map_or(Cow::Borrowed(v), Cow::Owned),
        Category::IdCard | Category::Passport | Category::BankCard => {
            if v.bytes().any(|b| b == b' ' || b == b'-' || b.is_ascii_lowercase()) {
                Cow::Owned(v.chars().filter(|c| *c != ' ' && *c != '-').collect::<String>().to_ascii_uppercase())
            } else {
                Cow::Borrowed(v)
            }
        }
        Category::Email => lower(v),
        Category::DeviceId if is_mac(v) => lower(v),
        _ => Cow::Borrowed(v),
    }
}

fn lower(v: &str) -> Cow<'_, str> {
    if v.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(v.to_ascii_lowercase())
    } else {
        Cow::Borrowed(v)
    }
}

/// Computes pseudonyms for one domain with one key. The keyed HMAC state, with the domain
/// and separator already absorbed, is computed once and cloned per value.
#[derive(Clone)]
pub struct Pseudonymizer {
    prefixed: Hmac<Sha256>,
    domain: String,
    key_id: String,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("domain", &self.domain)
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl Pseudonymizer {
    /// A pseudonymizer for `domain` (by default the column's category id).
    pub fn new(key: &PseudonymKey, domain: &str) -> Self {
        let mut prefixed =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
        prefixed.update(domain.as_bytes());
        prefixed.update(&[SEPARATOR]);
        Pseudonymizer {
            prefixed,
            domain: domain.to_string(),
            key_id: key.id(),
        }
    }

    /// The domain pseudonyms are computed in.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The pseudonym of an already canonical value.
    pub fn pseudonym(&self, canonical_value: &str) -> String {
        let mut s = String::with_capacity(64);
        self.push_pseudonym(canonical_value, &mut s);
        s
    }

    /// Appends the pseudonym of an already canonical value to `out` (no allocation).
    pub fn push_pseudonym(&self, canonical_value: &str, out: &mut String) {
        let mut mac = self.prefixed.clone();
        mac.update(canonical_value.as_bytes());
        push_lower_hex(&mac.finalize().into_bytes(), out);
    }

    /// The pseudonym of a raw value of `category`.
    pub fn pseudonymize(&self, category: Category, value: &str) -> String {
        self.pseudonym(&canonical(category, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vector {
        key: String,
        domain: String,
        category: Category,
        value: String,
        pseudonym: String,
    }

    /// Vectors computed independently with Python's `hmac` module
    /// (`tests/fixtures/make_pseudonym_vectors.py`).
    #[test]
    fn known_answers_match_an_independent_implementation() {
        let vectors: Vec<Vector> =
            serde_json::from_str(include_str!("../../tests/fixtures/pseudonym_vectors.json")).unwrap();
        assert!(vectors.len() >= 10);
        for v in vectors {
            let key = PseudonymKey::from_bytes(v.key.into_bytes(), "test").unwrap();
            let p = Pseudonymizer::new(&key, &v.domain);
            assert_eq!(p.pseudonymize(v.category, &v.value), v.pseudonym, "{} {:?}", v.domain, v.value);
        }
    }

    #[test]
    fn short_keys_are_refused_and_never_shown() {
        let err = PseudonymKey::from_bytes(b"short-secret".to_vec(), KEY_ENV).unwrap_err().to_string();
        assert!(err.contains("12 bytes") && !err.contains("short-secret"), "{err}");
        let key = PseudonymKey::from_bytes(b"k".repeat(32), KEY_ENV).unwrap();
        assert!(!format!("{key:?}").contains("kkkk"));
        assert_eq!(key.id().len(), 16);
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical(Category::Phone, " +86 138-1234-5678 "), "13812345678");
        assert_eq!(canonical(Category::Phone, "0086 13812345678"), "13812345678");
        assert_eq!(canonical(Category::IdCard, "11010519491231002x"), "11010519491231002X");
        assert_eq!(canonical(Category::BankCard, "6222 0212 3456 7890"), "6222021234567890");
        assert_eq!(canonical(Category::Email, " Zhang.San@Example.COM"), "zhang.san@example.com");
        assert_eq!(canonical(Category::DeviceId, "3C:22:FB:0A:1B:2C"), "3c:22:fb:0a:1b:2c");
        assert_eq!(canonical(Category::DeviceId, "6D92078A-8246-4BA4-AE5B-76104861E7DC"), "6D92078A-8246-4BA4-AE5B-76104861E7DC");
        assert_eq!(canonical(Category::Name, " 张三 "), "张三");
    }

    proptest! {
        #[test]
        fn pseudonyms_are_stable_keyed_and_domain_separated(
            value in "\\PC{1,30}",
            key_a in prop::collection::vec(any::<u8>(), 32..64),
            key_b in prop::collection::vec(any::<u8>(), 32..64),
        ) {
            prop_assume!(key_a != key_b);
            let a = PseudonymKey::from_bytes(key_a, "a").unwrap();
            let b = PseudonymKey::from_bytes(key_b, "b").unwrap();
            let p = Pseudonymizer::new(&a, "account_id");
            let first = p.pseudonym(&value);
            prop_assert_eq!(&first, &Pseudonymizer::new(&a, "account_id").pseudonym(&value));
            prop_assert_eq!(first.len(), 64);
            prop_assert!(first.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            prop_assert_ne!(&first, &Pseudonymizer::new(&b, "account_id").pseudonym(&value));
            prop_assert_ne!(&first, &Pseudonymizer::new(&a, "phone").pseudonym(&value));
        }

        #[test]
        fn formatting_never_splits_a_phone(second in 3u8..10, rest in "[0-9]{9}") {
            let key = PseudonymKey::from_bytes(vec![7; 32], "t").unwrap();
            let p = Pseudonymizer::new(&key, "phone");
            let n = format!("1{second}{rest}");
            let spaced = format!("+86 {} {} {}", &n[..3], &n[3..7], &n[7..]);
            prop_assert_eq!(p.pseudonymize(Category::Phone, &n), p.pseudonymize(Category::Phone, &spaced));
        }
    }
}
