//! The client examples run against a real server, so they cannot rot.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// target/<profile>/examples/, next to this test binary's deps/ folder.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
}

fn run(mut cmd: Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What each example prints on its first run against an empty server: the
/// three programs hold the same conversation and print the same lines.
const EXPECTED: &str = "\
bob got live: alice: Hi Bob! (id 1)
bob missed: alice: Are you there? (id 2)
bob missed: alice: Call me when you are back. (id 3)
bob acknowledged 2 message(s); inbox now holds 0
history: Hi Bob! | Are you there? | Call me when you are back.
";

/// Runs an example twice against one fresh server: the first run prints
/// [`EXPECTED`]; the second finds the users and the room already there, and
/// prints the same with the next message ids.
fn converse(example: impl Fn() -> Command) {
    let server = Server::start();
    let mut cmd = example();
    cmd.env("REDIS_URL", server.url());
    assert_eq!(run(cmd), EXPECTED, "the example printed something else");
    let mut again = example();
    again.env("REDIS_URL", server.url());
    let next_ids = EXPECTED
        .replace("(id 3)", "(id 6)")
        .replace("(id 2)", "(id 5)")
        .replace("(id 1)", "(id 4)");
    assert_eq!(run(again), next_ids, "a second run printed something else");
}

/// The first program named `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

#[test]
fn rust_quickstart_runs() {
    let binary = examples_dir().join("quickstart");
    assert!(
        binary.exists(),
        "build it first: cargo build --release --examples ({binary:?})"
    );
    converse(|| Command::new(&binary));
}

#[test]
fn python_quickstart_runs() {
    // scripts/test makes a virtualenv with redis-py in target/venv and
    // points CHAT_PYTHON at it.
    let venv = root().join("target/venv/bin/python");
    let python = std::env::var("CHAT_PYTHON").unwrap_or_else(|_| {
        if venv.exists() {
            venv.to_string_lossy().into_owned()
        } else {
            "python3".into()
        }
    });
    let script = root().join("examples/python/quickstart.py");
    converse(|| {
        let mut cmd = Command::new(&python);
        cmd.arg(&script);
        cmd
    });
}

#[test]
fn node_quickstart_runs() {
    // scripts/setup --node installs Node.js; scripts/test runs `npm ci` in
    // examples/node. CHAT_NODE may name another `node`.
    let node = std::env::var_os("CHAT_NODE")
        .map(PathBuf::from)
        .or_else(|| on_path("node"))
        .or_else(|| on_path("nodejs"))
        .expect("Node.js not found: run scripts/setup --node, or set CHAT_NODE to a `node` binary");
    let dir = root().join("examples/node");
    assert!(
        dir.join("node_modules/redis/package.json").exists(),
        "the Node example's client is not installed: run `npm ci` in {dir:?}"
    );
    converse(|| {
        let mut cmd = Command::new(&node);
        cmd.arg("quickstart.mjs").current_dir(&dir);
        cmd
    });
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example programs whose `[readme:<name>]` regions the README shows.
const EXAMPLES: [&str; 4] = [
    "examples/python/quickstart.py",
    "examples/python/library.py",
    "examples/node/quickstart.mjs",
    "examples/rust/quickstart.rs",
];

/// The lines between `<comment> [readme:<name>]` and `<comment> [end]` in an
/// example, without the indentation they share.
fn region(file: &str, name: &str) -> Result<String, String> {
    let code = std::fs::read_to_string(root().join(file)).map_err(|e| format!("{file}: {e}"))?;
    let start = format!("[readme:{name}]");
    let mut lines = code.lines().skip_while(|l| !l.trim_end().ends_with(&start));
    if lines.next().is_none() {
        return Err(format!("{file} marks no region {start}"));
    }
    let body: Vec<&str> = lines
        .take_while(|l| !l.trim_end().ends_with("[end]"))
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Ok(body
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect())
}

/// The `[readme:<name>]` region names an example file marks.
fn regions_marked(file: &str) -> Vec<String> {
    let code = std::fs::read_to_string(root().join(file)).unwrap();
    code.lines()
        .filter_map(|l| l.trim_end().split("[readme:").nth(1))
        .filter_map(|rest| rest.strip_suffix(']'))
        .map(str::to_string)
        .collect()
}

/// What is wrong with the README's client snippets. A snippet follows a
/// comment that names its source, `<!-- example: <file> <region> -->`, and
/// must equal that region of the file; every Python, JavaScript or Rust block
/// under "## Client examples" must be such a snippet; and every region the
/// examples mark must be shown.
fn snippet_problems(readme: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = readme.lines().collect();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut section = "";
    let mut source: Option<(usize, String, String)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let n = i + 1;
        if let Some(title) = line.strip_prefix("## ") {
            section = title;
        }
        if let Some(spec) = line
            .strip_prefix("<!-- example: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            match spec.split_once(' ') {
                Some((file, name)) => source = Some((n, file.into(), name.into())),
                None => problems.push(format!(
                    "README.md:{n}: write `<!-- example: <file> <region> -->`"
                )),
            }
        } else if let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
            let Some(end) = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == "```") else {
                problems.push(format!("README.md:{n}: unclosed code block"));
                break;
            };
            let block: String = lines[i + 1..end]
                .iter()
                .map(|l| format!("{}\n", l.trim_end()))
                .collect();
            match source.take() {
                Some((at, file, name)) => {
                    match region(&file, &name) {
                        Ok(code) if code == block => {}
                        Ok(_) => problems.push(format!(
                            "README.md:{n}: the snippet differs from [readme:{name}] in {file} \
                             (named at line {at}); copy the region as it is"
                        )),
                        Err(e) => problems.push(format!("README.md:{at}: {e}")),
                    }
                    shown.push((file, name));
                }
                None if section == "Client examples"
                    && matches!(lang, "python" | "js" | "javascript" | "rust") =>
                {
                    problems.push(format!(
                        "README.md:{n}: a {lang} block under \"Client examples\" must follow \
                         `<!-- example: <file> <region> -->` naming the region it shows"
                    ))
                }
                None => {}
            }
            i = end;
        } else if !line.is_empty() {
            if let Some((at, ..)) = source.take() {
                problems.push(format!(
                    "README.md:{at}: no code block follows this example comment"
                ));
            }
        }
        i += 1;
    }
    for file in EXAMPLES {
        let marked = regions_marked(file);
        if marked.is_empty() {
            problems.push(format!("{file} marks no [readme:...] region"));
        }
        for name in marked {
            if !shown.contains(&(file.to_string(), name.clone())) {
                problems.push(format!("README.md does not show [readme:{name}] of {file}"));
            }
        }
    }
    problems
}

