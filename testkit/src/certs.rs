//! Certificates for tests that speak TLS (the SMTP server, the HTTP API), made with the
//! `openssl` command (`scripts/deps.sh --test` installs it).

use std::path::Path;
use std::process::Command;

/// Makes `ca.pem` (a CA of its own) and `server.pem`/`server.key` (signed by it, for
/// `localhost` and `127.0.0.1`, valid two days) in `dir` with the `openssl` command.
pub fn make_certificates(dir: &Path) -> Result<(), String> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| format!("certs: {e}"))?;
    let ca_subject = ["-subj", "/CN=tidemark-testkit CA", "-days", "2"];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"],
            &ec[..],
            &ca_subject,
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
        [
            &["req"],
            &ec[..],
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in &steps {
        let mut command = Command::new("openssl");
        command.current_dir(dir).args(args);
        let out = command
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
    }
    Ok(())
}
