//! Secrets: MQ tokens, session ids, generated passwords.
//!
//! Tokens are 128 random bits, shown once and stored only as SHA-256. A salt
//! or a slow hash buys nothing for secrets of that entropy, and a fast hash
//! keeps AUTH cheap on the engine thread. Comparison is constant-time so the
//! time an AUTH takes tells nothing about how much of a guess was right.

use rand::distr::{Alphanumeric, SampleString};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of generated passwords: 24 alphanumerics ≈ 143 bits.
const PASSWORD_LEN: usize = 24;

fn random_hex_128() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A new MQ token: 32 lowercase hex characters (128 random bits), the format
/// of the original product.
pub fn new_token() -> String {
    random_hex_128()
}

/// A new session id: 32 lowercase hex characters (128 random bits).
pub fn new_session_id() -> String {
    random_hex_128()
}

/// A new random password for a generated account (the bootstrap admin).
pub fn new_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LEN)
}

/// SHA-256 of the token's UTF-8 bytes.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// [`hash_token`] as lowercase hex, the form the database stores.
pub fn hash_token_hex(token: &str) -> String {
    hex::encode(hash_token(token))
}

/// Whether `presented` hashes to `stored`, in constant time.
pub fn token_matches(stored: &[u8; 32], presented: &str) -> bool {
    hash_token(presented).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_lower_hex(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn tokens_and_sessions_are_32_lower_hex_and_distinct() {
        for f in [new_token, new_session_id] {
            let (a, b) = (f(), f());
            assert_eq!(a.len(), 32);
            assert!(is_lower_hex(&a), "{a}");
            assert_ne!(a, b);
        }
    }

    #[test]
    fn passwords_are_long_alphanumeric_and_distinct() {
        let p = new_password();
        assert!(p.len() >= 20);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
        assert_ne!(p, new_password());
    }

    #[test]
    fn hash_is_sha256_of_the_utf8_token() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_token_hex("abc"), expected);
        assert_eq!(hex::encode(hash_token("abc")), expected);
    }

    #[test]
    fn matching_is_exact() {
        let t = new_token();
        let stored = hash_token(&t);
        assert!(token_matches(&stored, &t));
        assert!(!token_matches(&stored, &t.to_uppercase()));
        assert!(!token_matches(&stored, ""));
        assert!(!token_matches(&stored, &t[..31]));
    }
}
