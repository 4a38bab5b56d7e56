//! Meta's error codes for a WhatsApp send, classified once: which failure each code is
//! and what to do about it. The one table every adapter and use case asks; none keeps
//! its own list of codes. (How long to wait before trying again is the retry policy's
//! business, in `switchboard-shared`.)

/// A failed WhatsApp send, classified once by Meta's error `code` (not the HTTP
/// status). Every call site asks this table; none keeps its own list of codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendFailure {
    /// 4, 80007, 130429: app, account or throughput rate limit.
    Throttled,
    /// 131056: too many messages to the same user too fast.
    PairRateLimited,
    /// 1, 2, 131000, 131016, 133004, HTTP 5xx: Meta-side trouble.
    Transient,
    /// 0, 190: authentication failed or the token expired.
    AuthFailed,
    /// 131047: more than 24 hours since the user last wrote.
    OutsideWindow,
    /// 131026: the message cannot be delivered to this user.
    Undeliverable,
    /// 131048, 131049: spam or quality limit, ecosystem hold.
    QualityHold,
    /// 131050: the user opted out of marketing messages.
    OptedOut,
    /// 131051: unsupported message type.
    UnsupportedType,
    /// 132000-132016: template missing, paused, parameters wrong.
    TemplateProblem,
    /// 100, 131008, 131009: a bad parameter.
    BadParameter,
    /// 368, 131031: policy block or locked account.
    Blocked,
    /// A code not in Meta's table (yet).
    Unknown,
}

/// What to do about a [`SendFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAction {
    /// Try again with exponential backoff and jitter.
    RetryWithBackoff,
    /// Wait before the next message to this user (1, 4, then 16 seconds: the retry policy's
    /// `PAIR_RATE_BACKOFF`).
    PaceRecipient,
    /// A free-form message cannot go: send a template, or use another channel.
    NeedsTemplate,
    /// WhatsApp cannot deliver it: use another channel.
    FallBack,
    /// Nothing can be sent until an operator acts: hold the messages, alert, and use
    /// another channel where there is one.
    StopAndAlert,
    /// Retrying the same request cannot succeed.
    NeverRetry,
}

impl SendFailure {
    pub fn from_code(code: i64) -> Self {
        match code {
            4 | 80007 | 130429 => Self::Throttled,
            131056 => Self::PairRateLimited,
            1 | 2 | 131000 | 131016 | 133004 => Self::Transient,
            0 | 190 => Self::AuthFailed,
            131047 => Self::OutsideWindow,
            131026 => Self::Undeliverable,
            131048 | 131049 => Self::QualityHold,
            131050 => Self::OptedOut,
            131051 => Self::UnsupportedType,
            132000..=132016 => Self::TemplateProblem,
            100 | 131008 | 131009 => Self::BadParameter,
            368 | 131031 => Self::Blocked,
            _ => Self::Unknown,
        }
    }

    pub fn action(self) -> SendAction {
        match self {
            Self::Throttled | Self::Transient | Self::Unknown => SendAction::RetryWithBackoff,
            Self::PairRateLimited => SendAction::PaceRecipient,
            Self::OutsideWindow => SendAction::NeedsTemplate,
            // "No hot retry": the user is reached on another channel instead.
            Self::Undeliverable | Self::QualityHold => SendAction::FallBack,
            Self::AuthFailed | Self::Blocked => SendAction::StopAndAlert,
            Self::OptedOut | Self::UnsupportedType | Self::TemplateProblem | Self::BadParameter => {
                SendAction::NeverRetry
            }
        }
    }

    /// A small bounded label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::PairRateLimited => "pair_rate_limited",
            Self::Transient => "transient",
            Self::AuthFailed => "auth_failed",
            Self::OutsideWindow => "outside_window",
            Self::Undeliverable => "undeliverable",
            Self::QualityHold => "quality_hold",
            Self::OptedOut => "opted_out",
            Self::UnsupportedType => "unsupported_type",
            Self::TemplateProblem => "template_problem",
            Self::BadParameter => "bad_parameter",
            Self::Blocked => "blocked",
            Self::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_error_codes_map_to_one_action_each() {
        let cases = [
            (130429, SendAction::RetryWithBackoff),
            (80007, SendAction::RetryWithBackoff),
            (131000, SendAction::RetryWithBackoff),
            (131056, SendAction::PaceRecipient),
            (190, SendAction::StopAndAlert),
            (368, SendAction::StopAndAlert),
            (131047, SendAction::NeedsTemplate),
            (131026, SendAction::FallBack),
            (131049, SendAction::FallBack),
            (131050, SendAction::NeverRetry),
            (132001, SendAction::NeverRetry),
            (100, SendAction::NeverRetry),
            (999_999, SendAction::RetryWithBackoff),
        ];
        for (code, action) in cases {
            assert_eq!(SendFailure::from_code(code).action(), action, "code {code}");
        }
    }

    #[test]
    fn each_failure_has_its_own_label_and_a_code_that_maps_to_it() {
        let cases = [
            (4, "throttled"),
            (131056, "pair_rate_limited"),
            (2, "transient"),
            (0, "auth_failed"),
            (131047, "outside_window"),
            (131026, "undeliverable"),
            (131048, "quality_hold"),
            (131050, "opted_out"),
            (131051, "unsupported_type"),
            (132016, "template_problem"),
            (131009, "bad_parameter"),
            (131031, "blocked"),
            (-1, "unknown"),
        ];

        let mut labels = std::collections::BTreeSet::new();
        for (code, label) in cases {
            assert_eq!(SendFailure::from_code(code).label(), label, "code {code}");
            labels.insert(label);
        }
        assert_eq!(labels.len(), cases.len());
    }

    #[test]
    fn an_unsupported_message_type_is_never_retried() {
        assert_eq!(SendFailure::from_code(131051), SendFailure::UnsupportedType);
        assert_eq!(SendFailure::UnsupportedType.action(), SendAction::NeverRetry);
    }
}
