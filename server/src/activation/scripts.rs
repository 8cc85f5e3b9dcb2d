//! The Lua scripts that make redemption atomic in Redis: one script checks status, window,
//! eligibility, the per-user cap, the total cap and the budget and reserves a use; the others
//! release a reservation that did not commit, mark committed ones, give a reverted use back,
//! and install a rebuilt state in one step. Each touches the keys of one promotion only.

use super::keys::PromotionKeys;
use redis::{RedisResult, Script, aio::ConnectionLike};
use std::sync::LazyLock;

/// Why Redis refused a reservation (the contract's `IneligibilityReason` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotActive,
    NotStarted,
    Expired,
    NotEligible,
    AlreadyRedeemed,
    Exhausted,
    BudgetExhausted,
}

impl Refusal {
    fn parse(reason: &str) -> Option<Refusal> {
        Some(match reason {
            "NOT_ACTIVE" => Refusal::NotActive,
            "NOT_STARTED" => Refusal::NotStarted,
            "EXPIRED" => Refusal::Expired,
            "NOT_ELIGIBLE" => Refusal::NotEligible,
            "ALREADY_REDEEMED" => Refusal::AlreadyRedeemed,
            "EXHAUSTED" => Refusal::Exhausted,
            "BUDGET_EXHAUSTED" => Refusal::BudgetExhausted,
            _ => return None,
        })
    }
}

/// The benefit as the promotion's Redis state describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct StateBenefit {
    pub benefit_type: String,
    pub value: f64,
    pub addon: String,
}

/// What the reservation script answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Reservation {
    /// No state in Redis (never published, flushed, or expired): rebuild or refuse from
    /// PostgreSQL.
    NotLoaded,
    /// This idempotency key is already in flight or committed for this promotion.
    Duplicate,
    /// A discount promotion was redeemed without the order's credits.
    NeedsOrderCredits,
    Refused(Refusal),
    /// Reserved (or, for a dry run, would be): the generation to commit under, the credits
    /// the benefit is worth and the uses the user has left after it.
    Granted {
        generation: i64,
        credits: i64,
        per_user_remaining: i32,
        benefit: StateBenefit,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reserve the use.
    Redeem,
    /// Answer the same question without reserving (ValidatePromotion).
    DryRun,
}

static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: state, eligible, used, budget, user_counts, idempotency
-- ARGV: mode, now_ms, user_id, idempotency field, order credits (-1 when none)
local s = redis.call('HMGET', KEYS[1], 'status', 'generation', 'starts_at_ms', 'ends_at_ms', 'total_cap',
                     'per_user_cap', 'credit_budget', 'type', 'value', 'addon')
if not s[1] then return {'NOT_LOADED'} end
local redeem = ARGV[1] == 'redeem'
if redeem and redis.call('HEXISTS', KEYS[6], ARGV[4]) == 1 then return {'DUPLICATE'} end
if redeem and s[8] == 'credit_discount_percent' and tonumber(ARGV[5]) < 0 then return {'NEEDS_ORDER_CREDITS'} end
local now = tonumber(ARGV[2])
local ends = tonumber(s[4])
if ends > 0 and now >= ends then return {'REFUSED', 'EXPIRED'} end
if s[1] == 'scheduled' or now < tonumber(s[3]) then return {'REFUSED', 'NOT_STARTED'} end
if s[1] ~= 'active' then return {'REFUSED', 'NOT_ACTIVE'} end
if redis.call('GETBIT', KEYS[2], ARGV[3]) == 0 then return {'REFUSED', 'NOT_ELIGIBLE'} end
local per_user = tonumber(s[6])
local mine = tonumber(redis.call('HGET', KEYS[5], ARGV[3]) or '0')
if mine >= per_user then return {'REFUSED', 'ALREADY_REDEEMED'} end
local cap = tonumber(s[5])
if cap > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= cap then return {'REFUSED', 'EXHAUSTED'} end
local credits = 0
if s[8] == 'bonus_credits' then
  credits = math.floor(tonumber(s[9]))
elseif s[8] == 'credit_discount_percent' then
  local order = tonumber(ARGV[5])
  if order > 0 then credits = math.floor(order * tonumber(s[9]) / 100) end
end
local budget = tonumber(s[7])
if budget > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') + credits > budget then
  return {'REFUSED', 'BUDGET_EXHAUSTED'}
end
if redeem then
  redis.call('INCR', KEYS[3])
  if credits > 0 then redis.call('INCRBY', KEYS[4], credits) end
  redis.call('HINCRBY', KEYS[5], ARGV[3], 1)
  redis.call('HSET', KEYS[6], ARGV[4], 'P:' .. s[2] .. ':' .. ARGV[3] .. ':' .. credits .. ':' .. ARGV[2])
  if ends > 0 then
    -- These two hashes are created here, after the install set the others' expiry.
    if redis.call('PTTL', KEYS[5]) == -1 then redis.call('PEXPIREAT', KEYS[5], ends) end
    if redis.call('PTTL', KEYS[6]) == -1 then redis.call('PEXPIREAT', KEYS[6], ends) end
  end
  mine = mine + 1
