//! Certificates for tests that speak TLS (the SMTP server, the HTTP API, gRPC between nodes), made with the
//! `openssl` command (`scripts/deps.sh --test` installs it).

use std::path::Path;
use std::process::Command;

/// Makes `ca.pem` (a CA of its own) and `server.pem`/`server.key` (signed by it, for
/// `localhost` and `127.0.0.1`, valid two days) in `dir` with the `openssl` command.
pub fn make_certificates(dir: &Path) -> Result<(), String> {
    make_ca(dir)?;
    issue(dir, "server", Usage::Server)
}

/// What a certificate [`issue`] makes is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// A server's (`serverAuth`).
    Server,
    /// A cluster member's, which serves and calls (`serverAuth`, `clientAuth`).
    ServerAndClient,
}

const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// Makes `ca.pem` and `ca.key` in `dir`: a CA of its own, valid two days.
pub fn make_ca(dir: &Path) -> Result<(), String> {
    let ca_subject = ["-subj", "/CN=tidemark-testkit CA", "-days", "2"];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &EC_KEY[..],
            &ca_subject,
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    )
}

/// Makes `<name>.pem` and `<name>.key` in `dir`, signed by the CA [`make_ca`] made there,
/// for `localhost` and `127.0.0.1`, valid two days.
pub fn issue(dir: &Path, name: &str, usage: Usage) -> Result<(), String> {
    let key_usage = match usage {
        Usage::Server => "serverAuth",
        Usage::ServerAndClient => "serverAuth,clientAuth",
    };
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!(
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage={key_usage}\n\
             subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        ),
    )
    .map_err(|e| format!("certs: {e}"))?;
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let subject = format!("/CN={name}");
    openssl(
        dir,
        &[
            &["req"],
            &EC_KEY[..],
            &["-subj", &subject, "-keyout", &key, "-out", &csr],
        ]
        .concat(),
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ],
    )
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("certs: run openssl (needed for TLS): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "certs: openssl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
