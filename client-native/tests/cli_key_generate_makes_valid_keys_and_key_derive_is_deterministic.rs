//! `fastport key generate` prints a fresh valid key each time; `fastport key derive` gives
//! the same key for the same passphrase, context and iterations (the test vector of
//! docs/CRYPTO.md), another for another context, and refuses too few iterations.

mod cli_support;

use cli_support::run;
use fastport_client::Key;

#[tokio::test]
async fn key_generate_makes_valid_keys_and_key_derive_is_deterministic() {
    let first = run(&["key", "generate"]).await;
    assert_eq!(first.code, Some(0), "{first:?}");
    let second = run(&["key", "generate"]).await;
    let key = first.stdout.trim_end();
    assert_eq!(key.len(), 44, "standard base64 of 32 bytes: {key:?}");
    assert_eq!(first.stdout, format!("{key}\n"), "only the key on stdout");
    assert!(Key::from_base64(key).is_ok(), "{key}");
    assert_ne!(first.stdout, second.stdout, "random keys");

    let derive = |context: &str| {
        let args = [
            "key",
            "derive",
            "--passphrase",
            "correct horse battery staple",
            "--context",
            context,
            "--iterations",
            "10000",
        ];
        args.map(String::from)
    };
    let lobby = run(&derive("acme/lobby")).await;
    assert_eq!(lobby.code, Some(0), "{lobby:?}");
    let again = run(&derive("acme/lobby")).await;
    assert_eq!(lobby.stdout, again.stdout);
    // docs/test-vectors/envelope-v1.json, passphrases[0].
    assert_eq!(
        lobby.stdout,
        "oh0DtDii2T0YH74bX3j9cbg/Y3B5WHZiHxIW9enoreQ=\n"
    );
    let kitchen = run(&derive("acme/kitchen")).await;
    assert_ne!(lobby.stdout, kitchen.stdout);

    let args = [
        "key",
        "derive",
        "--passphrase",
        "p",
        "--context",
        "c",
        "--iterations",
        "5",
    ];
    let too_few = run(&args).await;
    assert_eq!(too_few.code, Some(2), "{too_few:?}");
    assert!(too_few.stderr.contains("too few"), "{}", too_few.stderr);
}
