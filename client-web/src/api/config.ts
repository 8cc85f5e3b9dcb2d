// Where the API lives. In production the Rust server serves this app and the API on the
// same origin; VITE_CDP_API_URL points a development build at another server.
export function apiBaseUrl(): string {
  const configured = import.meta.env.VITE_CDP_API_URL as string | undefined;
  if (configured && configured.trim()) return configured.trim().replace(/\/+$/, "");
  return window.location.origin;
}
