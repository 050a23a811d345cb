//! [`NotificationData`] as the Go values Alertmanager's templates see: a `*template.Data`
//! whose fields are in Go's order under their JSON tags (what `toJson` writes), label sets as
//! `template.KV`, alerts as `template.Alerts` of `template.Alert`, times as `time.Time`.

use std::rc::Rc;

use crate::template::{Field, GoTime, Slice, Struct, Value};

use super::{AlertData, NotificationData};

fn field(name: &'static str, json: &'static str, value: Value) -> Field {
    Field { name, json, value }
}

/// A time in Unix milliseconds, 0 being Go's zero time.
fn time(ms: i64) -> Value {
    if ms == 0 {
        Value::time(GoTime::zero())
    } else {
        Value::time(GoTime::from_unix_ms(ms))
    }
}

fn alert_value(alert: &AlertData) -> Value {
    Value::Struct(Rc::new(Struct {
        type_name: "template.Alert",
        fields: vec![
            field("Status", "status", Value::str(alert.status.as_str())),
            field("Labels", "labels", Value::kv(alert.labels.clone())),
            field(
                "Annotations",
                "annotations",
                Value::kv(alert.annotations.clone()),
            ),
            field("StartsAt", "startsAt", time(alert.starts_at_ms)),
            field("EndsAt", "endsAt", time(alert.ends_at_ms)),
            field(
                "GeneratorURL",
                "generatorURL",
                Value::str(&alert.generator_url),
            ),
            field("Fingerprint", "fingerprint", Value::str(&alert.fingerprint)),
        ],
    }))
}

/// The data as a `*template.Data`.
pub(super) fn data_value(data: &NotificationData) -> Value {
    let alerts = Slice {
        type_name: "template.Alerts",
        items: data.alerts.iter().map(alert_value).collect(),
    };
    Value::Struct(Rc::new(Struct {
        type_name: "*template.Data",
        fields: vec![
            field("Receiver", "receiver", Value::str(&data.receiver)),
            field("Status", "status", Value::str(data.status.as_str())),
            field("Alerts", "alerts", Value::Slice(Rc::new(alerts))),
            field(
                "NotificationReason",
                "notification_reason",
                Value::str(data.notification_reason.as_str()),
            ),
            field(
                "GroupLabels",
                "groupLabels",
                Value::kv(data.group_labels.clone()),
            ),
            field(
                "CommonLabels",
                "commonLabels",
                Value::kv(data.common_labels.clone()),
            ),
            field(
                "CommonAnnotations",
                "commonAnnotations",
                Value::kv(data.common_annotations.clone()),
            ),
            field("ExternalURL", "externalURL", Value::str(&data.external_url)),
        ],
    }))
}