end
return {'OK', s[2], tostring(credits), tostring(per_user - mine), s[8], s[9], s[10] or ''}
"#,
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: used, budget, user_counts, idempotency; ARGV: idempotency field
-- Gives back a reservation that did not commit. Only an entry still in flight counts: after a
-- rebuild the entry is gone and the counters came from the ledger, so there is nothing to undo.
local entry = redis.call('HGET', KEYS[4], ARGV[1])
if not entry or string.sub(entry, 1, 2) ~= 'P:' then return 0 end
local user, credits = string.match(entry, '^P:%d+:(%d+):(%d+):')
redis.call('DECR', KEYS[1])
if tonumber(credits) > 0 then redis.call('DECRBY', KEYS[2], credits) end
if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then redis.call('HDEL', KEYS[3], user) end
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
"#,
    )
});

static MARK_COMMITTED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: idempotency; ARGV: idempotency fields whose ledger rows committed
local n = 0
for i = 1, #ARGV do
  local entry = redis.call('HGET', KEYS[1], ARGV[i])
  if entry and string.sub(entry, 1, 2) == 'P:' then
    redis.call('HSET', KEYS[1], ARGV[i], 'D')
    n = n + 1
  end
end
return n
"#,
    )
});

static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: state, used, budget, user_counts; ARGV: generation, user_id, credits
-- A reverted redemption's use returns, unless the state was rebuilt since the revert read
-- the generation (the rebuild already counted from the ledger, revert included).
if redis.call('HGET', KEYS[1], 'generation') ~= ARGV[1] then return 0 end
redis.call('DECR', KEYS[2])
if tonumber(ARGV[3]) > 0 then redis.call('DECRBY', KEYS[3], ARGV[3]) end
if redis.call('HINCRBY', KEYS[4], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[4], ARGV[2]) end
return 1
"#,
    )
});

static INSTALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: state, eligible, used, budget, user_counts, codes, idempotency,
--       eligible (built), user_counts (built), codes (built)
-- ARGV: expire at (ms, 0 = never), used, credits, which built keys must exist ('101'),
--       state field/value pairs...
-- Switches the promotion to a rebuilt state in one step: reservations see the old state or
-- the new one, never a mix. In-flight reservations of the old generation are forgotten (the
-- ledger writer's fence refuses to commit them). A built key that vanished (Redis flushed
-- mid-rebuild) fails the install rather than publish an empty audience.
local built = {{8, 2}, {9, 5}, {10, 6}}
for i, pair in ipairs(built) do
  if string.sub(ARGV[4], i, i) == '1' and redis.call('EXISTS', KEYS[pair[1]]) == 0 then return 0 end
end
redis.call('DEL', KEYS[1], KEYS[7])
for _, pair in ipairs(built) do
  if redis.call('EXISTS', KEYS[pair[1]]) == 1 then
    redis.call('RENAME', KEYS[pair[1]], KEYS[pair[2]])
  else
    redis.call('DEL', KEYS[pair[2]])
  end
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
-- The built keys carried a safety expiry; the live keys expire with the promotion or never.
local at = tonumber(ARGV[1])
for i = 1, 6 do
  if at > 0 then redis.call('PEXPIREAT', KEYS[i], at) else redis.call('PERSIST', KEYS[i]) end
end
return 1
"#,
    )
});

static FORGET_SHARED_CODE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: shared codes hash; ARGV: code, promotion id. Removes the code only if it is still this
-- promotion's (an archived promotion's code may already belong to another one).
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"#,
    )
});

/// The idempotency field of a redemption attempt: scoped to the calling credential.
pub fn idempotency_field(credential: &uuid::Uuid, key: &str) -> String {
    format!("{credential}|{key}")
}

/// Runs the reservation script for `user_id` (see [`Reservation`]).
pub async fn reserve(
    conn: &mut impl ConnectionLike,
    keys: &PromotionKeys,
    mode: Mode,
    now_ms: i64,
    user_id: i64,
    idempotency_field: &str,
    order_credits: Option<i64>,
) -> RedisResult<Reservation> {
    let reply: Vec<String> = RESERVE
        .key(&keys.state)
        .key(&keys.eligible)
        .key(&keys.used)
        .key(&keys.budget)
        .key(&keys.user_counts)
        .key(&keys.idempotency)
        .arg(if mode == Mode::Redeem { "redeem" } else { "dry_run" })
        .arg(now_ms)
        .arg(user_id)
        .arg(idempotency_field)
        .arg(order_credits.unwrap_or(-1))
        .invoke_async(conn)
        .await?;
    parse_reservation(&reply)
        .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Parse, "unexpected reply from the reservation script", format!("{reply:?}"))))
}

