//! `SWITCHBOARD_TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For` names the
//! client. What a request's client address is follows from it (the inbound adapters'
//! `client_address`); here it is only parsed and matched.

use std::net::IpAddr;

/// The addresses and CIDR blocks of the proxies in front of the service. Empty (the
/// default): the TCP peer is the client, and no forwarded header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

/// One address (a block of one) or CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl TrustedProxies {
    /// A comma-separated list of addresses (`10.0.0.7`, `::1`) and CIDR blocks
    /// (`10.0.0.0/8`, `fd00::/8`); an error says which entry does not parse.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Network::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// No proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is one of the proxies. An IPv4 address written as IPv6
    /// (`::ffff:10.0.0.7`, as a dual-stack listener reports it) is its IPv4 address.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(address))
    }
}

impl Network {
    fn parse(entry: &str) -> Result<Self, String> {
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address.trim(), Some(prefix.trim())),
            None => (entry, None),
        };
        let base = address
            .parse::<IpAddr>()
            .map_err(|_| format!("{entry:?} is not an IP address or a CIDR block (10.0.0.0/8, fd00::/8)"))?
            .to_canonical();
        let bits: u8 = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(text) => text
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("{entry:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self { base, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(base) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(base) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_and_blocks_of_both_families_are_trusted_and_nothing_else() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8, ::1").unwrap();

        assert!(proxies.trusts(ip("10.200.3.4")));
        assert!(proxies.trusts(ip("192.0.2.7")));
        assert!(proxies.trusts(ip("::ffff:192.0.2.7")), "an IPv4-mapped address is its IPv4 address");
        assert!(proxies.trusts(ip("fd12:3456::1")));
        assert!(proxies.trusts(ip("::1")));
        assert!(!proxies.trusts(ip("11.0.0.1")));
        assert!(!proxies.trusts(ip("192.0.2.8")));
        assert!(!proxies.trusts(ip("fe80::1")));
        assert!(!proxies.trusts(ip("127.0.0.1")));
    }

    #[test]
    fn an_empty_list_trusts_nobody_and_a_zero_prefix_everybody_of_its_family() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(!TrustedProxies::default().trusts(ip("127.0.0.1")));
        let everyone = TrustedProxies::parse("0.0.0.0/0").unwrap();
        assert!(everyone.trusts(ip("203.0.113.9")));
        assert!(!everyone.trusts(ip("2001:db8::1")));
    }

    #[test]
    fn an_entry_that_does_not_parse_is_named() {
        let bad_address = TrustedProxies::parse("10.0.0.1, proxy.internal").unwrap_err();
        let bad_prefix = TrustedProxies::parse("10.0.0.0/33").unwrap_err();

        assert!(bad_address.starts_with("\"proxy.internal\" is not an IP address"), "{bad_address}");
        assert_eq!(bad_prefix, "\"10.0.0.0/33\": the prefix length must be 0 to 32");
    }
}
