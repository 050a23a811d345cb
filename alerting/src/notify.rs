//! The notifier's pure logic: a built-in Alertmanager whose state lives in the ruler's Raft
//! group. Everything here is deterministic and free of I/O (STYLE.md, "Logic without I/O"):
//! the node proposes commands, applies them with these functions on every replica, and sends
//! what they put in the outbox.
//!
//! - [`matcher`]: Alertmanager's label matchers (`name="value"`, `=~`, `!=`, `!~`).
//! - [`time_interval`]: `time_intervals` (times of day, weekdays, days of month, months,
//!   years, location) and whether an instant falls in one.
//! - [`config`]: `alertmanager.yml` for the features Tidemark supports, parsed, validated and
//!   normalised; unsupported fields are refused by name.
//! - [`template_data`]: the data notification templates see, and Alertmanager's default texts.

pub mod alert;
pub mod config;
pub mod inhibit;
pub mod matcher;
pub mod payload;
pub mod route;
pub mod silence;
pub mod state;
pub mod status;
pub mod template_data;
pub mod time_interval;
