//! A real nginx (Debian `nginx-light`) as a plain-HTTP reverse proxy on a loopback port,
//! configured per test with the `location` blocks it gives, stopped when dropped.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tls_support::nginx::nginx_binary;
use crate::tls_support::{free_port, running_as_root, TempDir};

/// A running nginx.
pub struct Proxy {
    dir: TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Proxy {
    /// Starts nginx with one `server` listening on a free loopback port, whose body is
    /// `locations` (for example `location / { proxy_pass http://127.0.0.1:8000; }`).
    pub fn start(locations: &str) -> Proxy {
        Proxy::start_with_http("", locations)
    }

    /// Like [`Proxy::start`], with extra directives for the `http` block (an `upstream`).
    pub fn start_with_http(http: &str, locations: &str) -> Proxy {
        let dir = TempDir::new("nginx-proxy");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp")).expect("nginx temp dir");
        let port = free_port();
        let user = if running_as_root() { "user root;" } else { "" };
        let config = format!(
            r#"
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    {http}
    server {{
        listen 127.0.0.1:{port};
        {locations}
    }}
}}
"#
        );
        std::fs::write(dir.path().join("nginx.conf"), config).expect("write nginx.conf");
        let status = Command::new(nginx_binary())
            .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log")])
            .status()
            .expect("run nginx (Debian package nginx-light)");
        let log = || std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(status.success(), "nginx did not start: {}", log());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "nginx is not listening: {}", log());
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxy { dir, addr }
    }
}

impl Proxy {
    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // `-s stop` signals the master named in our pid file: only the nginx we started.
        let d = self.dir.path().display().to_string();
        let _ = Command::new(nginx_binary())
            .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e", &format!("{d}/error.log"), "-s", "stop"])
            .output();
        let pid = self.dir.path().join("nginx.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
