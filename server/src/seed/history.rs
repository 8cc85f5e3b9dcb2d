//! The explorable history of DESIGN §7, created after the marketplace by `cdp seed`: a team
//! with a member of every role and their audit trail, saved cohorts with weeks of size
//! history, promotions that ran on them (expired, with their redemption ledgers) and one still
//! running, and the syncs a data engineer asked for. Then the derived tables the pages read
//! (`cdp.user_stats`, the dashboard rollups) are brought up to date.
//!
//! Everything goes through the product's own code, as a request would: the RPC handlers
//! (PlatformUserService, ServiceCredentialService, CohortService, PromotionService) called
//! with a request context carrying a principal loaded as the authentication layer loads it,
//! the identity provider for accepting invitations, the worker's handlers for what the worker
//! would do next (freezing and publishing an activated promotion, expiring it, a sync
//! attempt), the cohort refresh engine and the redemption engine (Redis reservation, then the
//! ledger writer). Nothing is inserted into those tables by hand.
//!
//! The product stamps what it writes with the current time, so the story is played in its
//! order now and then dated (`Timeline::apply`, one transaction): each row gets the moment of
//! `story` it belongs to, all in the past. The team never gets a usable password: each member
//! accepts the invitation with a random one that is thrown away (an admin hands out a
//! recovery link with ResetPlatformUserPassword to sign in as them). Nothing is sent to Braze
//! or Amplitude: a sync is only attempted for a target that is not configured, and records
//! why it failed. Redis receives what activation publishes; the queued activation job also
//! publishes the running promotion again when a worker starts.

use super::story::{self, COHORTS, EDITS, EXTENSIONS, MANUAL_REFRESHES, NIGHTLY, PROMOTIONS, PromotionPlot, SUPER_ADMIN, SYNCS, TEAM, When};
use crate::{
    activation::{Activation, jobs::ActivateJob},
    admin::{credentials::ServiceCredentialApi, platform_users::PlatformUserApi, roles::permissions_of},
    app::App,
    audit::{self, Change},
    auth::{
        local::LocalProvider,
        principal::{Actor, Principal, RequestContext, Role},
        provider::IdentityProvider,
        rules::{self, Access},
        secrets,
        tokens::TokenSigner,
    },
    cohorts::{refresh, service::CohortApi, store, sync},
    convert::{from_timestamp, timestamp},
    db::Db,
    jobs::{JobContext, JobHandler},
    promotions::service::PromotionApi,
    redemption::{
        ledger::LedgerWriter,
        redeem::{RedeemRequest, Redemptions},
    },
};
use anyhow::{Context, bail, ensure};
use cdp_proto::cdp::v1::{
    self as pb, cohort_service_server::CohortService, platform_user_service_server::PlatformUserService, promotion_service_server::PromotionService,
    service_credential_service_server::ServiceCredentialService,
};
use chrono::{DateTime, Duration as Span, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use uuid::Uuid;

/// What the history is anchored to.
#[derive(Clone, Debug)]
pub struct HistoryOptions {
    /// The same seed as the marketplace's: the same seed gives the same history.
    pub seed: u64,
    /// The marketplace's last day; the story ends the day before (or before the current day,
    /// whichever is earlier, in the reporting time zone).
    pub today: NaiveDate,
}

/// What was created and how long each part took.
#[derive(Clone, Debug, Default)]
pub struct HistoryReport {
    /// Why there is no history (no super admin to lead the team), when there is none.
    pub skipped: Option<String>,
    pub platform_users: usize,
    pub cohorts: usize,
    pub size_snapshots: usize,
    pub promotions: usize,
    pub redemptions: usize,
    pub sync_runs: usize,
    pub audit_rows: usize,
    pub user_stats: Duration,
    pub history: Duration,
    pub rollup: Duration,
}

impl std::fmt::Display for HistoryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.skipped {
            Some(why) => writeln!(f, "no demo history: {why}")?,
            None => writeln!(
                f,
                "demo history: {} platform users, {} cohorts with {} size snapshots, {} promotions with {} redemptions, {} sync runs, {} audit rows ({:.1}s)",
                self.platform_users,
                self.cohorts,
                self.size_snapshots,
                self.promotions,
                self.redemptions,
                self.sync_runs,
                self.audit_rows,
                self.history.as_secs_f64()
            )?,
        }
        write!(f, "  user stats refreshed in {:.1}s, dashboard rollups in {:.1}s", self.user_stats.as_secs_f64(), self.rollup.as_secs_f64())
    }
}

/// Redemptions made per promotion at most (the redemption rate shrinks for larger audiences).
const MAX_REDEMPTIONS: usize = 2_000;
/// Redemptions in flight at once (the ledger writer commits them in groups).
const REDEEM_CONCURRENCY: usize = 16;

/// Refreshes the user stats, plays the story (when a super admin can lead the team), and
/// refreshes the dashboard rollups. Refuses a database that already has cohorts, promotions
/// or the demo team.
pub async fn create(app: &App, options: &HistoryOptions) -> anyhow::Result<HistoryReport> {
    let mut report = HistoryReport::default();
    let tz = app.config.reporting_tz;
    {
        let mut conn = app.db.conn().await?;
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = Bool)]
            found: bool,
        }
        let found: Found = sql_query(
            "SELECT EXISTS (SELECT 1 FROM cdp.cohorts) OR EXISTS (SELECT 1 FROM cdp.promotions) \
             OR EXISTS (SELECT 1 FROM cdp.platform_users WHERE email LIKE '%@' || $1) AS found",
        )
        .bind::<Text, _>(story::EMAIL_DOMAIN)
        .get_result(&mut conn)
        .await?;
        if found.found {
            bail!("the database already holds cohorts, promotions or the demo team; the history is created once, on a fresh database");
        }
    }

    // What the recurring `users.refresh_stats` job does, so the Users pages are right at once.
    let started = Instant::now();
    crate::users::stats::refresh_all(&app.db, crate::dashboard::range::today(tz)).await.context("refreshing the user stats")?;
    report.user_stats = started.elapsed();

    let started = Instant::now();
    match super_admin(app).await? {
        None => report.skipped = Some(
            "no active super admin to lead the team: set CDP_BOOTSTRAP_ADMIN_EMAIL and CDP_BOOTSTRAP_ADMIN_PASSWORD (make up does) and seed a fresh database"
                .into(),
        ),
        Some((admin, bootstrapped)) => {
            let mut director = Director::new(app, options, admin, bootstrapped).await?;
            director.play().await?;
            director.timeline.apply(&app.db).await.context("dating the history")?;
            director.republish_running().await?;
            report = HistoryReport { user_stats: report.user_stats, ..director.report() };
        }
    }
    report.history = started.elapsed();

    // What the worker's `dashboard.rollup` does when new batches land, cohorts included.
    let started = Instant::now();
    let request = crate::dashboard::rollup::RollupRequest { full: true, cohorts: true, ..Default::default() };
    crate::dashboard::rollup::refresh(&app.db, tz, Default::default(), &request).await.map_err(|e| anyhow::anyhow!("refreshing the dashboard rollups: {e}"))?;
    report.rollup = started.elapsed();
    Ok(report)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// The active super admin who leads the team: the earliest one, or the one that
