//! Keyed pseudonyms: `lower_hex(HMAC-SHA256(key, domain || 0x1F || canonical(value)))`.
//!
//! An unkeyed hash of a phone number is reversible by enumerating 10^10 candidates, so
//! there is no unkeyed mode: no key, no pseudonyms. The key comes from `PIGUARD_KEY` (its
//! UTF-8 bytes) or `PIGUARD_KEY_FILE` (raw bytes), is at least 32 bytes, and is never
//! printed; reports carry only its id.

use std::borrow::Cow;
use std::fmt;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

use super::sha256x2::compress_pair;

use crate::category::Category;
use crate::classify::detectors::{canonical_phone, is_mac};

/// Environment variable holding the key itself.
pub const KEY_ENV: &str = "PIGUARD_KEY";
/// Environment variable naming a file that holds the key.
pub const KEY_FILE_ENV: &str = "PIGUARD_KEY_FILE";
/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Longest key file read: a key is a few dozen bytes, and a device like `/dev/urandom` never ends.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Separates the domain from the value in the HMAC input.
const SEPARATOR: u8 = 0x1F;

/// Why no key could be had. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no pseudonymization key: set {KEY_ENV} (at least {MIN_KEY_BYTES} bytes) or {KEY_FILE_ENV}; an unkeyed hash of a phone number can be reversed by enumeration"
    )]
    Missing,
    #[error("set only one of {inline} and {file}")]
    Ambiguous { inline: &'static str, file: &'static str },
    #[error("the key from {source_name} is {len} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort { source_name: String, len: usize },
    #[error("the key file {path} named by {var} is {what}; a key file is a regular file of at most {MAX_KEY_FILE_BYTES} bytes")]
    NotAKeyFile { path: PathBuf, var: &'static str, what: String },
    #[error("cannot read the key file {path} named by {var}: {cause}")]
    File { path: PathBuf, var: &'static str, cause: std::io::Error },
    #[error(
        "the key from {source_name} is too predictable (about {bits} bits of entropy in {len} bytes, {distinct} distinct byte values; at least {MIN_KEY_ENTROPY_BITS} bits and {MIN_KEY_DISTINCT_BYTES} values are required): make one with `openssl rand -hex 32`"
    )]
    LowEntropy { source_name: String, len: usize, bits: usize, distinct: usize },
}

/// Least entropy a configured key must show, estimated from its bytes' frequencies.
const MIN_KEY_ENTROPY_BITS: usize = 96;
/// Fewest distinct byte values in a configured key.
const MIN_KEY_DISTINCT_BYTES: usize = 8;

/// Refuses a configured key that is all one byte, a short pattern repeated, or otherwise far
/// too predictable to keep pseudonyms from being reversed by enumeration. The estimate (length
/// times the empirical Shannon entropy per byte) is generous to real keys: 64 hex digits from
/// `openssl rand` show about 250 bits, 32 random bytes about 150.
fn check_entropy(bytes: &[u8], source_name: &str) -> Result<(), KeyError> {
    let mut counts = [0usize; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    let per_byte: f64 = counts.iter().filter(|c| **c > 0).map(|c| *c as f64 / n).map(|p| -p * p.log2()).sum();
    let (bits, distinct) = ((per_byte * n) as usize, counts.iter().filter(|c| **c > 0).count());
    if bits < MIN_KEY_ENTROPY_BITS || distinct < MIN_KEY_DISTINCT_BYTES {
        return Err(KeyError::LowEntropy { source_name: source_name.to_string(), len: bytes.len(), bits, distinct });
    }
    Ok(())
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
            return Err(KeyError::TooShort { source_name: source_name.to_string(), len: bytes.len() });
        }
        Ok(PseudonymKey(bytes))
    }

    /// The key from `PIGUARD_KEY` or `PIGUARD_KEY_FILE`.
    pub fn from_env() -> Result<Self, KeyError> {
        Self::from_vars(KEY_ENV, KEY_FILE_ENV)
    }

    /// A key from the variable `inline` (its bytes as given: a lossy conversion would map
    /// different keys to one) or from the file the variable `file` names; `Missing` when
    /// neither is set.
    pub fn from_vars(inline: &'static str, file: &'static str) -> Result<Self, KeyError> {
        let value = std::env::var_os(inline).filter(|v| !v.is_empty());
        let path = std::env::var_os(file).filter(|v| !v.is_empty());
        match (value, path) {
            (Some(_), Some(_)) => Err(KeyError::Ambiguous { inline, file }),
            (Some(v), None) => Self::configured(v.into_vec(), inline),
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                Self::configured(read_key_file(&path, file)?, &path.display().to_string())
            }
            (None, None) => Err(KeyError::Missing),
        }
    }

    /// A key an operator configured: long enough and not predictable.
    fn configured(bytes: Vec<u8>, source_name: &str) -> Result<Self, KeyError> {
        let key = Self::from_bytes(bytes, source_name)?;
        check_entropy(&key.0, source_name)?;
        Ok(key)
    }

    /// The key's public id: the first 16 hex digits of SHA-256(key).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(&self.0);
        lower_hex(&digest[..8])
    }
}