fn parse_reservation(reply: &[String]) -> Option<Reservation> {
    match reply.first()?.as_str() {
        "NOT_LOADED" => Some(Reservation::NotLoaded),
        "DUPLICATE" => Some(Reservation::Duplicate),
        "NEEDS_ORDER_CREDITS" => Some(Reservation::NeedsOrderCredits),
        "REFUSED" => Some(Reservation::Refused(Refusal::parse(reply.get(1)?)?)),
        "OK" => Some(Reservation::Granted {
            generation: reply.get(1)?.parse().ok()?,
            credits: reply.get(2)?.parse().ok()?,
            per_user_remaining: reply.get(3)?.parse().ok()?,
            benefit: StateBenefit { benefit_type: reply.get(4)?.clone(), value: reply.get(5)?.parse().ok()?, addon: reply.get(6).cloned().unwrap_or_default() },
        }),
        _ => None,
    }
}

/// Releases a reservation whose ledger row did not commit. True when something was released.
pub async fn release(conn: &mut impl ConnectionLike, keys: &PromotionKeys, idempotency_field: &str) -> RedisResult<bool> {
    let released: i64 =
        RELEASE.key(&keys.used).key(&keys.budget).key(&keys.user_counts).key(&keys.idempotency).arg(idempotency_field).invoke_async(conn).await?;
    Ok(released == 1)
}

/// Marks reservations whose ledger rows committed, so that nothing can release them.
pub async fn mark_committed(conn: &mut impl ConnectionLike, keys: &PromotionKeys, fields: &[String]) -> RedisResult<i64> {
    if fields.is_empty() {
        return Ok(0);
    }
    MARK_COMMITTED.key(&keys.idempotency).arg(fields).invoke_async(conn).await
}

/// Gives a reverted redemption's use back if the state is still of `generation`.
pub async fn give_back(conn: &mut impl ConnectionLike, keys: &PromotionKeys, generation: i64, user_id: i64, credits: i64) -> RedisResult<bool> {
    let given: i64 = GIVE_BACK
        .key(&keys.state)
        .key(&keys.used)
        .key(&keys.budget)
        .key(&keys.user_counts)
        .arg(generation)
        .arg(user_id)
        .arg(credits)
        .invoke_async(conn)
        .await?;
    Ok(given == 1)
}

/// Installs a rebuilt state: the built keys of `generation` replace the live ones. `built`
/// says which of eligible, user_counts and codes were built (and so must still exist).
#[allow(clippy::too_many_arguments)] // the script's arguments, each named at the call
pub async fn install(
    conn: &mut impl ConnectionLike,
    keys: &PromotionKeys,
    generation: i64,
    expire_at_ms: i64,
    used: i64,
    credits: i64,
    built: [bool; 3],
    state: &[(&str, String)],
) -> RedisResult<()> {
    let mut invocation = INSTALL.prepare_invoke();
    invocation
        .key(&keys.state)
        .key(&keys.eligible)
        .key(&keys.used)
        .key(&keys.budget)
        .key(&keys.user_counts)
        .key(&keys.codes)
        .key(&keys.idempotency)
        .key(keys.building("eligible", generation))
        .key(keys.building("user_counts", generation))
        .key(keys.building("codes", generation))
        .arg(expire_at_ms)
        .arg(used)
        .arg(credits)
        .arg(built.map(|b| if b { '1' } else { '0' }).iter().collect::<String>());
    for (field, value) in state {
        invocation.arg(*field).arg(value);
    }
    let installed: i64 = invocation.invoke_async(conn).await?;
    if installed != 1 {
        return Err(redis::RedisError::from((redis::ErrorKind::Client, "a built key vanished before the install (Redis flushed mid-rebuild?)")));
    }
    Ok(())
}

/// Removes `code` from the shared-code index if it still points at `promotion_id`.
pub async fn forget_shared_code(conn: &mut impl ConnectionLike, shared_codes_key: &str, code: &str, promotion_id: i64) -> RedisResult<()> {
    let _: i64 = FORGET_SHARED_CODE.key(shared_codes_key).arg(code).arg(promotion_id).invoke_async(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replies_parse() {
        let ok: Vec<String> = ["OK", "3", "50", "0", "bonus_credits", "50", ""].map(String::from).to_vec();
        assert_eq!(
            parse_reservation(&ok),
            Some(Reservation::Granted {
                generation: 3,
                credits: 50,
                per_user_remaining: 0,
                benefit: StateBenefit { benefit_type: "bonus_credits".into(), value: 50.0, addon: String::new() }
            })
        );
        assert_eq!(parse_reservation(&["REFUSED".into(), "EXHAUSTED".into()]), Some(Reservation::Refused(Refusal::Exhausted)));
        assert_eq!(parse_reservation(&["NOT_LOADED".into()]), Some(Reservation::NotLoaded));
        assert_eq!(parse_reservation(&["REFUSED".into(), "SOMETHING".into()]), None);
    }
}
