import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { restoreSession } from "./api/session";
import { App } from "./App";
import "./index.css";

// Ask for a session from the refresh cookie before anything renders a route that needs one.
void restoreSession();

const root = document.getElementById("root");
if (!root) throw new Error("#root is missing from index.html");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
