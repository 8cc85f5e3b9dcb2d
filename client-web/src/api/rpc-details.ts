// Descriptors of the google.rpc error details the server attaches to errors (tonic-types'
// ErrorDetails: ErrorInfo with a machine-readable reason, BadRequest with per-field
// violations, RequestInfo with the request id). They are not part of the cdp.v1 contract, so
// they are declared here from google/rpc/error_details.proto (same names and field numbers)
// instead of being generated; only the fields the client reads are declared, the rest of the
// wire data is skipped as unknown fields.
import { createFileRegistry, type DescMessage } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";

const str = (name: string, number: number, jsonName: string) => ({
  name,
  number,
  jsonName,
  type: Type.STRING,
  label: Label.OPTIONAL,
});

const errorDetailsFile = create(FileDescriptorProtoSchema, {
  name: "google/rpc/error_details.proto",
  package: "google.rpc",
  syntax: "proto3",
  messageType: [
    {
      name: "ErrorInfo",
      field: [
        str("reason", 1, "reason"),
        str("domain", 2, "domain"),
        {
          name: "metadata",
          number: 3,
          jsonName: "metadata",
          type: Type.MESSAGE,
          label: Label.REPEATED,
          typeName: ".google.rpc.ErrorInfo.MetadataEntry",
        },
      ],
      nestedType: [
        {
          name: "MetadataEntry",
          field: [str("key", 1, "key"), str("value", 2, "value")],
          options: { mapEntry: true },
        },
      ],
    },
    {
      name: "BadRequest",
      field: [
        {
          name: "field_violations",
          number: 1,
          jsonName: "fieldViolations",
          type: Type.MESSAGE,
          label: Label.REPEATED,
          typeName: ".google.rpc.BadRequest.FieldViolation",
        },
      ],
      nestedType: [
        {
          name: "FieldViolation",
          field: [str("field", 1, "field"), str("description", 2, "description"), str("reason", 3, "reason")],
        },
      ],
    },
    {
      name: "RequestInfo",
      field: [str("request_id", 1, "requestId"), str("serving_data", 2, "servingData")],
    },
  ],
});

const registry = createFileRegistry(errorDetailsFile, () => undefined);

function message(typeName: string): DescMessage {
  const desc = registry.getMessage(typeName);
  if (!desc) throw new Error(`descriptor ${typeName} missing from rpc-details`);
  return desc;
}

export const ErrorInfoDesc = message("google.rpc.ErrorInfo");
export const BadRequestDesc = message("google.rpc.BadRequest");
export const RequestInfoDesc = message("google.rpc.RequestInfo");

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

export interface BadRequest {
  fieldViolations: { field: string; description: string; reason: string }[];
}

export interface RequestInfo {
  requestId: string;
  servingData: string;
}

/** For tests and tools that build errors the way the server does. */
export const errorDetailsRegistry = registry;
