//! Password and secret hashing (argon2id), and the slow jobs the router hands off.
//!
//! Session passwords, session secret keys and the admin token are stored only as argon2id
//! hashes in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$...`), and compared in
//! constant time. Hashing is slow on purpose, so the broker never does it on the router: it
//! emits a [`Job`] that the driver runs on a blocking thread.
//!
//! Each hash works in 19 MiB that is handed back to the system when it is done (see
//! [`Scratch`]), so password checks do not leave the process tens of MiB larger.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
        let hashing = |e: &dyn std::fmt::Display| HashError::Hashing(e.to_string());
        let encoded = SaltString::encode_b64(&salt).map_err(|e| hashing(&e))?;
        let params = cost.params();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon2id_into(Version::V0x13, &params, secret.as_bytes(), &salt, &mut out)
            .map_err(|e| hashing(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| hashing(&e))?,
            salt: Some(encoded.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| hashing(&e))?),
        };
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
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let mut salt_buf = [0u8; Salt::MAX_LENGTH];
        let (Ok(params), Ok(salt)) = (Params::try_from(&parsed), salt.decode_b64(&mut salt_buf))
        else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        argon2id_into(version, &params, candidate.as_bytes(), salt, &mut out).is_ok()
            && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
    }
}

/// argon2id of `password` into `out`, in memory of its own that goes back to the system.
fn argon2id_into(
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let mut scratch = Scratch::new(params.block_count());
    Argon2::new(Algorithm::Argon2id, version, params.clone()).hash_password_into_with_memory(
        password,
        salt,
        out,
        scratch.blocks(),
    )
}

/// argon2's working memory, reserved larger than glibc's largest dynamic mmap threshold
/// (32 MiB on 64-bit): glibc serves it with its own mapping and unmaps it when it is freed,
/// instead of raising its threshold to the freed size, after which every later hash would come
/// from the heap of the hashing thread and stay resident there (19 MiB per thread that ever
/// hashed). The pages past the blocks in use are never touched, so they cost address space
/// only; with other allocators the reservation is harmless.
struct Scratch(Vec<Block>);

/// [`Scratch`]'s reservation in bytes: above glibc's `DEFAULT_MMAP_THRESHOLD_MAX`.
const SCRATCH_BYTES: usize = 33 << 20;
/// Working memory below this (the test cost's) is an ordinary allocation.
const SMALL_SCRATCH_BYTES: usize = 64 << 10;

impl Scratch {
    fn new(blocks: usize) -> Scratch {
        let reserve = if blocks.saturating_mul(Block::SIZE) < SMALL_SCRATCH_BYTES {
            blocks
        } else {
            blocks.max(SCRATCH_BYTES / Block::SIZE)
        };
        let mut memory = Vec::with_capacity(reserve);
        memory.resize(blocks, Block::default());
        Scratch(memory)
    }

    fn blocks(&mut self) -> &mut [Block] {
        &mut self.0
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

/// The SHA-256 digest of a resume token: what the broker keeps (and a durable broker
/// stores) instead of the token. Tokens are 128 random bits, so an unkeyed digest cannot
/// be reversed by guessing, and it stays valid across restarts.
pub(crate) fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(token.as_bytes()).into()
}

/// Whether a presented token is the one whose digest is stored, in time independent of
/// where they differ (no stored digest matches nothing).
pub(crate) fn same_token(stored: &Option<[u8; 32]>, presented: &str) -> bool {
    stored
        .as_ref()
        .is_some_and(|digest| same_fingerprint(digest, &token_digest(presented)))
}

/// Constant-time equality of two fingerprints.
pub(crate) fn same_fingerprint(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier_at_both_costs() {
        for cost in [HashCost::Test, HashCost::Standard] {
            let ours = SecretHash::new("hunter2", cost).expect("hash");
            let parsed = PasswordHash::new(ours.as_phc()).expect("PHC");
            assert!(Argon2::default()
                .verify_password(b"hunter2", &parsed)
                .is_ok());
            assert!(Argon2::default()
                .verify_password(b"hunter3", &parsed)
                .is_err());

            let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
            let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params())
                .hash_password(b"hunter2", &salt)
                .expect("hash")
                .to_string();
            let theirs = SecretHash::from_phc(&theirs).expect("argon2id");
            assert!(theirs.verify("hunter2"));
            assert!(!theirs.verify("hunter3"));
        }
    }

    #[test]
    fn a_hash_with_a_shorter_output_or_an_old_version_still_verifies() {
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        let params = Params::new(8, 1, 1, Some(16)).expect("params");
        for version in [Version::V0x10, Version::V0x13] {
            let phc = Argon2::new(Algorithm::Argon2id, version, params.clone())
                .hash_password(b"s", &salt)
                .expect("hash")
                .to_string();
            let hash = SecretHash::from_phc(&phc).expect("argon2id");
            assert!(hash.verify("s"), "{phc}");
            assert!(!hash.verify("t"), "{phc}");
        }
    }

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
