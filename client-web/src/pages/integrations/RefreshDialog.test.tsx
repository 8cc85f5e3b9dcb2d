import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ErrorInfoDesc } from "../../api/rpc-details";
import { DagCardSchema } from "../../gen/cdp/v1/integrations_pb";
import { RefreshDialog } from "./RefreshDialog";

const card = create(DagCardSchema, { dagId: "cdp_activity_export" });

describe("RefreshDialog", () => {
  it("sends the reason and the run configuration", async () => {
    const onTrigger = vi.fn(async () => ({}));
    const onClose = vi.fn();
    render(<RefreshDialog card={card} onClose={onClose} onTrigger={onTrigger} />);
    await userEvent.type(screen.getByLabelText("Reason (optional)"), "backfill after the outage");
    await userEvent.type(screen.getByLabelText("Run configuration (optional)"), '{{"day": "2026-11-20"}');
    await userEvent.click(screen.getByRole("button", { name: "Start run" }));
    expect(onTrigger).toHaveBeenCalledWith({ dagId: "cdp_activity_export", note: "backfill after the outage", conf: { day: "2026-11-20" } });
    expect(onClose).toHaveBeenCalled();
  });

  it("refuses a configuration that is not a JSON object", async () => {
    const onTrigger = vi.fn();
    render(<RefreshDialog card={card} onClose={() => {}} onTrigger={onTrigger} />);
    await userEvent.type(screen.getByLabelText("Run configuration (optional)"), "[[1]");
    await userEvent.click(screen.getByRole("button", { name: "Start run" }));
    expect(screen.getByText(/must be a JSON object/)).toBeInTheDocument();
    expect(onTrigger).not.toHaveBeenCalled();
  });

  it("shows Airflow's refusal in the server's words and stays open", async () => {
    const err = new ConnectError("Airflow rejected the CDP's credentials (HTTP 401: Unauthorized); check CDP_AIRFLOW_USERNAME and CDP_AIRFLOW_PASSWORD", Code.FailedPrecondition);
    err.details = [
      { type: ErrorInfoDesc.typeName, value: toBinary(ErrorInfoDesc, create(ErrorInfoDesc, { reason: "INTEGRATION_CREDENTIALS_REJECTED", domain: "cdp" })) },
    ];
    const onClose = vi.fn();
    render(<RefreshDialog card={card} onClose={onClose} onTrigger={() => Promise.reject(err)} />);
    await userEvent.click(screen.getByRole("button", { name: "Start run" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("check CDP_AIRFLOW_USERNAME and CDP_AIRFLOW_PASSWORD");
    expect(onClose).not.toHaveBeenCalled();
  });
});
