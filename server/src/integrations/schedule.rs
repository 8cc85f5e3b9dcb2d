//! How long a DAG's schedule lets its data age: the longest gap between two consecutive
//! scheduled runs, read from the schedule as Airflow shows it (a 5-field cron expression, a
//! preset such as `@daily`, or a timedelta like `1 day, 0:00:00`). The staleness rule of the
//! monitor is "no successful run within two of these intervals" (48 hours when unscheduled).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};

/// Data of an unscheduled DAG (manual, asset-triggered, `@once`) is stale after this long.
pub const UNSCHEDULED_STALE_AFTER: Duration = Duration::hours(48);

/// The longest gap between consecutive runs of `schedule`, or None when it runs on no clock
/// (empty, `None`, `@once`, `@continuous`, asset-triggered) or is not a form we can read.
pub fn longest_interval(schedule: &str) -> Option<Duration> {
    let schedule = schedule.trim();
    match schedule {
        "" | "None" | "@once" | "@continuous" => None,
        "@hourly" => Some(Duration::hours(1)),
        "@daily" | "@midnight" => Some(Duration::days(1)),
        "@weekly" => Some(Duration::weeks(1)),
        // Longest month and year: the staleness rule should never fire early.
        "@monthly" => Some(Duration::days(31)),
        "@quarterly" => Some(Duration::days(92)),
        "@yearly" | "@annually" => Some(Duration::days(366)),
        other if other.split_whitespace().count() == 5 => Cron::parse(other).map(|cron| cron.longest_gap()),
        other => parse_timedelta(other),
    }
}

/// How long after its last successful run a DAG's data counts as stale.
pub fn stale_after(schedule: &str) -> Duration {
    longest_interval(schedule).map(|interval| interval * 2).unwrap_or(UNSCHEDULED_STALE_AFTER)
}

/// Python's `str(timedelta)`, which Airflow uses for delta schedules: `0:30:00`,
/// `1 day, 0:00:00`, `7 days, 12:00:00`.
fn parse_timedelta(text: &str) -> Option<Duration> {
    let (days, clock) = match text.split_once(',') {
        Some((days, clock)) => {
            let days = days.trim().strip_suffix("days").or_else(|| days.trim().strip_suffix("day"))?;
            (days.trim().parse::<i64>().ok()?, clock.trim())
        }
        None => (0, text),
    };
    let mut parts = clock.split(':');
    let hours: i64 = parts.next()?.trim().parse().ok()?;
    let minutes: i64 = parts.next()?.trim().parse().ok()?;
    let seconds: f64 = parts.next()?.trim().parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let total = Duration::days(days) + Duration::hours(hours) + Duration::minutes(minutes) + Duration::milliseconds((seconds * 1000.0) as i64);
    (total > Duration::zero()).then_some(total)
}

/// A parsed 5-field cron expression (minute hour day-of-month month day-of-week), with the
/// usual rule that when both day fields are restricted a day matching either one fires.
struct Cron {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    dom_restricted: bool,
    dow_restricted: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    fn parse(expr: &str) -> Option<Cron> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields.as_slice() else { return None };
        let dow_bits = field(dow, 0, 7, &WEEKDAYS)?;
        // 7 is Sunday as well as 0.
        let dow_bits = (dow_bits | ((dow_bits >> 7) & 1)) & 0x7f;
        Some(Cron {
            minutes: field(minute, 0, 59, &[])?,
            hours: field(hour, 0, 23, &[])? as u32,
            days_of_month: field(dom, 1, 31, &[])? as u32,
            months: field(month, 1, 12, &MONTHS)? as u16,
            days_of_week: dow_bits as u8,
            dom_restricted: !dom.starts_with('*'),
            dow_restricted: !dow.starts_with('*'),
        })
    }

    fn day_matches(&self, day: NaiveDate) -> bool {
        if self.months & (1 << day.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << day.day()) != 0;
        let dow = self.days_of_week & (1 << day.weekday().num_days_from_sunday()) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        }
    }

    /// The longest gap between consecutive fire times over a bit more than two years from a
    /// fixed date, which covers every pattern of months, leap years and weekdays that matters.
    fn longest_gap(&self) -> Duration {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a valid date");
        let mut previous: Option<NaiveDateTime> = None;
        let mut longest = Duration::zero();
        for offset in 0..(366 * 2 + 31) {
            let day = start + Duration::days(offset);
            if !self.day_matches(day) {
                continue;
            }
            for hour in (0..24).filter(|h| self.hours & (1 << h) != 0) {
                for minute in (0..60).filter(|m| self.minutes & (1 << m) != 0) {
                    let at = day.and_hms_opt(hour, minute, 0).expect("a valid time");
                    if let Some(previous) = previous {
                        longest = longest.max(at - previous);
                    }
                    previous = Some(at);
                }
            }
        }
        // A schedule that fires once in the window (e.g. 29 February) is effectively yearly.
        if longest.is_zero() { Duration::days(366 * 4) } else { longest }
    }
}

