"""Redeem a promotion the way an internal marketplace service does: with a service credential
(scope promotions.redeem) and an idempotency key, so a retried request never counts twice.

    CDP_URL=127.0.0.1:8080 CDP_SERVICE_CREDENTIAL=cdp_sk_... \
      python examples/redeem.py --code SPRING50 --user-id 1234 --key order-9876
"""
import argparse
import os
import sys

import grpc

from cdp_sdk.cdp.v1 import redemption_pb2, redemption_pb2_grpc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", required=True, help="the promotion code")
    parser.add_argument("--user-id", type=int, required=True, help="the marketplace user id")
    parser.add_argument("--key", required=True, help="idempotency key, e.g. the order id")
    parser.add_argument("--order-credits", type=int, help="credits of the order (for percentage discounts)")
    args = parser.parse_args()

    channel = grpc.insecure_channel(os.environ.get("CDP_URL", "127.0.0.1:8080"))
    stub = redemption_pb2_grpc.RedemptionServiceStub(channel)
    metadata = [("authorization", f"Bearer {os.environ['CDP_SERVICE_CREDENTIAL']}")]
    request = redemption_pb2.RedeemPromotionRequest(code=args.code, user_id=args.user_id, idempotency_key=args.key)
    if args.order_credits is not None:
        request.order_credits = args.order_credits
    try:
        response = stub.RedeemPromotion(request, metadata=metadata, timeout=5)
    except grpc.RpcError as err:
        print(f"refused: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    replay = " (replayed: this key was already redeemed)" if response.replayed else ""
    print(f"redeemed: redemption {response.redemption_id} of promotion {response.promotion_id}, "
          f"benefit {redemption_pb2.Benefit.__name__} {response.benefit}".strip() + replay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
