//! `ProofNonces`: server-issued nonces for proofs of possession (SPEC.md §17.9), stateless.
//!
//! Time is cut into windows of `window` seconds. The nonce of window `i` is
//! `base64url(i as u64 big-endian || HMAC-SHA-256(secret, LABEL || i)[..16])`: 24 bytes, 32
//! characters. Issuing one needs no storage and checking one needs no lookup, so any number of
//! replicas that share the secret accept each other's nonces. A nonce is accepted in the window
//! it was issued in and in the next one: between `window` and `2 × window` seconds after it
//! was issued, by the checking server's clock.
//!
//! Plain code: `issue` and `check` take `now`; the gate supplies the verifier's clock.

use attest_core::UnixTime;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Domain separation: these MACs are proof nonces of this format and no other use of the secret.
const LABEL: &[u8] = b"attest proof nonce v1\0";
/// Bytes of the window index, then of the truncated MAC.
const INDEX_LEN: usize = 8;
const TAG_LEN: usize = 16;
/// Length of a nonce in base64url without padding: 24 bytes.
const NONCE_CHARS: usize = 32;

/// Why a [`ProofNonces`] could not be made.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// The operating system's random number generator failed: no secret, no nonces.
    #[error("no random secret for proof nonces: {0}")]
    Rng(String),
    /// A window of zero seconds would accept nothing.
    #[error("the proof nonce window must be at least one second")]
    ZeroWindow,
}

/// Issues and checks the nonces a server requires in proofs of possession (SPEC.md §17.9).
///
/// Stateless: a nonce is a window index and a MAC over it with a 32-byte secret. Replicas that
/// must accept each other's nonces share the secret ([`ProofNonces::from_secret`]); otherwise
/// [`ProofNonces::random`] draws one. Cheap to clone. Set it on a gate with
/// [`crate::AttestationGate::proof_nonces`].
#[derive(Clone)]
pub struct ProofNonces {
    /// The MAC keyed with the secret (the secret itself is not kept; the keyed state is
    /// zeroized on drop).
    mac: Hmac<Sha256>,
    window_secs: u64,
}

impl std::fmt::Debug for ProofNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("ProofNonces")
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

impl ProofNonces {
    /// The default window: 60 seconds, the default proof window (§17.5 step 9).
    pub const DEFAULT_WINDOW_SECS: u64 = 60;

