//! `fastport bench --help` documents every flag, and `fastport --help` lists the command.

mod cli_support;

use cli_support::run;

#[tokio::test]
async fn bench_help_names_every_flag() {
    let help = run(&["bench", "--help"]).await;
    assert_eq!(help.code, Some(0), "{help:?}");
    for flag in [
        "--publishers",
        "--subscribers",
        "--topics",
        "--size",
        "--qos",
        "--encrypt",
        "--no-encrypt",
        "--rate",
        "--duration",
        "--warmup",
        "--json",
        "--quiet",
        "--url",
        "--session",
        "--password",
        "FASTPORT_URL",
        "FASTPORT_SESSION",
        "FASTPORT_PASSWORD",
        "bench/RUN/+",
    ] {
        assert!(
            help.stdout.contains(flag),
            "`{flag}` missing:\n{}",
            help.stdout
        );
    }
    let top = run(&["--help"]).await;
    assert!(top.stdout.contains("bench"), "{}", top.stdout);

    let small = run(&["bench", "--session", "s", "--password", "p", "--size", "8"]).await;
    assert_eq!(small.code, Some(2), "{small:?}");
    assert!(small.stderr.contains("--size"), "{}", small.stderr);
}
