//! Who sent a request, for what is counted per client (failed console sign-ins).
//!
//! The TCP peer is the client, unless it is one of `SWITCHBOARD_TRUSTED_PROXIES`. Then
//! the client is the right-most `X-Forwarded-For` entry that is not a trusted proxy:
//! each proxy appends the address it got the request from, so the entries our own
//! proxies wrote are on the right, and anything left of them is whatever the client sent.
//! Without trusted proxies no forwarded header is believed: a client that rotates
//! `X-Forwarded-For` is still one peer.
//!
//! (`X-Forwarded-Proto` is another matter: a claim of https only ever makes cookies
//! `Secure`, which hurts nobody but a forger, so the console honours it from anyone.)

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use switchboard_runtime::TrustedProxies;

/// The client's address, as far as this service can tell (`None` only when the
/// connection has no peer address, as in some unit-test requests).
pub fn client_address(req: &HttpRequest, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip().to_canonical();
    let forwarded: Vec<&str> =
        req.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok()).collect();
    Some(forwarded_client(peer, &forwarded, proxies))
}

/// The client behind `peer`, given the `X-Forwarded-For` headers (in the order received).
fn forwarded_client(peer: IpAddr, headers: &[&str], proxies: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    if !proxies.trusts(peer) {
        return client;
    }
    let entries = headers.iter().flat_map(|header| header.split(',')).map(str::trim).filter(|e| !e.is_empty());
    for entry in entries.collect::<Vec<_>>().into_iter().rev() {
        // An entry that is no address ends what can be believed: the trusted hop that
        // passed it on stands for the client (counting too many as one, never escaping).
        let Some(address) = parse_entry(entry) else { break };
        client = address;
        if !proxies.trusts(address) {
            break;
        }
    }
    client
}

/// `192.0.2.7`, `2001:db8::1`, and the forms some proxies write: `192.0.2.7:5100`,
/// `[2001:db8::1]` and `[2001:db8::1]:5100`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let unbracketed = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']'));
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| unbracketed.and_then(|e| e.parse().ok()))
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// What failures from `address` are counted under: an IPv4 address itself, an IPv6
/// address's /64 network (one subscriber usually holds a whole /64: counting single
/// addresses would let one client take a fresh one for every attempt).
pub fn client_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{}/64", Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let client = forwarded_client(ip("198.51.100.4"), &["203.0.113.9"], &TrustedProxies::default());

        assert_eq!(client, ip("198.51.100.4"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client_not_what_the_client_forged() {
        let ours = proxies("10.0.0.0/8");

        let forged = forwarded_client(ip("10.0.0.2"), &["1.2.3.4, 203.0.113.9"], &ours);
        let two_hops = forwarded_client(ip("10.0.0.2"), &["203.0.113.9", "10.0.0.1"], &ours);
        let without_header = forwarded_client(ip("10.0.0.2"), &[], &ours);
        let untrusted_peer = forwarded_client(ip("198.51.100.4"), &["203.0.113.9"], &ours);

        assert_eq!(forged, ip("203.0.113.9"), "1.2.3.4 is what the client wrote, left of our proxy's entry");
        assert_eq!(two_hops, ip("203.0.113.9"), "headers are read in order, our inner proxy's entry last");
        assert_eq!(without_header, ip("10.0.0.2"));
        assert_eq!(untrusted_peer, ip("198.51.100.4"));
    }

    #[test]
    fn an_entry_that_is_no_address_stops_the_walk_at_the_trusted_hop_before_it() {
        let ours = proxies("10.0.0.0/8");

        let garbage = forwarded_client(ip("10.0.0.2"), &["203.0.113.9, unknown, 10.0.0.1"], &ours);
        let ported = forwarded_client(ip("10.0.0.2"), &["[2001:db8::7]:443, 192.0.2.1:5100"], &ours);

        assert_eq!(garbage, ip("10.0.0.1"));
        assert_eq!(ported, ip("192.0.2.1"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network_and_ipv4_ones_by_address() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(client_key(ip("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
        assert_eq!(client_key(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
    }
}
