//! A message larger than the session's `max_message_size` is refused with exit code 1 and
//! a message stating the limit.

mod cli_support;

use cli_support::{member, new_key, run, run_with_stdin, SECRET, SESSION};
use fastport_harness::Server;

#[tokio::test]
async fn message_too_large_names_the_session_limit() {
    let server = Server::start(&[]).await;
    let url = server.url();
    let args = [
        "session",
        "config",
        SESSION,
        "--url",
        &url,
        "--secret",
        SECRET,
        "--max-message-size",
        "128",
    ];
    let configured = run(&args).await;
    assert_eq!(configured.code, Some(0), "{configured:?}");

    let key = new_key();
    let fits = run(&member("pub", &url, &["--key", &key, "t", "small"])).await;
    assert_eq!(fits.code, Some(0), "{fits:?}");
    let big = vec![b'x'; 1000];
    let refused = run_with_stdin(&member("pub", &url, &["--key", &key, "t"]), &big).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("too large"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("128"),
        "the limit: {}",
        refused.stderr
    );
}
