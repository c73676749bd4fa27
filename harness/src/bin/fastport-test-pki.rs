//! `fastport-test-pki DIR`: writes a test PKI made now (`ca.pem`, and `cert.pem` + `key.pem`
//! for `localhost` and 127.0.0.1) into DIR, and prints the base64 SHA-256 of the server
//! certificate's public key: what Chromium's `--ignore-certificate-errors-spki-list` takes.
//! For scripts that start a TLS server for browser tests (scripts/test-wasm.sh).

use std::path::PathBuf;
use std::process::ExitCode;

use fastport_harness::Pki;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: fastport-test-pki DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let pki = Pki::new();
    let files = [
        (pki.ca_file(), "ca.pem"),
        (pki.cert_file(), "cert.pem"),
        (pki.key_file(), "key.pem"),
    ];
    for (from, name) in files {
        if let Err(e) = std::fs::copy(&from, dir.join(name)) {
            eprintln!(
                "fastport-test-pki: cannot write {}: {e}",
                dir.join(name).display()
            );
            return ExitCode::FAILURE;
        }
    }
    println!("{}", pki.server_spki_sha256());
    ExitCode::SUCCESS
}
