//! A real nginx serving TLS on loopback, configured and started per test, stopped on drop.
//!
//! Two servers: `port` with the certificate for `localhost`/`127.0.0.1`, and `other_port`
//! with the certificate for `other.test` only (connecting to it as `localhost` must fail
//! with a name mismatch). The first also listens on `plain_port` without TLS, the port an
//! `https://` URL must not be pointed at. The access log records nginx's connection serial number and the
//! request's number on that connection (`$connection $connection_requests`), which is how
//! a test proves from the server's side that requests shared one TCP connection.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::pki::Pki;
use super::{free_port, running_as_root, TempDir};

/// One line of the access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// nginx's serial number of the TCP connection.
    pub connection: u64,
    /// The request's number on that connection, from 1.
    pub connection_requests: u64,
    pub method: String,
    pub uri: String,
    pub status: u16,
}

/// A running nginx.
pub struct Nginx {
    dir: TempDir,
    /// The TLS port whose certificate names `localhost` and `127.0.0.1`.
    pub port: u16,
    /// The TLS port whose certificate names only `other.test`.
    pub other_port: u16,
    /// Plain HTTP, same locations as `port`.
    pub plain_port: u16,
}

impl Nginx {
    /// Starts nginx with `pki`'s certificates. `/echo` is proxied to `upstream` (a plain
    /// HTTP server on 127.0.0.1) when one is given.
    pub fn start(pki: &Pki, upstream: Option<u16>) -> Nginx {
        let mut last_error = String::new();
        // A port found free may be taken by another test before nginx binds it: retry.
        for _ in 0..5 {
            match Nginx::try_start(pki, upstream) {
                Ok(nginx) => return nginx,
                Err(e) => last_error = e,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn try_start(pki: &Pki, upstream: Option<u16>) -> Result<Nginx, String> {
        let dir = TempDir::new("nginx");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp")).map_err(|e| e.to_string())?;
        let (port, other_port, plain_port) = (free_port(), free_port(), free_port());
        let (cert, key) = pki.cert_and_key("server");
        let (other_cert, other_key) = pki.cert_and_key("other");
        let user = if running_as_root() { "user root;" } else { "" };
        let echo = match upstream {
            Some(up) => format!("location /echo {{ proxy_pass http://127.0.0.1:{up}; }}"),
            None => String::new(),
        };
        let config = format!(
            r#"
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format conn '$connection $connection_requests $request_method $request_uri $status';
    access_log {d}/access.log conn;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_requests 10000;
    keepalive_timeout 75s;
    server {{
        listen 127.0.0.1:{port} ssl;
        listen 127.0.0.1:{plain_port};
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /json {{
            default_type application/json;
            return 200 '{{"ok":true,"server":"nginx"}}';
        }}
        location = /redirect {{ return 302 /json; }}
        location = /redirect-loop {{ return 302 /redirect-loop; }}
        {echo}
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
    server {{
        listen 127.0.0.1:{other_port} ssl;
        server_name other.test;
        ssl_certificate {other_cert};
        ssl_certificate_key {other_key};
        location / {{ return 200 "other"; }}
    }}
}}
"#,
            cert = cert.display(),
            key = key.display(),
            other_cert = other_cert.display(),
            other_key = other_key.display(),
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config).map_err(|e| e.to_string())?;
        let output = Command::new(nginx_binary())
            .args(["-p", &d, "-c", &conf.display().to_string(), "-e", &format!("{d}/error.log")])
            .output()
            .map_err(|e| format!("cannot run nginx (install the Debian package nginx-light): {e}"))?;
        let nginx = Nginx { dir, port, other_port, plain_port };
        if !output.status.success() {
            return Err(format!("{}{}", String::from_utf8_lossy(&output.stderr), nginx.error_log()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while [port, other_port, plain_port].iter().any(|&p| TcpStream::connect(("127.0.0.1", p)).is_err()) {
            if Instant::now() > deadline {
                return Err(format!("nginx is not listening: {}", nginx.error_log()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(nginx)
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// The access log so far. nginx writes each line when the request completes, so give a
    /// request a moment after its response before looking for it.
    pub fn access_log(&self) -> Vec<LogLine> {
        let text = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                Some(LogLine {
                    connection: f.first()?.parse().ok()?,
                    connection_requests: f.get(1)?.parse().ok()?,
                    method: f.get(2)?.to_string(),
                    uri: f.get(3)?.to_string(),
                    status: f.get(4)?.parse().ok()?,
                })
            })
            .collect()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // `-s stop` signals the master named in our pid file: only the nginx we started.
        let d = self.dir.path().display().to_string();
        let conf = self.dir.path().join("nginx.conf").display().to_string();
        let _ = Command::new(nginx_binary())
            .args(["-p", &d, "-c", &conf, "-e", &format!("{d}/error.log"), "-s", "stop"])
            .output();
        let pid = self.dir.path().join("nginx.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The nginx executable (Debian's `nginx-light` puts it in `/usr/sbin`).
pub fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nginx"))
}
