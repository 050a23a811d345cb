//! A minimal protobuf wire-format reader that borrows from the buffer: the remote-write hot
//! paths read label strings (1.0) and symbols (2.0) in place instead of allocating a `String`
//! each. Only what they need: field iteration, varints (also packed), fixed64 and
//! length-delimited fields.

/// One field's value as it is on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterates over the fields of one message: `(field number, value)`.
pub(super) struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn varint(&mut self) -> Result<u64, String> {
        // Most varints of a write request (tags, label and sample lengths) are one byte.
        if let Some((&b, rest)) = self.buf.split_first()
            && b < 0x80
        {
            self.buf = rest;
            return Ok(u64::from(b));
        }
        let mut v: u64 = 0;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == 9 && b > 1 {
                    return Err("varint overflows 64 bits".into());
                }
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        Err(if self.buf.len() < 10 {
            "truncated varint".into()
        } else {
            "varint longer than 10 bytes".into()
        })
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!(
                "{what} of {n} bytes with {} bytes left",
                self.buf.len()
            ));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), String> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| format!("invalid field number {}", key >> 3))?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(
                self.take(8, "fixed64")?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflows")?;
                Value::Bytes(self.take(len, "length-delimited field")?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4, "fixed32")?.try_into().expect("4 bytes"),
            )),
            w => return Err(format!("unsupported wire type {w} (field {number})")),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let r = self.field();
        if r.is_err() {
            // Stop after the first error.
            self.buf = &[];
        }
        Some(r)
    }
}

/// The bytes of a length-delimited field; an error names `what` for any other wire type.
pub(super) fn bytes<'a>(v: Value<'a>, what: &str) -> Result<&'a [u8], String> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(format!(
            "{what}: expected a length-delimited field, got {other:?}"
        )),
    }
}

/// Appends the values of a `repeated uint32` field's occurrence: one varint, or a packed run of
/// them (protobuf parsers accept both); each truncated to 32 bits, as protobuf reads `uint32`.
pub(super) fn uint32s(v: Value<'_>, out: &mut Vec<u32>) -> Result<(), String> {
    match v {
        Value::Varint(x) => out.push(x as u32),
        Value::Bytes(mut packed) => {
            while !packed.is_empty() {
                let mut f = Fields { buf: packed };
                out.push(f.varint()? as u32);
                packed = f.buf;
            }
        }
        other => return Err(format!("repeated uint32: unexpected {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_uint32_packed_or_not() {
        let mut out = Vec::new();
        uint32s(Value::Varint(7), &mut out).unwrap();
        uint32s(
            Value::Bytes(&[1, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f]),
            &mut out,
        )
        .unwrap();
        // A uint32 sent as a wider varint keeps its low 32 bits, as protobuf reads it.
        assert_eq!(out, vec![7, 1, 300, u32::MAX]);
        assert!(
            uint32s(Value::Bytes(&[0x80]), &mut out).is_err(),
            "truncated"
        );
        assert!(uint32s(Value::Fixed32(1), &mut out).is_err());
    }

    #[test]
    fn reads_every_wire_type_and_rejects_truncation() {
        // field 1 varint 300, field 2 fixed64, field 3 bytes "ab", field 4 fixed32, field 5 -1.
        let mut buf = vec![0x08, 0xac, 0x02, 0x11];
        buf.extend_from_slice(&1.5f64.to_le_bytes());
        buf.extend_from_slice(&[0x1a, 2, b'a', b'b', 0x25, 1, 0, 0, 0, 0x28]);
        buf.extend_from_slice(&[0xff; 9]);
        buf.push(0x01);
        let got: Vec<_> = Fields::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (1, Value::Varint(300)),
                (2, Value::Fixed64(1.5f64.to_bits())),
                (3, Value::Bytes(b"ab")),
                (4, Value::Fixed32(1)),
                (5, Value::Varint(u64::MAX)),
            ]
        );
        for cut in 1..buf.len() {
            let truncated = &buf[..cut];
            let ends_on_field = [3, 12, 16, 21].contains(&cut);
            let r: Result<Vec<_>, _> = Fields::new(truncated).collect();
            assert_eq!(r.is_ok(), ends_on_field, "cut at {cut}: {r:?}");
        }
        assert!(Fields::new(&[0x0b]).next().unwrap().is_err(), "group");
        assert!(
            Fields::new(&[0x00, 0x00]).next().unwrap().is_err(),
            "field 0"
        );
    }
}