/// CDP_BOOTSTRAP_ADMIN_* creates now (as `cdp serve` would), flagged as bootstrapped here.
async fn super_admin(app: &App) -> anyhow::Result<Option<(Uuid, bool)>> {
    async fn first(db: &Db) -> anyhow::Result<Option<Uuid>> {
        let mut conn = db.conn().await?;
        let rows: Vec<Id> = sql_query("SELECT id FROM cdp.platform_users WHERE role = 'super_admin' AND status = 'active' ORDER BY created_at, id LIMIT 1")
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().next().map(|r| r.id))
    }
    if let Some(id) = first(&app.db).await? {
        return Ok(Some((id, false)));
    }
    if app.config.bootstrap_admin_email.is_none() || app.config.bootstrap_admin_password.is_none() {
        return Ok(None);
    }
    app.bootstrap_admin_from_env().await?;
    Ok(first(&app.db).await?.map(|id| (id, true)))
}

/// The current role, status and permissions of a platform user, as the authentication layer
/// loads them for each request (`auth::layer`), and the claims row-level security reads.
async fn principal(db: &Db, id: Uuid) -> anyhow::Result<Principal> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        email: String,
        #[diesel(sql_type = Text)]
        role: String,
        #[diesel(sql_type = Text)]
        status: String,
    }
    let mut conn = db.conn().await?;
    let row: Row = sql_query("SELECT email, role, status FROM cdp.platform_users WHERE id = $1").bind::<SqlUuid, _>(id).get_result(&mut conn).await?;
    ensure!(row.status == "active", "{} is {}, not active", row.email, row.status);
    let role = Role::parse(&row.role).with_context(|| format!("unknown role {}", row.role))?;
    let permissions = permissions_of(&mut conn, role.as_str()).await?;
    let claims = serde_json::json!({ "sub": id, "email": row.email, "role": "authenticated" });
    Ok(Principal { actor: Actor::PlatformUser { id, email: row.email, role }, permissions: permissions.into_iter().collect(), claims })
}

/// Story time → real instants, in the reporting time zone.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// The story's "today": it ends the day before.
    last_day: NaiveDate,
    tz: Tz,
}

impl Clock {
    pub fn new(today: NaiveDate, tz: Tz) -> Clock {
        Clock { last_day: today.min(Utc::now().with_timezone(&tz).date_naive()), tz }
    }

    pub fn day(&self, days_ago: u32) -> NaiveDate {
        self.last_day - Span::days(i64::from(days_ago))
    }

    fn local(&self, day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
        let naive = day.and_hms_opt(hour, minute, 0).expect("story times are valid times of day");
        // A time skipped by a clock change is taken an hour later.
        let local = self.tz.from_local_datetime(&naive).earliest().or_else(|| self.tz.from_local_datetime(&(naive + Span::hours(1))).earliest());
        local.expect("an hour after a gap exists").with_timezone(&Utc)
    }

    pub fn at(&self, when: When) -> DateTime<Utc> {
        self.local(self.day(when.days_ago), when.hour, when.minute)
    }

    /// Whether `plot` still runs: a running promotion of a story that ended long ago (the
    /// marketplace's last day in the past) has expired since, like the others.
    fn running(&self, plot: &PromotionPlot) -> bool {
        plot.running && plot.activated.is_some_and(|at| self.at(at) + Span::days(plot.ttl_days) > Utc::now())
    }

    /// The start of the last day: nothing of the story happens from then on.
    pub fn end(&self) -> DateTime<Utc> {
        self.local(self.last_day, 0, 0)
    }
}

/// One step of the story, in the order they happen.
#[derive(Clone, Copy, Debug)]
enum Event {
    Invite(usize),
    Accept(usize),
    Disable(usize),
    Credential,
    CreateCohort(usize),
    /// The refresh engine, as of a day.
    Refresh(usize, NaiveDate),
    EditCohort(usize),
    ManualRefresh(usize),
    CreatePromotion(usize),
    Activate(usize),
    Expire(usize),
    Extend(usize),
    Sync(usize),
}

fn schedule(clock: &Clock) -> Vec<(DateTime<Utc>, Event)> {
    let mut events = Vec::new();
    let minutes = |at: DateTime<Utc>, n: i64| at + Span::minutes(n);
    for (i, member) in TEAM.iter().enumerate() {
        events.push((clock.at(member.invited), Event::Invite(i)));
        if let Some(accepted) = member.accepted {
            events.push((clock.at(accepted), Event::Accept(i)));
        }
        if let Some(disabled) = member.disabled {
            events.push((clock.at(disabled), Event::Disable(i)));
        }
    }
    events.push((clock.at(story::CREDENTIAL.2), Event::Credential));
    for (i, cohort) in COHORTS.iter().enumerate() {
        let created = clock.at(cohort.created);
        events.push((created, Event::CreateCohort(i)));
        // The refresh the creation queued, run by the worker a moment later.
        events.push((minutes(created, 2), Event::Refresh(i, clock.day(cohort.created.days_ago))));
        for days_ago in cohort.refreshes {
            events.push((clock.at(story::at(*days_ago, NIGHTLY.0, NIGHTLY.1)), Event::Refresh(i, clock.day(*days_ago))));
        }
    }
    for (j, edit) in EDITS.iter().enumerate() {
        let i = cohort_index(edit.cohort);
        events.push((clock.at(edit.at), Event::EditCohort(j)));
        events.push((minutes(clock.at(edit.at), 3), Event::Refresh(i, clock.day(edit.at.days_ago))));
    }
    for (j, (cohort, _, at)) in MANUAL_REFRESHES.iter().enumerate() {
        events.push((clock.at(*at), Event::ManualRefresh(j)));
        events.push((minutes(clock.at(*at), 2), Event::Refresh(cohort_index(cohort), clock.day(at.days_ago))));
    }
    for (i, promotion) in PROMOTIONS.iter().enumerate() {
        events.push((clock.at(promotion.created), Event::CreatePromotion(i)));
        if let Some(activated) = promotion.activated {
            events.push((clock.at(activated), Event::Activate(i)));
            if !clock.running(promotion) {
                events.push((clock.at(activated) + Span::days(promotion.ttl_days), Event::Expire(i)));
            }
        }
    }
    for (j, (promotion, _, at, _)) in EXTENSIONS.iter().enumerate() {
        if clock.running(&PROMOTIONS[promotion_index(promotion)]) {
            events.push((clock.at(*at), Event::Extend(j)));
        }
    }
    for (j, (_, _, _, at)) in SYNCS.iter().enumerate() {
        events.push((clock.at(*at), Event::Sync(j)));
    }
    // A stable sort: simultaneous events keep the order above.
    events.sort_by_key(|(at, _)| *at);
    events
}

