import { Button } from "../../../components/Button";
import { CopyField } from "../../../components/CopyField";
import { Dialog } from "../../../components/Dialog";
import type { PlatformUser, ResetPlatformUserPasswordResponse } from "../../../gen/cdp/v1/platform_users_pb";
import { formatDateTime } from "../../../lib/format";

/** The recovery link the server returns (local provider) for the admin to hand over. */
export function RecoveryLinkDialog({
  user,
  result,
  onClose,
}: {
  user: PlatformUser;
  result: ResetPlatformUserPasswordResponse;
  onClose: () => void;
}) {
  return (
    <Dialog
      open
      onClose={onClose}
      title="Password reset link"
      description={`Send this link to ${user.email} over a channel you trust. Whoever opens it can set a new password.`}
      footer={
        <Button variant="primary" onClick={onClose}>
          Done
        </Button>
      }
    >
      <div className="space-y-3">
        <CopyField label="Recovery link" value={result.recoveryLink} testId="recovery-link" />
        {result.recoveryLinkExpiresAt && (
          <p className="text-[13px] text-zinc-500">The link works until {formatDateTime(result.recoveryLinkExpiresAt)}.</p>
        )}
      </div>
    </Dialog>
  );
}
