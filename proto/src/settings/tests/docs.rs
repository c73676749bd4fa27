//! The docs' tables of the session settings, checked against the table in the code. A
//! failure prints the rows the doc should have. Embedded with `include_str!` so these also
//! run in a browser.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::super::*;

const PROTOCOL: &str = include_str!("../../../../docs/PROTOCOL.md");
const SERVER: &str = include_str!("../../../../docs/SERVER.md");
const CLI: &str = include_str!("../../../../docs/CLI.md");
const TYPES: &str = include_str!("../../../../client-wasm/src/types.d.ts");

/// The rows of the markdown table under the header line `header`.
fn rows<'a>(doc: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = doc.lines().skip_while(|line| *line != header);
    assert!(lines.next().is_some(), "no table with the header {header}");
    lines.skip(1).take_while(|l| l.starts_with('|')).collect()
}

fn assert_rows(doc: &str, header: &str, expected: Vec<String>) {
    let found = rows(doc, header);
    assert!(
        found == expected,
        "the table under {header} should read:\n{}",
        expected.join("\n")
    );
}

/// A flag as the docs show it: `` `--retry-interval DURATION` ``.
fn flag<S: FlagStyle>(s: Setting) -> String {
    format!("`--{} {}`", S::flag(s), s.unit().value_name())
}

/// The default, range and meaning cells.
fn for_people(s: Setting) -> String {
    format!(
        "`{}` | {} | {}",
        s.default_text(),
        s.range_text(),
        s.about()
    )
}

#[test]
fn the_protocol_spec_lists_every_tag_with_its_wire_value() {
    let expected = Setting::ALL
        .iter()
        .map(|&s| {
            let value = match s.unit() {
                Unit::Millis => "milliseconds".to_owned(),
                Unit::Count => "count (≤ 2^32-1)".to_owned(),
                Unit::Bytes => "bytes (≤ 2^32-1)".to_owned(),
                Unit::Policy => policies(|i, name| format!("`{i}` {name}"), ", "),
            };
            format!("| {} | {} | {value} | {} |", s as u8, s.name(), s.about())
        })
        .collect();
    assert_rows(PROTOCOL, "| Tag | Setting | Value | Meaning |", expected);
}

#[test]
fn the_operator_guide_lists_every_default_session_setting_with_flag_and_file_key() {
    let expected = Setting::ALL
        .iter()
        .map(|&s| {
            let env = ServerFlags::env(s).unwrap_or_default();
            let (flag, name) = (flag::<ServerFlags>(s), s.name());
            format!("| {flag} | `{env}` | `{name}` | {} |", for_people(s))
        })
        .collect();
    let header = "| Flag | Environment | `[session_defaults]` key | Default | Range | Meaning |";
    assert_rows(SERVER, header, expected);
}

#[test]
fn the_operator_guide_lists_every_json_key_of_the_admin_api() {
    let keys: Vec<String> = Setting::ALL
        .iter()
        .map(|&s| match s.unit() {
            Unit::Millis => format!("`{}` (milliseconds)", s.json()),
            Unit::Policy => {
                let names = policies(|_, name| format!("`\"{name}\"`"), " or ");
                format!("`{}` ({names})", s.json())
            }
            _ => format!("`{}`", s.json()),
        })
        .collect();
    let keys = keys.join(", ");
    let prose = SERVER.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        prose.contains(&keys),
        "docs/SERVER.md should list the admin API's config keys as {keys}"
    );
}

#[test]
fn the_cli_guide_lists_every_session_setting_flag() {
    let expected = Setting::ALL
        .iter()
        .map(|&s| format!("| {} | {} |", flag::<SessionCommandFlags>(s), for_people(s)))
        .collect();
    assert_rows(CLI, "| Flag | Default | Range | Meaning |", expected);
}

#[test]
fn the_browser_sdk_declares_every_setting_in_its_types() {
    let interface = TYPES
        .split("export interface SessionSettings {\n")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("an interface SessionSettings in types.d.ts");
    let expected: Vec<String> = Setting::ALL
        .iter()
        .flat_map(|&s| {
            let (unit, ty) = match s.unit() {
                Unit::Millis => (", in milliseconds", "number".to_owned()),
                Unit::Bytes => (", in bytes", "number".to_owned()),
                Unit::Policy => ("", policies(|_, name| format!("\"{name}\""), " | ")),
                _ => ("", "number".to_owned()),
            };
            [
                format!("  /** {}{unit}. */", s.about()),
                format!("  {}?: {ty} | null;", s.js_name()),
            ]
        })
        .collect();
    assert!(
        interface.lines().eq(expected.iter().map(String::as_str)),
        "interface SessionSettings should read:\n{}",
        expected.join("\n")
    );
}

/// The policies' names, each as `item(wire value, name)` gives it, joined by `sep`.
fn policies(item: impl Fn(usize, &str) -> String, sep: &str) -> String {
    let items: Vec<String> = SlowConsumerPolicy::NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| item(i, name))
        .collect();
    items.join(sep)
}
