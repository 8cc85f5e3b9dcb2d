import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { DagCardSchema, DagRunSchema, DagRunState } from "../../gen/cdp/v1/integrations_pb";
import { DagCardView } from "./DagCardView";

const NOW = new Date("2026-11-25T12:00:00Z");
const at = (iso: string) => timestampFromDate(new Date(iso));

function card(overrides: Parameters<typeof create<typeof DagCardSchema>>[1] = {}) {
  return create(DagCardSchema, {
    dagId: "cdp_users_load",
    description: "Copies the marketplace's user snapshot into public.users.",
    schedule: "0 3 * * *",
    tags: ["cdp", "etl"],
    owners: ["cdp"],
    feeds: "public.users: the users table behind the user explorer",
    latestRun: create(DagRunSchema, { runId: "scheduled__1", state: DagRunState.SUCCESS, endedAt: at("2026-11-25T03:05:00Z") }),
    recentRuns: [
      create(DagRunSchema, { runId: "scheduled__1", state: DagRunState.SUCCESS }),
      create(DagRunSchema, { runId: "scheduled__0", state: DagRunState.FAILED }),
    ],
    lastSuccessfulRunAt: at("2026-11-25T03:05:00Z"),
    nextRunAt: at("2026-11-26T03:00:00Z"),
    ...overrides,
  });
}

describe("DagCardView", () => {
  it("shows what the DAG feeds, its state, schedule and recent runs", () => {
    render(<DagCardView card={card()} now={NOW} canTrigger={false} onRefresh={() => {}} />);
    expect(screen.getByText("cdp_users_load")).toBeInTheDocument();
    expect(screen.getByText(/the users table behind the user explorer/)).toBeInTheDocument();
    expect(screen.getByText("Succeeded")).toBeInTheDocument();
    expect(screen.getByText("0 3 * * *")).toBeInTheDocument();
    expect(screen.getByRole("img", { name: "scheduled__0: Failed" })).toBeInTheDocument();
    expect(screen.queryByText(/stale since/i)).not.toBeInTheDocument();
  });

  it("offers Refresh now only to users who may trigger runs", async () => {
    const { unmount } = render(<DagCardView card={card()} now={NOW} canTrigger={false} onRefresh={() => {}} />);
    expect(screen.queryByRole("button", { name: "Refresh now" })).not.toBeInTheDocument();
    unmount();
    const onRefresh = vi.fn();
    render(<DagCardView card={card()} now={NOW} canTrigger onRefresh={onRefresh} />);
    await userEvent.click(screen.getByRole("button", { name: "Refresh now" }));
    expect(onRefresh).toHaveBeenCalledWith(expect.objectContaining({ dagId: "cdp_users_load" }));
  });

  it("warns when the data is stale or never synced, and says a paused DAG will not run", () => {
    const { unmount } = render(
      <DagCardView card={card({ staleSince: at("2026-11-24T00:00:00Z") })} now={NOW} canTrigger={false} onRefresh={() => {}} />,
    );
    expect(screen.getByText(/Data stale since/)).toBeInTheDocument();
    unmount();
    render(
      <DagCardView
        card={card({ lastSuccessfulRunAt: undefined, latestRun: undefined, recentRuns: [], isPaused: true, nextRunAt: undefined })}
        now={NOW}
        canTrigger
        onRefresh={() => {}}
      />,
    );
    expect(screen.getByText(/Never synced/)).toBeInTheDocument();
    expect(screen.getByText("Never ran")).toBeInTheDocument();
    expect(screen.getAllByText("Paused").length).toBeGreaterThan(0);
    expect(screen.getByText(/stays queued until the DAG is unpaused/)).toBeInTheDocument();
  });
});
