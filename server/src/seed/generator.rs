//! One marketplace user's whole life, simulated from its own random stream: sign-up, a
//! lifecycle of engaged spans (new users busy at first, churn, comebacks after 30+ days), the
//! active days inside them (weekly seasonality), and on each active day sessions, listings,
//! plans, add-ons, offers and credits. The `public.users` row is the sum of that life, so its
//! columns agree with each other and with the activity rows written for the window.
//!
//! Every user draws from ChaCha8 stream `user_id` of the key given by `--seed`: the output
//! depends only on (seed, users, days, today), never on chunking or thread scheduling.

use super::catalog::{self, ADDONS, HOURLY_ACTIVITY, PLANS, UserType, VERTICALS, WEEKDAY_ACTIVITY, WEEKDAY_ACTIVITY_MAX};
use chrono::{Datelike, NaiveDate, Timelike};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;

/// Account creations are spread over about three years before `today`.
pub const HISTORY_DAYS: i32 = 3 * 365;
/// Sign-ups grow about fivefold over the history (exponential growth rate over it).
const SIGNUP_GROWTH: f64 = 1.609_437_912; // ln 5
/// New users are much busier in their first weeks: activity × (1 + NEW_USER_BOOST·e^(-age/10)).
const NEW_USER_BOOST: f64 = 2.5;
const BOOST_DAYS: i32 = 30;
/// A comeback starts at least this long after the last engaged day (DESIGN §8 churn window + 1).
const REACTIVATION_MIN_GAP: i32 = 31;
const MAX_DAILY_ACTIVITY: f64 = 0.97;
const SECONDS_PER_DAY: u32 = 86_400;
/// `batches::IDENTITIES_AT` in seconds: the identities load refreshes `updated_at`.
const IDENTITIES_SECONDS: u32 = 23 * 3600 + 15 * 60;

/// What a whole run shares: the calendar, the sign-up curve and the seed's key.
pub struct World {
    pub today: i32,
    pub window_start: i32,
    users: u32,
    key: ChaCha8Rng,
    /// Cumulative share of all sign-ups by the end of history day k (k = 0 is the oldest).
    signup_cdf: Vec<f64>,
    hour_cdf: [f64; 24],
    /// Weekday (Monday = 0) of day number 0 (`NaiveDate::num_days_from_ce` numbering).
    monday_offset: i32,
    /// `YYYY-MM-DD` of each window day, reused by every activity row.
    window_dates: Vec<String>,
    phone_permutation: AffinePermutation,
    amplitude_permutation: AffinePermutation,
    /// The latest moment written (day, seconds): the seed's own time, so that nothing it
    /// writes lies in the future when `today` is the current day.
    cap: (i32, u32),
}

impl World {
    /// `now` (UTC) caps every moment written; it changes nothing when `today` is in the past.
    pub fn new(users: u32, seed: u64, days: u32, today: NaiveDate, now: chrono::NaiveDateTime) -> World {
        let today_n = today.num_days_from_ce();
        let window_start = today_n - days as i32 + 1;
        let monday_offset = (today.weekday().num_days_from_monday() as i32 - today_n).rem_euclid(7);
        let first_day = today_n - HISTORY_DAYS + 1;

        // Sign-up weight of a day: exponential growth, weekday rhythm and a mild yearly season.
        let mut weights = Vec::with_capacity(HISTORY_DAYS as usize);
        for k in 0..HISTORY_DAYS {
            let day = first_day + k;
            let growth = (SIGNUP_GROWTH * k as f64 / HISTORY_DAYS as f64).exp();
            let weekday = WEEKDAY_ACTIVITY[(day + monday_offset).rem_euclid(7) as usize];
            let season = 1.0 + 0.12 * (std::f64::consts::TAU * day as f64 / 365.25).sin();
            weights.push(growth * weekday * season);
        }
        let signup_cdf = cumulative(&weights);
        let hour_cdf: [f64; 24] = cumulative(&HOURLY_ACTIVITY).try_into().expect("24 hourly weights");
        let window_dates = (window_start..=today_n).map(|d| date(d).format("%Y-%m-%d").to_string()).collect();

        // Stream u64::MAX draws the run's constants; users use stream `user_id`.
        let key = ChaCha8Rng::seed_from_u64(seed);
        let mut setup = key.clone();
        setup.set_stream(u64::MAX);
        let phone_permutation = AffinePermutation::new(&mut setup, PHONE_SPACE);
        let amplitude_permutation = AffinePermutation::new(&mut setup, AMPLITUDE_SPACE);
        let cap = (now.date().num_days_from_ce(), now.time().num_seconds_from_midnight());
        World { today: today_n, window_start, users, key, signup_cdf, hour_cdf, monday_offset, window_dates, phone_permutation, amplitude_permutation, cap }
    }

