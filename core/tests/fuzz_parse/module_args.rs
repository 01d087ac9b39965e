//! The `--loadmodule` arguments: never a panic, values within each
//! parameter's range or choices, unknown names refused.

use chat_core::config::{parse_module_args, Setting, PARAMS, WORDS};
use proptest::prelude::*;

use crate::config;
use crate::generators::{atom, cased, number};
use crate::rules::is_kw;

/// The name of a module parameter (any case), or something else.
pub(crate) fn module_arg_name() -> impl Strategy<Value = Vec<u8>> {
    let names: Vec<&'static str> = PARAMS
        .iter()
        .map(|p| p.name)
        .chain(WORDS.iter().map(|w| w.name))
        // A parameter that existed once.
        .chain(["replicate-effects"])
        .collect();
    prop_oneof![
        4 => (prop::sample::select(names), any::<u32>()).prop_map(|(n, m)| cased(n, m)),
        1 => atom(),
    ]
}

pub(crate) fn module_arg_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        number(),
        prop::sample::select(vec![
            "yes", "no", "YES", "No", "maybe", "trust", "acl", "ACL", ""
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        atom(),
    ]
}

proptest! {
    #![proptest_config(config(5_000))]

    /// `--loadmodule` arguments: never a panic; what is accepted is within
    /// each parameter's range or choices; an unknown name is refused.
    #[test]
    fn module_arguments(
        pairs in prop::collection::vec((module_arg_name(), module_arg_value()), 0..6),
        odd in prop::option::of(module_arg_name()),
    ) {
        let mut args: Vec<&[u8]> = pairs.iter().flat_map(|(n, v)| [n.as_slice(), v.as_slice()]).collect();
        if let Some(extra) = &odd {
            args.push(extra);
        }
        match parse_module_args(&args) {
            Ok(settings) => {
                prop_assert!(odd.is_none());
                prop_assert_eq!(settings.len(), pairs.len());
                for (setting, (name, _)) in settings.iter().zip(&pairs) {
                    let setting_name = match setting {
                        Setting::Int(p, n) => {
                            prop_assert!((p.min..=p.max).contains(n), "{} {}", p.name, n);
                            p.name
                        }
                        Setting::Word(w, value) => {
                            prop_assert!(w.choices.is_empty() || w.choices.contains(&value.as_str()));
                            w.name
                        }
                    };
                    prop_assert!(is_kw(name, setting_name));
                }
            }
            Err(message) => {
                prop_assert!(!message.is_empty());
                prop_assert!(!message.contains('\n') && !message.contains('\r'), "{}", message);
            }
        }
        // No parameter is accepted under a name that is not one now.
        if pairs.iter().any(|(name, _)| is_kw(name, "replicate-effects")) {
            prop_assert!(parse_module_args(&args).is_err());
        }
    }
}
