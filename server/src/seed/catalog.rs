//! The marketplace's vocabulary: user types, verticals and their level-1 categories, listing
//! plans and add-ons with their prices in credits. Slugs are lowercase with no spaces, as the
//! list-valued columns of `public.users` hold them (DESIGN §3).

/// Kinds of marketplace accounts, with their share of sign-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    Individual,
    /// Car dealer ("car office"): lists in cars.
    Dealer,
    /// Real-estate agency ("property office"): lists in property.
    Agency,
    /// Shop: mostly electronics, some fashion or home goods.
    Shop,
}

impl UserType {
    pub const SHARES: [(UserType, f64); 4] = [(UserType::Individual, 0.88), (UserType::Dealer, 0.05), (UserType::Agency, 0.04), (UserType::Shop, 0.03)];

    pub fn slug(self) -> &'static str {
        match self {
            UserType::Individual => "individual",
            UserType::Dealer => "dealer",
            UserType::Agency => "agency",
            UserType::Shop => "shop",
        }
    }

    pub fn is_business(self) -> bool {
        self != UserType::Individual
    }
}

pub struct Vertical {
    pub slug: &'static str,
    /// Share of individual users whose main vertical this is.
    pub popularity: f64,
    /// Listing plans cost more in some verticals (a property ad is worth more than a phone's).
    pub price_factor: f64,
    pub levels_1: &'static [&'static str],
}

pub const CARS: usize = 0;
pub const PROPERTY: usize = 1;
pub const ELECTRONICS: usize = 2;
pub const FASHION: usize = 5;
pub const HOME: usize = 6;

pub const VERTICALS: [Vertical; 7] = [
    Vertical { slug: "cars", popularity: 0.24, price_factor: 1.2, levels_1: &["cars_for_sale", "car_parts", "motorcycles", "cars_for_rent"] },
    Vertical {
        slug: "property",
        popularity: 0.20,
        price_factor: 1.5,
        levels_1: &["apartments_for_sale", "apartments_for_rent", "villas_for_sale", "commercial_for_rent", "land_for_sale"],
    },
    Vertical { slug: "electronics", popularity: 0.19, price_factor: 1.0, levels_1: &["mobile_phones", "laptops", "tvs_audio", "video_games"] },
    Vertical { slug: "jobs", popularity: 0.10, price_factor: 1.0, levels_1: &["job_vacancies", "job_seekers"] },
    Vertical { slug: "services", popularity: 0.09, price_factor: 1.0, levels_1: &["home_services", "tutoring", "moving", "repair_services"] },
    Vertical { slug: "fashion", popularity: 0.10, price_factor: 0.8, levels_1: &["womens_clothing", "mens_clothing", "watches_accessories"] },
    Vertical { slug: "home", popularity: 0.08, price_factor: 0.9, levels_1: &["furniture", "home_appliances", "kitchenware", "garden"] },
];

/// Every level-1 category, numbered in vertical order (index into per-user counters).
pub fn level_index(vertical: usize, level: usize) -> usize {
    VERTICALS[..vertical].iter().map(|v| v.levels_1.len()).sum::<usize>() + level
}

pub fn level_count() -> usize {
    VERTICALS.iter().map(|v| v.levels_1.len()).sum()
}

pub fn level_slug(index: usize) -> &'static str {
    let mut rest = index;
    for vertical in &VERTICALS {
        if rest < vertical.levels_1.len() {
            return vertical.levels_1[rest];
        }
        rest -= vertical.levels_1.len();
    }
    unreachable!("level index {index} is below level_count()")
}

/// A paid listing plan (each paid listing uses exactly one).
pub struct Plan {
    pub slug: &'static str,
    pub popularity: f64,
    /// Base price in credits, before the vertical's factor and any offer.
    pub price: u32,
}

/// In the brief's column order (basic, pro, extra, plus, super, standard, premium, optimum).
pub const PLANS: [Plan; 8] = [
    Plan { slug: "basic", popularity: 0.26, price: 10 },
    Plan { slug: "pro", popularity: 0.12, price: 40 },
    Plan { slug: "extra", popularity: 0.10, price: 50 },
    Plan { slug: "plus", popularity: 0.13, price: 30 },
    Plan { slug: "super", popularity: 0.08, price: 60 },
    Plan { slug: "standard", popularity: 0.18, price: 20 },
    Plan { slug: "premium", popularity: 0.08, price: 80 },
    Plan { slug: "optimum", popularity: 0.05, price: 100 },
];

/// An add-on bought for an existing listing.
pub struct Addon {
    pub slug: &'static str,
    pub popularity: f64,
    pub price: u32,
}

/// In the brief's column order.
pub const ADDONS: [Addon; 8] = [
    Addon { slug: "pinning", popularity: 0.20, price: 15 },
    Addon { slug: "extended", popularity: 0.12, price: 10 },
    Addon { slug: "promoted", popularity: 0.15, price: 20 },
    Addon { slug: "pinning_shuffle", popularity: 0.08, price: 25 },
    Addon { slug: "premium", popularity: 0.10, price: 30 },
    Addon { slug: "power_pin", popularity: 0.07, price: 40 },
    Addon { slug: "refresh", popularity: 0.22, price: 5 },
    Addon { slug: "vip", popularity: 0.06, price: 60 },
];

/// Relative activity by weekday, Monday first: Egypt's weekend (Friday, Saturday) is busiest.
pub const WEEKDAY_ACTIVITY: [f64; 7] = [0.97, 0.95, 0.96, 1.04, 1.16, 1.12, 1.0];
pub const WEEKDAY_ACTIVITY_MAX: f64 = 1.16;

/// Relative sign-ups and activity by hour of day (local time): quiet nights, busy evenings.
pub const HOURLY_ACTIVITY: [f64; 24] = [
    0.9, 0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.45, 0.7, 0.9, 1.0, 1.05, //
    1.1, 1.1, 1.05, 1.0, 1.05, 1.15, 1.3, 1.45, 1.55, 1.6, 1.5, 1.2,
];
