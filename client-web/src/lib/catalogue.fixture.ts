// Test fixture (imported by tests only): a small field catalogue shaped like UserService.ListUserFields answers, for component tests.
import { create } from "@bufbuild/protobuf";
import { Operator } from "../gen/cdp/v1/common_pb";
import { FieldType, UserFieldSchema, type UserField } from "../gen/cdp/v1/users_pb";

const NUMBER_OPS = [
  Operator.EQUALS,
  Operator.NOT_EQUALS,
  Operator.GREATER_THAN,
  Operator.GREATER_OR_EQUAL,
  Operator.LESS_THAN,
  Operator.LESS_OR_EQUAL,
  Operator.BETWEEN,
  Operator.IN,
  Operator.NOT_IN,
  Operator.IS_SET,
  Operator.IS_NOT_SET,
];
const TEXT_OPS = [Operator.EQUALS, Operator.NOT_EQUALS, Operator.CONTAINS, Operator.NOT_CONTAINS, Operator.STARTS_WITH, Operator.IN, Operator.NOT_IN, Operator.IS_SET, Operator.IS_NOT_SET];
const LIST_OPS = [Operator.CONTAINS_ANY, Operator.CONTAINS_ALL, Operator.CONTAINS_NONE, Operator.IS_SET, Operator.IS_NOT_SET];
const TIME_OPS = [Operator.WITHIN_LAST_DAYS, Operator.MORE_THAN_DAYS_AGO, Operator.BEFORE, Operator.AFTER, Operator.BETWEEN, Operator.EQUALS, Operator.IS_SET, Operator.IS_NOT_SET];

export const CATALOGUE: UserField[] = [
  create(UserFieldSchema, { name: "user_type", label: "User type", group: "account", type: FieldType.TEXT, operators: TEXT_OPS, values: ["individual", "office", "shop"], sortable: true, distributable: true }),
  create(UserFieldSchema, { name: "is_block", label: "Blocked", group: "account", type: FieldType.BOOLEAN, operators: [Operator.EQUALS, Operator.NOT_EQUALS, Operator.IS_SET, Operator.IS_NOT_SET] }),
  create(UserFieldSchema, { name: "total_credits_spent", label: "Total credits spent", group: "wallet", type: FieldType.NUMBER, operators: NUMBER_OPS, unit: "credits", sortable: true, distributable: true, description: "Credits spent over the user's lifetime." }),
  create(UserFieldSchema, { name: "last_transaction_date", label: "Last transaction", group: "wallet", type: FieldType.TIMESTAMP, operators: TIME_OPS, sortable: true }),
  create(UserFieldSchema, { name: "verticals_listed_in", label: "Verticals listed in", group: "listings", type: FieldType.LIST, operators: LIST_OPS, values: ["cars", "property", "electronics"], distributable: true }),
  create(UserFieldSchema, {
    name: "lifecycle_stage",
    label: "Lifecycle stage",
    group: "cdp",
    type: FieldType.TEXT,
    operators: [Operator.EQUALS, Operator.NOT_EQUALS, Operator.IN, Operator.NOT_IN],
    values: ["new", "activated", "active", "about_to_churn", "churned", "reactivated", "dormant"],
    valuesExhaustive: true,
    sortable: true,
    distributable: true,
  }),
  create(UserFieldSchema, { name: "cohort", label: "Cohort", group: "cohorts", type: FieldType.COHORT, operators: [Operator.IN_COHORT, Operator.NOT_IN_COHORT] }),
];
