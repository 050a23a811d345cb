//! Configuration YAML a user or the API hands over: rule files (and one rule group), the
//! notifier's alertmanager.yml, the retention policy. Each parses and validates or answers an
//! error; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_alerting::rules::{RuleLimits, parse_rule_file, parse_rule_group};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = RuleLimits::default();
    let check = tidemark_alerting::template::check_alert;
    let _ = parse_rule_file(text, &limits, &check);
    let _ = parse_rule_group(text, &limits, &check);
    let _ = tidemark_alerting::notify::config::parse(text);
    if let Ok(policy) =
        serde_yaml::from_str::<tidemark_api::retention::RetentionPolicy>(text)
    {
        let _ = policy.check();
    }
});
