//! The seed corpus of the server's fuzz targets (`fuzz/corpus/hello`, `admin_api`,
//! `request_headers`, `config_file`) through the very checks the targets run (`fuzz/src/`), so that the stable
//! toolchain covers it without libFuzzer. An input a fuzzer found (a crash, once fixed) is
//! added to that corpus and is checked here from then on.

#[path = "../../fuzz/src/admin.rs"]
mod admin;
#[path = "../../fuzz/src/config.rs"]
mod config;
#[path = "../../fuzz/src/headers.rs"]
mod headers;
#[path = "../../fuzz/src/hello.rs"]
mod hello;

#[path = "../../fuzz/src/corpus.rs"]
mod corpus;

use std::path::PathBuf;

use corpus::check_corpus;

#[test]
fn every_seed_of_first_messages_welcomes_or_closes_the_connection() {
    check_corpus("hello", 3, |data| {
        hello::first_messages(data);
    });
}

#[test]
fn the_hellos_with_the_right_credential_are_welcomed_and_early_messages_refused() {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/hello");
    let welcomed = |name: &str| {
        let data = std::fs::read(seeds.join(name)).expect("the seed exists");
        hello::first_messages(&data)
    };
    assert!(welcomed(
        "hello-the-protocol-md-example-resume-keepalive-300-ms-no-dis"
    ));
    assert!(welcomed("admin-only-hello-with-the-secret-key"));
    // Messages that arrive while the credential is checked close the connection.
    assert!(!welcomed("admin-only-hello-then-admin-then-subscribe"));
    assert!(!welcomed("hello-then-subscribe-while-verifying"));
    assert!(!welcomed("ping-before-hello"));
}

#[test]
fn every_seed_admin_request_parses_or_gets_a_documented_refusal() {
    check_corpus("admin_api", 3, admin::request);
}

#[test]
fn every_seed_config_file_loads_or_names_its_mistake_in_one_line() {
    check_corpus("config_file", 3, config::file);
}

#[test]
fn every_seed_request_is_judged_by_origin_and_host_as_documented() {
    check_corpus("request_headers", 3, headers::request);
}