fn cohort_index(key: &str) -> usize {
    COHORTS.iter().position(|c| c.key == key).unwrap_or_else(|| panic!("the story names no cohort {key}"))
}

fn promotion_index(key: &str) -> usize {
    PROMOTIONS.iter().position(|p| p.key == key).unwrap_or_else(|| panic!("the story names no promotion {key}"))
}

/// Plays the story.
struct Director<'a> {
    app: &'a App,
    clock: Clock,
    rng: ChaCha8Rng,
    /// The local provider: invitations are links handed over, never emails.
    provider: Arc<IdentityProvider>,
    users: PlatformUserApi,
    credentials: ServiceCredentialApi,
    cohorts: CohortApi,
    promotions: PromotionApi,
    activation: Activation,
    redemptions: Redemptions,
    /// Principals by team key (and SUPER_ADMIN), as of their last change.
    actors: HashMap<&'static str, Principal>,
    member_ids: HashMap<&'static str, Uuid>,
    invitations: HashMap<&'static str, String>,
    cohort_ids: Vec<Option<i64>>,
    cohort_sizes: Vec<i64>,
    promotion_ids: Vec<Option<i64>>,
    /// The end of each activated promotion as PostgreSQL holds it while the story is played.
    promotion_ends: Vec<Option<DateTime<Utc>>>,
    credential: Option<Uuid>,
    requests: usize,
    timeline: Timeline,
}

impl<'a> Director<'a> {
    async fn new(app: &'a App, options: &HistoryOptions, admin: Uuid, bootstrapped: bool) -> anyhow::Result<Director<'a>> {
        let config = &app.config;
        let clock = Clock::new(options.today, config.reporting_tz);
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        rng.set_stream(u64::MAX - 2);
        // Tokens of this provider are never handed out (each session is signed out at once).
        let secret = config.jwt_secret.clone().unwrap_or_else(|| format!("{}{}", secrets::random_token(), secrets::random_token()));
        let provider = Arc::new(IdentityProvider::Local(LocalProvider {
            signer: TokenSigner::new(&secret, &config.jwt_issuer, &config.jwt_audience, config.access_token_ttl),
            refresh_ttl: config.refresh_token_ttl,
            invitation_ttl: config.invitation_ttl,
            recovery_ttl: config.recovery_ttl,
            min_password_length: config.min_password_length,
            public_url: config.public_url.clone(),
        }));
        let activation = Activation::new(app);
        let writer = LedgerWriter::start(config.database_url.clone(), app.redis.clone(), activation.keys.clone());
        let mut timeline = Timeline { invitation_ttl: config.invitation_ttl, refresh_ttl: config.refresh_token_ttl, ..Default::default() };
        if bootstrapped {
            let at = clock.at(story::BOOTSTRAPPED);
            timeline.users.push(UserTimes { id: admin, created: at, updated: at, invited: None, accepted: None, disabled: None });
            timeline.audit.push(("bootstrap".into(), at));
        }
        Ok(Director {
            app,
            clock,
            rng,
            users: PlatformUserApi { db: app.db.clone(), provider: provider.clone() },
            provider,
            credentials: ServiceCredentialApi { db: app.db.clone() },
            cohorts: CohortApi { db: app.db.clone(), config: app.config.clone(), http: app.http.clone(), preview_cache: Default::default() },
            promotions: PromotionApi { db: app.db.clone(), reporting_tz: config.reporting_tz },
            redemptions: Redemptions::new(activation.clone(), writer),
            activation,
            actors: HashMap::from([(SUPER_ADMIN, principal(&app.db, admin).await?)]),
            member_ids: HashMap::new(),
            invitations: HashMap::new(),
            cohort_ids: vec![None; COHORTS.len()],
            cohort_sizes: vec![0; COHORTS.len()],
            promotion_ids: vec![None; PROMOTIONS.len()],
            promotion_ends: vec![None; PROMOTIONS.len()],
            credential: None,
            requests: 0,
            timeline,
        })
    }

    fn report(&self) -> HistoryReport {
        HistoryReport {
            platform_users: self.member_ids.len(),
            cohorts: self.cohort_ids.iter().flatten().count(),
            size_snapshots: self.timeline.cohorts.iter().map(|c| c.refreshes.len()).sum(),
            promotions: self.promotion_ids.iter().flatten().count(),
            redemptions: self.timeline.redemptions.len(),
            sync_runs: self.timeline.syncs.len(),
            audit_rows: self.requests,
            ..Default::default()
        }
    }

    async fn play(&mut self) -> anyhow::Result<()> {
        for (at, event) in schedule(&self.clock) {
            self.happen(at, event).await.with_context(|| format!("the demo history's step {event:?}"))?;
        }
        Ok(())
    }

    /// A fresh request id, dated `at` (its audit rows get that time).
    fn request_id(&mut self, at: DateTime<Utc>) -> String {
        self.requests += 1;
        let id = format!("seed-{:04}", self.requests);
        self.timeline.audit.push((id.clone(), at));
        id
    }

    fn actor(&self, key: &str) -> anyhow::Result<Principal> {
        self.actors.get(key).cloned().with_context(|| format!("{key} cannot act (not invited, not active yet, or disabled)"))
    }

    /// A request to `path` by `who`, with the context the authentication layer would attach,
    /// after the same check of the RPC's permission.
    fn request<T>(&mut self, who: &str, path: &str, message: T, at: DateTime<Utc>) -> anyhow::Result<tonic::Request<T>> {
        let principal = self.actor(who)?;
        let (service, method) = rules::parse_cdp_path(path).with_context(|| format!("{path} is not a cdp.v1 path"))?;
        match rules::access_for(service, method) {
            Some(Access::Permission(permission)) if !principal.has(permission) => bail!("{who} may not call {path}: it needs {permission}"),
            None => bail!("{path} is not an RPC of this server"),
            _ => {}
        }
        let mut request = tonic::Request::new(message);
        request.extensions_mut().insert(RequestContext { principal: Some(principal), request_id: self.request_id(at), client_address: None });
        Ok(request)
    }

    async fn happen(&mut self, at: DateTime<Utc>, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Invite(i) => self.invite(i, at).await,
            Event::Accept(i) => self.accept(i, at).await,
            Event::Disable(i) => self.disable(i, at).await,
            Event::Credential => self.issue_credential(at).await,
            Event::CreateCohort(i) => self.create_cohort(i, at).await,
            Event::Refresh(i, as_of) => self.refresh(i, as_of, at).await,
            Event::EditCohort(j) => self.edit_cohort(j, at).await,
            Event::ManualRefresh(j) => self.manual_refresh(j, at).await,
            Event::CreatePromotion(i) => self.create_promotion(i, at).await,
            Event::Activate(i) => self.activate(i, at).await,
            Event::Expire(i) => self.expire(i, at).await,
            Event::Extend(j) => self.extend(j, at).await,
            Event::Sync(j) => self.sync(j, at).await,
        }
    }

