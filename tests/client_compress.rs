//! The client's `Content-Encoding` support against real servers: nginx with `gzip on`
//! (compressing on the fly, chunked) and `gzip_static` (a body gzip-encoded on disk, so the
//! exact bytes on the wire are known), and a plain server that sends what nginx never does —
//! bare DEFLATE labelled `deflate`, zlib, a coding the client cannot decode, a cut stream.

mod tls_support;

use std::process::Command;
use std::time::Duration;

use rasgi_executor::block_on;
use rasgi_http::client::Client;
use rasgi_http::compress::{compress, Format};
use tls_support::pki::Pki;
use tls_support::plain::{response, PlainServer, Reply};
use tls_support::{free_port, running_as_root, within, TempDir};

fn run<F: std::future::Future<Output = ()>>(body: impl FnOnce() -> F + Send + 'static) {
    within(Duration::from_secs(60), move || block_on(body()));
}

/// A JSON document of about 60 KB: several reads, several gzip blocks.
fn big_json() -> Vec<u8> {
    let rows: Vec<String> = (0..1500)
        .map(|i| format!(r#"{{"id":{i},"randomNumber":{},"message":"Hello, World!"}}"#, i * 7 % 10000))
        .collect();
    format!("[{}]", rows.join(",")).into_bytes()
}

/// nginx over TLS with `gzip on` for JSON and `gzip_static` for `/static/`.
struct GzipNginx {
    dir: TempDir,
    port: u16,
}

impl GzipNginx {
    fn start(pki: &Pki) -> GzipNginx {
        let dir = TempDir::new("nginx-gzip");
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::create_dir_all(dir.path().join("www/static")).unwrap();
        std::fs::write(dir.path().join("www/big.json"), big_json()).unwrap();
        std::fs::write(dir.path().join("www/static/hello.txt"), b"Hello from a file that is gzip-encoded on disk!\n")
            .unwrap();
        // Python's gzip writes the on-disk copy: a real peer's bytes, name and mtime included.
        let made = Command::new("python3")
            .args([
                "-c",
                "import gzip,sys; open(sys.argv[1] + '.gz', 'wb').write(gzip.compress(open(sys.argv[1], 'rb').read(), 9, mtime=1700000000))",
                &format!("{d}/www/static/hello.txt"),
            ])
            .status()
            .expect("python3 is needed (installed by .ci/test-all)");
        assert!(made.success());
        let (cert, key) = pki.cert_and_key("server");
        let user = if running_as_root() { "user root;" } else { "" };
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                r#"
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ application/json json; text/plain txt; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {d}/www;
        gzip on;
        gzip_types application/json;
        gzip_min_length 1;
        location /static/ {{ gzip_static on; }}
    }}
}}
"#,
                cert = cert.display(),
                key = key.display(),
            );
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, config).unwrap();
            let status = Command::new("nginx")
                .args(["-p", &d, "-c", &conf.display().to_string(), "-e", &format!("{d}/error.log")])
                .status()
                .expect("nginx is needed (Debian nginx-light)");
            if status.success() {
                for _ in 0..500 {
                    if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        return GzipNginx { dir, port };
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        panic!("nginx did not start: {}", std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default());
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    fn file(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("www").join(path)).unwrap()
    }
}

