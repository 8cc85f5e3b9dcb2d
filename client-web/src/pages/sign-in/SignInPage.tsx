import { Navigate, useNavigate, useSearchParams } from "react-router";
import { signIn } from "../../api/session";
import { AuthLayout } from "../../components/layout/AuthLayout";
import { homePath, safeNext } from "../../lib/navigation";
import { useSession } from "../../stores/session";
import { SignInForm } from "./SignInForm";

export function SignInPage() {
  const status = useSession((s) => s.status);
  const endedReason = useSession((s) => s.endedReason);
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get("next"));

  if (status === "signedIn") {
    return <Navigate to={next ?? homePath(useSession.getState().permissions)} replace />;
  }
  return (
    <AuthLayout title="Sign in to CDP" subtitle="Use the email address your admin invited.">
      <SignInForm
        notice={endedReason}
        onSubmit={async (email, password) => {
          await signIn(email, password);
          navigate(next ?? homePath(useSession.getState().permissions), { replace: true });
        }}
      />
    </AuthLayout>
  );
}
