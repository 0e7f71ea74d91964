//! A daily CSV feed: each file is well-formed CSV with a constant number of
//! columns, carries its date in its name (`orders-2026-11-21.csv` or
//! `orders-20261121.csv`), and continues the sequence of the files this
//! partner sent before: no date twice, no day skipped. The history comes
//! from ferry's journal, so this is a validation function F(A(t), D(0..t)):
//! it judges a file against everything exchanged before it.
//!
//! Parameters:
//! - `header`: the exact first line the files must have (optional);
//! - `weekdays-only = "true"`: Saturdays and Sundays are not expected;
//! - `prefix`: only names starting with it belong to the sequence
//!   (default: every `.csv` file).

use ferry_plugin::host;
use ferry_plugin::types::{Direction, FileInfo, HistoryQuery, Verdict};

struct Sequence;

impl ferry_plugin::Validator for Sequence {
    fn validate(file: FileInfo) -> Verdict {
        let prefix = host::param("prefix").unwrap_or_default();
        if !file.name.ends_with(".csv") || !file.name.starts_with(&prefix) {
            return Verdict::Accept;
        }
        let mut reasons = Vec::new();
        if let Err(e) = check_csv(&host::read_all(), host::param("header").as_deref()) {
            reasons.push(e);
        }
        let Some(day) = date_in(&file.name) else {
            reasons.push(format!(
                "`{}` has no date (YYYY-MM-DD or YYYYMMDD) in its name",
                file.name
            ));
            return Verdict::Reject(reasons);
        };
        let weekdays_only = host::param("weekdays-only").as_deref() == Some("true");
        if weekdays_only && is_weekend(day) {
            reasons.push(format!("{} is a weekend day", show(day)));
        }

        // The dates of the sequence so far: this partner's earlier files,
        // not counting those that were refused.
        let history = host::history(HistoryQuery {
            direction: Some(Direction::Inbound),
            since: None,
            limit: 10_000,
        });
        let earlier: Vec<(i64, String)> = history
            .iter()
            .filter(|m| m.message_id != file.message_id)
            .filter(|m| !matches!(m.state.as_str(), "rejected" | "quarantined" | "failed"))
            .filter(|m| m.name.ends_with(".csv") && m.name.starts_with(&prefix))
            .filter_map(|m| date_in(&m.name).map(|d| (d, m.name.clone())))
            .collect();
        if let Some((_, name)) = earlier.iter().find(|(d, _)| *d == day) {
            reasons.push(format!("{} was already sent, as `{name}`", show(day)));
        } else if let Some(&(latest, _)) = earlier.iter().max_by_key(|(d, _)| *d) {
            let expected = next_day(latest, weekdays_only);
            if day < latest {
                reasons.push(format!(
                    "{} is older than the latest file, of {}",
                    show(day),
                    show(latest)
                ));
            } else if day != expected {
                reasons.push(format!(
                    "{} skips {}: the file after {} must be of {}",
                    show(day),
                    show(expected),
                    show(latest),
                    show(expected)
                ));
            }
        }
        if reasons.is_empty() {
            Verdict::Accept
        } else {
            Verdict::Reject(reasons)
        }
    }
}

ferry_plugin::validator!(Sequence);

/// Every record has as many fields as the first; quoted fields may hold
/// separators, doubled quotes and newlines.
pub fn check_csv(bytes: &[u8], header: Option<&str>) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    if let Some(header) = header {
        let first = text.lines().next().unwrap_or_default();
        if first.trim_end_matches('\r') != header {
            return Err(format!("the header is `{first}`, expected `{header}`"));
        }
    }
    let mut expected = None;
    let (mut fields, mut quoted, mut line, mut empty_record) = (1usize, false, 1usize, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => {
                fields += 1;
                empty_record = false;
            }
            '\n' if !quoted => {
                if !empty_record || fields > 1 {
                    match expected {
                        None => expected = Some(fields),
                        Some(n) if n != fields => {
                            return Err(format!(
                                "line {line} has {fields} fields, the first has {n}"
                            ));
                        }
                        _ => {}
                    }
                }
                fields = 1;
                empty_record = true;
                line += 1;
            }
            '\r' if !quoted => {}
            _ => empty_record = false,
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    if !empty_record
        && let Some(n) = expected
        && n != fields
    {
        return Err(format!(
            "line {line} has {fields} fields, the first has {n}"
        ));
    }
    if expected.is_none() && empty_record {
        return Err("the file is empty".into());
    }
    Ok(())
}

/// The first date in a name, as days since 1970-01-01.
pub fn date_in(name: &str) -> Option<i64> {
    let bytes = name.as_bytes();
    let number = |b: &[u8]| -> Option<i64> {
        b.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    for start in 0..bytes.len() {
        let rest = &bytes[start..];
        let parts = match rest {
            _ if rest.len() >= 10 && rest[4] == b'-' && rest[7] == b'-' => {
                (&rest[0..4], &rest[5..7], &rest[8..10])
            }
            _ if rest.len() >= 8 => (&rest[0..4], &rest[4..6], &rest[6..8]),
            _ => continue,
        };
        let (Some(y), Some(m), Some(d)) = (number(parts.0), number(parts.1), number(parts.2))
        else {
            continue;
        };
        if (1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d) {
            return Some(days_from_civil(y, m, d));
        }
    }
    None
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

fn show(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// 1970-01-01 was a Thursday.
fn is_weekend(day: i64) -> bool {
    matches!((day + 3).rem_euclid(7), 5 | 6)
}

fn next_day(day: i64, weekdays_only: bool) -> i64 {
    let mut next = day + 1;
    while weekdays_only && is_weekend(next) {
        next += 1;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            show(date_in("orders-2026-11-21.csv").unwrap()),
            "2026-11-21"
        );
        assert_eq!(show(date_in("o_20240229.csv").unwrap()), "2024-02-29");
        assert_eq!(date_in("o_20230229.csv"), None);
        assert_eq!(date_in("none.csv"), None);
        let d = date_in("2026-11-20").unwrap(); // a Friday
        assert_eq!(show(next_day(d, true)), "2026-11-23");
        assert_eq!(show(next_day(d, false)), "2026-11-21");
    }

    #[test]
    fn csv() {
        assert!(check_csv(b"a,b\n1,2\n", None).is_ok());
        assert!(check_csv(b"a,b\r\n\"1,x\",\"y\"\"z\"\r\n", Some("a,b")).is_ok());
        assert_eq!(
            check_csv(b"a,b\n1\n", None),
            Err("line 2 has 1 fields, the first has 2".into())
        );
        assert!(check_csv(b"a,b\n\"open,2\n", None).is_err());
        assert!(check_csv(b"x,y\n", Some("a,b")).is_err());
    }
}