    pub fn window_days(&self) -> usize {
        (self.today - self.window_start + 1) as usize
    }

    fn weekday(&self, day: i32) -> usize {
        (day + self.monday_offset).rem_euclid(7) as usize
    }

    /// Sign-up moment of the `user_id`-th user: ids follow sign-up order, as in the marketplace.
    fn creation(&self, user_id: u32, rng: &mut ChaCha8Rng) -> (i32, u32) {
        let quantile = (user_id as f64 - 1.0 + rng.random::<f64>()) / self.users as f64;
        let k = self.signup_cdf.partition_point(|&c| c <= quantile).min(self.signup_cdf.len() - 1);
        let before = if k == 0 { 0.0 } else { self.signup_cdf[k - 1] };
        let within = ((quantile - before) / (self.signup_cdf[k] - before)).clamp(0.0, 1.0);
        (self.today - HISTORY_DAYS + 1 + k as i32, self.time_of_day(within)).min(self.cap)
    }

    /// Seconds into the day for a quantile of the daily activity curve.
    fn time_of_day(&self, quantile: f64) -> u32 {
        let hour = self.hour_cdf.partition_point(|&c| c <= quantile).min(23);
        let before = if hour == 0 { 0.0 } else { self.hour_cdf[hour - 1] };
        let within = ((quantile - before) / (self.hour_cdf[hour] - before)).clamp(0.0, 0.999_999);
        (hour as u32 * 3600 + (within * 3600.0) as u32).min(SECONDS_PER_DAY - 1)
    }

    /// A moment on `day`, not before `not_before` seconds (the sign-up time on the sign-up day).
    fn moment(&self, rng: &mut ChaCha8Rng, day: i32, not_before: u32) -> (i32, u32) {
        let mut seconds = self.time_of_day(rng.random::<f64>());
        if seconds < not_before {
            seconds = not_before + (rng.random::<f64>() * (SECONDS_PER_DAY - not_before) as f64) as u32;
        }
        (day, seconds.min(SECONDS_PER_DAY - 1)).min(self.cap)
    }

    /// Simulates user `user_id` and appends its rows (COPY text format) to `out`.
    pub fn generate_user(&self, user_id: u32, out: &mut Chunk) {
        let mut rng = self.key.clone();
        rng.set_stream(user_id as u64);
        let (created, created_at) = self.creation(user_id, &mut rng);
        let profile = Profile::draw(&mut rng);
        let blocked_on = (rng.random::<f64>() < 0.015).then(|| created + rng.random_range(0..=(self.today - created)));
        let spans = lifecycle(&mut rng, &profile, created, self.today, blocked_on);

        let mut life = Life::default();
        for span in &spans {
            self.live_span(&mut rng, &profile, created, span, &mut life, user_id, out);
        }
        self.write_user(&mut rng, user_id, &profile, created, created_at, blocked_on.is_some(), &life, out);
        self.write_identity(&mut rng, user_id, created, created_at, out);

        if created >= self.window_start {
            out.tally.users_created[(created - self.window_start) as usize] += 1;
        } else {
            out.tally.users_before_window += 1;
        }
    }

    /// Walks the active days of one engaged span. Active days are found by thinning: jump a
    /// geometric gap with an upper bound of the daily probability, then accept with the ratio.
    #[allow(clippy::too_many_arguments)]
    fn live_span(&self, rng: &mut ChaCha8Rng, profile: &Profile, created: i32, span: &Span, life: &mut Life, user_id: u32, out: &mut Chunk) {
        // The first day of a span is active: the sign-up itself, or the comeback.
        self.active_day(rng, profile, created, span.start, life, user_id, out);
        let mut day = span.start + 1;
        while day <= span.end {
            let boosting = day - created < BOOST_DAYS;
            let boost_max = if boosting { 1.0 + NEW_USER_BOOST } else { 1.0 };
            let bound = (span.propensity * boost_max * WEEKDAY_ACTIVITY_MAX).min(1.0);
            let segment_end = if boosting { span.end.min(created + BOOST_DAYS - 1) } else { span.end };
            day += geometric_gap(rng, bound);
            if day > segment_end {
                // Geometric gaps are memoryless: restarting at the segment's end is exact.
                day = segment_end + 1;
                continue;
            }
            let age = (day - created) as f64;
            let boost = if boosting { 1.0 + NEW_USER_BOOST * (-age / 10.0).exp() } else { 1.0 };
            let probability = (span.propensity * boost * WEEKDAY_ACTIVITY[self.weekday(day)]).min(MAX_DAILY_ACTIVITY);
            if rng.random::<f64>() * bound < probability {
                self.active_day(rng, profile, created, day, life, user_id, out);
            }
            day += 1;
        }
    }

