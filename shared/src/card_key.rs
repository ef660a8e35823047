//! Card keys: a card number (PAN) never reaches a store or a log. Per-card state and decisions
//! are keyed by [`CardKey`], an HMAC-SHA256 of the number under a secret the stores never see
//! (on AWS it comes from Secrets Manager, never from an environment variable).

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The card-hash secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the card-hash secret has {len} bytes; at least {MIN_SECRET_LEN} are needed")]
pub struct SecretTooShort {
    pub len: usize,
}

/// Keyed hash of a card number: the only card identifier stored or logged anywhere.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CardKey(String);

impl CardKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key read back from a store (already hashed).
    pub fn from_stored(hex: String) -> Self {
        CardKey(hex)
    }
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardKey({})", &self.0[..self.0.len().min(12)])
    }
}

impl fmt::Display for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret behind [`CardKey`]s (`CARD_HASH_SECRET`).
#[derive(Clone)]
pub struct CardHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for CardHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardHasher(<secret>)")
    }
}

/// Shortest secret accepted: 16 bytes, so the keyed hash cannot be brute-forced over the
/// small space of card numbers.
pub const MIN_SECRET_LEN: usize = 16;

impl CardHasher {
    pub fn new(secret: &[u8]) -> Result<Self, SecretTooShort> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort { len: secret.len() });
        }
        // HMAC takes a key of any length: only the length check above can refuse one.
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
        Ok(CardHasher { mac })
    }

    /// HMAC-SHA256 of the card number's decimal digits, hex.
    pub fn key(&self, cc_num: u64) -> CardKey {
        let mut mac = self.mac.clone();
        mac.update(cc_num.to_string().as_bytes());
        CardKey(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> CardHasher {
        CardHasher::new(b"0123456789abcdef-test").unwrap()
    }

    #[test]
    fn card_keys_are_keyed_hashes_that_never_show_the_number() {
        let key = hasher().key(4_111_111_111_111_111);
        assert_eq!(key.as_str().len(), 64);
        assert!(!key.as_str().contains("4111111111111111"));
        assert_eq!(key, hasher().key(4_111_111_111_111_111));
        assert_ne!(
            key,
            CardHasher::new(b"another secret, 16+ bytes")
                .unwrap()
                .key(4_111_111_111_111_111)
        );
        assert!(!format!("{key:?}").contains(&key.as_str()[20..]));
        assert!(
            CardHasher::new(b"short")
                .unwrap_err()
                .to_string()
                .contains("16")
        );
    }
}
