//! Password and secret hashing (argon2id), and the slow jobs the router hands off.
//!
//! Session passwords, session secret keys and the admin token are stored only as argon2id
//! hashes in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$...`), and compared in
//! constant time by the argon2 crate. Hashing is slow on purpose, so the broker never does
//! it on the router: it emits a [`Job`] that the driver runs on a blocking thread.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How expensive new hashes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashCost {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 passes, 1 lane.
    #[default]
    Standard,
    /// Cheap parameters for tests only (8 KiB, 1 pass): never for real secrets.
    Test,
}

impl HashCost {
    fn params(self) -> Params {
        let (m, t) = match self {
            HashCost::Standard => (19_456, 2),
            HashCost::Test => (8, 1),
        };
        // Invariant: both parameter sets are within argon2's documented ranges.
        Params::new(m, t, 1, None).expect("valid argon2 parameters")
    }
}

/// An argon2id hash of a secret, in PHC string form.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(String);

/// Why a hash could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The string is not an argon2 PHC hash.
    #[error("not an argon2 hash in PHC form (expected `$argon2id$v=19$...`)")]
    Malformed,
    /// The system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// argon2 refused the input.
    #[error("hashing failed: {0}")]
    Hashing(String),
}

impl SecretHash {
    /// Hashes `secret` with a fresh random salt. Slow with [`HashCost::Standard`].
    pub fn new(secret: &str, cost: HashCost) -> Result<SecretHash, HashError> {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| HashError::Random(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Hashing(e.to_string()))?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params());
        let hash = hasher
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| HashError::Hashing(e.to_string()))?;
        Ok(SecretHash(hash.to_string()))
    }

    /// Reads a hash made earlier (from a config file, say).
    pub fn from_phc(phc: &str) -> Result<SecretHash, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(HashError::Malformed);
        }
        Ok(SecretHash(phc.to_owned()))
    }

    /// The PHC string.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the secret. Slow; constant time in the secret.
    pub fn verify(&self, candidate: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(&self.0) else {
            return false;
        };
        Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(argon2id)")
    }
}

/// Slow work the broker hands to the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Echo in the [`JobResult`].
    pub id: u64,
    /// What to do.
    pub kind: JobKind,
}

/// The kinds of slow work.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobKind {
    /// Check `candidate` against `hash`.
    Verify {
        /// The stored hash.
        hash: SecretHash,
        /// What the client sent.
        candidate: String,
    },
    /// Hash new secrets (a session's password and secret key).
    Hash {
        /// The secrets, in order.
        secrets: Vec<String>,
        /// The cost to hash them with.
        cost: HashCost,
    },
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    /// The job's id.
    pub id: u64,
    /// The outcome.
    pub outcome: JobOutcome,
}

/// The outcome of a job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// Whether the candidate matched.
    Verified(bool),
    /// The hashes, in the order of the secrets.
    Hashed(Result<Vec<SecretHash>, HashError>),
}

impl Job {
    /// Does the work. Call it on a blocking thread.
    pub fn run(self) -> JobResult {
        let outcome = match self.kind {
            JobKind::Verify { hash, candidate } => JobOutcome::Verified(hash.verify(&candidate)),
            JobKind::Hash { secrets, cost } => {
                JobOutcome::Hashed(secrets.iter().map(|s| SecretHash::new(s, cost)).collect())
            }
        };
        JobResult {
            id: self.id,
            outcome,
        }
    }
}

/// A keyed fingerprint of a secret that verified once, so the next check of the same
/// secret is a fast constant-time comparison instead of argon2. The key is random per
/// process, so the fingerprints are worthless outside it.
pub(crate) fn fingerprint(key: &[u8; 32], secret: &str) -> [u8; 32] {
    // Invariant: HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("any key length");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether a presented token equals the stored one, in time independent of where they
/// differ (an empty stored token matches nothing).
pub(crate) fn same_token(stored: &str, presented: &str) -> bool {
    !stored.is_empty() && bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
}

/// Constant-time equality of two fingerprints.
pub(crate) fn same_fingerprint(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_and_nothing_else() {
        let hash = SecretHash::new("hunter2", HashCost::Test).expect("hash");
        assert!(hash.as_phc().starts_with("$argon2id$v=19$"));
        assert!(hash.verify("hunter2"));
        assert!(!hash.verify("hunter3"));
        assert!(!hash.verify(""));
    }

    #[test]
    fn two_hashes_of_one_secret_differ_by_their_salt() {
        let a = SecretHash::new("s", HashCost::Test).expect("hash");
        let b = SecretHash::new("s", HashCost::Test).expect("hash");
        assert_ne!(a, b);
    }

    #[test]
    fn only_argon2id_phc_strings_are_accepted_from_configuration() {
        let hash = SecretHash::new("s", HashCost::Test).expect("hash");
        assert!(SecretHash::from_phc(hash.as_phc()).is_ok());
        assert_eq!(SecretHash::from_phc("plaintext"), Err(HashError::Malformed));
        let argon2i = hash.as_phc().replace("argon2id", "argon2i");
        assert_eq!(SecretHash::from_phc(&argon2i), Err(HashError::Malformed));
    }

    #[test]
    fn the_debug_form_shows_no_hash() {
        let hash = SecretHash::new("s", HashCost::Test).expect("hash");
        assert_eq!(format!("{hash:?}"), "SecretHash(argon2id)");
    }

    #[test]
    fn jobs_report_their_id_and_outcome() {
        let hash = SecretHash::new("pw", HashCost::Test).expect("hash");
        let job = Job {
            id: 7,
            kind: JobKind::Verify {
                hash,
                candidate: "pw".into(),
            },
        };
        assert_eq!(
            job.run(),
            JobResult {
                id: 7,
                outcome: JobOutcome::Verified(true)
            }
        );
        let job = Job {
            id: 8,
            kind: JobKind::Hash {
                secrets: vec!["a".into()],
                cost: HashCost::Test,
            },
        };
        let JobOutcome::Hashed(Ok(hashes)) = job.run().outcome else {
            panic!("hashing failed")
        };
        assert!(hashes[0].verify("a"));
    }
}