    /// One active day: sessions, listings (free or on a plan), add-ons, offers and credits.
    #[allow(clippy::too_many_arguments)]
    fn active_day(&self, rng: &mut ChaCha8Rng, profile: &Profile, created: i32, day: i32, life: &mut Life, user_id: u32, out: &mut Chunk) {
        let mut sessions = 1u32;
        while sessions < 12 && rng.random::<f64>() < 0.35 {
            sessions += 1;
        }
        let median_session = (5.3 + 0.8 * standard_normal(rng)).exp();
        let session_seconds = (sessions as f64 * median_session.clamp(10.0, 5400.0)).round() as u32;
        let events = sessions * rng.random_range(2..=20) + rng.random_range(0..=4);

        let mut listings = 0u32;
        if profile.list_rate > 0.0 && rng.random::<f64>() < profile.list_rate {
            listings = 1;
            let more = profile.extra_listings / (1.0 + profile.extra_listings);
            while listings < 40 && rng.random::<f64>() < more {
                listings += 1;
            }
        }
        let offer = if listings > 0 && profile.offer_rate > 0.0 && rng.random::<f64>() < profile.offer_rate {
            Some(if rng.random::<f64>() < 0.6 { Offer::Fifty } else { Offer::Baraka })
        } else {
            None
        };

        let mut paid = 0u32;
        let mut addons = 0u32;
        let mut credits = 0u32;
        let mut premium_spent = false;
        for _ in 0..listings {
            let vertical = pick(rng, &profile.verticals);
            let level = if rng.random::<f64>() < 0.75 { profile.primary_levels[vertical] } else { rng.random_range(0..VERTICALS[vertical].levels_1.len()) };
            life.vertical_listings[vertical] += 1;
            life.level_listings[catalog::level_index(vertical, level)] += 1;
            life.listings += 1;
            if profile.paid_share == 0.0 || rng.random::<f64>() >= profile.paid_share {
                continue;
            }
            let plan = pick(rng, &profile.plans);
            let mut price = (PLANS[plan].price as f64 * VERTICALS[vertical].price_factor).round() as u32;
            if offer == Some(Offer::Fifty) {
                price = price.div_ceil(2);
            }
            // Baraka days are paid with bonus credits; otherwise free credits now and then.
            let free = offer == Some(Offer::Baraka) || rng.random::<f64>() < profile.free_share;
            life.plan_listings[plan] += 1;
            life.plan_credits[plan] += price;
            if free {
                life.free_credits += price;
            } else {
                life.premium_credits += price;
                premium_spent = true;
            }
            if profile.office_vertical == Some(vertical) {
                life.office_listings += 1;
                life.office_credits += price;
            }
            paid += 1;
            credits += price;
        }
        if life.listings > 0 && profile.addon_rate > 0.0 && rng.random::<f64>() < profile.addon_rate {
            let count = if rng.random::<f64>() < 0.25 { 2 } else { 1 };
            for _ in 0..count {
                let addon = pick(rng, &profile.addons);
                let price = ADDONS[addon].price;
                life.addon_count[addon] += 1;
                life.addon_credits[addon] += price;
                if rng.random::<f64>() < profile.free_share {
                    life.addon_free += price;
                    life.free_credits += price;
                } else {
                    life.addon_premium += price;
                    life.premium_credits += price;
                    premium_spent = true;
                }
                addons += 1;
                credits += price;
            }
        }
        let transactions = paid + addons;

        if paid > 0 {
            life.first_paid_listing.get_or_insert(day);
            life.last_paid_listing = Some(day);
            life.paid_listing_days += 1;
            match offer {
                Some(Offer::Fifty) => life.offer_50_days += 1,
                Some(Offer::Baraka) => life.offer_baraka_days += 1,
                None => {}
            }
        }
        if transactions > 0 {
            life.first_transaction.get_or_insert(day);
            life.last_transaction = Some(day);
        }
        if premium_spent {
            life.last_paid_transaction = Some(day);
        }
        let ago = self.today - day;
        if ago < 6 * 30 {
            life.active_months |= 1 << (ago / 30);
        }
        if ago < 12 * 7 {
            life.active_weeks |= 1 << (ago / 7);
        }
        debug_assert!(day >= created);

        if day >= self.window_start {
            let index = (day - self.window_start) as usize;
            out.tally.activity_by_day[index] += 1;
            let _ = writeln!(
                out.activity,
                "{user_id}\t{}\t{sessions}\t{session_seconds}\t{events}\t{listings}\t{paid}\t{transactions}\t{credits}",
                self.window_dates[index]
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_user(&self, rng: &mut ChaCha8Rng, user_id: u32, profile: &Profile, created: i32, created_at: u32, blocked: bool, life: &Life, out: &mut Chunk) {
        let not_before = |day: i32| if day == created { created_at } else { 0 };
        // Paid listings are transactions: the first and last transaction enclose them.
        let paid_moments = match (life.first_paid_listing, life.last_paid_listing) {
            (Some(first), Some(last)) => Some(ordered_pair(self.moment(rng, first, not_before(first)), self.moment(rng, last, not_before(last)))),
            _ => None,
        };
        let transaction_moments = match (life.first_transaction, life.last_transaction) {
            (Some(first_day), Some(last_day)) => {
                let first = match paid_moments {
                    Some((paid_first, _)) if paid_first.0 == first_day => paid_first,
                    _ => self.moment(rng, first_day, not_before(first_day)),
                };
                let last = match paid_moments {
                    Some((_, paid_last)) if paid_last.0 == last_day => paid_last,
                    _ => self.moment(rng, last_day, not_before(last_day)),
                };
                Some(ordered_pair(first, last))
            }
            _ => None,
        };
        let spent = life.premium_credits + life.free_credits > 0;
        let wallet: f64 = if spent {
            (rng.random::<f64>().powi(2) * 400.0).round()
        } else if rng.random::<f64>() < 0.12 {
            rng.random_range(5..=50) as f64 // unused sign-up bonus
        } else {
            0.0
        };
        let slot = self.phone_permutation.apply(user_id as u64);
        let phone = 200_000_000_000u64 + PHONE_PREFIXES[(slot / 100_000_000) as usize] * 100_000_000 + slot % 100_000_000;

        let paid_listings: u32 = life.plan_listings.iter().sum();
        let addon_count: u32 = life.addon_count.iter().sum();
        let addon_credits: u32 = life.addon_credits.iter().sum();
        let plan_credits: u32 = life.plan_credits.iter().sum();
        let verticals: Vec<usize> = (0..VERTICALS.len()).filter(|&v| life.vertical_listings[v] > 0).collect();
        let levels: Vec<usize> = (0..catalog::level_count()).filter(|&l| life.level_listings[l] > 0).collect();
        let plans: Vec<usize> = (0..PLANS.len()).filter(|&p| life.plan_listings[p] > 0).collect();
        let mut top_addons: Vec<usize> = (0..ADDONS.len()).filter(|&a| life.addon_count[a] > 0).collect();
        top_addons.sort_by_key(|&a| (std::cmp::Reverse(life.addon_count[a]), a));
        top_addons.truncate(3);
        let offer_days = life.offer_50_days + life.offer_baraka_days;
        let percent = |days: u32| if life.paid_listing_days == 0 { 0.0 } else { (10_000.0 * days as f64 / life.paid_listing_days as f64).round() / 100.0 };
        let since = |day: Option<i32>| day.map(|d| self.today - d);
        let office = |kind: usize| if profile.office_vertical == Some(kind) { (life.office_listings, life.office_credits) } else { (0, 0) };

        let mut row = Row::new(&mut out.users);
        row.int(user_id);
        row.text(profile.user_type.slug());
        row.int(phone);
        row.float(wallet);
        row.int(blocked as u8);
        row.moment((created, created_at));
        row.opt_moment(paid_moments.map(|p| p.0));
        row.opt_moment(paid_moments.map(|p| p.1));
        row.opt_moment(transaction_moments.map(|t| t.0));
        row.opt_moment(transaction_moments.map(|t| t.1));
        row.opt_int(since(life.last_paid_listing));
        row.opt_int(since(life.last_paid_transaction));
        row.opt_int(since(life.last_transaction));
        row.float(life.active_months.count_ones() as f64);
        row.float(life.active_weeks.count_ones() as f64);
        row.int(paid_listings);
        row.int(life.listings - paid_listings);
        row.int(life.listings);
        row.int(life.office_listings);
        row.int(plan_credits + addon_credits);
        row.int(life.premium_credits);
        row.int(life.free_credits);
        row.int(addon_count);
        row.float(addon_credits as f64);
        row.float(life.addon_premium as f64);
        row.float(life.addon_free as f64);
        row.set(verticals.iter().map(|&v| VERTICALS[v].slug));
        row.set(levels.iter().map(|&l| catalog::level_slug(l)));
        row.set(plans.iter().map(|&p| PLANS[p].slug));
        row.opt_text(argmax(&life.vertical_listings).map(|v| VERTICALS[v].slug));
        row.opt_text(argmax(&life.level_listings).map(catalog::level_slug));
        row.int(verticals.len() as u32);
        row.int(levels.len() as u32);
        row.int((verticals.len() > 1) as u8);
        row.opt_text(argmax(&life.plan_listings).map(|p| PLANS[p].slug));
        row.opt_text(top_addons.first().map(|&a| ADDONS[a].slug));
        row.set(top_addons.iter().map(|&a| ADDONS[a].slug));
        for plan in 0..PLANS.len() {
            row.int(life.plan_listings[plan]);
            row.int(life.plan_credits[plan]);
        }
        for kind in [catalog::CARS, catalog::PROPERTY, catalog::ELECTRONICS] {
            let (listings, credits) = office(kind);
            row.int(listings);
            row.int(credits);
        }
        for addon in 0..ADDONS.len() {
            row.int(life.addon_count[addon]);
            row.int(life.addon_credits[addon]);
        }
        row.int(life.offer_50_days);
        row.int(life.offer_baraka_days);
        row.int(offer_days);
        row.float(percent(life.offer_50_days));
        row.float(percent(life.offer_baraka_days));
        row.float(percent(offer_days));
        row.end();
    }

    /// Amplitude knows ~92% of users, Braze ~85% (more often those Amplitude knows).
    fn write_identity(&self, rng: &mut ChaCha8Rng, user_id: u32, created: i32, created_at: u32, out: &mut Chunk) {
        let amplitude = rng.random::<f64>() < 0.92;
        let braze = rng.random::<f64>() < if amplitude { 0.89 } else { 0.40 };
        if !amplitude && !braze {
            return;
        }
        let mut row = Row::new(&mut out.identities);
        row.int(user_id);
        if amplitude {
            // Amplitude ids are large integers, one per user (devices are merged under it).
            row.int(AMPLITUDE_BASE + self.amplitude_permutation.apply(user_id as u64));
        } else {
            row.null();
        }
        if braze {
            // Braze ids are Mongo ObjectIds: creation time, random bytes, a counter.
            let unix = (created as i64 - UNIX_EPOCH_DAYS_FROM_CE) * 86_400 + created_at as i64;
            row.text(&format!("{:08x}{:010x}{:06x}", unix as u32, rng.random::<u64>() & 0xff_ffff_ffff, user_id & 0xff_ffff));
        } else {
            row.null();
        }
        // Refreshed by the identities batch of the sign-up day, or of the window's first day.
        let refreshed = created.max(self.window_start);
        let (day, seconds) = (refreshed, IDENTITIES_SECONDS).min(self.cap);
        row.text(&format!("{} {:02}:{:02}:{:02}+00", self.date_string(day), seconds / 3600, seconds / 60 % 60, seconds % 60));
        row.end();
        if created >= self.window_start {
            out.tally.identities_created[(created - self.window_start) as usize] += 1;
        } else {
            out.tally.identities_before_window += 1;
        }
    }

    pub fn date_string(&self, day: i32) -> String {
        date(day).format("%Y-%m-%d").to_string()
    }
}

/// Egyptian mobile prefixes after the country code 20: 10 (Vodafone), 11 (Etisalat),
/// 12 (Orange), 15 (WE). A phone is 20 + prefix + 8 digits, e.g. 201012345678.
const PHONE_PREFIXES: [u64; 4] = [10, 11, 12, 15];
const PHONE_SPACE: u64 = 4 * 100_000_000;
const AMPLITUDE_BASE: u64 = 100_000_000_000;
const AMPLITUDE_SPACE: u64 = 900_000_000_000;
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// A bijection of [0, n): unique phones and Amplitude ids without remembering used ones.
struct AffinePermutation {
    n: u64,
    a: u64,
    b: u64,
}

impl AffinePermutation {
    fn new(rng: &mut ChaCha8Rng, n: u64) -> AffinePermutation {
        // `a` coprime with n (both spaces are 2^i·3^j·5^k): odd, not a multiple of 3 or 5.
        let mut a = rng.random_range(n / 3..n / 2) | 1;
        while a % 3 == 0 || a % 5 == 0 {
            a += 2;
        }
        AffinePermutation { n, a, b: rng.random_range(0..n) }
    }

    fn apply(&self, x: u64) -> u64 {
        ((self.a as u128 * x as u128 + self.b as u128) % self.n as u128) as u64
    }
}

/// The rows of a run of users, in PostgreSQL's COPY text format, and their per-day counts.
pub struct Chunk {
    pub users: Vec<u8>,
    pub activity: Vec<u8>,
    pub identities: Vec<u8>,
    pub tally: Tally,
}

impl Chunk {
    pub fn new(window_days: usize) -> Chunk {
        Chunk { users: Vec::new(), activity: Vec::new(), identities: Vec::new(), tally: Tally::new(window_days) }
    }
}

/// Counts the ingestion batches are made of.
#[derive(Clone, Debug)]
pub struct Tally {
    pub activity_by_day: Vec<u64>,
    pub users_created: Vec<u64>,
    pub users_before_window: u64,
    pub identities_created: Vec<u64>,
    pub identities_before_window: u64,
}

impl Tally {
    pub fn new(window_days: usize) -> Tally {
        Tally {
            activity_by_day: vec![0; window_days],
            users_created: vec![0; window_days],
            users_before_window: 0,
            identities_created: vec![0; window_days],
            identities_before_window: 0,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        let add = |a: &mut Vec<u64>, b: &Vec<u64>| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.activity_by_day, &other.activity_by_day);
        add(&mut self.users_created, &other.users_created);
        add(&mut self.identities_created, &other.identities_created);
        self.users_before_window += other.users_before_window;
        self.identities_before_window += other.identities_before_window;
    }

    pub fn users(&self) -> u64 {
        self.users_before_window + self.users_created.iter().sum::<u64>()
    }

    pub fn identities(&self) -> u64 {
        self.identities_before_window + self.identities_created.iter().sum::<u64>()
    }

    pub fn activity_rows(&self) -> u64 {
        self.activity_by_day.iter().sum()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// Half price on the day's paid listings.
    Fifty,
    /// The day's paid listings are paid with bonus (free) credits.
    Baraka,
}

/// How a user behaves, drawn once at sign-up.
struct Profile {
    user_type: UserType,
    propensity: f64,
    /// Chance of posting listings on an active day.
    list_rate: f64,
    /// Mean number of listings beyond the first on a posting day.
    extra_listings: f64,
    /// Share of listings posted on a paid plan.
    paid_share: f64,
    /// Chance of buying add-ons on an active day (once the user has listings).
    addon_rate: f64,
    /// Share of purchases paid with free (bonus) credits.
    free_share: f64,
    offer_rate: f64,
    verticals: Vec<(usize, f64)>,
    primary_levels: [usize; VERTICALS.len()],
    plans: Vec<(usize, f64)>,
    addons: Vec<(usize, f64)>,
    /// The vertical whose paid listings count as office listings (dealers, agencies, shops).
    office_vertical: Option<usize>,
}

impl Profile {
    fn draw(rng: &mut ChaCha8Rng) -> Profile {
        let user_type = UserType::SHARES[pick_weighted(rng, UserType::SHARES.iter().map(|s| s.1))].0;
        let business = user_type.is_business();
        let propensity = if business {
            mixture(rng, &[(0.3, 0.10, 0.30), (0.5, 0.30, 0.70), (0.2, 0.70, 0.95)])
        } else {
            mixture(rng, &[(0.50, 0.005, 0.04), (0.32, 0.04, 0.15), (0.14, 0.15, 0.40), (0.04, 0.40, 0.85)])
        };
        let lister = business || rng.random::<f64>() < 0.62;
        let payer = lister && rng.random::<f64>() < if business { 0.92 } else { 0.38 };
        let (list_rate, extra_listings) = match (lister, business) {
            (false, _) => (0.0, 0.0),
            (true, true) => (rng.random_range(0.4..0.9), rng.random_range(1.0..4.0)),
            (true, false) => (rng.random_range(0.05..0.35), rng.random_range(0.0..0.4)),
        };
        let paid_share = match (payer, business) {
            (false, _) => 0.0,
            (true, true) => rng.random_range(0.4..0.95),
            (true, false) => rng.random_range(0.1..0.7),
        };
        let addon_rate = match (payer, business) {
            (false, _) => 0.0,
            (true, true) => rng.random_range(0.05..0.35),
            (true, false) => rng.random_range(0.01..0.2),
        };
        let free_share = if payer { rng.random_range(0.0..0.25) } else { 0.0 };
        let offer_rate = if payer && rng.random::<f64>() < 0.3 { rng.random_range(0.05..0.4) } else { 0.0 };

        let office_vertical = match user_type {
            UserType::Individual => None,
            UserType::Dealer => Some(catalog::CARS),
            UserType::Agency => Some(catalog::PROPERTY),
            UserType::Shop => Some(catalog::ELECTRONICS),
        };
        let main_vertical = match user_type {
            UserType::Individual => pick_weighted(rng, VERTICALS.iter().map(|v| v.popularity)),
            UserType::Shop => [catalog::ELECTRONICS, catalog::FASHION, catalog::HOME][pick_weighted(rng, [0.7, 0.15, 0.15].into_iter())],
            _ => office_vertical.expect("businesses other than shops have an office vertical"),
        };
        let verticals = if business {
            let extra = if rng.random::<f64>() < 0.4 { 1 } else { 0 };
            preferences(rng, main_vertical, extra, 0.93, VERTICALS.iter().map(|v| v.popularity))
        } else {
            let extra = if rng.random::<f64>() < 0.35 { if rng.random::<f64>() < 0.3 { 2 } else { 1 } } else { 0 };
            preferences(rng, main_vertical, extra, 0.7, VERTICALS.iter().map(|v| v.popularity))
        };
        let mut primary_levels = [0usize; VERTICALS.len()];
        for (v, level) in primary_levels.iter_mut().enumerate() {
            let n = VERTICALS[v].levels_1.len();
            *level = pick_weighted(rng, (0..n).map(|k| 1.0 / (k + 1) as f64));
        }
        let plans = if payer {
            let favorite = pick_weighted(rng, PLANS.iter().map(|p| p.popularity));
            let extra = rng.random_range(0..=2);
            preferences(rng, favorite, extra, 0.7, PLANS.iter().map(|p| p.popularity))
        } else {
            Vec::new()
        };
        let addons = if addon_rate > 0.0 {
            let favorite = pick_weighted(rng, ADDONS.iter().map(|a| a.popularity));
            let extra = rng.random_range(0..=2);
            preferences(rng, favorite, extra, 0.6, ADDONS.iter().map(|a| a.popularity))
        } else {
            Vec::new()
        };
        Profile {
            user_type,
            propensity,
            list_rate,
            extra_listings,
            paid_share,
            addon_rate,
            free_share,
            offer_rate,
            verticals,
            primary_levels,
            plans,
            addons,
            office_vertical,
        }
    }
}

/// A stretch of engagement: active days fall between `start` and `end` (inclusive).
struct Span {
    start: i32,
    end: i32,
    propensity: f64,
}

/// Sign-up, then engaged spans: quick churners leave within days, others stay for months;
/// some come back after at least the churn window, a little less engaged each time.
fn lifecycle(rng: &mut ChaCha8Rng, profile: &Profile, created: i32, today: i32, blocked_on: Option<i32>) -> Vec<Span> {
    let business = profile.user_type.is_business();
    let last_day = blocked_on.unwrap_or(today).min(today);
    let mut spans = Vec::new();
    let mut start = created;
    let mut propensity = profile.propensity;
    let mut first = true;
    loop {
        let mean = if business {
            250.0 + 700.0 * propensity
        } else if first && rng.random::<f64>() < 0.45 {
            6.0
        } else {
            40.0 + 500.0 * propensity
        };
        let end = start + exponential(rng, mean).round() as i32;
        if end >= last_day {
            spans.push(Span { start, end: last_day, propensity });
            break;
        }
        spans.push(Span { start, end, propensity });
        if rng.random::<f64>() >= if business { 0.5 } else { 0.35 } {
            break;
        }
        start = end + REACTIVATION_MIN_GAP + exponential(rng, 60.0).round() as i32;
        if start > last_day {
            break;
        }
        propensity *= 0.8;
        first = false;
    }
    spans
}

/// Everything a user did, summed over their life.
#[derive(Default)]
struct Life {
    listings: u32,
    vertical_listings: [u32; VERTICALS.len()],
    level_listings: [u32; 32],
    plan_listings: [u32; PLANS.len()],
    plan_credits: [u32; PLANS.len()],
    addon_count: [u32; ADDONS.len()],
    addon_credits: [u32; ADDONS.len()],
    premium_credits: u32,
    free_credits: u32,
    addon_premium: u32,
    addon_free: u32,
    office_listings: u32,
    office_credits: u32,
    first_paid_listing: Option<i32>,
    last_paid_listing: Option<i32>,
    first_transaction: Option<i32>,
    last_transaction: Option<i32>,
    last_paid_transaction: Option<i32>,
    paid_listing_days: u32,
    offer_50_days: u32,
    offer_baraka_days: u32,
    /// Bit k: active in the k-th 30-day period ending today (k = 0 ends today).
    active_months: u8,
    /// Bit k: active in the k-th 7-day period ending today.
    active_weeks: u16,
}

/// One COPY text-format line: tab-separated, `\N` for NULL. Our values never contain tabs,
/// newlines or backslashes, so nothing needs escaping.
struct Row<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Row<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Row<'a> {
        Row { buf, first: true }
    }
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }
    fn int(&mut self, value: impl std::fmt::Display) {
        self.sep();
        let _ = write!(self.buf, "{value}");
    }
    fn opt_int(&mut self, value: Option<i32>) {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }
    fn float(&mut self, value: f64) {
        self.sep();
        let _ = write!(self.buf, "{value}");
    }
    fn text(&mut self, value: &str) {
        self.sep();
        self.buf.extend_from_slice(value.as_bytes());
    }
    fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }
    /// A comma-separated slug set, NULL when empty.
    fn set<'s>(&mut self, slugs: impl Iterator<Item = &'s str>) {
        self.sep();
        let start = self.buf.len();
        for slug in slugs {
            if self.buf.len() > start {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(slug.as_bytes());
        }
        if self.buf.len() == start {
            self.buf.extend_from_slice(b"\\N");
        }
    }
    fn moment(&mut self, (day, seconds): (i32, u32)) {
        self.sep();
        let _ = write!(self.buf, "{} {:02}:{:02}:{:02}", date(day).format("%Y-%m-%d"), seconds / 3600, seconds / 60 % 60, seconds % 60);
    }
    fn opt_moment(&mut self, value: Option<(i32, u32)>) {
        match value {
            Some(v) => self.moment(v),
            None => self.null(),
        }
    }
    fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
    }
    fn end(self) {
        self.buf.push(b'\n');
    }
}

