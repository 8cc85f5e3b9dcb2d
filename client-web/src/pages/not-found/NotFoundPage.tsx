import { Link } from "react-router";
import { Compass } from "lucide-react";
import { Card } from "../../components/Card";
import { EmptyState } from "../../components/States";

export function NotFoundPage() {
  return (
    <Card>
      <EmptyState
        icon={<Compass className="size-5" />}
        title="Page not found"
        description="The address may be mistyped, or the page has moved."
        action={
          <Link to="/" className="text-sm font-medium text-brand-700 hover:text-brand-800">
            Go to the start page
          </Link>
        }
      />
    </Card>
  );
}
