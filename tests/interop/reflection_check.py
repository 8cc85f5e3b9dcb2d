"""A client that knows nothing of this repository: it discovers the API through gRPC server
reflection (grpcio-reflection), builds message classes from the served descriptors, and calls
the server. Exits non-zero with a message on any mismatch."""
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

EXPECTED = {
    "cdp.v1.AuthService", "cdp.v1.PlatformUserService", "cdp.v1.RoleService", "cdp.v1.AuditLogService",
    "cdp.v1.ServiceCredentialService", "cdp.v1.DashboardService", "cdp.v1.UserService", "cdp.v1.CohortService",
    "cdp.v1.PromotionService", "cdp.v1.RedemptionService", "cdp.v1.IntegrationService", "grpc.health.v1.Health",
}


def main(target: str) -> None:
    channel = grpc.insecure_channel(target)
    reflection = ProtoReflectionDescriptorDatabase(channel)
    services = set(reflection.get_services())
    missing = EXPECTED - services
    if missing:
        sys.exit(f"reflection does not list: {sorted(missing)} (got {sorted(services)})")

    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    if health.status != health_pb2.HealthCheckResponse.SERVING:
        sys.exit(f"health is {health.status}, not SERVING")

    # Call AuthService.GetAuthConfig using only what reflection served.
    pool = descriptor_pool.DescriptorPool(reflection)
    method = pool.FindServiceByName("cdp.v1.AuthService").FindMethodByName("GetAuthConfig")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = channel.unary_unary(
        "/cdp.v1.AuthService/GetAuthConfig",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    config = call(request_class())
    provider = method.output_type.fields_by_name["provider"].enum_type.values_by_number[config.provider].name
    if provider != "AUTH_PROVIDER_LOCAL":
        sys.exit(f"unexpected provider {provider}")

    # A protected RPC without a token is refused with UNAUTHENTICATED.
    roles = pool.FindServiceByName("cdp.v1.RoleService").FindMethodByName("ListRoles")
    list_roles = channel.unary_unary(
        "/cdp.v1.RoleService/ListRoles",
        request_serializer=message_factory.GetMessageClass(roles.input_type).SerializeToString,
        response_deserializer=message_factory.GetMessageClass(roles.output_type).FromString,
    )
    try:
        list_roles(message_factory.GetMessageClass(roles.input_type)())
        sys.exit("ListRoles without a token succeeded")
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNAUTHENTICATED:
            sys.exit(f"ListRoles without a token answered {err.code()}")
    print(f"interop: {len(services)} services listed by reflection, health SERVING, GetAuthConfig -> {provider}")


if __name__ == "__main__":
    main(sys.argv[1])
