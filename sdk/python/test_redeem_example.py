"""examples/redeem.py against a live server (tests/interop/run.sh passes its address; the
server runs with its worker on a seeded marketplace and a bootstrap admin whose email and
password are in CDP_SDK_TEST_ADMIN_EMAIL / CDP_SDK_TEST_ADMIN_PASSWORD).

Sets everything up with the generated stubs only, as an admin would: a cohort, a promotion
with a shared code on it, its activation (waiting until the worker has published it), and a
service credential with scope promotions.redeem. Then runs the example as a subprocess:
a member redeems (exit 0, "redeemed"), the same key again is replayed, and a user outside
the cohort is refused (exit 1, NOT_ELIGIBLE)."""
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import grpc
from google.protobuf import duration_pb2

from cdp_sdk.cdp.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    cohorts_pb2,
    cohorts_pb2_grpc,
    common_pb2,
    promotions_pb2,
    promotions_pb2_grpc,
    redemption_pb2,
    redemption_pb2_grpc,
    service_credentials_pb2,
    service_credentials_pb2_grpc,
)

HERE = Path(__file__).resolve().parent
COHORT_MAX_USER_ID = 50  # the cohort: users 1..50 of the seeded marketplace
TIMEOUT = 5


def wait_for(what: str, check, seconds: float = 60):
    """Polls `check` until it returns something truthy, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            sys.exit(f"redeem example: timed out after {seconds}s waiting for {what}")
        time.sleep(0.2)


def run_example(target: str, secret: str, code: str, user_id: int, key: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDP_URL": target, "CDP_SERVICE_CREDENTIAL": secret}
    command = [sys.executable, "examples/redeem.py", "--code", code, "--user-id", str(user_id), "--key", key]
    done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=60)
    print(f"$ python examples/redeem.py --code {code} --user-id {user_id} --key {key}   # exit {done.returncode}")
    for line in (done.stdout + done.stderr).splitlines():
        print(f"  {line}")
    return done


def main(target: str) -> None:
    channel = grpc.insecure_channel(target)
    session = auth_pb2_grpc.AuthServiceStub(channel).SignIn(
        auth_pb2.SignInRequest(email=os.environ["CDP_SDK_TEST_ADMIN_EMAIL"], password=os.environ["CDP_SDK_TEST_ADMIN_PASSWORD"]),
        timeout=TIMEOUT,
    ).session
    admin = [("authorization", f"Bearer {session.access_token}")]
    cohorts = cohorts_pb2_grpc.CohortServiceStub(channel)
    promotions = promotions_pb2_grpc.PromotionServiceStub(channel)
    credentials = service_credentials_pb2_grpc.ServiceCredentialServiceStub(channel)
    redemption = redemption_pb2_grpc.RedemptionServiceStub(channel)

    # A static cohort of the first users; the worker evaluates it.
    condition = common_pb2.Condition(field="user_id", operator=common_pb2.OPERATOR_LESS_OR_EQUAL, value=common_pb2.Value(number=COHORT_MAX_USER_ID))
    cohort = cohorts.CreateCohort(cohorts_pb2.CreateCohortRequest(cohort=cohorts_pb2.Cohort(
        name="Python SDK example",
        description="users the redeem example may redeem for",
        kind=cohorts_pb2.COHORT_KIND_STATIC,
        definition=common_pb2.ConditionGroup(combinator=common_pb2.COMBINATOR_AND, nodes=[common_pb2.ConditionNode(condition=condition)]),
    )), metadata=admin, timeout=TIMEOUT).cohort

    def evaluated():
        current = cohorts.GetCohort(cohorts_pb2.GetCohortRequest(id=cohort.id), metadata=admin, timeout=TIMEOUT).cohort
        if current.refresh_state == cohorts_pb2.COHORT_REFRESH_STATE_FAILED:
            sys.exit(f"redeem example: the cohort's evaluation failed: {current.last_error}")
        return current if current.refresh_state == cohorts_pb2.COHORT_REFRESH_STATE_IDLE and current.HasField("last_refreshed_at") else None

    cohort = wait_for("the cohort's first evaluation", evaluated)
    if cohort.size < 2:
        sys.exit(f"redeem example: the cohort has {cohort.size} members; was the marketplace seeded?")
    members = cohorts.ListCohortMembers(cohorts_pb2.ListCohortMembersRequest(cohort_id=cohort.id, page_size=500), metadata=admin, timeout=TIMEOUT).members
    member_ids = {m.user_id for m in members}
    outsider = next(u for u in range(COHORT_MAX_USER_ID + 1, 10**6) if u not in member_ids)

    # A bonus-credit promotion on it with a shared code, activated.
    code = f"PY-{secrets.token_hex(4).upper()}"
    promotion = promotions.CreatePromotion(promotions_pb2.CreatePromotionRequest(promotion=promotions_pb2.Promotion(
        name="Python SDK example bonus",
        description="50 bonus credits, once per user",
        cohort_id=cohort.id,
        type=promotions_pb2.PROMOTION_TYPE_BONUS_CREDITS,
        value=50,
        code_mode=promotions_pb2.CODE_MODE_SHARED,
        code=code,
        limits=promotions_pb2.PromotionLimits(total_redemptions=100, per_user=1, credit_budget=5000),
        audience=promotions_pb2.PROMOTION_AUDIENCE_FROZEN,
        ttl=duration_pb2.Duration(seconds=3600),  # its Redis keys expire with it
    )), metadata=admin, timeout=TIMEOUT).promotion
    activated = promotions.ActivatePromotion(promotions_pb2.ActivatePromotionRequest(id=promotion.id), metadata=admin, timeout=TIMEOUT).promotion
    if activated.status != promotions_pb2.PROMOTION_STATUS_ACTIVE:
        sys.exit(f"redeem example: activation answered {promotions_pb2.PromotionStatus.Name(activated.status)}")

    # A credential for the "checkout service".
    created = credentials.CreateServiceCredential(service_credentials_pb2.CreateServiceCredentialRequest(
        name="python-sdk-example", scopes=["promotions.redeem"]), metadata=admin, timeout=TIMEOUT)
    service = [("authorization", f"Bearer {created.secret}")]

    def first_eligible_member():
        for user_id in sorted(member_ids):
            check = redemption.ValidatePromotion(redemption_pb2.ValidatePromotionRequest(code=code, user_id=user_id), metadata=service, timeout=TIMEOUT)
            if check.eligible:
                return user_id
        return None

    # Wait until the worker has frozen the audience and published it: members are eligible.
    def published():
        promo = promotions.GetPromotion(promotions_pb2.GetPromotionRequest(id=promotion.id), metadata=admin, timeout=TIMEOUT).promotion
        return promo.status == promotions_pb2.PROMOTION_STATUS_ACTIVE and promo.audience_size == cohort.size and first_eligible_member()

    wait_for("the worker to publish the promotion", published)
    member = first_eligible_member()  # now that it is published, the lowest eligible id
    refusal = redemption.ValidatePromotion(redemption_pb2.ValidatePromotionRequest(code=code, user_id=outsider), metadata=service, timeout=TIMEOUT)
    if refusal.eligible or refusal.reason != redemption_pb2.INELIGIBILITY_REASON_NOT_ELIGIBLE:
        sys.exit(f"redeem example: user {outsider} outside the cohort validates as {redemption_pb2.IneligibilityReason.Name(refusal.reason)}")
    print(f"redeem example: cohort {cohort.id} ({cohort.size} users), promotion {promotion.id} code {code} published, "
          f"credential {created.service_credential.key_prefix} (promotions.redeem)")

    first = run_example(target, created.secret, code, member, "order-1")
    if first.returncode != 0 or "redeemed:" not in first.stdout or "replayed" in first.stdout:
        sys.exit("redeem example: the member's redemption did not succeed")
    again = run_example(target, created.secret, code, member, "order-1")
    if again.returncode != 0 or "replayed" not in again.stdout:
        sys.exit("redeem example: the same key again was not answered as a replay")
    if first.stdout.split(" for user ")[0] != again.stdout.split(" for user ")[0]:
        sys.exit("redeem example: the replay answered another redemption")
    refused = run_example(target, created.secret, code, outsider, "order-2")
    if refused.returncode == 0 or "NOT_ELIGIBLE" not in refused.stderr:
        sys.exit("redeem example: a user outside the cohort was not refused NOT_ELIGIBLE")

    counted = promotions.GetPromotion(promotions_pb2.GetPromotionRequest(id=promotion.id), metadata=admin, timeout=TIMEOUT).promotion
    if counted.redeemed_count != 1 or counted.credits_granted != 50:
        sys.exit(f"redeem example: the promotion counts {counted.redeemed_count} redemptions and {counted.credits_granted} credits, not 1 and 50")
    print("python sdk: examples/redeem.py redeemed, replayed the same key, and was refused NOT_ELIGIBLE outside the cohort")


if __name__ == "__main__":
    main(sys.argv[1])