    /// Nonces under a fresh random secret from the operating system: only this process (and
    /// its clones) accepts them.
    pub fn random() -> Result<ProofNonces, NonceError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| NonceError::Rng(e.to_string()))?;
        Ok(ProofNonces::from_secret(&secret))
    }

    /// Nonces under `secret`: every server built with the same secret (and window) accepts the
    /// nonces of the others. Keep it as secret as a signing key: whoever has it can mint nonces.
    pub fn from_secret(secret: &[u8; 32]) -> ProofNonces {
        // HMAC pads a key shorter than the hash's block with zeros (RFC 2104), so the 32-byte
        // secret written into a zeroed block-sized key is the same key, with no fallible step.
        let mut key = Key::<Hmac<Sha256>>::default();
        for (slot, byte) in key.iter_mut().zip(secret) {
            *slot = *byte;
        }
        let mac = <Hmac<Sha256> as KeyInit>::new(&key);
        key.zeroize();
        ProofNonces {
            mac,
            window_secs: Self::DEFAULT_WINDOW_SECS,
        }
    }

    /// Sets the window (default 60 s): a nonce is accepted for between one and two windows
    /// after it was issued. Zero is refused.
    pub fn with_window_secs(mut self, window_secs: u64) -> Result<ProofNonces, NonceError> {
        if window_secs == 0 {
            return Err(NonceError::ZeroWindow);
        }
        self.window_secs = window_secs;
        Ok(self)
    }

    /// The window, in seconds.
    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    /// The nonce of the window `now` falls in. Every call in one window returns the same nonce.
    pub fn issue(&self, now: UnixTime) -> String {
        let index = self.index(now);
        let mut bytes = [0u8; INDEX_LEN + TAG_LEN];
        let (index_bytes, tag) = bytes.split_at_mut(INDEX_LEN);
        index_bytes.copy_from_slice(&index.to_be_bytes());
        let full = self.tag(index).finalize().into_bytes();
        for (out, byte) in tag.iter_mut().zip(full.iter()) {
            *out = *byte;
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// True if `nonce` was issued under this secret in the window `now` falls in or in the one
    /// before. Anything else is false: another secret, a flipped bit, an older or a future
    /// window, a wrong length, padding, characters outside base64url. The MAC is compared in
    /// constant time.
    pub fn check(&self, nonce: &str, now: UnixTime) -> bool {
        if nonce.len() != NONCE_CHARS {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((index_bytes, tag)) = bytes.split_first_chunk::<INDEX_LEN>() else {
            return false;
        };
        if tag.len() != TAG_LEN {
            return false;
        }
        let index = u64::from_be_bytes(*index_bytes);
        let current = self.index(now);
        let recent = index == current || index.checked_add(1) == Some(current);
        // The window decides before the MAC: the index is public, the tag is what is secret.
        recent && self.tag(index).verify_truncated_left(tag).is_ok()
    }

    fn index(&self, now: UnixTime) -> u64 {
        // `window_secs` is never zero (see `with_window_secs`); `checked_div` keeps that local.
        now.as_secs()
            .checked_div(self.window_secs)
            .unwrap_or(u64::MAX)
    }

    /// The MAC state over the window `index`, ready to finalize or verify.
    fn tag(&self, index: u64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(LABEL);
        mac.update(&index.to_be_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_790_000_000;

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    fn nonces() -> ProofNonces {
        ProofNonces::from_secret(&[7; 32])
    }

    #[test]
    fn a_nonce_is_accepted_in_its_window_and_the_next_only() {
        let nonces = nonces();
        // T is 20 s into its window (T % 60 == 20).
        let start = T - T % 60;
        let nonce = nonces.issue(at(T));
        assert_eq!(nonce.len(), NONCE_CHARS);
        assert_eq!(nonces.issue(at(start)), nonce, "one nonce per window");
        assert_eq!(nonces.issue(at(start + 59)), nonce);
        assert_ne!(nonces.issue(at(start + 60)), nonce);
        assert!(nonces.check(&nonce, at(T)));
        assert!(nonces.check(&nonce, at(start + 60)), "the next window");
        assert!(
            nonces.check(&nonce, at(start + 119)),
            "the end of the next window"
        );
        assert!(!nonces.check(&nonce, at(start + 120)), "two windows later");
        assert!(!nonces.check(&nonce, at(T + 3600)));
        // A nonce from the future (a later window) is refused.
        assert!(!nonces.check(&nonce, at(start - 1)));
    }

    #[test]
    fn the_vectors_of_the_spec() {
        // SPEC.md §17.9: secret 00 01 … 1f, window 60 s, now 1790000000 (window 29833333).
        let secret: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
        let nonces = ProofNonces::from_secret(&secret);
        assert_eq!(nonces.issue(at(T)), "AAAAAAHHOHUYz9VYSXs79Ariphl1m2g6");
        assert_eq!(nonces.issue(at(T + 60)), "AAAAAAHHOHYAfe7xKbaNIjQ0w7EnbSHh");
        assert!(nonces.check("AAAAAAHHOHUYz9VYSXs79Ariphl1m2g6", at(T + 60)));
    }

    #[test]
    fn the_window_is_configurable_and_never_zero() {
        let nonces = nonces().with_window_secs(10).unwrap();
        assert_eq!(nonces.window_secs(), 10);
        let nonce = nonces.issue(at(T));
        assert!(nonces.check(&nonce, at(T + 10)));
        assert!(!nonces.check(&nonce, at(T + 20)));
        assert_eq!(
            ProofNonces::from_secret(&[1; 32])
                .with_window_secs(0)
                .unwrap_err(),
            NonceError::ZeroWindow
        );
    }

    #[test]
    fn a_nonce_of_another_secret_is_refused_and_a_shared_secret_accepted() {
        let nonce = nonces().issue(at(T));
        assert!(!ProofNonces::from_secret(&[8; 32]).check(&nonce, at(T)));
        assert!(!ProofNonces::random().unwrap().check(&nonce, at(T)));
        // A replica with the same secret: the same nonces.
        let replica = ProofNonces::from_secret(&[7; 32]);
        assert!(replica.check(&nonce, at(T)));
        assert_eq!(replica.issue(at(T)), nonce);
        // Two random secrets differ.
        let (a, b) = (
            ProofNonces::random().unwrap(),
            ProofNonces::random().unwrap(),
        );
        assert_ne!(a.issue(at(T)), b.issue(at(T)));
    }

    #[test]
    fn every_bit_flip_is_refused() {
        let nonces = nonces();
        let nonce = nonces.issue(at(T));
        let bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let flipped = URL_SAFE_NO_PAD.encode(&flipped);
            assert!(!nonces.check(&flipped, at(T)), "bit {bit}");
        }
    }

    #[test]
    fn a_forged_index_with_a_real_tag_is_refused() {
        // The tag of an old window, moved to the current window's index.
        let nonces = nonces();
        let old = URL_SAFE_NO_PAD.decode(nonces.issue(at(T - 600))).unwrap();
        let mut forged = (T / 60).to_be_bytes().to_vec();
        forged.extend_from_slice(&old[INDEX_LEN..]);
        assert!(!nonces.check(&URL_SAFE_NO_PAD.encode(&forged), at(T)));
    }

    #[test]
    fn garbage_of_any_length_is_refused_without_panicking() {
        let nonces = nonces();
        let nonce = nonces.issue(at(T));
        let mut garbage: Vec<String> = vec![
            String::new(),
            "=".into(),
            "A".repeat(31),
            "A".repeat(32),
            "A".repeat(33),
            "A".repeat(10_000),
            format!("{nonce}="),
            format!("{nonce}A"),
            nonce[..31].to_owned(),
            nonce.replace(|_: char| true, "é"),
            format!("{}+/", &nonce[..30]),
            format!("{}==", &nonce[..30]),
            "\0".repeat(32),
            // The index of the current window and an all-zero tag.
            URL_SAFE_NO_PAD.encode([(T / 60).to_be_bytes().as_slice(), &[0; 16]].concat()),
            // 24 bytes of u64::MAX: the index overflows nothing.
            URL_SAFE_NO_PAD.encode([0xff; 24]),
        ];
        for len in 0..64 {
            garbage.push("_".repeat(len));
        }
        for candidate in &garbage {
            assert!(!nonces.check(candidate, at(T)), "{candidate:?}");
            assert!(!nonces.check(candidate, at(u64::MAX)), "{candidate:?}");
            assert!(!nonces.check(candidate, at(0)), "{candidate:?}");
        }
        // Extreme clocks neither panic nor accept.
        assert!(!nonces.check(&nonce, at(u64::MAX)));
        assert!(nonces.check(&nonces.issue(at(u64::MAX)), at(u64::MAX)));
        assert!(nonces.check(&nonces.issue(at(0)), at(0)));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", ProofNonces::from_secret(&[0xab; 32]));
        assert_eq!(text, "ProofNonces { window_secs: 60, .. }");
    }
}