/// `O_NONBLOCK` (Linux, macOS and the BSDs differ; the std library does not export it).
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(target_os = "linux"))]
const O_NONBLOCK: i32 = 0x0004;

/// The bytes of a key file: a regular file of at most [`MAX_KEY_FILE_BYTES`].
fn read_key_file(path: &std::path::Path, var: &'static str) -> Result<Vec<u8>, KeyError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |cause| KeyError::File { path: path.to_path_buf(), var, cause };
    let not_a_key = |what: String| KeyError::NotAKeyFile { path: path.to_path_buf(), var, what };
    // Looked at before it is opened, and opened without blocking: opening a FIFO for reading
    // waits for a writer, forever.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_a_key("not a regular file".into()));
    }
    let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(not_a_key("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(not_a_key(format!("larger than {MAX_KEY_FILE_BYTES} bytes")));
    }
    Ok(bytes)
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().flat_map(|b| HEX_PAIRS[usize::from(*b)]).map(char::from).collect()
}

/// The two lowercase hex digits of every byte, so a digest is encoded by table lookups.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        pairs[i] = [HEX[i >> 4], HEX[i & 0xF]];
        i += 1;
    }
    pairs
};

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
    if v.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(v.to_ascii_lowercase()) } else { Cow::Borrowed(v) }
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
/// SHA-256's block size, which is also HMAC's.
const BLOCK: usize = 64;

/// Computes pseudonyms for one domain with one key.
///
/// HMAC (RFC 2104) is computed on SHA-256's block function directly: the states after the
/// key's inner and outer pad blocks are computed once, so a value whose `domain || 0x1F ||
/// value` fits in 55 bytes costs exactly two block compressions and no allocation (a generic
/// HMAC spent as long again buffering and finalizing), and a column's values are computed
/// two at a time. Hashing is the largest cost of a run after compression.
#[derive(Clone)]
pub struct Pseudonymizer {
    inner: [u32; 8],
    outer: [u32; 8],
    /// `domain || 0x1F`, the start of every inner message.
    prefix: Vec<u8>,
    domain: String,
    key_id: String,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer").field("domain", &self.domain).field("key_id", &self.key_id).finish()
    }
}

impl Pseudonymizer {
    /// A pseudonymizer for `domain` (by default the column's category id).
    pub fn new(key: &PseudonymKey, domain: &str) -> Self {
        let mut block = [0u8; BLOCK];
        if key.0.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(&key.0));
        } else {
            block[..key.0.len()].copy_from_slice(&key.0);
        }
        let pad_state = |pad: u8| {
            let mut state = SHA256_IV;
            compress256(&mut state, &[block.map(|b| b ^ pad)]);
            state
        };
        let mut prefix = domain.as_bytes().to_vec();
        prefix.push(SEPARATOR);
        Pseudonymizer { inner: pad_state(0x36), outer: pad_state(0x5c), prefix, domain: domain.to_string(), key_id: key.id() }
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
        out.push_str(Hex::of(&self.mac(canonical_value.as_bytes())).as_str());
    }

    /// The pseudonyms of two already canonical values, computed together (see
    /// [`compress_pair`]): the way to pseudonymize many values.
    pub(crate) fn pseudonym_pair(&self, a: &str, b: &str) -> [Hex; 2] {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let [a, b] = match (self.single_block(a), self.single_block(b)) {
            (Some(block_a), Some(block_b)) => {
                let (mut inner_a, mut inner_b) = (self.inner, self.inner);
                compress_pair((&mut inner_a, &block_a), (&mut inner_b, &block_b));
                let (mut outer_a, mut outer_b) = (self.outer, self.outer);
                compress_pair((&mut outer_a, &outer_block(inner_a)), (&mut outer_b, &outer_block(inner_b)));
                [big_endian(outer_a), big_endian(outer_b)]
            }
            _ => [self.mac(a), self.mac(b)],
        };
        [Hex::of(&a), Hex::of(&b)]
    }

    /// `HMAC-SHA256(key, domain || 0x1F || value)`.
    fn mac(&self, value: &[u8]) -> [u8; 32] {
        let inner = match self.single_block(value) {
            Some(block) => {
                let mut state = self.inner;
                compress256(&mut state, &[block]);
                state
            }
            None => digest_from(self.inner, [&self.prefix, value]),
        };
        let mut state = self.outer;
        compress256(&mut state, &[outer_block(inner)]);
        big_endian(state)
    }

    /// The padded inner message `domain || 0x1F || value` when it fits one block, as most
    /// values do: message, 0x80, zeros, bit length.
    fn single_block(&self, value: &[u8]) -> Option<[u8; BLOCK]> {
        let message = self.prefix.len() + value.len();
        if message >= BLOCK - 8 {
            return None;
        }
        let mut block = [0u8; BLOCK];
        block[..self.prefix.len()].copy_from_slice(&self.prefix);
        block[self.prefix.len()..message].copy_from_slice(value);
        block[message] = 0x80;
        block[BLOCK - 8..].copy_from_slice(&((BLOCK + message) as u64 * 8).to_be_bytes());
        Some(block)
    }

    /// The pseudonym of a raw value of `category`.
    pub fn pseudonymize(&self, category: Category, value: &str) -> String {
        self.pseudonym(&canonical(category, value))
    }
}

