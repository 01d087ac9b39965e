//! The properties of the command parsers: random, near-valid and long
//! vectors get the documented answer, well-formed vectors round-trip; and
//! of the helpers they share, the integer parser and the argument cursor.

use chat_core::config::Limits;
use chat_core::error::ChatError;
use chat_core::parse::{parse_int_in, Args};
use proptest::prelude::*;

use crate::check::{check_error, check_parse, Shown};
use crate::commands::{run, ALL};
use crate::config;
use crate::examples::{example, mutate, mutation};
use crate::generators::{atom, id, keyword, limits, number, text, KEYWORDS};
use crate::rules::{is_kw, spec, spec_int};

// ---------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config(17_500))]

    /// Any vector through every parser: never a panic, always the documented
    /// answer.
    #[test]
    fn random_vectors_get_the_documented_answer(
        args in prop::collection::vec(atom(), 0..9),
        limits in limits(),
    ) {
        for cmd in ALL {
            check_parse(cmd, &args, &limits)?;
        }
    }

    /// Vectors close to valid ones: one to three arguments replaced, added,
    /// removed, repeated or swapped.
    #[test]
    fn near_valid_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        mutations in prop::collection::vec(mutation(), 1..4),
        limits in limits(),
        other in any::<prop::sample::Index>(),
    ) {
        let mut args = args;
        for m in &mutations {
            mutate(&mut args, m);
        }
        check_parse(cmd, &args, &limits)?;
        // The same vector given to another command.
        check_parse(ALL[other.index(ALL.len())], &args, &limits)?;
    }
}

proptest! {
    #![proptest_config(config(5_000))]

    /// Long vectors: a well-formed one followed by one argument or option
    /// repeated hundreds of times.
    #[test]
    fn long_vectors_get_the_documented_answer(
        (cmd, args, _) in example(),
        repeated in prop_oneof![keyword(), number(), id(), text()],
        times in 1usize..600,
        with_value in any::<bool>(),
        value in number(),
    ) {
        let mut args = args;
        for _ in 0..times {
            args.push(repeated.clone());
            if with_value {
                args.push(value.clone());
            }
        }
        check_parse(cmd, &args, &Limits::default())?;
    }

    /// A well-formed vector parses back to the values it was built from.
    #[test]
    fn well_formed_vectors_round_trip((cmd, args, expected) in example()) {
        let limits = Limits::default();
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        match run(cmd, &a, &limits) {
            Ok(got) => prop_assert_eq!(&got, &expected, "{:?} {:?}", cmd, Shown(&args)),
            Err(e) => prop_assert!(false, "{:?} {:?} refused: {}", cmd, Shown(&args), e),
        }
        prop_assert_eq!(spec(cmd, &a, &limits), Some(expected));
    }

    /// The integer helper every numeric argument goes through.
    #[test]
    fn integers_parse_as_documented(
        value in prop_oneof![number(), prop::collection::vec(any::<u8>(), 0..24)],
        bounds in prop_oneof![
            (any::<i64>(), any::<i64>()),
            (-5i64..5, -5i64..2000),
            Just((0, i64::MAX)),
            Just((i64::MIN, i64::MAX)),
        ],
    ) {
        let (min, max) = (bounds.0.min(bounds.1), bounds.0.max(bounds.1));
        match (parse_int_in("COUNT", &value, min, max), spec_int(&value, min, max)) {
            (Ok(n), Some(m)) => prop_assert_eq!(n, m),
            (Err(e), None) => {
                check_error(&e)?;
                let text = e.to_string();
                let expected_start = format!("ERR COUNT must be an integer from {min} to {max}, got '");
                prop_assert!(text.starts_with(&expected_start), "{}", text);
            }
            (got, want) => prop_assert!(false, "{:?}: got {:?}, documented {:?}", Shown(std::slice::from_ref(&value)), got, want),
        }
    }

    /// The argument cursor: options match whatever their case, positionals
    /// run out as arity errors, leftovers are refused.
    #[test]
    fn the_argument_cursor(args in prop::collection::vec(atom(), 0..6), take in 0usize..8) {
        let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut cursor = Args::new("chat.test", &a);
        for i in 0..take {
            match cursor.positional() {
                Ok(item) => prop_assert_eq!(item, a[i]),
                Err(e) => {
                    prop_assert!(i >= a.len());
                    prop_assert_eq!(e, ChatError::WrongArity("chat.test"));
                }
            }
        }
        prop_assert_eq!(cursor.finish().is_ok(), take >= a.len());
        if let Some(option) = cursor.next_option() {
            let raw = a[take];
            for keyword in KEYWORDS {
                prop_assert_eq!(option == keyword, is_kw(raw, keyword));
            }
        } else {
            prop_assert!(take >= a.len());
        }
    }
}