pub fn date(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).expect("seed days are within chrono's range")
}

fn ordered_pair(a: (i32, u32), b: (i32, u32)) -> ((i32, u32), (i32, u32)) {
    if a <= b { (a, b) } else { (b, a) }
}

fn cumulative(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut sum = 0.0;
    let mut out: Vec<f64> = weights
        .iter()
        .map(|w| {
            sum += w;
            sum / total
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last = 1.0;
    }
    out
}

/// Index of the largest count (the first on ties), None when all are zero.
fn argmax(counts: &[u32]) -> Option<usize> {
    let (index, &best) = counts.iter().enumerate().max_by_key(|&(i, &c)| (c, std::cmp::Reverse(i)))?;
    (best > 0).then_some(index)
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let mut target = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if target < w {
            return i;
        }
        target -= w;
        last = i;
    }
    last
}

fn pick(rng: &mut ChaCha8Rng, options: &[(usize, f64)]) -> usize {
    options[pick_weighted(rng, options.iter().map(|o| o.1))].0
}

/// `favorite` with weight `favorite_weight`, plus `extra` other distinct items (drawn by
/// popularity) sharing the rest.
fn preferences(rng: &mut ChaCha8Rng, favorite: usize, extra: usize, favorite_weight: f64, popularity: impl Iterator<Item = f64> + Clone) -> Vec<(usize, f64)> {
    let mut chosen = vec![favorite];
    let mut tries = 0;
    while chosen.len() < 1 + extra && tries < 20 {
        let candidate = pick_weighted(rng, popularity.clone());
        if !chosen.contains(&candidate) {
            chosen.push(candidate);
        }
        tries += 1;
    }
    if chosen.len() == 1 {
        return vec![(favorite, 1.0)];
    }
    let other = (1.0 - favorite_weight) / (chosen.len() - 1) as f64;
    chosen.iter().enumerate().map(|(i, &c)| (c, if i == 0 { favorite_weight } else { other })).collect()
}

/// A uniform draw from one of several ranges, chosen by weight: (weight, low, high).
fn mixture(rng: &mut ChaCha8Rng, parts: &[(f64, f64, f64)]) -> f64 {
    let (_, low, high) = parts[pick_weighted(rng, parts.iter().map(|p| p.0))];
    rng.random_range(low..high)
}

fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Failures before the first success of a Bernoulli(p) sequence.
fn geometric_gap(rng: &mut ChaCha8Rng, p: f64) -> i32 {
    if p >= 1.0 {
        return 0;
    }
    let u = 1.0 - rng.random::<f64>(); // (0, 1]
    (u.ln() / (1.0 - p).ln()).floor().min(1.0e6) as i32
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
