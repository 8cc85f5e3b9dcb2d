//! Date ranges of the dashboard: presets resolved against "today" in the reporting time zone,
//! custom ranges validated, the previous range of equal length, and buckets.

use super::{DashboardError, definitions::MAX_RANGE_DAYS};
use cdp_proto::cdp::v1::{DatePreset, TimeBucket};
use chrono::{Datelike, Days, NaiveDate, Utc};

/// An inclusive range of calendar days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DayRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DayRange {
    pub fn new(start: NaiveDate, end: NaiveDate) -> Self {
        DayRange { start, end }
    }

    /// Number of days, both ends included.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// The range of equal length that ends the day before this one starts.
    pub fn previous(&self) -> DayRange {
        self.shifted_back(self.days())
    }

    pub fn shifted_back(&self, days: i64) -> DayRange {
        DayRange { start: minus(self.start, days), end: minus(self.end, days) }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    pub fn overlaps(&self, other: &DayRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end;
        self.start.iter_days().take_while(move |d| *d <= end)
    }

    pub fn to_proto(&self) -> cdp_proto::cdp::v1::DateRange {
        cdp_proto::cdp::v1::DateRange { start_date: iso(self.start), end_date: iso(self.end) }
    }
}

pub fn minus(day: NaiveDate, days: i64) -> NaiveDate {
    day.checked_sub_days(Days::new(days.max(0) as u64)).unwrap_or(NaiveDate::MIN)
}

