//! How [`RuleGroup`] and [`Rule`] are written. In a human-readable format (the API's YAML) a
//! field at its default is left out, as Prometheus' `omitempty` leaves it out; in a binary
//! one (bincode: the ruler group's stored form) every field is written, in declaration order,
//! because such a format reads fields by position and cannot tell that one was skipped
//! (`skip_serializing_if` would corrupt it).

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Rule, RuleGroup};

/// Writes `value` as field `key`, or leaves it out if the format is human-readable and
/// `value` is its default.
fn field<S: SerializeStruct, T: Serialize + ?Sized>(
    st: &mut S,
    every_field: bool,
    key: &'static str,
    value: &T,
    is_default: bool,
) -> Result<(), S::Error> {
    if every_field || !is_default {
        st.serialize_field(key, value)
    } else {
        st.skip_field(key)
    }
}

impl Serialize for RuleGroup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let every = !s.is_human_readable();
        let mut st = s.serialize_struct("RuleGroup", 6)?;
        st.serialize_field("name", &self.name)?;
        let interval = &self.interval;
        field(&mut st, every, "interval", interval, interval.is_none())?;
        let offset = &self.query_offset;
        field(&mut st, every, "query_offset", offset, offset.is_none())?;
        field(&mut st, every, "limit", &self.limit, self.limit == 0)?;
        let labels = &self.labels;
        field(&mut st, every, "labels", labels, labels.is_empty())?;
        st.serialize_field("rules", &self.rules)?;
        st.end()
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let every = !s.is_human_readable();
        let mut st = s.serialize_struct("Rule", 7)?;
        field(
            &mut st,
            every,
            "record",
            &self.record,
            self.record.is_none(),
        )?;
        field(&mut st, every, "alert", &self.alert, self.alert.is_none())?;
        st.serialize_field("expr", &self.expr)?;
        field(&mut st, every, "for", &self.for_, self.for_.is_none())?;
        let keep = &self.keep_firing_for;
        field(&mut st, every, "keep_firing_for", keep, keep.is_none())?;
        field(
            &mut st,
            every,
            "labels",
            &self.labels,
            self.labels.is_empty(),
        )?;
        let annotations = &self.annotations;
        field(
            &mut st,
            every,
            "annotations",
            annotations,
            annotations.is_empty(),
        )?;
        st.end()
    }
}