    async fn invite(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let member = &TEAM[i];
        let message = pb::InvitePlatformUserRequest { email: member.email(), display_name: member.display_name.into(), role: member.role.to_proto() as i32 };
        let request = self.request(member.invited_by, "/cdp.v1.PlatformUserService/InvitePlatformUser", message, at)?;
        let invited = self.users.invite_platform_user(request).await.map_err(status("InvitePlatformUser"))?.into_inner();
        let id: Uuid = invited.platform_user.context("no platform user in the answer")?.id.parse()?;
        let token =
            invited.invitation_link.split_once("token=").map(|(_, token)| token.to_string()).context("the local provider hands over an invitation link")?;
        self.member_ids.insert(member.key, id);
        self.invitations.insert(member.key, token);
        self.timeline.users.push(UserTimes { id, created: at, updated: at, invited: Some(at), accepted: None, disabled: None });
        Ok(())
    }

    /// The member sets a password from the link (a random one, thrown away) and signs out.
    async fn accept(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let member = &TEAM[i];
        let token = self.invitations.remove(member.key).context("accepting an invitation that was not sent")?;
        let ctx = RequestContext { principal: None, request_id: self.request_id(at), client_address: None };
        let session = self
            .provider
            .complete_password_reset(&self.app.db, &ctx, &token, &secrets::random_token())
            .await
            .map_err(|e| anyhow::anyhow!("accepting the invitation: {e}"))?;
        self.provider.sign_out(&self.app.db, &session.refresh_token, None).await.map_err(|e| anyhow::anyhow!("signing out: {e}"))?;
        self.actors.insert(member.key, principal(&self.app.db, session.user_id).await?);
        let times = self.timeline.user(session.user_id)?;
        times.updated = at;
        times.accepted = Some(at);
        Ok(())
    }

    async fn disable(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let member = &TEAM[i];
        let id = self.member_ids[member.key];
        let message = pb::UpdatePlatformUserRequest {
            platform_user: Some(pb::PlatformUser { id: id.to_string(), status: pb::PlatformUserStatus::Disabled as i32, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["status".into()] }),
        };
        let request = self.request(story::DISABLED_BY, "/cdp.v1.PlatformUserService/UpdatePlatformUser", message, at)?;
        self.users.update_platform_user(request).await.map_err(status("UpdatePlatformUser"))?;
        self.actors.remove(member.key);
        let times = self.timeline.user(id)?;
        times.updated = at;
        times.disabled = Some(at);
        Ok(())
    }

    async fn issue_credential(&mut self, at: DateTime<Utc>) -> anyhow::Result<()> {
        let (name, by, _) = story::CREDENTIAL;
        let message = pb::CreateServiceCredentialRequest { name: name.into(), scopes: vec!["promotions.redeem".into()] };
        let request = self.request(by, "/cdp.v1.ServiceCredentialService/CreateServiceCredential", message, at)?;
        // The secret is shown once, here, and dropped: the seed redeems in the engine directly.
        let created = self.credentials.create_service_credential(request).await.map_err(status("CreateServiceCredential"))?.into_inner();
        let id: Uuid = created.service_credential.context("no credential in the answer")?.id.parse()?;
        self.credential = Some(id);
        self.timeline.credentials.push((id, at));
        Ok(())
    }

    async fn create_cohort(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let plot = &COHORTS[i];
        let cohort = pb::Cohort {
            name: plot.name.into(),
            description: plot.description.into(),
            kind: pb::CohortKind::Dynamic as i32,
            definition: Some((plot.definition)()),
            ..Default::default()
        };
        let request = self.request(plot.owner, "/cdp.v1.CohortService/CreateCohort", pb::CreateCohortRequest { cohort: Some(cohort) }, at)?;
        let created = self.cohorts.create_cohort(request).await.map_err(status("CreateCohort"))?.into_inner().cohort.context("no cohort in the answer")?;
        self.cohort_ids[i] = Some(created.id);
        self.timeline.cohorts.push(CohortTimes { id: created.id, created: at, updated: at, refreshes: Vec::new() });
        Ok(())
    }

    fn cohort_id(&self, i: usize) -> anyhow::Result<i64> {
        self.cohort_ids[i].with_context(|| format!("the cohort {} does not exist yet", COHORTS[i].key))
    }

    /// The refresh engine as the worker runs it, with "today" set to the story's day.
    async fn refresh(&mut self, i: usize, as_of: NaiveDate, at: DateTime<Utc>) -> anyhow::Result<()> {
        let id = self.cohort_id(i)?;
        let outcome = refresh::refresh_as_of(&self.app.db, &self.app.config, id, as_of).await?.context("the cohort was not refreshed")?;
        self.cohort_sizes[i] = outcome.delta.size;
        self.timeline.cohort(id)?.refreshes.push(at);
        Ok(())
    }

    async fn edit_cohort(&mut self, j: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let edit = &EDITS[j];
        let id = self.cohort_id(cohort_index(edit.cohort))?;
        let message = pb::UpdateCohortRequest {
            cohort: Some(pb::Cohort { id, description: edit.description.into(), definition: Some((edit.definition)()), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["description".into(), "definition".into()] }),
            confirm_audience_change: false,
        };
        let request = self.request(edit.by, "/cdp.v1.CohortService/UpdateCohort", message, at)?;
        self.cohorts.update_cohort(request).await.map_err(status("UpdateCohort"))?;
        self.timeline.cohort(id)?.updated = at;
        Ok(())
    }

    async fn manual_refresh(&mut self, j: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let (cohort, by, _) = MANUAL_REFRESHES[j];
        let id = self.cohort_id(cohort_index(cohort))?;
        let request = self.request(by, "/cdp.v1.CohortService/RefreshCohort", pb::RefreshCohortRequest { id }, at)?;
        self.cohorts.refresh_cohort(request).await.map_err(status("RefreshCohort"))?;
        Ok(())
    }

