/**
 * The standard gRPC side services that tools and probes expect: health checking (grpc.health.v1) and server
 * reflection (grpc.reflection.v1 and v1alpha). Connect-ES ships neither (connect-es #797, #507).
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.ts";
import { ServerReflection as ServerReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.ts";
import { ServerReflection as ServerReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { createHealthService, type HealthState, ServingStatus } from "./health.ts";
import { createReflectionV1, createReflectionV1alpha, ReflectionIndex } from "./reflection.ts";

/**
 * Registers Health and both reflection versions on `router`. Each of `services` (the application's services,
 * registered on the same router) that `health` does not know yet becomes SERVING; reflection lists them followed
 * by Health and the two reflection services, and describes every file they need. Health's Watch streams end when
 * the call's signal aborts (so the adapter's shutdownSignal ends them); `health.enterShutdown()` flips every
 * status to NOT_SERVING first.
 */
export function registerGrpcExtras(
  router: ConnectRouter,
  services: DescService[],
  health: HealthState,
): void {
  for (const service of services) {
    if (!health.has(service.typeName)) health.set(service.typeName, ServingStatus.SERVING);
  }
  const index = new ReflectionIndex([...services, Health, ServerReflectionV1, ServerReflectionV1alpha]);
  router.service(Health, createHealthService(health));
  router.service(ServerReflectionV1, createReflectionV1(index));
  router.service(ServerReflectionV1alpha, createReflectionV1alpha(index));
}