/// A pseudonym: 64 lowercase hex digits.
#[derive(Clone, Copy)]
pub(crate) struct Hex([u8; 64]);

impl Hex {
    fn of(digest: &[u8; 32]) -> Hex {
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
        }
        Hex(hex)
    }

    /// The digits as text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// The outer message: the 32-byte inner digest, then 0x80, zeros, and the bit length of the
/// pad block plus the digest. The outer message is always this one block.
fn outer_block(inner: [u32; 8]) -> [u8; BLOCK] {
    let mut block = OUTER_PADDING;
    for (out, word) in block.chunks_exact_mut(4).zip(inner) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    block
}

const OUTER_PADDING: [u8; BLOCK] = {
    let mut block = [0u8; BLOCK];
    block[32] = 0x80;
    let bits = ((BLOCK + 32) as u64 * 8).to_be_bytes();
    let mut i = 0;
    while i < 8 {
        block[BLOCK - 8 + i] = bits[i];
        i += 1;
    }
    block
};

/// A SHA-256 state as the digest's bytes.
fn big_endian(state: [u32; 8]) -> [u8; 32] {
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// The state after SHA-256 of the inner pad block (left in `state`) and then of `parts`
/// concatenated, padding included: the path for messages longer than one block.
fn digest_from(mut state: [u32; 8], parts: [&[u8]; 2]) -> [u32; 8] {
    let mut block = [0u8; BLOCK];
    let mut filled = 0;
    let mut total = BLOCK;
    for mut part in parts {
        total += part.len();
        while !part.is_empty() {
            let n = (BLOCK - filled).min(part.len());
            block[filled..filled + n].copy_from_slice(&part[..n]);
            (filled, part) = (filled + n, &part[n..]);
            if filled == BLOCK {
                compress256(&mut state, &[block]);
                filled = 0;
            }
        }
    }
    block[filled] = 0x80;
    block[filled + 1..].fill(0);
    if filled + 1 > BLOCK - 8 {
        compress256(&mut state, &[block]);
        block = [0; BLOCK];
    }
    block[BLOCK - 8..].copy_from_slice(&(total as u64 * 8).to_be_bytes());
    compress256(&mut state, &[block]);
    state
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
        let vectors: Vec<Vector> = serde_json::from_str(include_str!("../../tests/fixtures/pseudonym_vectors.json")).unwrap();
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
        /// Values, domains and keys of every length around the block boundaries (55, 64,
        /// 119 and 128 message bytes; keys over 64 bytes are hashed first).
        #[test]
        fn the_block_level_hmac_equals_a_generic_one(
            value in "[ -~]{0,200}",
            domain in "[a-z_]{0,70}",
            key in prop::collection::vec(any::<u8>(), 32..130),
        ) {
            use hmac::{Hmac, KeyInit, Mac};
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            mac.update(domain.as_bytes());
            mac.update(&[SEPARATOR]);
            mac.update(value.as_bytes());
            let expected = lower_hex(&mac.finalize().into_bytes());
            let key = PseudonymKey::from_bytes(key, "k").unwrap();
            prop_assert_eq!(Pseudonymizer::new(&key, &domain).pseudonym(&value), expected);
        }

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
