//! Calendar functions (`year`, `month`, `day_of_week`, ...) in UTC.

use promql_parser::parser::Call;

use super::vector_arg;
use crate::error::QueryError;
use crate::eval::series::merge_same_labels;
use crate::eval::{Evaluator, Series, drop_name};

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// The calendar field `name` of the UTC time `secs` seconds after the epoch.
fn field(name: &str, secs: f64) -> f64 {
    let secs = secs as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let v = match name {
        "year" => y,
        "month" => m,
        "day_of_month" => d,
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => {
            let (mut doy, mut month) = (d, 1);
            while month < m {
                doy += days_in(y, month);
                month += 1;
            }
            doy
        }
        "hour" => sod / 3600,
        "minute" => (sod % 3600) / 60,
        "days_in_month" => days_in(y, m),
        _ => 0,
    };
    v as f64
}

fn days_in(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Evaluates a calendar function: of the evaluation time without arguments, else of each value.
pub(crate) fn date_function(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let name = c.func.name;
    if c.args.args.is_empty() {
        let values = ts
            .iter()
            .map(|t| Some(field(name, t.div_euclid(1000) as f64)))
            .collect();
        return Ok(vec![Series::new(Default::default(), values)]);
    }
    let mut out = vector_arg(ev, c, 0, ts)?;
    for s in &mut out {
        s.labels = drop_name(std::mem::take(&mut s.labels));
        for v in s.values.iter_mut().flatten() {
            *v = if v.is_nan() {
                f64::NAN
            } else {
                field(name, *v)
            };
        }
    }
    merge_same_labels(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields() {
        // 2006-01-02T22:04:05Z, a Monday.
        let t = 1_136_239_445.0;
        assert_eq!(field("year", t), 2006.0);
        assert_eq!(field("month", t), 1.0);
        assert_eq!(field("day_of_month", t), 2.0);
        assert_eq!(field("day_of_week", t), 1.0);
        assert_eq!(field("hour", t), 22.0);
        assert_eq!(field("minute", t), 4.0);
        assert_eq!(field("days_in_month", 1_454_284_800.0), 29.0);
    }
}
