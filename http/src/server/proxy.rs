//! Behind a proxy: who the client really is, and whether it spoke HTTPS.
//!
//! Behind nginx, every connection comes from nginx, so the scope's `client` would be
//! nginx's address and its `scheme` `http` even for an HTTPS visitor. Proxies say what
//! they saw in headers: the de-facto `X-Forwarded-For` / `X-Forwarded-Proto`, or RFC
//! 7239's `Forwarded: for=192.0.2.60;proto=https`. Anyone can send those headers, so
//! they are believed only from a peer listed in `--forwarded-allow-ips` (default
//! `127.0.0.1`, as uvicorn's `ProxyHeadersMiddleware`); from anyone else they are
//! ignored, or a client could claim any address it likes.
//!
//! A chain of proxies appends to `X-Forwarded-For`: `client, proxy1, proxy2`. The
//! address to believe is found by walking from the right, past every proxy that is
//! itself trusted; the first untrusted address is the client. (Taking the leftmost
//! entry would let a client put any address there.)

use std::net::{IpAddr, SocketAddr};

use crate::headers::trim;

/// The peers whose proxy headers are believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Networks as (address, prefix length).
    networks: Vec<(IpAddr, u8)>,
    /// `*`: every peer is trusted.
    any: bool,
    /// `unix:`: peers on a Unix-domain socket (`--uds`) are trusted — a proxy on the
    /// same machine, such as nginx in front of `--uds`.
    unix: bool,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies { networks: vec![(IpAddr::from([127, 0, 0, 1]), 32)], any: false, unix: false }
    }
}

impl TrustedProxies {
    /// Parses `--forwarded-allow-ips`: a comma-separated list of addresses and CIDR
    /// networks (`127.0.0.1, 10.0.0.0/8, ::1`), `unix:` for Unix-domain peers, or `*`.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut trusted = TrustedProxies { networks: Vec::new(), any: false, unix: false };
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                trusted.any = true;
                continue;
            }
            if item == "unix:" {
                trusted.unix = true;
                continue;
            }
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (item, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| format!("{item:?} is not an IP address or network"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => {
                    p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(|| format!("bad prefix in {item:?}"))?
                }
                None => max,
            };
            trusted.networks.push((addr, prefix));
        }
        Ok(trusted)
    }

    /// True if a peer on a Unix-domain socket may speak for its clients.
    pub fn trusts_unix_socket(&self) -> bool {
        self.any || self.unix
    }

    /// True if `ip` may speak for its clients.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows up as `::ffff:a.b.c.d`.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.any || self.networks.iter().any(|&(net, prefix)| in_network(ip, net, prefix))
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// What the proxy headers of one request say: the client's address and the scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// The original client, if the headers name one that parses.
    pub(crate) client: Option<SocketAddr>,
    /// `"http"` or `"https"`, if the headers say.
    pub(crate) scheme: Option<&'static str>,
}