    async fn create_promotion(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let plot = &PROMOTIONS[i];
        let cohort = cohort_index(plot.cohort);
        let cohort_id = self.cohort_id(cohort)?;
        let ttl = Span::days(plot.ttl_days);
        // A budget with room to spare: the share of what the whole audience could take.
        let credit_budget = if plot.budget_share > 0.0 {
            ((self.cohort_sizes[cohort] as f64 * plot.value * plot.budget_share / 1000.0).ceil() as i64).max(1) * 1000
        } else {
            0
        };
        // The running promotion ends after the story's last day: its end is set from the start.
        let ends_at = match (self.clock.running(plot), plot.activated) {
            (true, Some(activated)) => Some(timestamp(self.clock.at(activated) + ttl)),
            _ => None,
        };
        let promotion = pb::Promotion {
            name: plot.name.into(),
            description: plot.description.into(),
            cohort_id,
            r#type: plot.benefit as i32,
            value: plot.value,
            addon: plot.addon.into(),
            code_mode: if plot.code.is_some() { pb::CodeMode::Shared } else { pb::CodeMode::UniquePerUser } as i32,
            code: plot.code.unwrap_or_default().into(),
            limits: Some(pb::PromotionLimits { total_redemptions: 0, per_user: plot.per_user, credit_budget }),
            ends_at,
            ttl: Some(prost_types::Duration { seconds: ttl.num_seconds(), nanos: 0 }),
            audience: pb::PromotionAudience::Frozen as i32,
            ..Default::default()
        };
        let request = self.request(plot.by, "/cdp.v1.PromotionService/CreatePromotion", pb::CreatePromotionRequest { promotion: Some(promotion) }, at)?;
        let created =
            self.promotions.create_promotion(request).await.map_err(status("CreatePromotion"))?.into_inner().promotion.context("no promotion in the answer")?;
        self.promotion_ids[i] = Some(created.id);
        self.timeline.promotions.push(PromotionTimes { id: created.id, created: at, updated: at, activated: None, ends: None });
        Ok(())
    }

    fn promotion_id(&self, i: usize) -> anyhow::Result<i64> {
        self.promotion_ids[i].with_context(|| format!("the promotion {} does not exist yet", PROMOTIONS[i].key))
    }

    /// ActivatePromotion, then what the worker's `promotion.activate` job does (freeze the
    /// audience, publish to Redis), then the audience's redemptions over the window.
    async fn activate(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let plot = &PROMOTIONS[i];
        let id = self.promotion_id(i)?;
        let request = self.request(plot.by, "/cdp.v1.PromotionService/ActivatePromotion", pb::ActivatePromotionRequest { id }, at)?;
        let active = self
            .promotions
            .activate_promotion(request)
            .await
            .map_err(status("ActivatePromotion"))?
            .into_inner()
            .promotion
            .context("no promotion in the answer")?;
        ensure!(active.status() == pb::PromotionStatus::Active, "{} is {:?} after activation", plot.key, active.status());
        let ends = active.ends_at.map(|t| from_timestamp("ends_at", t)).transpose().map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        self.promotion_ends[i] = ends;
        // The job row stays queued: a worker that starts later runs it again (it republishes).
        let job = JobContext {
            id: 0,
            kind: crate::activation::jobs::ACTIVATE.into(),
            payload: serde_json::json!({ "promotion_id": id }),
            attempt: 1,
            max_attempts: 1,
        };
        ActivateJob(self.activation.clone()).run(&job).await.map_err(|e| anyhow::anyhow!("the activation job: {e}"))?;
        let running = self.clock.running(plot);
        let story_end = if running { self.clock.end() } else { at + Span::days(plot.ttl_days) };
        let times = self.timeline.promotion(id)?;
        times.updated = at;
        times.activated = Some(at);
        times.ends = (!running).then_some(story_end);
        self.redeem(i, id, at + Span::minutes(FROZEN_AFTER_MINUTES), story_end).await
    }

    /// Part of the audience redeems between `from` and `until`, through the redemption engine
    /// (a reservation in Redis, then the ledger writer), as the order service would.
    async fn redeem(&mut self, i: usize, id: i64, from: DateTime<Utc>, until: DateTime<Utc>) -> anyhow::Result<()> {
        let plot = &PROMOTIONS[i];
        let credential = self.credential.context("no service credential to redeem with")?;
        #[derive(QueryableByName)]
        struct AudienceRow {
            #[diesel(sql_type = Int4)]
            user_id: i32,
            #[diesel(sql_type = Nullable<Text>)]
            code: Option<String>,
        }
        let audience: Vec<AudienceRow> = {
            let mut conn = self.app.db.conn().await?;
            sql_query("SELECT user_id, code FROM cdp.promotion_audience WHERE promotion_id = $1 AND removed_at IS NULL ORDER BY user_id")
                .bind::<BigInt, _>(id)
                .load(&mut conn)
                .await?
        };
        let uses_per_redeemer = 1.0 + plot.repeat_rate * f64::from(plot.per_user - 1).min(1.0);
        let rate = plot.redeem_rate.min(MAX_REDEMPTIONS as f64 / (audience.len().max(1) as f64 * uses_per_redeemer));
        let mut planned = Vec::new();
        for member in &audience {
            if self.rng.random::<f64>() >= rate {
                continue;
            }
            let mut uses = 1;
            while uses < plot.per_user && self.rng.random::<f64>() < plot.repeat_rate {
                uses += 1;
            }
            let mut moments: Vec<DateTime<Utc>> = (0..uses).map(|_| self.redemption_moment(from, until)).collect();
            moments.sort();
            for (n, moment) in moments.into_iter().enumerate() {
                let order_credits = (plot.benefit == pb::PromotionType::CreditDiscountPercent).then(|| self.rng.random_range(40..=400));
                let request = RedeemRequest {
                    code: member.code.clone().or(plot.code.map(str::to_string)).context("a redeemer without a code")?,
                    user_id: member.user_id,
                    idempotency_key: format!("seed-{}-{}-{}", plot.key, member.user_id, n + 1),
                    order_reference: format!("ORD-{}", self.rng.random_range(10_000_000..100_000_000)),
                    order_credits,
                };
                planned.push((request, moment));
            }
        }
        let engine = &self.redemptions;
        let outcomes: Vec<_> = futures::stream::iter(planned)
            .map(|(request, moment)| async move {
                let outcome = engine.redeem(credential, &request).await;
                (request, moment, outcome)
            })
            .buffer_unordered(REDEEM_CONCURRENCY)
            .collect()
            .await;
        for (request, moment, outcome) in outcomes {
            match outcome {
                Ok(_) => self.timeline.redemptions.push((id, request.idempotency_key, moment)),
                Err(err) => bail!("redeeming {} for user {}: {err}", plot.key, request.user_id),
            }
        }
        Ok(())
    }

