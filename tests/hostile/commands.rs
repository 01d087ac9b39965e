//! What the server says about its commands: the CHAT.* commands it
//! reports, with their arity and the arguments `COMMAND DOCS` describes.

use redis::{Connection, Value};

use crate::common::*;

/// One argument of a command, as `COMMAND DOCS` describes it.
#[derive(Debug, Clone)]
pub(crate) struct DocArg {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) token: Option<String>,
    pub(crate) optional: bool,
    pub(crate) multiple: bool,
    pub(crate) sub: Vec<DocArg>,
}

#[derive(Debug)]
pub(crate) struct CommandDoc {
    pub(crate) name: String,
    pub(crate) arity: i64,
    pub(crate) args: Vec<DocArg>,
}

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

fn doc_args(v: &Value) -> Vec<DocArg> {
    items(v)
        .iter()
        .map(|arg| {
            let fields = pairs(arg);
            let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let flags: Vec<String> = get("flags")
                .map(|f| items(f).iter().map(bulk).collect())
                .unwrap_or_default();
            DocArg {
                name: get("name").map(bulk).unwrap_or_default(),
                kind: get("type").map(bulk).unwrap_or_default(),
                token: get("token").map(bulk),
                optional: flags.iter().any(|f| f == "optional"),
                multiple: flags.iter().any(|f| f == "multiple"),
                sub: get("arguments").map(doc_args).unwrap_or_default(),
            }
        })
        .collect()
}

/// Every CHAT.* command the server has, with its arity and arguments.
pub(crate) fn chat_commands(con: &mut Connection) -> Vec<CommandDoc> {
    let mut names = strings(&q(con, &["COMMAND", "LIST", "FILTERBY", "MODULE", "chat"]));
    names.sort();
    // Debug builds have a command that panics on purpose; it is checked
    // on its own in `the_log_check_sees_a_panic`.
    names.retain(|n| n != "chat.debug-panic");
    names
        .into_iter()
        .map(|name| {
            let info = q(con, &["COMMAND", "INFO", &name]);
            let arity = items(&items(&info)[0])
                .get(1)
                .map(int)
                .expect("COMMAND INFO gives the arity");
            let docs = q(con, &["COMMAND", "DOCS", &name]);
            let doc = pairs(&docs)
                .into_iter()
                .next()
                .map(|(_, d)| d)
                .expect("COMMAND DOCS knows the command");
            let args = pairs(&doc)
                .into_iter()
                .find(|(k, _)| k == "arguments")
                .map(|(_, a)| doc_args(&a))
                .unwrap_or_default();
            CommandDoc { name, arity, args }
        })
        .collect()
}
