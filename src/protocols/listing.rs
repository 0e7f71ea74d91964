//! Directory listings as clients expect them, shared by the servers:
//! `ls -l` lines (SFTP long names, FTP `LIST`) and FTP's machine-readable
//! facts (`MLSD`, `MLST`, `MDTM`).

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date and time in UTC.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
    }
}

/// One `ls -l` line, as OpenSSH's sftp-server and most FTP servers write it.
pub fn ls_line(name: &str, dir: bool, size: u64, mtime: Option<i64>, owner: &str) -> String {
    let mode = if dir { "drwxr-xr-x" } else { "-rw-r--r--" };
    let when = mtime.map_or_else(
        || "Jan  1  1970".to_owned(),
        |secs| {
            let c = civil(secs);
            format!(
                "{} {:>2} {:02}:{:02}",
                MONTHS[(c.month - 1) as usize],
                c.day,
                c.hour,
                c.minute
            )
        },
    );
    format!("{mode}    1 {owner:<8} {owner:<8} {size:>8} {when} {name}")
}

/// `YYYYMMDDHHMMSS` in UTC (RFC 3659's time-val).
pub fn time_val(secs: i64) -> String {
    let c = civil(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(time_val(0), "19700101000000");
        // 2026-11-22 03:04:05 UTC
        assert_eq!(time_val(1_795_316_645), "20261122030405");
        assert_eq!(
            ls_line("a.csv", false, 42, Some(1_795_316_645), "alice"),
            "-rw-r--r--    1 alice    alice          42 Nov 22 03:04 a.csv"
        );
        assert!(ls_line("inbox", true, 0, None, "bob").starts_with("drwxr-xr-x"));
        assert!(ls_line("x", false, 0, Some(0), "bob").contains("Jan  1 00:00 x"));
        assert!(ls_line("x", false, 0, Some(1_795_000_000), "bob").contains("Nov 18 11:06 x"));
        assert!(ls_line("x", false, 0, Some(951_782_400), "bob").contains("Feb 29 00:00 x"));
        assert_eq!(time_val(951_782_400), "20000229000000");
    }
}