#[test]
fn readme_snippets_are_excerpts_of_the_examples() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let problems = snippet_problems(&readme);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn snippet_check_notices_drift() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let notices = |changed: String, what: &str| {
        let problems = snippet_problems(&changed);
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "expected a problem with {what:?}, got {problems:?}"
        );
    };
    // A snippet edited in the README only.
    let edited = "ensure(\"CHAT.REGISTER\", \"bob\", \"Bob\")\n";
    assert!(readme.contains(edited));
    notices(
        readme.replacen(
            edited,
            "ensure(\"CHAT.REGISTER\", \"bob\", \"Robert\")\n",
            1,
        ),
        "the snippet differs from [readme:conversation] in examples/python/quickstart.py",
    );
    // A region the README no longer shows.
    let comment = "<!-- example: examples/node/quickstart.mjs conversation -->\n";
    assert!(readme.contains(comment));
    notices(
        readme.replacen(comment, "", 1),
        "does not show [readme:conversation] of examples/node/quickstart.mjs",
    );
    // A region that does not exist.
    notices(
        readme.replacen(
            comment,
            "<!-- example: examples/node/quickstart.mjs nowhere -->\n",
            1,
        ),
        "examples/node/quickstart.mjs marks no region [readme:nowhere]",
    );
    // A code block under "Client examples" that is no excerpt.
    let section = "## Client examples\n";
    assert!(readme.contains(section));
    notices(
        readme.replacen(
            section,
            "## Client examples\n\n```rust\nfn main() {}\n```\n",
            1,
        ),
        "a rust block under \"Client examples\" must follow",
    );
}