/// One cron field as a bit set: `*`, `n`, `a-b`, lists, steps (`*/5`, `1-10/2`, `3/15`) and
/// names (`jan`, `mon`).
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Option<u64> {
    let value = |token: &str| -> Option<u32> {
        let lower = token.to_ascii_lowercase();
        let n = match names.iter().position(|name| *name == lower) {
            Some(index) => index as u32 + if names.len() == 12 { 1 } else { 0 },
            None => token.parse().ok()?,
        };
        (min..=max).contains(&n).then_some(n)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `3/15` means from 3 to the end in steps of 15.
                None if part.contains('/') => (value(range)?, max),
                None => {
                    let n = value(range)?;
                    (n, n)
                }
            },
        };
        if from > to {
            return None;
        }
        for n in (from..=to).step_by(step as usize) {
            bits |= 1 << n;
        }
    }
    (bits != 0).then_some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_crons_and_presets_are_one_day() {
        assert_eq!(longest_interval("0 3 * * *"), Some(Duration::days(1)));
        assert_eq!(longest_interval("30 5 * * *"), Some(Duration::days(1)));
        assert_eq!(longest_interval("@daily"), Some(Duration::days(1)));
        assert_eq!(stale_after("0 3 * * *"), Duration::days(2));
    }

    #[test]
    fn irregular_crons_use_their_longest_gap() {
        // Weekdays only: Friday to Monday.
        assert_eq!(longest_interval("0 3 * * 1-5"), Some(Duration::days(3)));
        assert_eq!(longest_interval("0 3 * * mon-fri"), Some(Duration::days(3)));
        assert_eq!(longest_interval("*/15 * * * *"), Some(Duration::minutes(15)));
        assert_eq!(longest_interval("0 9,17 * * *"), Some(Duration::hours(16)));
        // The 1st of each month: the longest gap is a 31-day month.
        assert_eq!(longest_interval("0 0 1 * *"), Some(Duration::days(31)));
        // Sunday as 7.
        assert_eq!(longest_interval("0 0 * * 7"), Some(Duration::weeks(1)));
        // Day of month OR day of week when both are restricted: the 15th or any Monday.
        let either = longest_interval("0 0 15 * 1").expect("parses");
        assert!(either <= Duration::days(7), "{either}");
    }

    #[test]
    fn timedeltas_and_unscheduled() {
        assert_eq!(longest_interval("1 day, 0:00:00"), Some(Duration::days(1)));
        assert_eq!(longest_interval("7 days, 12:00:00"), Some(Duration::days(7) + Duration::hours(12)));
        assert_eq!(longest_interval("0:30:00"), Some(Duration::minutes(30)));
        for none in ["", "None", "@once", "Asset", "not a schedule", "61 * * * *"] {
            assert_eq!(longest_interval(none), None, "{none}");
        }
        assert_eq!(stale_after(""), UNSCHEDULED_STALE_AFTER);
    }
}
