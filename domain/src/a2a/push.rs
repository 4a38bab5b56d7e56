//! Push notifications (A2A v1.0 `TaskPushNotificationConfig`): where a client wants a
//! task's updates posted, and how the post proves itself to it.

use serde::{Deserialize, Serialize};

/// `{id, taskId, url, token?, authentication?}` as the protocol writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushConfig {
    /// Chosen by the client, or given by Switchboard when left out.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub task_id: String,
    pub url: String,
    /// Sent back as `X-A2A-Notification-Token`, so the client knows the post is ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<PushAuthentication>,
}

/// `Authorization: <scheme> <credentials>` on every post.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAuthentication {
    pub scheme: String,
    #[serde(default)]
    pub credentials: String,
}

impl std::fmt::Debug for PushAuthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushAuthentication").field("scheme", &self.scheme).finish_non_exhaustive()
    }
}

/// A push URL's host, when it is an address Switchboard must not post to unless
/// configured to: loopback, private, link-local, unique-local, unspecified, broadcast,
/// documentation or carrier-grade NAT (request forgery into the operator's network).
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(std::net::IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_link_local_and_mapped_addresses_are_internal_and_public_ones_are_not() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.128.0.1"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_config_reads_as_the_protocol_writes_it_and_its_credentials_never_print() {
        let config: PushConfig = serde_json::from_value(serde_json::json!({
            "taskId": "t1", "url": "https://hooks.example.com/a2a", "token": "tok",
            "authentication": {"scheme": "Bearer", "credentials": "s3cr3t"}
        }))
        .unwrap();

        assert_eq!(config.task_id, "t1");
        assert_eq!(config.id, "");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }
}
