"""The generated Python stubs against a live server (tests/interop/run.sh passes its address)."""
import sys

import grpc

from cdp_sdk.cdp.v1 import auth_pb2, auth_pb2_grpc


def main(target: str) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(grpc.insecure_channel(target))
    config = stub.GetAuthConfig(auth_pb2.GetAuthConfigRequest(), timeout=5)
    if config.provider != auth_pb2.AUTH_PROVIDER_LOCAL:
        sys.exit(f"unexpected provider {config.provider}")
    try:
        stub.SignIn(auth_pb2.SignInRequest(email="nobody@example.com", password="wrong password"), timeout=5)
        sys.exit("a wrong password signed in")
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNAUTHENTICATED:
            sys.exit(f"wrong password answered {err.code()}")
    print("python sdk: GetAuthConfig and SignIn behave as documented")


if __name__ == "__main__":
    main(sys.argv[1])
