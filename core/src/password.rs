//! Password hashes: Argon2id, stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! The cost parameters are OWASP's current minimum for Argon2id: 19 MiB of
//! memory, 2 iterations, 1 lane. A hash keeps its own parameters, so hashes
//! made under older parameters still verify after they change. The salt is
//! made by the caller (16 random bytes per hash), which keeps this module free
//! of I/O and testable with fixed salts.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The longest password accepted. Argon2 takes any length, but a limit keeps
/// one request from costing more than the hash itself.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Salt bytes per hash (the PHC recommendation is at least 16).
pub const SALT_BYTES: usize = 16;

/// Memory cost in KiB, iterations and lanes.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// The positions (0 is the command name) of the arguments of `command` that
/// may be passwords, given `args`, the arguments after the name. Generous
/// on purpose: every argument after a `PASSWORD` keyword is hidden, also
/// when the call is malformed (a forgotten name puts the keyword in its
/// place; an unquoted passphrase spreads over several arguments).
pub fn secret_positions(command: &str, args: &[&[u8]]) -> Vec<usize> {
    match command {
        "chat.auth" => vec![2],
        "chat.passwd" => vec![2, 3],
        "chat.register" => match args
            .iter()
            .skip(1)
            .position(|arg| arg.eq_ignore_ascii_case(b"PASSWORD"))
        {
            // args[k + 1] is the keyword, at argv position k + 2.
            Some(k) => (k + 3..=args.len()).collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether `password` is acceptable as a password (length only: any bytes
/// are allowed, a passphrase may be in any encoding).
pub fn acceptable(password: &[u8]) -> bool {
    (1..=MAX_PASSWORD_BYTES).contains(&password.len())
}

fn hasher() -> Option<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).ok()?;
    Some(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password` with `salt`; None only if the hash library
/// refuses its input, which the length check before it rules out.
pub fn hash(password: &[u8], salt: &[u8; SALT_BYTES]) -> Option<String> {
    let salt = SaltString::encode_b64(salt).ok()?;
    let phc = hasher()?.hash_password(password, &salt).ok()?;
    Some(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`. A malformed `stored`
/// never matches.
pub fn verify(stored: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    // The parameters and salt come from `stored` itself.
    Argon2::default().verify_password(password, &parsed).is_ok()
}

/// A hash no password is known for, with the same cost as real ones. A
/// failed sign-in for an unknown user (or a user without a password) checks
/// against it, so that it takes as long as a wrong password for a real user
/// and the time does not tell which user ids exist.
pub const DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$zpyCX1f+v6M7sk0j5x6AQQ$4Zb2eBZd7A7G2MZkiwtjGDp0VjLEBUSxKJyJUJ1twlU";

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; SALT_BYTES] = *b"0123456789abcdef";

    #[test]
    fn hash_is_an_argon2id_phc_string_with_the_owasp_parameters() {
        let phc = hash(b"correct horse", &SALT).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
    }

    #[test]
    fn verify_accepts_the_password_and_nothing_else() {
        let phc = hash(b"correct horse", &SALT).unwrap();
        assert!(verify(&phc, b"correct horse"));
        assert!(!verify(&phc, b"correct horsf"));
        assert!(!verify(&phc, b""));
        assert!(!verify("not a hash", b"correct horse"));
        assert!(!verify("", b""));
    }

    #[test]
    fn the_salt_makes_equal_passwords_hash_differently() {
        let a = hash(b"same", &SALT).unwrap();
        let b = hash(b"same", b"fedcba9876543210").unwrap();
        assert_ne!(a, b);
        assert!(verify(&a, b"same") && verify(&b, b"same"));
    }

    #[test]
    fn the_decoy_is_well_formed_and_costs_the_same() {
        let parsed = PasswordHash::new(DECOY).unwrap();
        let real = hash(b"x", &SALT).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.params, real.params);
        assert!(!verify(DECOY, b""));
        assert!(!verify(DECOY, b"password"));
    }

    #[test]
    fn secret_positions_cover_every_password_argument() {
        let a = |s: &[&'static str]| s.iter().map(|x| x.as_bytes()).collect::<Vec<_>>();
        assert_eq!(secret_positions("chat.auth", &a(&["u", "pw"])), [2]);
        assert_eq!(
            secret_positions("chat.passwd", &a(&["u", "o", "n"])),
            [2, 3]
        );
        assert_eq!(
            secret_positions("chat.register", &a(&["u", "Name", "password", "pw"])),
            [4]
        );
        // The name forgotten: the keyword is where the name should be.
        assert_eq!(
            secret_positions("chat.register", &a(&["u", "PASSWORD", "pw"])),
            [3]
        );
        // An unquoted passphrase: every word after the keyword.
        assert_eq!(
            secret_positions(
                "chat.register",
                &a(&["u", "N", "PASSWORD", "open", "sesame"])
            ),
            [4, 5]
        );
        // A user id that reads PASSWORD is no keyword.
        assert!(secret_positions("chat.register", &a(&["PASSWORD", "n"])).is_empty());
        assert!(secret_positions("chat.send", &a(&["r", "u", "PASSWORD"])).is_empty());
    }

    #[test]
    fn length_limits() {
        assert!(!acceptable(b""));
        assert!(acceptable(b"x"));
        assert!(acceptable(&[0xff; MAX_PASSWORD_BYTES]));
        assert!(!acceptable(&[b'x'; MAX_PASSWORD_BYTES + 1]));
    }
}