    /// When a redemption happens: mostly in the first days of the window, in waking hours.
    fn redemption_moment(&mut self, from: DateTime<Utc>, until: DateTime<Utc>) -> DateTime<Utc> {
        let margin = Span::minutes(5);
        let (first, last) = (from + margin, until - margin);
        let days = (last - first).num_days().max(0) + 1;
        for _ in 0..8 {
            let day = ((self.rng.random::<f64>().powf(1.8) * days as f64) as i64).min(days - 1);
            let local_day = first.with_timezone(&self.clock.tz).date_naive() + Span::days(day);
            let minute = self.rng.random_range(8 * 60..23 * 60);
            let moment = self.clock.local(local_day, minute / 60, minute % 60) + Span::seconds(self.rng.random_range(0..60));
            if moment >= first && moment <= last {
                return moment;
            }
        }
        first + Span::seconds(self.rng.random_range(0..=(last - first).num_seconds().max(0)))
    }

    /// What the worker's `promotion.expire` job does at the end of the window.
    async fn expire(&mut self, i: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let id = self.promotion_id(i)?;
        // The window ends when PostgreSQL says it does (the story dates it afterwards).
        let end = self.promotion_ends[i].context("expiring a promotion without an end")?;
        let ctx = RequestContext { principal: None, request_id: self.request_id(at), client_address: None };
        let expired = crate::activation::jobs::expire(&self.activation, id, &ctx, end).await?;
        ensure!(expired, "{} did not expire", PROMOTIONS[i].key);
        self.timeline.promotion(id)?.updated = at;
        Ok(())
    }

    /// UpdatePromotion moving the end of a running promotion later.
    async fn extend(&mut self, j: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let (key, by, _, days) = EXTENSIONS[j];
        let i = promotion_index(key);
        let id = self.promotion_id(i)?;
        let end = self.promotion_ends[i].context("extending a promotion without an end")? + Span::days(days);
        let message = pb::UpdatePromotionRequest {
            promotion: Some(pb::Promotion { id, ends_at: Some(timestamp(end)), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["ends_at".into()] }),
        };
        let request = self.request(by, "/cdp.v1.PromotionService/UpdatePromotion", message, at)?;
        self.promotions.update_promotion(request).await.map_err(status("UpdatePromotion"))?;
        self.promotion_ends[i] = Some(end);
        self.timeline.promotion(id)?.updated = at;
        Ok(())
    }

    /// A data engineer's sync: the run queued and audited as SyncCohort does it, then the
    /// attempt of the worker's `cohorts.sync` job. Only for a target that is not configured
    /// (the seed never sends demo users to a real Braze or Amplitude): the run fails, saying
    /// what to configure. SyncCohort itself refuses such a target before queueing.
    async fn sync(&mut self, j: usize, at: DateTime<Utc>) -> anyhow::Result<()> {
        let (cohort, target, by, _) = SYNCS[j];
        if sync::ensure_configured(&self.app.config, target).is_ok() {
            return Ok(());
        }
        let id = self.cohort_id(cohort_index(cohort))?;
        let caller = self.actor(by)?;
        let ctx = RequestContext { principal: Some(caller.clone()), request_id: self.request_id(at), client_address: None };
        let mut tx = self.app.db.begin_as(&caller.claims).await?;
        store::find(&mut tx, id, false).await?;
        let (run_id, queued) = sync::queue_run(&mut tx, id, target, caller.platform_user_id()).await?;
        ensure!(queued, "a sync of {cohort} to {target} was already pending");
        let change = Change {
            action: "cohort.sync",
            resource_type: "cohort",
            resource_id: id.to_string(),
            before: None,
            after: Some(serde_json::json!({ "target": target, "run_id": run_id })),
        };
        audit::record(&mut tx, &ctx, change).await?;
        tx.commit().await?;

        #[derive(QueryableByName)]
        struct JobId {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let job: JobId = sql_query("SELECT id FROM cdp.jobs WHERE kind = $1 AND dedupe_key = $2")
            .bind::<Text, _>(sync::SYNC_JOB)
            .bind::<Text, _>(format!("run:{run_id}"))
            .get_result(&mut *self.app.db.conn().await?)
            .await?;
        let mut unconfigured = (*self.app.config).clone();
        unconfigured.braze = None;
        unconfigured.amplitude = None;
        let handler = sync::SyncCohortJob { db: self.app.db.clone(), config: Arc::new(unconfigured), http: self.app.http.clone() };
        let attempt = JobContext { id: job.id, kind: sync::SYNC_JOB.into(), payload: serde_json::json!({ "run_id": run_id }), attempt: 1, max_attempts: 6 };
        // A permanent failure, recorded on the run; its queued job finds the run done later.
        let _ = handler.run(&attempt).await;
        self.timeline.syncs.push(SyncTimes { id: run_id, requested: at, started: at + Span::seconds(40), finished: at + Span::seconds(41) });
        Ok(())
    }

    /// After the dating, Redis holds the running promotions as PostgreSQL now has them.
    async fn republish_running(&self) -> anyhow::Result<()> {
        for (i, plot) in PROMOTIONS.iter().enumerate() {
            if let (true, Some(id)) = (self.clock.running(plot), self.promotion_ids[i]) {
                self.activation.publish(id, true).await?;
            }
        }
        Ok(())
    }
}

/// Minutes between an activation and the audience frozen by its job.
const FROZEN_AFTER_MINUTES: i64 = 1;

fn status(rpc: &'static str) -> impl Fn(tonic::Status) -> anyhow::Error {
    move |status| anyhow::anyhow!("{rpc}: {:?}: {}", status.code(), status.message())
}

struct UserTimes {
    id: Uuid,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    invited: Option<DateTime<Utc>>,
    accepted: Option<DateTime<Utc>>,
    disabled: Option<DateTime<Utc>>,
}

struct CohortTimes {
    id: i64,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    /// Each evaluation, in the order they ran.
    refreshes: Vec<DateTime<Utc>>,
}

struct PromotionTimes {
    id: i64,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    activated: Option<DateTime<Utc>>,
    /// The end of the window, for those that ended (their end as played is replaced).
    ends: Option<DateTime<Utc>>,
}

struct SyncTimes {
    id: i64,
    requested: DateTime<Utc>,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
}

/// The story's moment of every row the history wrote.
#[derive(Default)]
struct Timeline {
    invitation_ttl: Duration,
    refresh_ttl: Duration,
    /// Request id → moment (audit rows).
    audit: Vec<(String, DateTime<Utc>)>,
    users: Vec<UserTimes>,
    credentials: Vec<(Uuid, DateTime<Utc>)>,
    cohorts: Vec<CohortTimes>,
    promotions: Vec<PromotionTimes>,
    /// (promotion, idempotency key, moment).
    redemptions: Vec<(i64, String, DateTime<Utc>)>,
    syncs: Vec<SyncTimes>,
}

impl Timeline {
    fn user(&mut self, id: Uuid) -> anyhow::Result<&mut UserTimes> {
        self.users.iter_mut().find(|u| u.id == id).context("a team member the story did not invite")
    }

