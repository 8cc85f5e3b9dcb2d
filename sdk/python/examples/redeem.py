"""Redeem a promotion the way an internal marketplace service does: with a service credential
(scope promotions.redeem) and an idempotency key, so a retried request never counts twice.

From sdk/python, after ./generate.sh (or with the cdp-sdk package installed), with
grpcio-status for the error reasons (`pip install grpcio-status`):

    CDP_URL=127.0.0.1:8080 CDP_SERVICE_CREDENTIAL=cdp_sk_... \
      python examples/redeem.py --code SPRING50 --user-id 1234 --key order-9876

Exit status 0 when the promotion was redeemed (or this key already was: the output then says
"replayed" and nothing new was granted); 1 when the CDP refused it (`refused:` and the ErrorInfo
reason, e.g. NOT_ELIGIBLE, ALREADY_REDEEMED, EXHAUSTED) or could not be reached (`failed:`,
after retrying UNAVAILABLE and DEADLINE_EXCEEDED with the same key); 2 on a usage error.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# Run from a checkout: the generated package sits next to examples/.
if (Path(__file__).resolve().parent.parent / "cdp_sdk").is_dir():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdp_sdk.cdp.v1 import promotions_pb2, redemption_pb2, redemption_pb2_grpc  # noqa: E402

# Safe to retry with the same idempotency key: the CDP counts a redemption once whatever happened.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
ATTEMPTS = 4


def reason_of(err: grpc.RpcError) -> str:
    """The machine-readable reason (google.rpc.ErrorInfo) of a refusal; clients switch on it,
    never on the message. Falls back to the status code's name."""
    status = rpc_status.from_call(err)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return err.code().name


def describe(benefit: promotions_pb2.Benefit) -> str:
    """E.g. `BONUS_CREDITS 50 (worth 50 credits)` or `FREE_ADDON 3 x vip`."""
    kind = promotions_pb2.PromotionType.Name(benefit.type).removeprefix("PROMOTION_TYPE_")
    text = f"{kind} {benefit.value:g}"
    if benefit.addon:
        text += f" x {benefit.addon}"
    if benefit.credits:
        text += f" (worth {benefit.credits} credits)"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", required=True, help="the promotion code")
    parser.add_argument("--user-id", type=int, required=True, help="the marketplace user id")
    parser.add_argument("--key", required=True, help="idempotency key, e.g. the order id")
    parser.add_argument("--order-credits", type=int, help="credits of the order (for percentage discounts)")
    args = parser.parse_args()
    credential = os.environ.get("CDP_SERVICE_CREDENTIAL")
    if not credential:
        parser.error("set CDP_SERVICE_CREDENTIAL to a service credential secret (cdp_sk_...) with scope promotions.redeem")

    channel = grpc.insecure_channel(os.environ.get("CDP_URL", "127.0.0.1:8080"))
    stub = redemption_pb2_grpc.RedemptionServiceStub(channel)
    metadata = [("authorization", f"Bearer {credential}")]
    request = redemption_pb2.RedeemPromotionRequest(code=args.code, user_id=args.user_id, idempotency_key=args.key)
    if args.order_credits is not None:
        request.order_credits = args.order_credits
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = stub.RedeemPromotion(request, metadata=metadata, timeout=5)
            break
        except grpc.RpcError as err:
            if err.code() in RETRYABLE and attempt < ATTEMPTS:
                time.sleep(0.2 * 2 ** attempt)
                continue
            # FAILED_PRECONDITION, NOT_FOUND, INVALID_ARGUMENT: the CDP said no (show the buyer);
            # anything else (UNAVAILABLE after the retries, UNAUTHENTICATED, ...): it did not answer.
            said_no = err.code() in {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}
            print(f"{'refused' if said_no else 'failed'}: {reason_of(err)} ({err.code().name}): {err.details()}", file=sys.stderr)
            return 1
    replay = " (replayed: this key was already redeemed, nothing new granted)" if response.replayed else ""
    print(f"redeemed: redemption {response.redemption_id} of promotion {response.promotion_id} "
          f"for user {args.user_id}, benefit {describe(response.benefit)}, "
          f"{response.per_user_remaining} left for this user{replay}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
