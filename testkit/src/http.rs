//! A blocking HTTP GET over a plain TCP socket: enough to ask a local server whether it is ready
//! or healthy, from code that has no async runtime and no HTTP client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long one GET may take to connect, and then to send and to read (each).
pub const GET_TIMEOUT_MS: u64 = 2_000;

/// GETs `url` (`http://host:port/path`) and returns the HTTP status code (0 when the answer has
/// none). Fails when the server cannot be reached or does not answer within
/// [`GET_TIMEOUT_MS`].
pub fn get_status(url: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_millis(GET_TIMEOUT_MS);
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut last_error = None;
    let mut stream = None;
    for addr in host.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(mut stream) = stream else {
        return Err(last_error.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: no address"))
        }));
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write: a server that reads the request once must see all of it.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let status_line =
        String::from_utf8_lossy(answer.split(|&b| b == b'\n').next().unwrap_or(&[])).into_owned();
    Ok(status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_of_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Reads the whole request head, however the client's writes arrive.
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            conn.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n\xff\xfe",
            )
            .unwrap();
            request
        });
        assert_eq!(get_status(&format!("http://{addr}/-/ready")).unwrap(), 503);
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /-/ready HTTP/1.1\r\n")
        );
    }

    #[test]
    fn a_closed_port_is_an_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(get_status(&format!("http://127.0.0.1:{port}/")).is_err());
    }
}