impl Drop for GzipNginx {
    fn drop(&mut self) {
        let d = self.dir.path().display().to_string();
        let conf = self.dir.path().join("nginx.conf").display().to_string();
        let _ =
            Command::new("nginx").args(["-p", &d, "-c", &conf, "-e", &format!("{d}/error.log"), "-s", "stop"]).output();
        for _ in 0..500 {
            if !self.dir.path().join("nginx.pid").exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn client(ca: &std::path::Path, decompress: bool) -> Client {
    Client::builder().trust_env(false).ca_file(ca).decompress(decompress).build().unwrap()
}

#[test]
fn nginx_gzip_on_the_fly_is_decoded_as_it_streams() {
    let pki = Pki::generate();
    let nginx = GzipNginx::start(&pki);
    let (url, expected) = (nginx.url("/big.json"), nginx.file("big.json"));
    let ca = pki.ca_pem();
    run(move || async move {
        let (with, without) = (client(&ca, true), client(&ca, false));
        let mut response = with.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        // nginx compressed it (chunked: it does not know the compressed length up front).
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        assert_eq!(response.header("transfer-encoding"), Some("chunked"));
        let mut body = Vec::new();
        let mut pieces = 0;
        while let Some(piece) = response.chunk().await.unwrap() {
            body.extend_from_slice(&piece);
            pieces += 1;
        }
        assert!(body == expected, "decoded body differs ({} bytes, want {})", body.len(), expected.len());
        assert!(pieces >= 1);
        let value: serde_json::Value = with.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(value[1499]["id"], 1499);

        // Switched off: no Accept-Encoding, so nginx sends the file as it is.
        let response = without.get(&url).send().await.unwrap();
        assert_eq!(response.header("content-encoding"), None);
        assert_eq!(response.header("content-length"), Some(expected.len().to_string().as_str()));
        assert!(response.bytes().await.unwrap() == expected);
    });
}

#[test]
fn a_body_gzipped_on_disk_arrives_byte_for_byte_and_decodes() {
    let pki = Pki::generate();
    let nginx = GzipNginx::start(&pki);
    let (url, gz, text) =
        (nginx.url("/static/hello.txt"), nginx.file("static/hello.txt.gz"), nginx.file("static/hello.txt"));
    let ca = pki.ca_pem();
    run(move || async move {
        let (with, without) = (client(&ca, true), client(&ca, false));
        let response = with.get(&url).send().await.unwrap();
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        assert_eq!(response.header("content-length"), Some(gz.len().to_string().as_str()));
        assert_eq!(response.bytes().await.unwrap(), text);
        // Asking by hand with decoding off: the exact bytes of the .gz file.
        let response = without.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(response.header("content-encoding"), Some("gzip"));
        assert_eq!(response.bytes().await.unwrap(), gz);
    });
}

#[test]
fn deflate_both_ways_unknown_codings_and_cut_streams() {
    let text = b"deflate means zlib, but some servers send it raw; both must decode.".repeat(20);
    let (zlib, raw, gzip) =
        (compress(Format::Zlib, 6, &text), compress(Format::Raw, 6, &text), compress(Format::Gzip, 6, &text));
    let server = PlainServer::start(move |seen| {
        let (encoding, body) = match seen.target.as_str() {
            "/zlib" => ("deflate", zlib.clone()),
            "/raw" => ("deflate", raw.clone()),
            "/br" => ("br", b"\x0b\x02\x80hi\x03".to_vec()),
            "/cut" => ("gzip", gzip[..gzip.len() - 3].to_vec()),
            "/empty" => ("gzip", Vec::new()),
            _ => ("identity", seen.header("accept-encoding").unwrap_or("(none)").as_bytes().to_vec()),
        };
        Reply::Send(response(200, &format!("content-encoding: {encoding}\r\n"), &body))
    });
    let (base, port) = (server.url(""), server.port());
    run(move || async move {
        let client = Client::builder().trust_env(false).build().unwrap();
        let plain = Client::builder().trust_env(false).decompress(false).build().unwrap();
        let get = |path: &str| client.get(format!("{base}{path}"));
        assert_eq!(get("/zlib").send().await.unwrap().bytes().await.unwrap(), text);
        assert_eq!(get("/raw").send().await.unwrap().bytes().await.unwrap(), text);
        assert_eq!(get("/empty").send().await.unwrap().bytes().await.unwrap(), b"");
        assert_eq!(get("/header").send().await.unwrap().text().await.unwrap(), "gzip, deflate");
        assert_eq!(plain.get(format!("{base}/header")).send().await.unwrap().text().await.unwrap(), "(none)");

        let err = get("/br").send().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "http://127.0.0.1:{port} broke the HTTP/1.1 protocol: the body has Content-Encoding \"br\", \
                 which this client cannot decode (it decodes gzip and deflate)"
            )
        );
        let err = get("/cut").send().await.unwrap().bytes().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "http://127.0.0.1:{port} broke the HTTP/1.1 protocol: the gzip body could not be decoded: \
                 compressed stream truncated: it ends inside the gzip trailer"
            )
        );
        // The client keeps working after bad bodies.
        assert_eq!(get("/zlib").send().await.unwrap().bytes().await.unwrap(), text);
    });
}