pub fn iso(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Today in the reporting time zone.
pub fn today(tz: chrono_tz::Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Resolves a request's preset (and, for CUSTOM, its dates) into a range ending no later
/// than `today`. Dates are only accepted with CUSTOM; a custom range must be in order, end by
/// today and span at most `MAX_RANGE_DAYS`.
pub fn resolve(preset: i32, start_date: &str, end_date: &str, today: NaiveDate) -> Result<DayRange, DashboardError> {
    let preset = DatePreset::try_from(preset).map_err(|_| DashboardError::invalid("preset", "is not a known date preset"))?;
    if preset != DatePreset::Custom {
        for (field, value) in [("start_date", start_date), ("end_date", end_date)] {
            if !value.is_empty() {
                return Err(DashboardError::invalid(field, "is only accepted with DATE_PRESET_CUSTOM"));
            }
        }
    }
    let last = |days: i64| DayRange::new(minus(today, days - 1), today);
    let first_of_month = today.with_day(1).expect("day 1 exists in every month");
    Ok(match preset {
        DatePreset::Unspecified | DatePreset::Last30Days => last(30),
        DatePreset::Today => last(1),
        DatePreset::Yesterday => DayRange::new(minus(today, 1), minus(today, 1)),
        DatePreset::Last7Days => last(7),
        DatePreset::Last90Days => last(90),
        DatePreset::ThisMonth => DayRange::new(first_of_month, today),
        DatePreset::LastMonth => {
            let end = minus(first_of_month, 1);
            DayRange::new(end.with_day(1).expect("day 1 exists in every month"), end)
        }
        DatePreset::Custom => {
            let start = parse_day("start_date", start_date)?;
            let end = parse_day("end_date", end_date)?;
            if end < start {
                return Err(DashboardError::invalid("end_date", "must not be before start_date"));
            }
            if end > today {
                return Err(DashboardError::invalid("end_date", format!("must not be after today ({})", iso(today))));
            }
            let range = DayRange::new(start, end);
            if range.days() > MAX_RANGE_DAYS {
                return Err(DashboardError::invalid(
                    "start_date",
                    format!("the range spans {} days; at most {MAX_RANGE_DAYS} (3 years) are allowed", range.days()),
                ));
            }
            range
        }
    })
}

fn parse_day(field: &str, value: &str) -> Result<NaiveDate, DashboardError> {
    if value.is_empty() {
        return Err(DashboardError::invalid(field, "is required with DATE_PRESET_CUSTOM"));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| DashboardError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// The bucket size asked for, or the contract's default for the range length.
pub fn bucket_for(requested: i32, range: &DayRange) -> Result<TimeBucket, DashboardError> {
    let bucket = TimeBucket::try_from(requested).map_err(|_| DashboardError::invalid("bucket", "is not a known time bucket"))?;
    Ok(match bucket {
        TimeBucket::Unspecified if range.days() <= 92 => TimeBucket::Daily,
        TimeBucket::Unspecified if range.days() <= 366 => TimeBucket::Weekly,
        TimeBucket::Unspecified => TimeBucket::Monthly,
        other => other,
    })
}

/// Splits `range` into days, ISO weeks (Monday to Sunday) or calendar months, the first and
/// last cut to the range.
pub fn buckets(range: &DayRange, bucket: TimeBucket) -> Vec<DayRange> {
    let mut out = Vec::new();
    let mut start = range.start;
    while start <= range.end {
        let natural_end = match bucket {
            TimeBucket::Weekly => start + Days::new(6 - start.weekday().num_days_from_monday() as u64),
            TimeBucket::Monthly => {
                let (y, m) = if start.month() == 12 { (start.year() + 1, 1) } else { (start.year(), start.month() + 1) };
                minus(NaiveDate::from_ymd_opt(y, m, 1).expect("the first of a month exists"), 1)
            }
            TimeBucket::Daily | TimeBucket::Unspecified => start,
        };
        let end = natural_end.min(range.end);
        out.push(DayRange::new(start, end));
        start = end + Days::new(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn presets_resolve_against_today() {
        let today = d("2026-03-15");
        let r = |p: DatePreset| resolve(p as i32, "", "", today).unwrap();
        assert_eq!(r(DatePreset::Today), DayRange::new(today, today));
        assert_eq!(r(DatePreset::Yesterday), DayRange::new(d("2026-03-14"), d("2026-03-14")));
        assert_eq!(r(DatePreset::Last7Days), DayRange::new(d("2026-03-09"), today));
        assert_eq!(r(DatePreset::Unspecified), DayRange::new(d("2026-02-14"), today));
        assert_eq!(r(DatePreset::ThisMonth), DayRange::new(d("2026-03-01"), today));
        assert_eq!(r(DatePreset::LastMonth), DayRange::new(d("2026-02-01"), d("2026-02-28")));
        assert_eq!(r(DatePreset::LastMonth).previous(), DayRange::new(d("2026-01-04"), d("2026-01-31")));
    }

    #[test]
    fn custom_ranges_are_validated() {
        let today = d("2026-03-15");
        let custom = |s: &str, e: &str| resolve(DatePreset::Custom as i32, s, e, today);
        assert!(matches!(custom("2026-03-10", "2026-03-09"), Err(DashboardError::InvalidField { field, .. }) if field == "end_date"));
        assert!(matches!(custom("2023-03-14", "2026-03-14"), Err(DashboardError::InvalidField { field, .. }) if field == "start_date"));
        assert!(custom("2023-03-15", "2026-03-14").is_ok());
        assert!(matches!(custom("2026-03-10", "2026-03-16"), Err(DashboardError::InvalidField { field, .. }) if field == "end_date"));
        assert!(matches!(custom("", "2026-03-16"), Err(DashboardError::InvalidField { field, .. }) if field == "start_date"));
        assert!(matches!(resolve(DatePreset::Today as i32, "2026-03-01", "", today), Err(DashboardError::InvalidField { field, .. }) if field == "start_date"));
    }

    #[test]
    fn buckets_cut_weeks_and_months_to_the_range() {
        let range = DayRange::new(d("2026-01-28"), d("2026-03-03"));
        let weeks = buckets(&range, TimeBucket::Weekly);
        assert_eq!(weeks.first(), Some(&DayRange::new(d("2026-01-28"), d("2026-02-01"))));
        assert_eq!(weeks[1], DayRange::new(d("2026-02-02"), d("2026-02-08")));
        assert_eq!(weeks.last(), Some(&DayRange::new(d("2026-03-02"), d("2026-03-03"))));
        let months = buckets(&range, TimeBucket::Monthly);
        assert_eq!(
            months,
            vec![
                DayRange::new(d("2026-01-28"), d("2026-01-31")),
                DayRange::new(d("2026-02-01"), d("2026-02-28")),
                DayRange::new(d("2026-03-01"), d("2026-03-03")),
            ]
        );
        assert_eq!(buckets(&range, TimeBucket::Daily).len() as i64, range.days());
    }
}