    fn cohort(&mut self, id: i64) -> anyhow::Result<&mut CohortTimes> {
        self.cohorts.iter_mut().find(|c| c.id == id).context("a cohort the story did not create")
    }

    fn promotion(&mut self, id: i64) -> anyhow::Result<&mut PromotionTimes> {
        self.promotions.iter_mut().find(|p| p.id == id).context("a promotion the story did not create")
    }

    /// THE DATING STEP. The product stamped every row with the time the story was played
    /// (now); this one transaction gives each row the moment of the story it belongs to, so
    /// the history lies in the past. It touches only the rows the history wrote (by id, or by
    /// the request ids of its audit rows) and only their time columns. `cdp.audit_log` is
    /// append-only: its trigger is disabled for this transaction alone (DDL is transactional,
    /// no other session ever sees it off) and re-enabled before the commit.
    async fn apply(&self, db: &Db) -> anyhow::Result<()> {
        let mut tx = db.begin_system().await?;
        let conn = &mut *tx;

        // Audit rows, by request id.
        sql_query("ALTER TABLE cdp.audit_log DISABLE TRIGGER audit_log_append_only").execute(conn).await?;
        let (ids, ats): (Vec<String>, Vec<DateTime<Utc>>) = self.audit.iter().cloned().unzip();
        sql_query(
            "UPDATE cdp.audit_log a SET created_at = m.at FROM unnest($1::text[], $2::timestamptz[]) AS m(request_id, at) WHERE a.request_id = m.request_id",
        )
        .bind::<Array<Text>, _>(&ids)
        .bind::<Array<Timestamptz>, _>(&ats)
        .execute(conn)
        .await?;
        // The states a promotion's audit rows show hold the end it had as played: the story's.
        let ended: Vec<(String, serde_json::Value)> =
            self.promotions.iter().filter_map(|p| p.ends.map(|end| (p.id.to_string(), serde_json::to_value(end).expect("a time serialises")))).collect();
        sql_query(
            "UPDATE cdp.audit_log a SET \
               before = CASE WHEN a.before->'ends_at' IS NOT NULL AND a.before->'ends_at' <> 'null'::jsonb THEN jsonb_set(a.before, '{ends_at}', m.ends) ELSE a.before END, \
               after = CASE WHEN a.after->'ends_at' IS NOT NULL AND a.after->'ends_at' <> 'null'::jsonb THEN jsonb_set(a.after, '{ends_at}', m.ends) ELSE a.after END \
             FROM unnest($1::text[], $2::jsonb[]) AS m(id, ends) WHERE a.resource_type = 'promotion' AND a.resource_id = m.id",
        )
        .bind::<Array<Text>, _>(ended.iter().map(|e| e.0.as_str()).collect::<Vec<_>>())
        .bind::<Array<diesel::sql_types::Jsonb>, _>(ended.iter().map(|e| e.1.clone()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        sql_query("ALTER TABLE cdp.audit_log ENABLE TRIGGER audit_log_append_only").execute(conn).await?;

        // The team and their one-time links and sessions (each signed out 90 minutes later).
        let users = &self.users;
        sql_query(
            "UPDATE cdp.platform_users u SET created_at = m.created, updated_at = m.updated, last_sign_in_at = m.accepted, disabled_at = m.disabled \
             FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[]) AS m(id, created, updated, accepted, disabled) \
             WHERE u.id = m.id",
        )
        .bind::<Array<SqlUuid>, _>(users.iter().map(|u| u.id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(users.iter().map(|u| u.created).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(users.iter().map(|u| u.updated).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(users.iter().map(|u| u.accepted).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(users.iter().map(|u| u.disabled).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        sql_query(
            "UPDATE cdp.auth_tokens t SET \
               created_at = CASE t.kind WHEN 'invite' THEN m.invited ELSE m.accepted END, \
               expires_at = CASE t.kind WHEN 'invite' THEN m.invited + make_interval(secs => $4) ELSE m.accepted + make_interval(secs => $5) END, \
               used_at = CASE WHEN t.used_at IS NULL THEN NULL WHEN t.kind = 'invite' THEN m.accepted ELSE m.accepted + interval '90 minutes' END \
             FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS m(id, invited, accepted) \
             WHERE t.platform_user_id = m.id AND m.invited IS NOT NULL AND (t.kind = 'invite' OR m.accepted IS NOT NULL)",
        )
        .bind::<Array<SqlUuid>, _>(users.iter().map(|u| u.id).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(users.iter().map(|u| u.invited).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(users.iter().map(|u| u.accepted).collect::<Vec<_>>())
        .bind::<diesel::sql_types::Double, _>(self.invitation_ttl.as_secs_f64())
        .bind::<diesel::sql_types::Double, _>(self.refresh_ttl.as_secs_f64())
        .execute(conn)
        .await?;
        let (ids, ats): (Vec<Uuid>, Vec<DateTime<Utc>>) = self.credentials.iter().cloned().unzip();
        sql_query("UPDATE cdp.service_credentials c SET created_at = m.at FROM unnest($1::uuid[], $2::timestamptz[]) AS m(id, at) WHERE c.id = m.id")
            .bind::<Array<SqlUuid>, _>(&ids)
            .bind::<Array<Timestamptz>, _>(&ats)
            .execute(conn)
            .await?;

        // Cohorts: the k-th size point of a cohort is its k-th refresh; members and their
        // changes take the moment of the refresh that recorded them.
        let mut refresh_cohorts = Vec::new();
        let mut refresh_numbers = Vec::new();
        let mut refresh_ats = Vec::new();
        for cohort in &self.cohorts {
            for (k, at) in cohort.refreshes.iter().enumerate() {
                refresh_cohorts.push(cohort.id);
                refresh_numbers.push(k as i64 + 1);
                refresh_ats.push(*at);
            }
        }
        #[derive(QueryableByName)]
        struct Matched {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let matched: Matched = sql_query(
            "WITH points AS (SELECT cohort_id, computed_at, row_number() OVER (PARTITION BY cohort_id ORDER BY computed_at) AS k \
                             FROM cdp.cohort_size_history WHERE cohort_id = ANY($1)) \
             SELECT count(*) FILTER (WHERE m.k IS NOT NULL) - count(*) AS n FROM points p \
             LEFT JOIN unnest($1::int8[], $2::int8[]) AS m(cohort_id, k) ON m.cohort_id = p.cohort_id AND m.k = p.k",
        )
        .bind::<Array<BigInt>, _>(&refresh_cohorts)
        .bind::<Array<BigInt>, _>(&refresh_numbers)
        .get_result(conn)
        .await?;
        ensure!(matched.n == 0, "the cohorts hold size points the story did not make");
        sql_query(
            "CREATE TEMP TABLE seed_refreshes ON COMMIT DROP AS \
             SELECT p.cohort_id, p.computed_at AS real_at, m.story_at \
             FROM (SELECT cohort_id, computed_at, row_number() OVER (PARTITION BY cohort_id ORDER BY computed_at) AS k \
                   FROM cdp.cohort_size_history WHERE cohort_id = ANY($1)) p \
             JOIN unnest($1::int8[], $2::int8[], $3::timestamptz[]) AS m(cohort_id, k, story_at) ON m.cohort_id = p.cohort_id AND m.k = p.k",
        )
        .bind::<Array<BigInt>, _>(&refresh_cohorts)
        .bind::<Array<BigInt>, _>(&refresh_numbers)
        .bind::<Array<Timestamptz>, _>(&refresh_ats)
        .execute(conn)
        .await?;
        for (table, column) in [("cohort_members", "joined_at"), ("cohort_membership_changes", "changed_at")] {
            sql_query(format!(
                "UPDATE cdp.{table} c SET {column} = (SELECT r.story_at FROM seed_refreshes r \
                   WHERE r.cohort_id = c.cohort_id AND r.real_at >= c.{column} ORDER BY r.real_at LIMIT 1) \
                 WHERE c.cohort_id IN (SELECT cohort_id FROM seed_refreshes)"
            ))
            .execute(conn)
            .await?;
        }
        sql_query(
            "UPDATE cdp.cohort_size_history h SET computed_at = r.story_at FROM seed_refreshes r WHERE h.cohort_id = r.cohort_id AND h.computed_at = r.real_at",
        )
        .execute(conn)
        .await?;
        let cohorts = &self.cohorts;
        sql_query(
            "UPDATE cdp.cohorts c SET created_at = m.created, updated_at = m.updated, last_refreshed_at = r.last, \
               next_refresh_at = CASE WHEN c.kind = 'dynamic' THEN r.last + make_interval(secs => c.refresh_interval_secs) END \
             FROM unnest($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS m(id, created, updated), \
                  (SELECT cohort_id, max(story_at) AS last FROM seed_refreshes GROUP BY cohort_id) r \
             WHERE c.id = m.id AND r.cohort_id = m.id",
        )
        .bind::<Array<BigInt>, _>(cohorts.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(cohorts.iter().map(|c| c.created).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(cohorts.iter().map(|c| c.updated).collect::<Vec<_>>())
        .execute(conn)
        .await?;

        // Promotions, their frozen audiences, the ledger, and the expiry jobs of ended ones
        // (which then find nothing to do).
        let promotions = &self.promotions;
        let frozen: Vec<Option<DateTime<Utc>>> = promotions.iter().map(|p| p.activated.map(|a| a + Span::minutes(FROZEN_AFTER_MINUTES))).collect();
        sql_query(
            "UPDATE cdp.promotions p SET created_at = m.created, updated_at = m.updated, activated_at = m.activated, \
               audience_frozen_at = CASE WHEN p.audience_frozen_at IS NOT NULL THEN m.frozen END, \
               audience_synced_at = CASE WHEN p.audience_synced_at IS NOT NULL THEN m.frozen END, \
               ends_at = coalesce(m.ends, p.ends_at), ended_at = CASE WHEN p.ended_at IS NOT NULL THEN m.ends END \
             FROM unnest($1::int8[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[]) \
                  AS m(id, created, updated, activated, frozen, ends) \
             WHERE p.id = m.id",
        )
        .bind::<Array<BigInt>, _>(promotions.iter().map(|p| p.id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(promotions.iter().map(|p| p.created).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(promotions.iter().map(|p| p.updated).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(promotions.iter().map(|p| p.activated).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(&frozen)
        .bind::<Array<Nullable<Timestamptz>>, _>(promotions.iter().map(|p| p.ends).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        sql_query("UPDATE cdp.promotion_audience a SET added_at = m.frozen FROM unnest($1::int8[], $2::timestamptz[]) AS m(id, frozen) WHERE a.promotion_id = m.id AND m.frozen IS NOT NULL")
            .bind::<Array<BigInt>, _>(promotions.iter().map(|p| p.id).collect::<Vec<_>>())
            .bind::<Array<Nullable<Timestamptz>>, _>(&frozen)
            .execute(conn)
            .await?;
        sql_query(
            "UPDATE cdp.jobs j SET run_at = m.ends FROM unnest($1::int8[], $2::timestamptz[]) AS m(id, ends) \
             WHERE j.kind = 'promotion.expire' AND j.status = 'queued' AND j.payload->>'promotion_id' = m.id::text AND m.ends IS NOT NULL",
        )
        .bind::<Array<BigInt>, _>(promotions.iter().map(|p| p.id).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(promotions.iter().map(|p| p.ends).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        let redemptions = &self.redemptions;
        sql_query(
            "UPDATE cdp.redemptions r SET redeemed_at = m.at FROM unnest($1::int8[], $2::text[], $3::timestamptz[]) AS m(promotion_id, key, at) \
             WHERE r.promotion_id = m.promotion_id AND r.idempotency_key = m.key",
        )
        .bind::<Array<BigInt>, _>(redemptions.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(redemptions.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(redemptions.iter().map(|r| r.2).collect::<Vec<_>>())
        .execute(conn)
        .await?;

        // Sync runs.
        let syncs = &self.syncs;
        sql_query(
            "UPDATE cdp.integration_sync_runs r SET created_at = m.requested, \
               started_at = CASE WHEN r.started_at IS NOT NULL THEN m.started END, finished_at = CASE WHEN r.finished_at IS NOT NULL THEN m.finished END \
             FROM unnest($1::int8[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[]) AS m(id, requested, started, finished) WHERE r.id = m.id",
        )
        .bind::<Array<BigInt>, _>(syncs.iter().map(|s| s.id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(syncs.iter().map(|s| s.requested).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(syncs.iter().map(|s| s.started).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(syncs.iter().map(|s| s.finished).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
