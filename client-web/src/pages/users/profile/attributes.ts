// The CDP-owned attributes as the profile edits them, and the checks UpdateUser makes on
// them (CdpAttributes in users.proto), so most mistakes are caught before the round trip.
import { AccountStatus, LifecycleStage, type CdpAttributes } from "../../../gen/cdp/v1/users_pb";

export const MAX_TAGS = 20;
export const MAX_TAG_LENGTH = 40;
export const MAX_NOTES_LENGTH = 4000;

export interface Draft {
  accountStatus: AccountStatus;
  override: LifecycleStage;
  tags: string[];
  notes: string;
}

export function draftOf(a: CdpAttributes | undefined): Draft {
  return {
    accountStatus: a?.accountStatus || AccountStatus.ACTIVE,
    override: a?.lifecycleStageOverride ?? LifecycleStage.UNSPECIFIED,
    tags: [...(a?.tags ?? [])],
    notes: a?.notes ?? "",
  };
}

/** The checks UpdateUser makes on the attributes (the server checks them again). */
export function validateAttributes(d: Draft): Record<string, string> {
  const errors: Record<string, string> = {};
  if (d.tags.length > MAX_TAGS) errors.tags = `Use at most ${MAX_TAGS} tags.`;
  else if (d.tags.some((t) => t.length > MAX_TAG_LENGTH)) errors.tags = `Each tag has at most ${MAX_TAG_LENGTH} characters.`;
  if (d.notes.length > MAX_NOTES_LENGTH) errors.notes = `Notes have at most ${MAX_NOTES_LENGTH.toLocaleString()} characters (now ${d.notes.length.toLocaleString()}).`;
  return errors;
}

