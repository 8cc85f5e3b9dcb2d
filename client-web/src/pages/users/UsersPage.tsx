import { useQuery } from "@connectrpc/connect-query";
import { PageHeader } from "../../components/PageHeader";
import { ServicePreview } from "../../components/ServicePreview";
import { UserService } from "../../gen/cdp/v1/users_pb";
import { pluralize } from "../../lib/format";

/** The user explorer: UserService.ListUsers. */
export function UsersPage() {
  const users = useQuery(UserService.method.listUsers, { pageSize: 25 }, { retry: false });
  return (
    <>
      <PageHeader title="Users" description="Search and filter marketplace users, and open a user's full profile." />
      <ServicePreview query={users} summary={(d) => pluralize(d.totalSize, "marketplace user")} />
    </>
  );
}
