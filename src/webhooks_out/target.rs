//! Where a webhook may go: an `https://` URL whose host resolves only to public
//! addresses. Checked when an endpoint is registered and again before every attempt,
//! on the addresses the attempt then connects to (so a DNS answer that changed since,
//! DNS rebinding, cannot reach an internal address). With `allow_loopback` (development
//! and tests) loopback addresses pass too, and `http://` to them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, bail};
use reqwest::Url;

/// A checked endpoint: the URL, and the addresses of its host that may be connected to.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// The host name to pin to `addrs` (None: the URL names an IP address).
    pub domain: Option<String>,
    pub addrs: Vec<SocketAddr>,
}

/// Parses and checks `url`, resolving its host. The error is a sentence for operators.
pub async fn check(url: &str, allow_loopback: bool) -> anyhow::Result<Target> {
    let parsed = Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let https = match parsed.scheme() {
        "https" => true,
        "http" => false,
        other => bail!("`{url}`: the scheme must be https, not {other}"),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!("`{url}`: credentials in the URL are not allowed (the signature authenticates us)");
    }
    let host = parsed
        .host_str()
        .with_context(|| format!("`{url}` names no host"))?;
    let port = parsed
        .port_or_known_default()
        .with_context(|| format!("`{url}` has no port"))?;
    // an IPv6 literal comes bracketed
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let (domain, addrs) = match literal.parse::<IpAddr>() {
        Ok(ip) => (None, vec![SocketAddr::new(ip, port)]),
        Err(_) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .with_context(|| format!("`{url}`: the host {host} does not resolve"))?
                .collect();
            if addrs.is_empty() {
                bail!("`{url}`: the host {host} resolves to no address");
            }
            (Some(host.to_owned()), addrs)
        }
    };
    for addr in &addrs {
        if let Some(why) = refused(addr.ip(), allow_loopback) {
            bail!(
                "`{url}`: {} is {why}; webhooks go only to public addresses",
                addr.ip()
            );
        }
    }
    if !https && !addrs.iter().all(|a| allow_loopback && a.ip().is_loopback()) {
        bail!("`{url}`: the scheme must be https (http only to loopback in development)");
    }
    Ok(Target {
        url: parsed,
        domain,
        addrs,
    })
}

/// Why `ip` may not be a webhook's address, if it may not.
pub fn refused(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_loopback),
        IpAddr::V6(v6) => {
            // an IPv4 address in IPv6 clothes (mapped, or NAT64's well-known prefix)
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4, allow_loopback);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return refused_v4(v4, allow_loopback);
            }
            refused_v6(v6, allow_loopback)
        }
    }
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        if allow_loopback {
            return None;
        }
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 0 {
        "an unspecified address"
    } else if a == 100 && (b & 0xc0) == 64 {
        "a carrier-grade NAT address"
    } else if ip.is_multicast() || ip.is_broadcast() {
        "a multicast or broadcast address"
    } else if a >= 240
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || ip.is_documentation()
    {
        "a reserved address"
    } else {
        return None;
    })
}

fn refused_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        if allow_loopback {
            return None;
        }
        "a loopback address"
    } else if ip.is_unspecified() {
        "an unspecified address"
    } else if ip.is_unique_local() {
        "a private (unique local) address"
    } else if ip.is_unicast_link_local() || (first & 0xffc0) == 0xfec0 {
        "a link-local address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 || first == 0 {
        "a reserved address"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_public_ones_pass() {
        for internal in [
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(refused(ip(internal), false).is_some(), "{internal}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert_eq!(refused(ip(public), false), None, "{public}");
        }
    }

    #[test]
    fn allow_loopback_allows_only_loopback() {
        assert_eq!(refused(ip("127.0.0.1"), true), None);
        assert_eq!(refused(ip("::1"), true), None);
        assert!(refused(ip("10.0.0.1"), true).is_some());
        assert!(refused(ip("169.254.169.254"), true).is_some());
    }

    #[tokio::test]
    async fn urls_are_checked() {
        let err = check("http://10.0.0.1/hook", true).await.unwrap_err();
        assert!(err.to_string().contains("private address"), "{err}");
        let err = check("https://127.0.0.1/hook", false).await.unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = check("http://127.0.0.1:9/hook", false).await.unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = check("ftp://example.com/", true).await.unwrap_err();
        assert!(err.to_string().contains("scheme must be https"), "{err}");
        let err = check("https://user:pw@127.0.0.1/", true).await.unwrap_err();
        assert!(err.to_string().contains("credentials"), "{err}");
        // `localhost` resolves to loopback: refused unless allowed
        assert!(check("https://localhost/", false).await.is_err());
        let t = check("http://localhost:8080/x", true).await.unwrap();
        assert_eq!(t.domain.as_deref(), Some("localhost"));
        assert!(t.addrs.iter().all(|a| a.port() == 8080));
        assert!(check("http://127.0.0.1:8080/x", true).await.is_ok());
    }
}