/// Reads the proxy headers from `headers` (name, value pairs). RFC 7239 `Forwarded`
/// wins over `X-Forwarded-*` when both are present.
pub(crate) fn read<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>, trusted: &TrustedProxies) -> Forwarded {
    let mut forwarded: Vec<(Option<SocketAddr>, Option<&'static str>)> = Vec::new();
    let mut x_for: Vec<Option<SocketAddr>> = Vec::new();
    let mut x_proto = None;
    for (name, value) in headers {
        match name {
            b"forwarded" => forwarded.extend(value.split(|&b| b == b',').map(forwarded_element)),
            b"x-forwarded-for" => x_for.extend(value.split(|&b| b == b',').map(|item| node(trim(item)))),
            b"x-forwarded-proto" => {
                x_proto = value.rsplit(|&b| b == b',').next().map(trim).and_then(scheme);
            }
            _ => {}
        }
    }
    if !forwarded.is_empty() {
        let (client, scheme) = pick(&forwarded, |(addr, _)| *addr, trusted).unwrap_or((None, None));
        return Forwarded { client, scheme };
    }
    let client = pick(&x_for, |addr| *addr, trusted).flatten();
    Forwarded { client, scheme: x_proto }
}

/// Walks the chain from the right past trusted proxies; the first untrusted hop (or
/// the leftmost, if all are trusted) is the client.
fn pick<T: Copy>(chain: &[T], addr: impl Fn(&T) -> Option<SocketAddr>, trusted: &TrustedProxies) -> Option<T> {
    chain.iter().rev().find(|hop| !addr(hop).is_some_and(|a| trusted.trusts(a.ip()))).or(chain.first()).copied()
}

/// One element of a `Forwarded` list: `for=...;proto=...;by=...`.
fn forwarded_element(element: &[u8]) -> (Option<SocketAddr>, Option<&'static str>) {
    let mut client = None;
    let mut proto = None;
    for pair in element.split(|&b| b == b';') {
        let Some(eq) = pair.iter().position(|&b| b == b'=') else { continue };
        let (key, value) = (trim(&pair[..eq]), trim(&pair[eq + 1..]));
        let value = value.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(value);
        if key.eq_ignore_ascii_case(b"for") {
            client = node(value);
        } else if key.eq_ignore_ascii_case(b"proto") {
            proto = scheme(value);
        }
    }
    (client, proto)
}

/// An address as proxies write it: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]:4711`,
/// `2001:db8::1`. Without a port, the port is 0, as uvicorn reports it. Obfuscated
/// identifiers (`_hidden`, `unknown`) are `None`.
fn node(text: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

fn scheme(value: &[u8]) -> Option<&'static str> {
    if value.eq_ignore_ascii_case(b"https") {
        Some("https")
    } else if value.eq_ignore_ascii_case(b"http") {
        Some("http")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_from(headers: &[(&str, &str)], trusted: &str) -> Forwarded {
        let trusted = TrustedProxies::parse(trusted).unwrap();
        read(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &trusted)
    }

    fn at(addr: &str) -> Option<SocketAddr> {
        Some(addr.parse().unwrap())
    }

    #[test]
    fn trusted_networks() {
        let trusted = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8, fd00::/8").unwrap();
        for ip in ["127.0.0.1", "10.1.2.3", "fd00::1", "::ffff:10.0.0.1"] {
            assert!(trusted.trusts(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.2", "11.0.0.1", "fe80::1", "::1"] {
            assert!(!trusted.trusts(ip.parse().unwrap()), "{ip}");
        }
        assert!(TrustedProxies::parse("*").unwrap().trusts("203.0.113.1".parse().unwrap()));
        assert!(TrustedProxies::parse("0.0.0.0/0").unwrap().trusts("203.0.113.1".parse().unwrap()));
        assert_eq!(TrustedProxies::parse("10.0.0.0/33").unwrap_err(), "bad prefix in \"10.0.0.0/33\"");
        assert_eq!(TrustedProxies::parse("nginx").unwrap_err(), "\"nginx\" is not an IP address or network");
    }

    #[test]
    fn x_forwarded_chain_is_walked_from_the_right() {
        let got =
            read_from(&[("x-forwarded-for", "198.51.100.1, 10.0.0.2"), ("x-forwarded-proto", "https")], "10.0.0.0/8");
        assert_eq!(got, Forwarded { client: at("198.51.100.1:0"), scheme: Some("https") });
        // A client-supplied entry on the left is not believed past an untrusted hop.
        let got = read_from(&[("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.0.0.2")], "10.0.0.0/8");
        assert_eq!(got.client, at("198.51.100.1:0"));
        // All hops trusted: the leftmost.
        let got = read_from(&[("x-forwarded-for", "10.0.0.9, 10.0.0.2")], "10.0.0.0/8");
        assert_eq!(got.client, at("10.0.0.9:0"));
        assert_eq!(read_from(&[("x-forwarded-proto", "gopher")], "*").scheme, None);
    }

    #[test]
    fn rfc_7239_forwarded() {
        let got = read_from(&[("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")], "127.0.0.1");
        assert_eq!(got, Forwarded { client: at("192.0.2.60:0"), scheme: Some("https") });
        let got =
            read_from(&[("forwarded", r#"for="[2001:db8:cafe::17]:4711", for=10.0.0.1;proto=http"#)], "10.0.0.0/8");
        assert_eq!(got, Forwarded { client: at("[2001:db8:cafe::17]:4711"), scheme: None });
        // Forwarded wins over X-Forwarded-For.
        let got = read_from(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=192.0.2.1")], "127.0.0.1");
        assert_eq!(got.client, at("192.0.2.1:0"));
        assert_eq!(read_from(&[("forwarded", "for=_hidden")], "*").client, None);
    }
}
